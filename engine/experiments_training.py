"""Experiments on how training behaves: L1 vs L2, batch sizes, moving averages and Adam, batch norm.

They are registered into engine.experiments.EXPERIMENTS and run like the others (any seed, a check that fails
when the mechanism is swapped out: tests/engine/test_experiments_training.py). Each also returns `figures`:
[{id, title, x_title, y_title, log_x, log_y, traces: [{name, kind: line|bar, x, y, dash}]}], JSON-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from engine import experiments
from engine import telemetry as tm
from engine.experiments import Config, Probe, Run, _config, _dense, _stack, _value, _verdict
from engine.optimizers import Adam
from engine.trainer import Trainer

SPARSE_BELOW = 1e-3
ALL_FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
PENALTY_LR = 0.05
PENALTIES: dict[str, float | None] = {"none": None, "l1": 0.01, "l2": 0.03}
GD_LR = 0.1
GD_EPOCHS = 30
GD_ARMS: dict[str, int | str] = {"stochastic (batch 1)": 1, "mini-batch (10)": 10, "batch (full)": "full"}
GD_LONG = "batch (full), 10x the epochs"
EMA_BETAS = (0.9, 0.1)
EMA_STEPS = 150
EMA_MAX_LAG = 25
EMA_FIRST = 5
ADAM_LR = 0.01
ADAM_STEPS = 40
ADAM_FIRST = 10
UNCORRECTED = "adam, no bias correction"
INIT_STDS = (0.01, 0.1, 1.0, 10.0)
BN_VARIANTS = ("plain", "batch norm before tanh", "batch norm after tanh")
MOMENTUM_SGD: Config = {"name": "sgd", "lr": 0.1, "momentum": 0.9}
SLOW_SGD: Config = {"name": "sgd", "lr": 0.01, "momentum": 0.9}
BATCHNORM: Config = {"type": "batchnorm"}


def _numbers(values: ArrayLike) -> list[Any]:
    array = np.asarray(values, dtype=np.float64)
    safe = array.astype(object)
    safe[~np.isfinite(array)] = None
    return safe.tolist()


def _trace(
    name: str,
    x: Sequence[float] | Sequence[str] | np.ndarray,
    y: ArrayLike,
    kind: str = "line",
    dash: str | None = None,
) -> dict[str, Any]:
    xs: list[Any] = list(x)
    xs = xs if xs and isinstance(xs[0], str) else _numbers(xs)
    return {"name": name, "kind": kind, "x": xs, "y": _numbers(y), "dash": dash}


def _figure(
    figure_id: str, title: str, x_title: str, y_title: str, traces: list[dict[str, Any]], **scales: bool
) -> dict[str, Any]:
    return {
        "id": figure_id,
        "title": title,
        "x_title": x_title,
        "y_title": y_title,
        "log_x": scales.get("log_x", False),
        "log_y": scales.get("log_y", False),
        "traces": traces,
    }


def _losses(run: Run) -> list[float]:
    return [np.inf if r.train_loss is None else r.train_loss for r in run.records]


def _settled(run: Run, last: int = 5) -> float:
    return float(np.median(_losses(run)[-last:]))


# L1 makes weights sparse, L2 makes them small


def _weights(run: Run) -> np.ndarray:
    return np.concatenate([value.ravel() for key, value in run.final.items() if key.endswith(".weight")])


def _check_sparsity(runs: dict[str, Run]) -> dict[str, Any]:
    weights = {label: _weights(run) for label, run in runs.items()}
    near_zero = {label: float(np.mean(np.abs(w) < SPARSE_BELOW)) for label, w in weights.items()}
    exact = {label: float(np.mean(w == 0)) for label, w in weights.items()}
    norm = {label: float(np.linalg.norm(w)) for label, w in weights.items()}
    accuracy = {label: run.records[-1].test_metric or 0.0 for label, run in runs.items()}
    sparse = near_zero["l1"] >= 0.4 and near_zero["l1"] >= 5 * near_zero["l2"]
    small = norm["l2"] <= 0.8 * norm["none"]
    return _verdict(
        sparse and small and min(accuracy.values()) >= 0.9,
        f"weights with |w| < {SPARSE_BELOW:g}: L1 {near_zero['l1']:.0%}, L2 {near_zero['l2']:.0%}, none "
        f"{near_zero['none']:.0%} (exactly 0: {exact['l1']:.0%}, {exact['l2']:.0%}, {exact['none']:.0%}); "
        f"weight norm: L2 {norm['l2']:.2f}, L1 {norm['l1']:.2f}, none {norm['none']:.2f}; test accuracy "
        f"{accuracy['l1']:.0%}, {accuracy['l2']:.0%}, {accuracy['none']:.0%}",
        **{f"{label}_near_zero": value for label, value in near_zero.items()},
        **{f"{label}_exactly_zero": value for label, value in exact.items()},
        **{f"{label}_norm": value for label, value in norm.items()},
        **{f"{label}_test_accuracy": value for label, value in accuracy.items()},
    )


def _sparsity_figures(runs: dict[str, Run]) -> list[dict[str, Any]]:
    weights = {label: _weights(run) for label, run in runs.items()}
    reach = max(float(np.max(np.abs(w))) for w in weights.values())
    edges = np.linspace(-reach, reach, 42)
    centers = (edges[1:] + edges[:-1]) / 2
    histograms = [_trace(label, centers, np.histogram(w, edges)[0], "bar") for label, w in weights.items()]
    labels = list(weights)
    none_norm = np.linalg.norm(weights["none"])
    return [
        _figure("histogram", "final weights of every arm", "weight", "count (log)", histograms, log_y=True),
        _figure(
            "sparsity",
            f"share of weights with |w| < {SPARSE_BELOW:g}, and weight norm",
            "penalty",
            "fraction",
            [
                _trace(
                    f"|w| < {SPARSE_BELOW:g}",
                    labels,
                    [np.mean(np.abs(weights[k]) < SPARSE_BELOW) for k in labels],
                    "bar",
                ),
                _trace(
                    "‖w‖ / ‖w‖ without penalty",
                    labels,
                    [np.linalg.norm(weights[k]) / none_norm for k in labels],
                    "bar",
                ),
            ],
        ),
    ]


def _penalty_config(penalty: str, rate: float | None) -> Config:
    extra: Config = {} if rate is None else {"regularization": {"penalty": penalty, "rate": rate}}
    optimizer = {"name": "sgd", "lr": PENALTY_LR}
    return _config(_dense(16, 2, "tanh"), {"features": ALL_FEATURES}, optimizer, epochs=60, **extra)


# Batch, stochastic and mini-batch gradient descent


def _updates(trainer: Trainer) -> dict[str, float]:
    """The optimizer's step count so far."""
    return {"updates": float(trainer.optimizer.t)}


def _per_epoch(run: Run) -> float:
    return run.probes[0]["updates"]


def _check_batch_sizes(runs: dict[str, Run]) -> dict[str, Any]:
    full = runs["batch (full)"]
    updates = {label: _per_epoch(runs[label]) for label in GD_ARMS}
    loss = {label: _settled(runs[label]) for label in GD_ARMS}
    long_loss = _losses(runs[GD_LONG])[-1]
    seconds = {label: float(np.median([r.wall_time for r in run.records])) for label, run in runs.items()}
    u_sgd, u_mini, u_full = updates.values()
    l_sgd, l_mini, l_full = loss.values()
    total = {label: run.probes[-1]["updates"] for label, run in runs.items()}
    counts = u_sgd >= 10 * u_mini and u_mini >= 10 * u_full and u_full == 1
    per_epoch = max(l_sgd, l_mini) <= 0.5 * l_full
    per_update = total[GD_LONG] == total["mini-batch (10)"] and long_loss <= l_mini
    ms = [f"{seconds[label] * 1e3:.1f} ms" for label in GD_ARMS]
    return _verdict(
        counts and per_epoch and per_update,
        f"updates per epoch: {u_sgd:g}, {u_mini:g} and {u_full:g}; training loss after {len(full.records)} "
        f"epochs: stochastic {l_sgd:.3f}, mini-batch {l_mini:.3f}, batch {l_full:.3f}; batch GD given the "
        f"mini-batch run's {total['mini-batch (10)']:g} updates ({len(runs[GD_LONG].records)} epochs) "
        f"reaches {long_loss:.3f}; measured time per epoch (shown, not checked: it depends on the load): "
        f"{', '.join(ms)}",
        **{f"{_first_word(label)}_updates_per_epoch": updates[label] for label in GD_ARMS},
        **{f"{_first_word(label)}_final_loss": loss[label] for label in GD_ARMS},
        batch_equal_updates_loss=long_loss,
        **{f"{_first_word(label)}_seconds_per_epoch": seconds[label] for label in GD_ARMS},
    )


def _first_word(label: str) -> str:
    return label.split(" ")[0].replace("-", "_")


def _batch_size_figures(runs: dict[str, Run]) -> list[dict[str, Any]]:
    def traces(x: Callable[[Run], Sequence[float]], labels: Iterable[str]) -> list[dict[str, Any]]:
        return [_trace(label, x(runs[label]), _losses(runs[label])) for label in labels]

    every = [*GD_ARMS, GD_LONG]
    return [
        _figure("epochs", "training loss per epoch", "epoch", "loss", traces(_epochs, GD_ARMS), log_y=True),
        _figure(
            "updates",
            "training loss per update",
            "updates (optimizer steps)",
            "loss",
            traces(lambda run: [p["updates"] for p in run.probes], every),
            log_x=True,
            log_y=True,
        ),
        _figure(
            "time",
            "training loss against measured wall time",
            "seconds",
            "loss",
            traces(lambda run: [r.elapsed for r in run.records], every),
            log_y=True,
        ),
    ]


def _epochs(run: Run) -> list[int]:
    return [r.epoch for r in run.records]


def _batch_size_configs() -> dict[str, Config]:
    optimizer = {"name": "sgd", "lr": GD_LR}
    configs = {
        label: _config(_dense(8, 2, "tanh"), optimizer=optimizer, epochs=GD_EPOCHS, batch_size=size)
        for label, size in GD_ARMS.items()
    }
    configs[GD_LONG] = _config(
        _dense(8, 2, "tanh"), optimizer=optimizer, epochs=10 * GD_EPOCHS, batch_size="full"
    )
    return configs


# Exponentially weighted averages and Adam's bias correction


def noisy_sequence(seed: int, n: int = EMA_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """A slow wave around 10 and the same wave with N(0, 2^2) noise: (clean, noisy), n steps."""
    t = np.arange(1, n + 1)
    clean = 10 + 5 * np.sin(2 * np.pi * t / 60)
    return clean, clean + 2 * np.random.default_rng((seed, 7)).standard_normal(n)


def ema(values: np.ndarray, beta: float, corrected: bool = False) -> np.ndarray:
    """v_t = beta v_(t-1) + (1 - beta) theta_t from v_0 = 0; corrected: v_t / (1 - beta^t)."""
    out, v = np.empty(len(values)), 0.0
    for t, value in enumerate(values, start=1):
        v = beta * v + (1 - beta) * value
        out[t - 1] = v / (1 - beta**t) if corrected else v
    return out


def lag(average: np.ndarray, clean: np.ndarray, start: int = 30) -> int:
    """The delay k (0 to EMA_MAX_LAG steps) for which average[t] best matches clean[t - k], t >= start."""
    errors = [
        np.mean((average[start:] - clean[start - k : len(clean) - k]) ** 2) for k in range(EMA_MAX_LAG + 1)
    ]
    return int(np.argmin(errors))


def roughness(average: np.ndarray) -> float:
    """The standard deviation of the step-to-step changes: how much noise is left."""
    return float(np.std(np.diff(average)))


def _sequence_measures(seed: int) -> dict[str, Any]:
    clean, noisy = noisy_sequence(seed)
    averages = {beta: ema(noisy, beta, corrected=True) for beta in EMA_BETAS}
    raw = ema(noisy, EMA_BETAS[0])
    first = slice(0, EMA_FIRST)
    return {
        "clean": clean,
        "noisy": noisy,
        "averages": averages,
        "raw": raw,
        "roughness": {beta: roughness(a) for beta, a in averages.items()},
        "lag": {beta: lag(a, clean) for beta, a in averages.items()},
        "first_error_raw": float(np.mean(np.abs(raw[first] - clean[first]))),
        "first_error_corrected": float(np.mean(np.abs(averages[EMA_BETAS[0]][first] - clean[first]))),
    }


class UncorrectedAdam(Adam):
    """Adam without bias correction: m = lerp(m, g, 1 - b1), v = b2 v + (1 - b2) g²; p -= lr m / (√v + ε)."""

    def bias_corrections(self) -> tuple[float, float]:
        return 1.0, 1.0


def _train_adam(label: str, config: Config, probe: Probe | None = None) -> Run:
    """One full-batch step per epoch; the probe is the median |change of a parameter| / lr of that step."""
    trainer = Trainer(config)
    if label == UNCORRECTED:
        adam = trainer.optimizer
        if not isinstance(adam, Adam):
            raise TypeError(f"the {UNCORRECTED!r} arm needs Adam, not {type(adam).__name__}")
        trainer.optimizer = UncorrectedAdam(adam.lr, adam.betas, adam.eps)
    run = Run([], initial=trainer.model.state_dict(), config=config)
    params = trainer.model.parameters()
    before = np.concatenate([p.ravel() for p in params]).astype(np.float64)
    for record in trainer.epochs():
        after = np.concatenate([p.ravel() for p in params]).astype(np.float64)
        run.records.append(record)
        run.probes.append({"step_over_lr": float(np.median(np.abs(after - before))) / record.lr})
        before = after
    run.final = trainer.model.state_dict()
    return run


def _check_averages(runs: dict[str, Run]) -> dict[str, Any]:
    m = _sequence_measures(runs["adam"].config["seed"])
    smooth, quick = EMA_BETAS
    rough, lags = m["roughness"], m["lag"]
    steps = {label: [p["step_over_lr"] for p in run.probes] for label, run in runs.items()}
    early = {label: float(np.mean(values[:ADAM_FIRST])) for label, values in steps.items()}
    first_corrected, first_raw = steps["adam"][0], steps[UNCORRECTED][0]
    ema_ok = rough[smooth] <= 0.5 * rough[quick] and lags[smooth] >= lags[quick] + 4
    bias_ok = m["first_error_raw"] >= 2 * m["first_error_corrected"]
    adam_ok = abs(first_corrected - 1) <= 0.01 and early[UNCORRECTED] >= 2 * early["adam"]
    return _verdict(
        ema_ok and bias_ok and adam_ok,
        f"on the noisy wave, beta {smooth} leaves step-to-step changes of {rough[smooth]:.2f} (beta "
        f"{quick}: {rough[quick]:.2f}) but lags {lags[smooth]} steps behind the clean wave (beta {quick}: "
        f"{lags[quick]}); over the first {EMA_FIRST} steps the uncorrected beta {smooth} average is off by "
        f"{m['first_error_raw']:.2f} on average, the corrected one by {m['first_error_corrected']:.2f}; "
        f"Adam's first step moves the median "
        f"parameter by {first_corrected:.3f} x lr with bias correction and {first_raw:.2f} x lr without "
        f"(mean of the first {ADAM_FIRST} steps: {early['adam']:.2f} vs {early[UNCORRECTED]:.2f})",
        **{f"roughness_beta_{beta}": rough[beta] for beta in EMA_BETAS},
        **{f"lag_beta_{beta}": lags[beta] for beta in EMA_BETAS},
        first_steps_error_uncorrected=m["first_error_raw"],
        first_steps_error_corrected=m["first_error_corrected"],
        adam_first_step_over_lr=first_corrected,
        uncorrected_adam_first_step_over_lr=first_raw,
        adam_early_step_over_lr=early["adam"],
        uncorrected_adam_early_step_over_lr=early[UNCORRECTED],
    )


def _average_figures(runs: dict[str, Run]) -> list[dict[str, Any]]:
    m = _sequence_measures(runs["adam"].config["seed"])
    t = np.arange(1, EMA_STEPS + 1)
    smooth = EMA_BETAS[0]
    sequence = [
        _trace("noisy values θ", t, m["noisy"], "markers"),
        _trace("clean wave", t, m["clean"], dash="dot"),
        *[_trace(f"EMA β = {beta}", t, m["averages"][beta]) for beta in EMA_BETAS],
        _trace(f"EMA β = {smooth}, no bias correction", t, m["raw"], dash="dash"),
    ]
    steps = [
        _trace(label, _epochs(run), [p["step_over_lr"] for p in run.probes]) for label, run in runs.items()
    ]
    return [
        _figure("ema", "exponentially weighted averages of a noisy wave", "step t", "value", sequence),
        _figure("adam", "Adam's step in its first steps", "step", "median |Δw| / lr", steps),
    ]


def _adam_config() -> Config:
    return _config(
        _dense(8, 2, "tanh"), optimizer={"name": "adam", "lr": ADAM_LR}, epochs=ADAM_STEPS, batch_size="full"
    )


# Batch norm: initialization and placement


def _init_stack(std: float, variant: str) -> list[Config]:
    dense: Config = {"type": "dense", "units": 16, "weight_init": {"name": "normal", "std": std}}
    tanh: Config = {"type": "activation", "name": "tanh"}
    placed = {
        "plain": [dense, tanh],
        "batch norm before tanh": [dense, BATCHNORM, tanh],
        "batch norm after tanh": [dense, tanh, BATCHNORM],
    }[variant]
    return [dict(layer) for _ in range(3) for layer in placed]


def _init_label(variant: str, std: float) -> str:
    return f"{variant}, std {std:g}"


def _saturation(trainer: Trainer) -> dict[str, float]:
    """The share of tanh outputs on the training inputs whose slope is under 5% of its peak (eval mode)."""
    trace = trainer.model.trace(trainer.x_train)
    fractions = [
        _value(tm.unit_fractions(layer, trace[index], trace[index + 1])[1])
        for index, layer in enumerate(trainer.model.layers)
        if getattr(layer, "kind", None) == "saturating"
    ]
    return {"saturated": float(np.mean(fractions))}


def _init_table(runs: dict[str, Run]) -> dict[str, list[float]]:
    return {
        variant: [_losses(runs[_init_label(variant, std)])[-1] for std in INIT_STDS]
        for variant in BN_VARIANTS
    }


def _check_init(runs: dict[str, Run]) -> dict[str, Any]:
    final = _init_table(runs)
    spread = {variant: float(np.ptp(values)) for variant, values in final.items()}
    plain, before, after = BN_VARIANTS
    largest = INIT_STDS[-1]
    saturated = {
        variant: runs[_init_label(variant, largest)].probes[-1]["saturated"] for variant in BN_VARIANTS
    }
    less_dependent = spread[plain] >= 0.3 and spread[before] <= 0.4 * spread[plain]
    placement = saturated[before] <= 0.2 and saturated[after] >= saturated[before] + 0.3
    listed = ", ".join(f"{std:g}" for std in INIT_STDS)
    return _verdict(
        less_dependent and placement,
        f"final training loss for weight std {listed}: plain {_list(final[plain])} (spread "
        f"{spread[plain]:.2f}); batch norm before tanh {_list(final[before])} (spread {spread[before]:.2f}); "
        f"after tanh {_list(final[after])} (spread {spread[after]:.2f}); at std {largest:g} "
        f"{saturated[before]:.0%} of the "
        f"tanh outputs are saturated with batch norm before tanh, {saturated[after]:.0%} with it after and "
        f"{saturated[plain]:.0%} without",
        **{f"{_short(variant)}_spread": spread[variant] for variant in BN_VARIANTS},
        **{f"{_short(variant)}_saturated": saturated[variant] for variant in BN_VARIANTS},
    )


def _short(variant: str) -> str:
    return variant.replace("batch norm ", "bn_").replace(" tanh", "").replace(" ", "_")


def _list(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def _init_figures(runs: dict[str, Run]) -> list[dict[str, Any]]:
    final = _init_table(runs)
    stds = [f"{std:g}" for std in INIT_STDS]
    saturated = {
        variant: [runs[_init_label(variant, std)].probes[-1]["saturated"] for std in INIT_STDS]
        for variant in BN_VARIANTS
    }
    return [
        _figure(
            "init",
            "final training loss against the initial weight std",
            "initial weight std",
            "loss",
            [_trace(variant, stds, values, "bar") for variant, values in final.items()],
            log_y=True,
        ),
        _figure(
            "saturation",
            "saturated tanh outputs after training",
            "initial weight std",
            "fraction",
            [_trace(variant, stds, values, "bar") for variant, values in saturated.items()],
        ),
    ]


# Batch norm: train vs eval mode, and very small batches

MODES_ARMS = {
    "batch norm, batch 10": (True, 10),
    "batch norm, batch 2": (True, 2),
    "plain, batch 2": (False, 2),
}
BN10, BN2, PLAIN2 = MODES_ARMS
PROBES = 6
FLOAT32_ROUNDING = 1e-4


def _mode_probe(trainer: Trainer) -> dict[str, Any]:
    """Inputs' outputs in training mode beside two sets of batchmates and in eval mode; the running stats."""
    model, x = trainer.model, trainer.x_train
    saved = model.state_dict()
    probes, mates = x[:PROBES], (x[PROBES : PROBES + 9], x[PROBES + 9 : PROBES + 18])
    train = np.array(
        [[model.forward(np.concatenate([p[None], m]), training=True)[0, 0] for p in probes] for m in mates],
        dtype=np.float64,
    )
    model.load_state_dict(saved)
    evaluated = np.array(
        [[model.forward(np.concatenate([p[None], m]), training=False)[0, 0] for p in probes] for m in mates],
        dtype=np.float64,
    )
    alone = model.forward(probes, training=False)[:, 0]
    index = next(i for i, layer in enumerate(model.layers) if type(layer).__name__ == "BatchNorm")
    inputs = model.trace(x)[index]
    buffers = model.layers[index].buffers
    mean_error = np.abs(buffers["running_mean"] - inputs.mean(axis=0)) / inputs.std(axis=0)
    var_ratio = buffers["running_var"] / inputs.var(axis=0, ddof=1)
    return {
        "train_batchmates_change": float(np.max(np.abs(train[0] - train[1]))),
        "eval_batchmates_change": float(np.max(np.abs(evaluated[0] - evaluated[1]))),
        "eval_alone_change": float(np.max(np.abs(evaluated[0] - alone))),
        "train_vs_eval": float(np.max(np.abs(train[0] - evaluated[0]))),
        "running_mean_error": float(np.max(mean_error)),
        "running_var_ratio_low": float(np.min(var_ratio)),
        "running_var_ratio_high": float(np.max(var_ratio)),
        "train_output": _numbers(train[0]),
        "train_output_other": _numbers(train[1]),
        "eval_output": _numbers(evaluated[0]),
    }


def _train_modes(label: str, config: Config, probe: Probe | None = None) -> Run:
    """Train the arm; the batch-10 batch-norm arm is probed for train vs eval mode at the end."""
    trainer = Trainer(config)
    run = Run([], initial=trainer.model.state_dict(), config=config)
    run.records = list(trainer.epochs())
    run.final = trainer.model.state_dict()
    if label == BN10:
        run.probes.append(_mode_probe(trainer))
    return run


def _check_modes(runs: dict[str, Run]) -> dict[str, Any]:
    probe = runs[BN10].probes[-1]
    test = {label: _value(runs[label].records[-1].test_loss) for label in MODES_ARMS}
    accuracy = {label: _value(runs[label].records[-1].test_metric) for label in MODES_ARMS}
    modes = (
        probe["train_batchmates_change"] >= 1e-3
        and probe["eval_batchmates_change"] <= FLOAT32_ROUNDING
        and probe["eval_alone_change"] <= FLOAT32_ROUNDING
        and probe["running_mean_error"] <= 0.5
        and 2 / 3 <= probe["running_var_ratio_low"] <= probe["running_var_ratio_high"] <= 1.5
    )
    small = test[BN2] >= test[BN10] + 0.2 and test[BN2] >= test[PLAIN2] + 0.2 and accuracy[PLAIN2] >= 0.9
    return _verdict(
        modes and small,
        f"in training mode an input's output changes by up to {probe['train_batchmates_change']:.3g} when "
        f"its 9 batchmates change; in eval mode by {probe['eval_batchmates_change']:.2g} (or without them); "
        f"the running mean sits within {probe['running_mean_error']:.2f} standard deviations of the training "
        f"set's mean and the running variance at {probe['running_var_ratio_low']:.2f} to "
        f"{probe['running_var_ratio_high']:.2f} times its variance; test loss (eval mode) with batch norm at "
        f"batch 10 {test[BN10]:.3f}, at batch 2 "
        f"{test[BN2]:.3f}, without batch norm at batch 2 {test[PLAIN2]:.3f} (accuracy {accuracy[BN10]:.0%}, "
        f"{accuracy[BN2]:.0%}, {accuracy[PLAIN2]:.0%})",
        **{k: v for k, v in probe.items() if not isinstance(v, list)},
        **{f"{_key(label)}_test_loss": value for label, value in test.items()},
        **{f"{_key(label)}_test_accuracy": value for label, value in accuracy.items()},
    )


def _key(label: str) -> str:
    return label.replace(", ", "_").replace(" ", "_")


def _mode_figures(runs: dict[str, Run]) -> list[dict[str, Any]]:
    probe = runs[BN10].probes[-1]
    outputs = [f"input {i}" for i in range(1, PROBES + 1)]
    return [
        _figure(
            "loss",
            "test loss in eval mode per epoch",
            "epoch",
            "loss",
            [
                _trace(label, _epochs(run), [_value(r.test_loss) for r in run.records])
                for label, run in runs.items()
            ],
            log_y=True,
        ),
        _figure(
            "modes",
            "the same inputs' outputs in training and eval mode (batch norm, batch 10)",
            "training input",
            "output (logit)",
            [
                _trace("training mode, batchmates A", outputs, probe["train_output"], "bar"),
                _trace("training mode, batchmates B", outputs, probe["train_output_other"], "bar"),
                _trace("eval mode (running stats)", outputs, probe["eval_output"], "bar"),
            ],
        ),
    ]


def _modes_configs() -> dict[str, Config]:
    return {
        label: _config(
            _stack(16, 2, "tanh", before=(BATCHNORM,) if bn else ()),
            optimizer=SLOW_SGD,
            epochs=30,
            batch_size=size,
        )
        for label, (bn, size) in MODES_ARMS.items()
    }


EXPERIMENTS: dict[str, dict[str, Any]] = {
    "l1_vs_l2": {
        "title": "L1 makes weights sparse, L2 makes them small",
        "claim": "The L1 penalty λΣ|w| pulls every weight toward zero by the same lr·λ at each step "
        "whatever its size, so weights the data does not need reach zero and stay there (the "
        "subgradient then steps them back and forth by lr·λ = 5e-4, which is why they are counted"
        " below |w| < 1e-3), while L2's pull λw shrinks with the weight, so weights get small but"
        " almost none reach zero. Here a 2 x 16 tanh net learns the circle with no penalty, with "
        "L1 (λ = 0.01) and with L2 (λ = 0.03, about the same final weight norm as L1) from all "
        "seven input features: L1 zeroes most weights, those of the inputs the circle does not "
        "need among them, L2 keeps nearly all of them but smaller than without a penalty, and all"
        " three still classify the test points.",
        "configs": {penalty: _penalty_config(penalty, rate) for penalty, rate in PENALTIES.items()},
        "check": _check_sparsity,
        "figures": _sparsity_figures,
        "notes_vs_torch": ["l2"],
    },
    "batch_sizes": {
        "title": "Batch, stochastic and mini-batch gradient descent",
        "claim": "Batch gradient descent takes one step per epoch on the exact gradient of the whole "
        "training set, stochastic gradient descent one step per example and mini-batch one per "
        "batch of 10, so with the same net, data and learning rate the smaller batches make 100 "
        "and 10 times more updates per epoch and get much further in the same number of epochs. "
        "Given as many updates as the mini-batch run, batch gradient descent gets at least as "
        "far, so what differs per epoch is the count of updates; the time an epoch takes is "
        "measured and drawn too, but it depends on the machine (one example at a time wastes "
        "NumPy's vectorization) and is not part of the check.",
        "configs": _batch_size_configs(),
        "check": _check_batch_sizes,
        "figures": _batch_size_figures,
        "probe": _updates,
    },
    "ema_and_bias_correction": {
        "title": "Exponentially weighted averages, and Adam with and without bias correction",
        "claim": "An exponentially weighted average v ← βv + (1 − β)θ with β = 0.9 keeps 90% of its past, "
        "so it smooths a noisy sequence well but trails behind it (β/(1 − β) = 9 steps on a "
        "steady trend), while β = 0.1 follows the noise with almost no lag; starting from v = 0 "
        "it is also far too small in the first steps, which dividing by 1 − βᵗ corrects. Adam "
        "keeps such averages of the gradient (β1 = 0.9) and of its square (β2 = 0.999), and "
        "without the correction its first step is (1 − β1)/√(1 − β2) ≈ 3.2 times too large and "
        "the next ones larger still (the average of squares is underestimated far longer), while "
        "with it the first step moves every parameter by lr.",
        "configs": {"adam": _adam_config(), UNCORRECTED: _adam_config()},
        "check": _check_averages,
        "figures": _average_figures,
        "train": _train_adam,
        "lab_only": [UNCORRECTED],
        "notes_vs_torch": ["adam"],
    },
    "batchnorm_init": {
        "title": "Batch norm makes training less dependent on initialization, placed before the activation",
        "claim": "Batch normalization rescales a layer's pre-activations to zero mean and unit variance on"
        " every batch, so the scale of the initial weights matters much less: a 3 x 16 tanh net "
        "trained with SGD and momentum stays near chance when its weights start with std 0.01 "
        "(the signal fades) and saturates its tanh units at std 10, while with batch norm the "
        "final loss changes far less across the four scales. Placed before tanh, as the notes "
        "recommend, batch norm keeps tanh's inputs near zero where it is not flat; placed after "
        "it, the tanh before it still saturates at std 10.",
        "configs": {
            _init_label(variant, std): _config(_init_stack(std, variant), optimizer=MOMENTUM_SGD, epochs=30)
            for variant in BN_VARIANTS
            for std in INIT_STDS
        },
        "check": _check_init,
        "figures": _init_figures,
        "probe": _saturation,
        "notes_vs_torch": ["batchnorm"],
    },
    "batchnorm_modes": {
        "title": "Batch norm in training vs eval mode, and with very small batches",
        "claim": "In training mode batch norm normalizes with the statistics of the current batch, so one "
        "input's output depends on which inputs share its batch, while in eval mode it uses "
        "running averages of those statistics (PyTorch's momentum 0.1 is the notes' β = 0.9), so "
        "the output is fixed and the same for the input alone. With batches of 2 every normalized"
        " value is about ±1 and the batch statistics are too noisy for the running averages to "
        "match what training saw, so in eval mode the net stays near chance, while the same net "
        "without batch norm learns at batch 2 and with batch norm learns at batch 10.",
        "configs": _modes_configs(),
        "check": _check_modes,
        "figures": _mode_figures,
        "train": _train_modes,
        "notes_vs_torch": ["batchnorm"],
    },
}

experiments.EXPERIMENTS.update(EXPERIMENTS)
