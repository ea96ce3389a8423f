"""Experiments: presets that reproduce a claim of the course notes, each with a quantitative check."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.trainer import EpochRecord, Trainer

LEAN_TELEMETRY = {"boundary": False, "neurons": False, "every": 10}
QUADRATIC = ["x1", "x2", "x1^2", "x2^2", "x1x2"]
HE = {"name": "he_normal", "nonlinearity": "relu"}
HALF = {"name": "constant", "value": 0.5}


@dataclass
class Run:
    """One config's records, and the experiment's probe of the trainer after each epoch (if it has one)."""

    records: list[EpochRecord]
    probes: list[dict] = field(default_factory=list)


def _dense(units: int, depth: int, activation, **params) -> list[dict]:
    return [{"type": "dense", "units": units, "activation": activation, **params} for _ in range(depth)]


def _stack(units: int, depth: int, activation: str, before: tuple = (), after: tuple = ()) -> list[dict]:
    layers = []
    for _ in range(depth):
        activation_layer = {"type": "activation", "name": activation}
        layers += [{"type": "dense", "units": units}, *before, activation_layer, *after]
    return layers


def _config(
    layers: list[dict],
    data: dict | None = None,
    optimizer: dict | None = None,
    epochs: int = 20,
    batch_size: int | str = 10,
    output_init="default",
    **extra,
) -> dict:
    return {
        "data": {"dataset": "circle", "n_samples": 200, **(data or {})},
        "model": {"layers": layers, "output_init": output_init},
        "optimizer": optimizer or {"name": "sgd", "lr": 0.1},
        "training": {"epochs": epochs, "batch_size": batch_size},
        "seed": 0,
        **extra,
    }


def _verdict(passed: bool, summary: str, **values: float) -> dict:
    return {"passed": bool(passed), "summary": summary, "values": {k: float(v) for k, v in values.items()}}


def _dense_rows(record: EpochRecord) -> list[dict]:
    return [row for row in record.layers or [] if row["type"] == "dense"]


def _last_heavy(run: Run) -> EpochRecord:
    return next(r for r in reversed(run.records) if r.layers is not None)


def _dead_fraction(run: Run) -> float:
    rows = _last_heavy(run).layers
    return float(np.mean([row["dead_fraction"] for row in rows if row.get("dead_fraction") is not None]))


def _check_vanishing(runs: dict[str, Run]) -> dict:
    ratios = {}
    for label, run in runs.items():
        norms = [row["grad_norm"] for row in _dense_rows(run.records[0])]
        ratios[label] = norms[0] / norms[-1]
    sigmoid, relu = ratios["sigmoid"], ratios["relu + he"]
    return _verdict(
        sigmoid <= 1e-2 and 0.1 <= relu <= 10,
        f"after epoch 1 the first layer's gradient norm is {sigmoid:.2g} x the last layer's with sigmoid "
        f"and {relu:.2g} x with ReLU + He",
        sigmoid_first_over_last=sigmoid,
        relu_first_over_last=relu,
    )


def _check_dead(runs: dict[str, Run]) -> dict:
    relu, leaky = _dead_fraction(runs["relu"]), _dead_fraction(runs["leaky relu"])
    return _verdict(
        relu > 0.5 and leaky == 0,
        f"after training {relu:.0%} of the ReLU units are dead (zero gradient on every training input) "
        f"and {leaky:.0%} of the leaky ones",
        relu_dead=relu,
        leaky_dead=leaky,
    )


def _unit_spread(run: Run) -> float:
    """The largest difference between two units' incoming weights, over the hidden dense layers."""
    weights = _last_heavy(run).weights
    hidden = sorted(weights, key=int)[:-1]
    return max(float(np.ptp(np.asarray(weights[k]["weight"]), axis=0).max()) for k in hidden)


def _check_symmetry(runs: dict[str, Run]) -> dict:
    constant, random = _unit_spread(runs["constant"]), _unit_spread(runs["random"])
    return _verdict(
        constant <= 1e-6 and random >= 1e-2,
        f"after training, units of a hidden layer differ by at most {constant:.2g} with constant init "
        f"(all identical) and by up to {random:.2g} with random init",
        constant_spread=constant,
        random_spread=random,
    )


def _check_step(runs: dict[str, Run]) -> dict:
    step, sigmoid = runs["step"], runs["sigmoid"]
    heavy = [r for r in step.records if r.layers is not None]
    hidden_grad = max(row["grad_norm"] for r in heavy for row in _dense_rows(r)[:-1])
    first, last = (np.asarray(r.weights["0"]["weight"]) for r in (heavy[0], heavy[-1]))
    moved = float(np.max(np.abs(last - first)))
    step_accuracy, sigmoid_accuracy = step.records[-1].test_metric, sigmoid.records[-1].test_metric
    return _verdict(
        hidden_grad == 0 and moved == 0 and step_accuracy <= 0.65 and sigmoid_accuracy >= 0.9,
        f"the hidden layer under the step gets gradient {hidden_grad:g} and its weights move by {moved:g} "
        f"from epoch 1 to the end; test accuracy {step_accuracy:.0%} (chance is 50%) vs "
        f"{sigmoid_accuracy:.0%} with a sigmoid",
        step_hidden_grad_norm=hidden_grad,
        step_hidden_weight_change=moved,
        step_test_accuracy=step_accuracy,
        sigmoid_test_accuracy=sigmoid_accuracy,
    )


def _check_xor(runs: dict[str, Run]) -> dict:
    acc = {label: run.records[-1].test_metric for label, run in runs.items()}
    linear, hidden, feature = acc["no hidden layer"], acc["hidden layer"], acc["x1x2 feature"]
    return _verdict(
        linear <= 0.7 and hidden >= 0.95 and feature >= 0.95,
        f"test accuracy {linear:.0%} without a hidden layer (a line gets at most 3 of 4 quadrants right), "
        f"{hidden:.0%} with one, {feature:.0%} with the x1x2 feature and no hidden layer",
        no_hidden_accuracy=linear,
        hidden_accuracy=hidden,
        x1x2_accuracy=feature,
    )


def _effective_lr(trainer: Trainer) -> dict:
    """The median over all parameters of lr / (sqrt(accumulator) + eps) (AdaGrad's sum, RMSProp's average)."""
    optimizer = trainer.optimizer
    key = "sum" if "sum" in optimizer.state[0] else "square_avg"
    accumulated = np.concatenate([state[key].ravel() for state in optimizer.state])
    return {"effective_lr": float(np.median(optimizer.lr / (np.sqrt(accumulated) + optimizer.eps)))}


def _check_adagrad(runs: dict[str, Run]) -> dict:
    ratios = {}
    for label, run in runs.items():
        lrs = [probe["effective_lr"] for probe in run.probes]
        ratios[label] = lrs[-1] / lrs[len(lrs) // 4 - 1]
    adagrad, rmsprop = ratios["adagrad"], ratios["rmsprop"]
    return _verdict(
        adagrad <= 0.6 and rmsprop >= 0.8,
        f"from a quarter of training to the end (4x the steps) AdaGrad's effective learning rate falls to "
        f"{adagrad:.2f}x (1/sqrt(4) = 0.5 for steady gradients) while RMSProp's changes by {rmsprop:.2f}x",
        adagrad_ratio=adagrad,
        rmsprop_ratio=rmsprop,
    )


def _late_loss(run: Run) -> float:
    losses = [np.inf if r.train_loss is None else r.train_loss for r in run.records[-5:]]
    return float(np.inf if run.records[-1].status == "diverged" else np.median(losses))


def _check_batchnorm(runs: dict[str, Run]) -> dict:
    plain, bn = _late_loss(runs["plain"]), _late_loss(runs["batch norm"])
    return _verdict(
        plain > np.log(2) and bn < 0.1,
        f"median training loss of the last 5 epochs: {plain:.3g} without batch norm (worse than always "
        f"answering 50%, ln 2 = 0.69) and {bn:.3g} with it",
        plain_loss=min(plain, 1e300),
        batchnorm_loss=bn,
    )


def _gap(run: Run) -> float:
    last = run.records[-1]
    return last.test_loss - last.train_loss


def _check_overfitting(runs: dict[str, Run]) -> dict:
    gaps = {label: _gap(run) for label, run in runs.items()}
    base = gaps.pop("no regularization")
    passed = all(gap < 0.5 * base for gap in gaps.values())
    listed = ", ".join(f"{label} {gap:.2f}" for label, gap in gaps.items())
    return _verdict(
        passed,
        f"test loss minus training loss: {base:.2f} without regularization; {listed}",
        no_regularization_gap=base,
        **{f"{label.replace(' ', '_')}_gap": gap for label, gap in gaps.items()},
    )


def _jitter(run: Run) -> float:
    losses = np.array([r.train_loss for r in run.records[-10:]])
    return float(np.mean(np.abs(np.diff(losses))))


def _check_schedules(runs: dict[str, Run]) -> dict:
    jitter = {label: _jitter(run) for label, run in runs.items()}
    constant = jitter.pop("constant")
    decayed = all(runs[label].records[-1].lr < runs[label].records[0].lr for label in jitter)
    passed = decayed and all(value <= 0.5 * constant for value in jitter.values())
    listed = ", ".join(f"{label} {value:.2g}" for label, value in jitter.items())
    return _verdict(
        passed,
        f"mean change of the training loss between the last 10 epochs: constant lr {constant:.2g}; {listed}",
        constant_jitter=constant,
        **{f"{label}_jitter": value for label, value in jitter.items()},
    )


EXPERIMENTS: dict[str, dict] = {
    "vanishing_gradients": {
        "title": "Vanishing gradients: deep sigmoid vs ReLU + He",
        "claim": "Backpropagation multiplies the gradient by the activation's derivative at every layer, "
        "and sigmoid's is at most 0.25, so in a deep sigmoid net the first layers get gradients many "
        "orders of magnitude smaller than the last and barely learn. ReLU's derivative is 1 wherever a "
        "unit is active and He initialization keeps the signal's variance from layer to layer, so the "
        "gradient reaches the first layer at the same scale.",
        "configs": {
            "sigmoid": _config(_dense(16, 6, "sigmoid")),
            "relu + he": _config(_dense(16, 6, "relu", weight_init=HE)),
        },
        "check": _check_vanishing,
    },
    "dead_relu": {
        "title": "Dead ReLUs at a high learning rate vs leaky ReLU",
        "claim": "Large updates can push a ReLU unit's input below zero for every example; its output "
        "and gradient are then exactly zero, so nothing can ever bring it back and the unit is dead. "
        "Leaky ReLU keeps a small slope for negative inputs, so at the same learning rate no unit dies.",
        "configs": {
            "relu": _config(_dense(16, 3, "relu"), optimizer={"name": "adam", "lr": 0.2}),
            "leaky relu": _config(_dense(16, 3, "leaky_relu"), optimizer={"name": "adam", "lr": 0.2}),
        },
        "check": _check_dead,
    },
    "symmetric_init": {
        "title": "Constant initialization never breaks symmetry",
        "claim": "If every weight starts at the same value, every unit of a layer computes the same "
        "output and receives the same gradient, so the units stay identical forever and the layer is as "
        "good as one unit. Random initialization gives each unit its own start, so they learn different "
        "features.",
        "configs": {
            "constant": _config(
                _dense(8, 2, "tanh", weight_init=HALF, bias_init="zeros"), epochs=30, output_init=HALF
            ),
            "random": _config(_dense(8, 2, "tanh"), epochs=30),
        },
        "check": _check_symmetry,
    },
    "step_cannot_learn": {
        "title": "A step activation cannot learn",
        "claim": "The step function's derivative is 0 everywhere, so backpropagation passes no gradient "
        "through it: the hidden layer keeps its random initial lines forever and only the output layer "
        "learns. On the circle those lines through the origin say nothing about the radius, so accuracy "
        "stays at chance while the same net with a sigmoid learns the circle.",
        "configs": {
            name: _config(
                _dense(8, 1, name, bias_init="zeros"), optimizer={"name": "adam", "lr": 0.03}, epochs=30
            )
            for name in ("step", "sigmoid")
        },
        "check": _check_step,
    },
    "xor": {
        "title": "XOR needs a hidden layer (or the x1x2 feature)",
        "claim": "Without a hidden layer the network is a linear classifier: one straight line, which "
        "cannot separate XOR's diagonal quadrants. A hidden layer bends the boundary, and so does giving "
        "the linear model the product feature x1x2, whose sign is exactly the XOR label.",
        "configs": {
            label: _config(
                layers,
                data={"dataset": "xor", "n_samples": 400, "features": features},
                optimizer={"name": "adam", "lr": 0.03},
                epochs=30,
            )
            for label, layers, features in [
                ("no hidden layer", [], ["x1", "x2"]),
                ("hidden layer", _dense(8, 1, "tanh"), ["x1", "x2"]),
                ("x1x2 feature", [], ["x1", "x2", "x1x2"]),
            ]
        },
        "check": _check_xor,
    },
    "adagrad_vs_rmsprop": {
        "title": "AdaGrad's effective learning rate decays; RMSProp's does not",
        "claim": "AdaGrad divides the learning rate by the square root of the sum of all past squared "
        "gradients, which only grows, so its effective step shrinks like 1/sqrt(t) even when the "
        "gradients do not. RMSProp divides by a moving average instead, which forgets old gradients, so "
        "its effective learning rate stays at the scale of the recent gradients.",
        "configs": {
            name: _config(
                _dense(8, 2, "tanh"), data={"noise": 30}, optimizer={"name": name, "lr": lr}, epochs=100
            )
            for name, lr in (("adagrad", 0.1), ("rmsprop", 0.01))
        },
        "check": _check_adagrad,
        "probe": _effective_lr,
    },
    "batchnorm": {
        "title": "Batch norm trains at a learning rate where the plain net blows up",
        "claim": "With raw quadratic features up to 36 and a learning rate of 3, each update of the "
        "plain net overshoots and its loss jumps around far above chance. Batch normalization rescales "
        "every layer's inputs to zero mean and unit variance on each batch, so the same learning rate "
        "makes steady progress.",
        "configs": {
            label: _config(
                _stack(16, 3, "tanh", before=before),
                data={"features": QUADRATIC},
                optimizer={"name": "sgd", "lr": 3.0},
            )
            for label, before in (("plain", ()), ("batch norm", ({"type": "batchnorm"},)))
        },
        "check": _check_batchnorm,
    },
}


def _overfitting() -> dict:
    data = {"dataset": "spiral", "n_samples": 100, "noise": 25, "train_ratio": 0.3}
    adam = {"name": "adam", "lr": 0.01}

    def config(layers, **extra):
        return _config(layers, data=data, optimizer=adam, epochs=300, batch_size="full", **extra)

    base = config(_dense(32, 3, "relu"))
    early = copy.deepcopy(base)
    early["training"]["early_stopping"] = {"patience": 20}
    return {
        "title": "Overfitting few noisy points, and three cures",
        "claim": "A 3 x 32 network can memorize 30 noisy points: its training loss goes to 0 while the "
        "test loss explodes. An L2 penalty keeps the weights small, dropout stops units relying on each "
        "other, and early stopping quits when the test loss stops improving; each shrinks the gap between "
        "test and training loss.",
        "configs": {
            "no regularization": base,
            "l2": config(_dense(32, 3, "relu"), regularization={"penalty": "l2", "rate": 0.01}),
            "dropout": config(_stack(32, 3, "relu", after=({"type": "dropout", "p": 0.5},))),
            "early stopping": early,
        },
        "check": _check_overfitting,
    }


def _schedules() -> dict:
    schedules = {
        "constant": {"name": "constant"},
        "step": {"name": "step", "step_size": 20, "gamma": 0.5},
        "exponential": {"name": "exponential", "gamma": 0.95},
        "cosine": {"name": "cosine", "t_max": 60},
    }
    return {
        "title": "Learning-rate decay schedules side by side",
        "claim": "A constant learning rate keeps taking steps of the same size, so near a minimum the "
        "loss keeps bouncing from epoch to epoch. Step, exponential and cosine decay start large to make "
        "fast progress and then shrink the steps so the loss settles.",
        "configs": {
            label: _config(
                _dense(16, 2, "tanh"),
                data={"dataset": "spiral", "n_samples": 300},
                optimizer={"name": "adam", "lr": 0.03},
                epochs=60,
                schedule=schedule,
            )
            for label, schedule in schedules.items()
        },
        "check": _check_schedules,
    }


EXPERIMENTS["overfitting"] = _overfitting()
EXPERIMENTS["lr_schedules"] = _schedules()


def get(name: str) -> dict:
    """The experiment called name; unknown names raise ValueError listing the valid ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _prepared(config: dict, epochs: int | None) -> dict:
    config = copy.deepcopy(config)
    config["telemetry"] = {**config.get("telemetry", {}), **LEAN_TELEMETRY}
    if epochs is not None:
        config["training"]["epochs"] = epochs
    return config


def run_experiment(name: str, epochs: int | None = None) -> dict:
    """Train every config of the experiment with the engine and check its claim on the records."""
    experiment = get(name)
    probe: Callable[[Trainer], dict] | None = experiment.get("probe")
    runs = {}
    for label, config in experiment["configs"].items():
        trainer = Trainer(_prepared(config, epochs))
        run = Run([])
        for record in trainer.epochs():
            run.records.append(record)
            if probe is not None:
                run.probes.append(probe(trainer))
        runs[label] = run
    return {
        "name": name,
        "title": experiment["title"],
        "claim": experiment["claim"],
        "runs": runs,
        "verdict": experiment["check"](runs),
    }


def history(run: Run) -> dict:
    """A run's scalars per epoch (and its probes), JSON-safe, for plotting."""
    series = {
        key: [getattr(r, key) for r in run.records]
        for key in ("epoch", "lr", "train_loss", "test_loss", "train_metric", "test_metric")
    }
    for key in run.probes[0] if run.probes else ():
        series[key] = [probe[key] for probe in run.probes]
    last = run.records[-1]
    return {"series": series, "status": last.status, "message": last.message}
