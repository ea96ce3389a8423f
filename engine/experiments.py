"""Experiments: presets that reproduce a claim of the course notes, each with a quantitative check.

Every experiment runs with any seed (data, initialization and shuffling all follow it) and its check is
built to fail when the mechanism it illustrates is swapped out (tests/engine/test_experiments.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.optimizers import Adagrad, RMSprop
from engine.trainer import EpochRecord, Trainer

Config = dict[str, Any]
Probe = Callable[[Trainer], dict[str, Any]]

LEAN_TELEMETRY = {
    "every": 10_000,
    "boundary": False,
    "neurons": False,
    "histograms": False,
    "activations": False,
}
QUADRATIC = ["x1", "x2", "x1^2", "x2^2", "x1x2"]
HE = {"name": "he_normal", "nonlinearity": "relu"}
HALF = {"name": "constant", "value": 0.5}
DEAD_RELU_LRS = (0.001, 0.01, 0.05, 0.2)
EXPLODING_INIT = {"name": "normal", "std": 0.35}
EXPLODING_LR = 0.0125
CLIP = 1.0


@dataclass
class Run:
    """One config's records, its parameters before and after training, and the probe after each epoch."""

    records: list[EpochRecord]
    probes: list[dict[str, Any]] = field(default_factory=list)
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    final: dict[str, np.ndarray] = field(default_factory=dict)
    config: Config = field(default_factory=dict)


def _adam(lr: float) -> Config:
    return {"name": "adam", "lr": lr}


def _dense(units: int, depth: int, activation: str | Config, **params: Any) -> list[Config]:
    return [{"type": "dense", "units": units, "activation": activation, **params} for _ in range(depth)]


def _stack(
    units: int, depth: int, activation: str, before: Sequence[Config] = (), after: Sequence[Config] = ()
) -> list[Config]:
    layers = []
    for _ in range(depth):
        activation_layer = {"type": "activation", "name": activation}
        layers += [{"type": "dense", "units": units}, *before, activation_layer, *after]
    return layers


def _config(
    layers: list[Config],
    data: Config | None = None,
    optimizer: Config | None = None,
    epochs: int = 20,
    batch_size: int | str = 10,
    output_init: str | Config = "default",
    **extra: Any,
) -> Config:
    return {
        "data": {"dataset": "circle", "n_samples": 200, **(data or {})},
        "model": {"layers": layers, "output_init": output_init},
        "optimizer": optimizer or {"name": "sgd", "lr": 0.1},
        "training": {"epochs": epochs, "batch_size": batch_size},
        "seed": 0,
        **extra,
    }


def _verdict(passed: bool, summary: str, **values: float | None) -> dict[str, Any]:
    """The check's outcome; values JSON-safe: a non-finite one (or one a diverged run lacks) is None."""
    numbers = {k: float(v) if v is not None and math.isfinite(v) else None for k, v in values.items()}
    return {"passed": bool(passed), "summary": summary, "values": numbers}


def _value(value: float | None) -> float:
    """A record's scalar, NaN where the run has none (its loss was not finite): every comparison fails."""
    return math.nan if value is None else value


def _key(label: str) -> str:
    return label.replace(" ", "_").replace(",", "").replace(".", "")


def _dense_rows(record: EpochRecord) -> list[dict[str, Any]]:
    return [row for row in record.layers or [] if row["type"] == "dense"]


# Vanishing gradients


def _check_vanishing(runs: dict[str, Run]) -> dict[str, Any]:
    ratios = {}
    for label, run in runs.items():
        norms = [row["grad_norm"] for row in _dense_rows(run.records[0])]
        ratios[label] = norms[1] / norms[-2]
    sigmoid, relu = ratios["sigmoid"], ratios["relu"]
    return _verdict(
        sigmoid <= 1e-2 and 0.1 <= relu <= 10,
        f"on the first full-batch step the weight gradient of hidden layer 2 is {sigmoid:.2g} x that of "
        f"hidden layer {len(norms) - 1} (both 16 x 16) with sigmoid and {relu:.2g} x with ReLU",
        sigmoid_first_over_last=sigmoid,
        relu_first_over_last=relu,
    )


# Exploding gradients


def _gradient_norm(trainer: Trainer) -> dict[str, float | None]:
    """The total 2-norm of the full-batch training gradient at the current weights (before any clipping)."""
    model = trainer.model
    with np.errstate(all="ignore"):
        output = model.forward(trainer.x_train, training=False)
        model.backward(trainer.loss.gradient(output, trainer.y_train), input_grad=False)
        norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in model.gradients())))
    return {"grad_norm": norm if np.isfinite(norm) else None}


def _exploding(clip: float | None) -> Config:
    layers = _dense(32, 6, "relu", weight_init=EXPLODING_INIT)
    optimizer = {"name": "sgd", "lr": EXPLODING_LR}
    config = _config(layers, data={"dataset": "plane"}, optimizer=optimizer, epochs=400, batch_size="full")
    config["training"]["clip_grad_norm"] = clip
    return config


def _check_exploding(runs: dict[str, Run]) -> dict[str, Any]:
    plain, clipped = runs["no clipping"], runs[f"clipped at {CLIP:g}"]
    norms = [p["grad_norm"] for p in plain.probes]
    finite = [n for n in norms if n is not None]
    diverged = plain.records[-1].status == "diverged"
    grew = len(finite) < len(norms) or max(finite) >= 100 * finite[0]
    first, last = clipped.records[0], clipped.records[-1]
    clipped_finite = all(p["grad_norm"] is not None for p in clipped.probes) and last.train_loss is not None
    ratio = _value(last.train_loss) / _value(first.train_loss) if clipped_finite else np.inf
    r2 = last.train_metric if clipped_finite and last.train_metric is not None else -np.inf
    cured = last.status == "completed" and clipped_finite and ratio <= 0.1 and r2 >= 0.4
    epochs = len(plain.records)
    end = f"diverged at epoch {epochs}" if diverged else f"did not diverge in {epochs} epochs"
    final = f"{last.train_loss:.3g}" if clipped_finite else "not finite"
    return _verdict(
        diverged and grew and cured,
        f"without clipping the full-batch gradient norm went from {finite[0]:.3g} to {max(finite):.3g} and "
        f"the run {end}; clipped at {CLIP:g}, the same start ran {len(clipped.records)} epochs with training "
        f"loss {_value(first.train_loss):.3g} -> {final} ({ratio:.1%} of its first epoch's) and training R² "
        f"{r2:.2f}",
        unclipped_first_grad_norm=finite[0],
        unclipped_largest_finite_grad_norm=max(finite),
        unclipped_epochs=len(plain.records),
        clipped_loss_ratio=min(ratio, 1e300),
        clipped_train_r2=max(r2, -1e300),
    )


# Dead ReLUs


def _negative_everywhere(trainer: Trainer) -> dict[str, float]:
    """The fraction of ReLU-family hidden units whose pre-activation is <= 0 on every training input."""
    model = trainer.model
    trace = model.trace(trainer.x_train)
    flags = [
        np.all(trace[index].reshape(len(trainer.x_train), -1) <= 0, axis=0)
        for index, layer in enumerate(model.layers)
        if getattr(layer, "kind", None) == "relu"
    ]
    return {"dead_fraction": float(np.mean(np.concatenate(flags)))}


def _check_dead(runs: dict[str, Run]) -> dict[str, Any]:
    dead = {label: run.probes[-1]["dead_fraction"] for label, run in runs.items()}
    relu = {lr: dead[f"relu, lr {lr}"] for lr in DEAD_RELU_LRS}
    low, high = relu[DEAD_RELU_LRS[0]], relu[DEAD_RELU_LRS[-1]]
    leaky_small, leaky = dead["leaky 0.01"], dead["leaky 0.2"]
    listed = ", ".join(f"{fraction:.0%} at lr {lr}" for lr, fraction in relu.items())
    return _verdict(
        high >= 0.3 and high >= low + 0.2 and leaky <= 0.5 * high,
        f"hidden units whose input is <= 0 on every training point after training: ReLU {listed}; "
        f"at lr {DEAD_RELU_LRS[-1]} leaky ReLU with slope 0.2 {leaky:.0%}, with slope 0.01 {leaky_small:.0%}",
        **{f"relu_dead_lr_{lr}": fraction for lr, fraction in relu.items()},
        leaky_dead=leaky,
        leaky_small_slope_dead=leaky_small,
    )


# Symmetric initialization


def _unit_spread(run: Run) -> float:
    """The largest difference between two units' incoming weights, over the hidden dense layers."""
    hidden = [key for key in run.final if key.endswith(".weight")][:-1]
    return max(float(np.ptp(run.final[key], axis=0).max()) for key in hidden)


def _check_symmetry(runs: dict[str, Run]) -> dict[str, Any]:
    constant, random = _unit_spread(runs["constant"]), _unit_spread(runs["random"])
    return _verdict(
        constant <= 1e-6 and random >= 1e-2,
        f"after training, units of a hidden layer differ by at most {constant:.2g} with constant init "
        f"(all identical) and by up to {random:.2g} with random init",
        constant_spread=constant,
        random_spread=random,
    )


# Step activation


def _first_layer_change(run: Run) -> float:
    return max(float(np.max(np.abs(run.final[key] - run.initial[key]))) for key in ("0.weight", "0.bias"))


def _check_step(runs: dict[str, Run]) -> dict[str, Any]:
    step, sigmoid = runs["step"], runs["sigmoid"]
    hidden_grad = max(row["grad_norm"] for r in step.records if r.layers for row in _dense_rows(r)[:-1])
    moved = _first_layer_change(step)
    step_accuracy, sigmoid_accuracy = (_value(run.records[-1].train_metric) for run in (step, sigmoid))
    return _verdict(
        hidden_grad == moved == 0 and sigmoid_accuracy >= 0.95 and step_accuracy <= sigmoid_accuracy - 0.05,
        f"the hidden layer under the step gets gradient {hidden_grad:g} and its weights and biases move by "
        f"{moved:g} in training; training accuracy {step_accuracy:.0%} (the best the output layer can do "
        f"with those fixed lines) vs {sigmoid_accuracy:.0%} with a sigmoid",
        step_hidden_grad_norm=hidden_grad,
        step_hidden_change=moved,
        step_train_accuracy=step_accuracy,
        sigmoid_train_accuracy=sigmoid_accuracy,
    )


# XOR


def _check_xor(runs: dict[str, Run]) -> dict[str, Any]:
    acc = {label: _value(run.records[-1].test_metric) for label, run in runs.items()}
    linear, identity = acc["no hidden layer"], acc["hidden layer, no activation"]
    hidden, feature = acc["hidden layer, tanh"], acc["x1x2 feature"]
    return _verdict(
        linear <= 0.8 and identity <= 0.8 and hidden >= 0.93 and feature >= 0.93,
        f"test accuracy {linear:.0%} without a hidden layer and {identity:.0%} with a hidden layer without "
        f"activation (a line gets about 3 of 4 quadrants right); {hidden:.0%} with a tanh hidden layer, "
        f"{feature:.0%} with the x1x2 feature and no hidden layer",
        no_hidden_accuracy=linear,
        identity_hidden_accuracy=identity,
        hidden_accuracy=hidden,
        x1x2_accuracy=feature,
    )


# AdaGrad vs RMSProp


def _effective_lr(trainer: Trainer) -> dict[str, float]:
    """The median over all parameters of lr / (sqrt(accumulator) + eps) (AdaGrad's sum, RMSProp's average)."""
    optimizer = trainer.optimizer
    if not isinstance(optimizer, Adagrad | RMSprop):
        raise TypeError(f"the effective lr needs AdaGrad or RMSProp, not {type(optimizer).__name__}")
    key = "sum" if "sum" in optimizer.state[0] else "square_avg"
    accumulated = np.concatenate([state[key].ravel() for state in optimizer.state])
    return {"effective_lr": float(np.median(optimizer.lr / (np.sqrt(accumulated) + optimizer.eps)))}


def _check_adagrad(runs: dict[str, Run]) -> dict[str, Any]:
    ratios = {}
    for label, run in runs.items():
        lrs = [probe["effective_lr"] for probe in run.probes]
        ratios[label] = lrs[-1] / lrs[len(lrs) // 4 - 1]
    adagrad, rmsprop = ratios["adagrad"], ratios["rmsprop"]
    return _verdict(
        adagrad <= 0.7 and rmsprop >= 0.7,
        f"from a quarter of training to the end (4x the steps) AdaGrad's effective learning rate falls to "
        f"{adagrad:.2f}x (1/sqrt(4) = 0.5 for steady gradients) while RMSProp's changes by {rmsprop:.2f}x",
        adagrad_ratio=adagrad,
        rmsprop_ratio=rmsprop,
    )


# Batch norm


def _late_loss(run: Run) -> float:
    losses = [np.inf if r.train_loss is None else r.train_loss for r in run.records[-5:]]
    return float(np.inf if run.records[-1].status == "diverged" else np.median(losses))


def _check_batchnorm(runs: dict[str, Run]) -> dict[str, Any]:
    plain, bn = _late_loss(runs["plain"]), _late_loss(runs["batch norm"])
    return _verdict(
        plain > np.log(2) and bn < 0.1,
        f"median training loss of the last 5 epochs: {plain:.3g} without batch norm (worse than always "
        f"answering 50%, ln 2 = 0.69) and {bn:.3g} with it",
        plain_loss=min(plain, 1e300),
        batchnorm_loss=bn,
    )


# Overfitting


def _check_overfitting(runs: dict[str, Run]) -> dict[str, Any]:
    last = {label: run.records[-1] for label, run in runs.items()}
    test_loss = {label: _value(r.test_loss) for label, r in last.items()}
    accuracy = {label: _value(r.test_metric) for label, r in last.items()}
    gap = {label: test_loss[label] - _value(r.train_loss) for label, r in last.items()}
    base = "no regularization"
    base_train_accuracy = _value(last.pop(base).train_metric)
    base_gap, base_loss, base_accuracy = gap.pop(base), test_loss.pop(base), accuracy.pop(base)
    overfits = base_train_accuracy >= 0.97 and base_gap >= 0.5
    shrink = {"dropout": 1.0}
    cured = {
        label: gap[label] < shrink.get(label, 0.5) * base_gap
        and test_loss[label] < base_loss
        and accuracy[label] >= base_accuracy - 0.06
        for label in last
    }
    listed = "; ".join(
        f"{label}: gap {gap[label]:.2f}, test loss {test_loss[label]:.2f}, accuracy {accuracy[label]:.0%}"
        for label in last
    )
    return _verdict(
        overfits and all(cured.values()),
        f"without regularization training accuracy {base_train_accuracy:.0%}, test loss minus training loss "
        f"{base_gap:.2f}, test loss {base_loss:.2f}, test accuracy {base_accuracy:.0%}; {listed}",
        no_regularization_gap=base_gap,
        no_regularization_test_loss=base_loss,
        no_regularization_test_accuracy=base_accuracy,
        **{f"{_key(label)}_gap": gap[label] for label in last},
        **{f"{_key(label)}_test_loss": test_loss[label] for label in last},
        **{f"{_key(label)}_test_accuracy": accuracy[label] for label in last},
    )


# Learning-rate schedules


def _jitter(run: Run) -> float:
    losses = np.array([_value(r.train_loss) for r in run.records[-10:]])
    return float(np.mean(np.abs(np.diff(losses)))) if len(losses) > 1 else math.nan


def _check_schedules(runs: dict[str, Run]) -> dict[str, Any]:
    final = {
        label: float(np.median([_value(r.train_loss) for r in run.records[-10:]]))
        for label, run in runs.items()
    }
    best = {
        label: min((r.train_loss for r in run.records if r.train_loss is not None), default=math.nan)
        for label, run in runs.items()
    }
    jitter = {label: _jitter(run) for label, run in runs.items()}
    decayed = [label for label in runs if label != "constant"]
    better = {
        label: final[label] < final["constant"]
        and jitter[label] <= 0.5 * jitter["constant"]
        and runs[label].records[-1].lr < runs[label].records[0].lr
        for label in decayed
    }
    listed = ", ".join(f"{label} {final[label]:.3g} (jitter {jitter[label]:.2g})" for label in decayed)
    return _verdict(
        all(better.values()),
        f"median training loss of the last 10 of {len(runs['constant'].records)} epochs: "
        f"constant {final['constant']:.3g} "
        f"(mean change between the last 10 epochs {jitter['constant']:.2g}); {listed}",
        **{f"{label}_final_loss": value for label, value in final.items()},
        **{f"{label}_best_loss": value for label, value in best.items()},
        **{f"{label}_jitter": value for label, value in jitter.items()},
    )


EXPERIMENTS: dict[str, dict[str, Any]] = {
    "vanishing_gradients": {
        "title": "Vanishing gradients: deep sigmoid vs deep ReLU",
        "claim": "Backpropagation multiplies the gradient by the activation's derivative at every layer, and "
        "sigmoid's is at most 0.25, so in a deep sigmoid net the first layers get gradients orders of "
        "magnitude smaller than the last (here both nets have 10 layers of 16 units and the same He "
        "initialization, and the gradient is that of the whole training set). ReLU's derivative is 1 "
        "wherever a unit is active and He initialization keeps the signal's variance from layer to layer, "
        "so the gradient reaches the first layer at the same scale.",
        "configs": {
            label: _config(_dense(16, 10, name, weight_init=HE), batch_size="full")
            for label, name in (("sigmoid", "sigmoid"), ("relu", "relu"))
        },
        "check": _check_vanishing,
    },
    "exploding_gradients": {
        "title": "Exploding gradients, and gradient clipping",
        "claim": "Backpropagation multiplies the gradient by every layer's weights on its way down, so in a "
        "deep ReLU net whose weights start large (here 6 layers of 32 units from N(0, 0.35²), 1.4 times He's "
        "standard deviation; at this learning rate He's own N(0, 0.25²) explodes too, N(0, 0.2²) does not) "
        "the gradient is large, each full-batch SGD step at lr 0.0125 overshoots and makes the weights "
        "larger still, and within a few epochs the gradient norm grows by orders of magnitude until the "
        "numbers overflow. Clipping the total 2-norm of the gradients to 1 before each step "
        "(training.clip_grad_norm, PyTorch's clip_grad_norm_) bounds every step to lr x 1 whatever the "
        "gradient, so the same network from the same start stays finite and learns the plane.",
        "configs": {"no clipping": _exploding(None), f"clipped at {CLIP:g}": _exploding(CLIP)},
        "check": _check_exploding,
        "probe": _gradient_norm,
    },
    "dead_relu": {
        "title": "Dead ReLUs: the learning rate kills them; leaky ReLU units come back",
        "claim": "A large update can push a ReLU unit's input below zero on every training point, and its "
        "output and gradient are then zero: the higher Adam's learning rate, the more units end up dead "
        "(a few come back, because Adam's momentum keeps moving a unit after its gradient vanishes and a "
        "deeper unit's input changes with the layers below it, but with plain SGD a dead first-layer unit "
        "never changes again). Leaky ReLU keeps a slope below zero, so a unit pushed there still gets a "
        "gradient and can come back: with slope 0.2 far fewer units stay negative on every input, while "
        "with the usual 0.01 the gradient is so small that many are still negative at the end.",
        "configs": {
            **{
                f"relu, lr {lr}": _config(_dense(16, 3, "relu"), optimizer=_adam(lr), epochs=60)
                for lr in DEAD_RELU_LRS
            },
            **{
                f"leaky {slope}": _config(
                    _dense(16, 3, {"name": "leaky_relu", "negative_slope": slope}),
                    optimizer={"name": "adam", "lr": DEAD_RELU_LRS[-1]},
                    epochs=60,
                )
                for slope in (0.01, 0.2)
            },
        },
        "check": _check_dead,
        "probe": _negative_everywhere,
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
        "through it: the hidden layer keeps its random initial weights and biases forever and only the "
        "output layer learns, which makes the net a linear classifier on a few fixed random half-planes. "
        "The same net with a sigmoid moves its hidden lines to where the classes meet and fits the circle, "
        "so it ends clearly more accurate.",
        "configs": {
            name: _config(_dense(8, 1, name), optimizer={"name": "adam", "lr": 0.03}, epochs=60)
            for name in ("step", "sigmoid")
        },
        "check": _check_step,
    },
    "xor": {
        "title": "XOR needs a hidden layer with an activation (or the x1x2 feature)",
        "claim": "Without a hidden layer, or with one that has no activation (a product of linear maps is "
        "linear), the network is a linear classifier: one straight line, which cannot separate XOR's "
        "diagonal quadrants. A hidden layer with a nonlinear activation bends the boundary, and so does "
        "giving the linear model the product feature x1x2, whose sign is exactly the XOR label.",
        "configs": {
            label: _config(
                layers,
                data={"dataset": "xor", "n_samples": 400, "features": features},
                optimizer={"name": "adam", "lr": 0.03},
                epochs=60,
            )
            for label, layers, features in [
                ("no hidden layer", [], ["x1", "x2"]),
                ("hidden layer, no activation", _dense(8, 1, "identity"), ["x1", "x2"]),
                ("hidden layer, tanh", _dense(8, 1, "tanh"), ["x1", "x2"]),
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
        "notes_vs_torch": ["adagrad"],
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


def _overfitting() -> dict[str, Any]:
    data = {"dataset": "moons", "n_samples": 400, "noise": 30, "train_ratio": 0.25, "validation": 0.3}
    adam = {"name": "adam", "lr": 0.01}

    def config(layers: list[Config], **extra: Any) -> Config:
        return _config(layers, data=data, optimizer=adam, epochs=400, batch_size="full", **extra)

    base = config(_dense(64, 2, "relu"))
    early = copy.deepcopy(base)
    early["training"]["early_stopping"] = {"patience": 50, "monitor": "val_loss", "restore_best": True}
    return {
        "title": "Overfitting few noisy points, and three cures",
        "claim": "A 2 x 64 network trained long on 70 noisy moons points memorizes them: training accuracy "
        "reaches 100% while the test loss grows, because its confident answers on the noise are wrong on "
        "new points. An L2 penalty keeps the weights small and early stopping keeps the weights of the epoch "
        "with the lowest loss on 30 held-out validation points (never the test set): each at least halves "
        "the gap between test and training loss and lowers the test loss without costing test accuracy, "
        "while dropout (p = 0.7), which stops units relying on each other, helps less on so few points: it "
        "narrows the gap and lowers the test loss by less (and on an occasional seed not at all).",
        "configs": {
            "no regularization": base,
            "l2": config(_dense(64, 2, "relu"), regularization={"penalty": "l2", "rate": 0.01}),
            "dropout": config(_stack(64, 2, "relu", after=({"type": "dropout", "p": 0.7},))),
            "early stopping": early,
        },
        "check": _check_overfitting,
        "notes_vs_torch": ["l2"],
    }


def _schedules() -> dict[str, Any]:
    schedules = {
        "constant": {"name": "constant"},
        "step": {"name": "step", "step_size": 60, "gamma": 0.5},
        "multistep": {"name": "multistep", "milestones": [100, 200], "gamma": 0.1},
        "exponential": {"name": "exponential", "gamma": 0.98},
        "cosine": {"name": "cosine", "t_max": 300},
    }
    return {
        "title": "Learning-rate decay schedules side by side",
        "claim": "A constant learning rate keeps taking steps of the same size, so near a minimum the loss "
        "keeps bouncing from epoch to epoch and never gets to the bottom (here SGD with momentum 0.9 at lr "
        "0.3 on mini-batches of 10). Step, multistep, exponential and cosine decay start with the same large "
        "steps to make fast progress and then shrink them, so the loss settles lower.",
        "configs": {
            label: _config(
                _dense(16, 2, "tanh"),
                data={"dataset": "spiral", "n_samples": 300},
                optimizer={"name": "sgd", "lr": 0.3, "momentum": 0.9},
                epochs=300,
                schedule=schedule,
            )
            for label, schedule in schedules.items()
        },
        "check": _check_schedules,
    }


EXPERIMENTS["overfitting"] = _overfitting()
EXPERIMENTS["lr_schedules"] = _schedules()

import engine.experiments_training  # noqa: E402, F401  (registers its experiments here; it builds on the helpers above)


def get(name: str) -> dict[str, Any]:
    """The experiment called name; unknown names raise ValueError listing the valid ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _prepared(config: Config, epochs: int | None, seed: int) -> Config:
    config = copy.deepcopy(config)
    config["telemetry"] = {**config.get("telemetry", {}), **LEAN_TELEMETRY}
    config["seed"] = seed
    if epochs is not None:
        config["training"]["epochs"] = epochs
    return config


def run_experiment(
    name: str, epochs: int | None = None, seed: int = 0, configs: Mapping[str, Config] | None = None
) -> dict[str, Any]:
    """Train every config of the experiment (or the given replacements) with seed and check its claim."""
    experiment = get(name)
    probe: Probe | None = experiment.get("probe")
    train = experiment.get("train", train_arm)
    arms = experiment["configs"] if configs is None else configs
    runs = {label: train(label, _prepared(config, epochs, seed), probe) for label, config in arms.items()}
    return {
        "name": name,
        "title": experiment["title"],
        "claim": experiment["claim"],
        "seed": seed,
        "runs": runs,
        "verdict": experiment["check"](runs),
        "figures": experiment["figures"](runs) if "figures" in experiment else [],
    }


def train_arm(label: str, config: Config, probe: Probe | None = None) -> Run:
    """Train one arm's prepared config, calling the probe after every epoch."""
    trainer = Trainer(config)
    run = Run([], initial=trainer.model.state_dict(), config=config)
    for record in trainer.epochs():
        run.records.append(record)
        if probe is not None:
            run.probes.append(probe(trainer))
    run.final = trainer.model.state_dict()
    return run


def history(run: Run) -> dict[str, Any]:
    """A run's scalars per epoch (and its probes), JSON-safe, for plotting."""
    keys = ["epoch", "lr", "train_loss", "test_loss", "train_metric", "test_metric"]
    if any(r.val_loss is not None for r in run.records):
        keys += ["val_loss", "val_metric"]
    series = {key: [getattr(r, key) for r in run.records] for key in keys}
    for key in run.probes[0] if run.probes else ():
        series[key] = [probe[key] for probe in run.probes]
    last = run.records[-1]
    return {"series": series, "status": last.status, "message": last.message}
