"""The lab: activation, optimizer-race, initialization and loss-landscape explorers, run on the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from engine import activations, optimizers, schedules
from engine import telemetry as tm
from engine.layers import Dense, Layer, Maxout
from engine.losses import Loss
from engine.model import Model
from engine.registry import lookup

if TYPE_CHECKING:
    from engine.trainer import Trainer

Spec = str | Mapping[str, Any]
Coordinate = float | np.ndarray

SATURATION_LEVEL = tm.SATURATION_LEVEL

NOTES_VS_TORCH = {
    "hard_logistic": "The notes' hard logistic is clip(0.25x + 0.5, 0, 1), sigmoid's tangent at 0: it is "
    "here as hard_logistic. PyTorch's Hardsigmoid, which the engine's hardsigmoid follows, is "
    "clip(x/6 + 0.5, 0, 1).",
    "l2": "The notes write the L2 penalty as λΣw² (and elsewhere as (λ/2)‖W‖²). The engine adds (λ/2)Σw², "
    "whose gradient λw is PyTorch's weight_decay = λ; the notes' λΣw² is the engine's rate 2λ.",
    "momentum": "The notes write momentum as an exponential moving average, v ← βv + (1−β)g, w ← w − ηv. The "
    "engine follows PyTorch's SGD, v ← μv + g, w ← w − lr·v, whose steps are 1/(1−β) times larger: "
    "lr = η(1−β) gives the same path (and the notes' v ← αv − ηg, w ← w + v is PyTorch's with lr = η).",
    "adagrad": "The notes divide by √(Σg² + ε) or √(Σg²) + ε with ε ≈ 1e-8. The engine follows PyTorch's "
    "AdaGrad: w ← w − lr·g / (√(Σg²) + ε) with ε = 1e-10, added after the square root.",
    "adam": "The notes' Adam: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ), "
    "w ← w − η·m̂/(√v̂ + ε). PyTorch's Adam, which the engine follows, takes the same step written as "
    "lr/(1−β1ᵗ)·m / (√v/√(1−β2ᵗ) + ε), ε = 1e-8 after the square root; it has no switch to drop the "
    "correction, so the uncorrected arm here is computed by the experiment itself: lr·m / (√v + ε).",
    "batchnorm": "The notes' running averages are v ← β·v + (1−β)·x with β = 0.9. PyTorch's BatchNorm, which "
    "the engine follows, names the other weight: running ← (1 − momentum)·running + momentum·x, momentum = "
    "0.1; it normalizes each batch with the biased variance (÷m) but averages the unbiased one (÷(m−1)) into "
    "running_var, and ε = 1e-5 is added to the variance under the square root.",
}


def _floats(values: ArrayLike) -> list[Any]:
    """A JSON-safe nested list: non-finite numbers become None."""
    array = np.asarray(values, dtype=np.float64)
    safe = array.astype(object)
    safe[~np.isfinite(array)] = None
    return safe.tolist()


def _name_and_params(spec: Spec) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"a spec must be a name or a dict with 'name', got {spec!r}")
    params = dict(spec)
    return params.pop("name"), params


def _label(spec: Spec) -> str:
    name, params = _name_and_params(spec)
    if "label" in params:
        return str(params["label"])
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{name} ({shown})" if shown else name


# Activation explorer

MAXOUT_PIECES = {"slopes": [-1.0, 0.25, 1.5], "intercepts": [-1.0, 0.0, -0.5]}

ACTIVATION_GROUPS = {
    "hard vs smooth": ["sigmoid", "hardsigmoid", "tanh", "hardtanh", "hard_logistic"],
    "gelu and its approximations": [
        "gelu",
        {"name": "gelu", "approximate": "tanh"},
        {"name": "swish", "beta": 1.702},
    ],
    "relu family": ["relu", "leaky_relu", "prelu", "rrelu", "elu", "selu"],
    "smooth": ["silu", "swish", "softplus", "softsign", "gelu"],
    "saturating": ["step", "sigmoid", "tanh", "softsign"],
    "maxout": [{"name": "maxout", **MAXOUT_PIECES}, "relu"],
    "softmax": ["softmax", "sigmoid"],
}


def _maxout(slopes: Sequence[float], intercepts: Sequence[float]) -> Maxout:
    if not 2 <= len(slopes) <= 8 or len(slopes) != len(intercepts):
        raise ValueError("maxout: parameters 'slopes' and 'intercepts' need the same length, 2 to 8 pieces")
    layer = Maxout(units=1, pieces=len(slopes))
    layer.build((1,), np.random.default_rng(0), np.float64)
    layer.params["weight"][:, 0] = slopes
    layer.params["bias"][:] = intercepts
    return layer


def _probe(spec: Spec) -> tuple[Layer, Callable[[np.ndarray], np.ndarray]]:
    """The layer for spec and its 1-D view: the input built from x, the output column read back."""
    name, params = _name_and_params(spec)
    if name == "maxout":
        unknown = set(params) - {"slopes", "intercepts"}
        if unknown:
            raise ValueError(f"maxout: unknown parameter(s) {sorted(unknown)}")
        return _maxout(**{**MAXOUT_PIECES, **params}), lambda x: x[:, None]
    layer = activations.get(spec)
    layer.build((1,), np.random.default_rng(0), np.float64)
    if isinstance(layer, activations.Softmax):
        return layer, lambda x: np.column_stack([x, np.zeros_like(x)])
    return layer, lambda x: x[:, None]


def _intervals(x: np.ndarray, mask: np.ndarray, tails_only: bool = False) -> list[list[float]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    runs = zip(edges[::2], edges[1::2], strict=True)
    return [[float(x[a]), float(x[b - 1])] for a, b in runs if not tails_only or a == 0 or b == len(x)]


def activation_curve(spec: Spec, x: np.ndarray) -> dict[str, Any]:
    """f(x) and f'(x) from the engine's layer (forward, then backward of ones), with its flat regions.

    zero_gradient: f' = 0; saturating: the tails where 0 < |f'| < 5% of max |f'|. Softmax is seen as
    softmax([x, 0])_0, maxout as max_k(slope_k x + intercept_k).
    """
    layer, view = _probe(spec)
    inputs = view(x)
    y = layer.forward(inputs, training=False)
    grad = np.zeros_like(y)
    grad[:, 0] = 1
    dy = layer.backward(grad)[:, 0]
    y = y[:, 0]
    slope = np.abs(dy)
    peak = float(slope.max())
    zero = slope == 0
    return {
        "name": _name_and_params(spec)[0],
        "label": _label(spec),
        "kind": getattr(layer, "kind", "other"),
        "y": _floats(y),
        "dy": _floats(dy),
        "zero_gradient": _intervals(x, zero),
        "saturating": _intervals(x, ~zero & (slope < SATURATION_LEVEL * peak), tails_only=True),
    }


def activation_curves(
    specs: Sequence[Spec], x_min: float = -6.0, x_max: float = 6.0, n: int = 401
) -> dict[str, Any]:
    """Curves of several activations on one x grid; max_deviation is max |f - f_first| for comparisons."""
    if not x_min < x_max:
        raise ValueError(f"x_min must be less than x_max, got {x_min} and {x_max}")
    x = np.linspace(x_min, x_max, n)
    curves = [activation_curve(spec, x) for spec in specs]
    if curves:
        first = np.asarray(curves[0]["y"], dtype=np.float64)
        for curve in curves:
            y = np.asarray(curve["y"], dtype=np.float64)
            curve["max_deviation"] = float(np.nanmax(np.abs(y - first)))
    return {"x": x.tolist(), "curves": curves}


# Optimizer race


class Surface:
    """A 2-D test function z = f(x, y) with its gradient, a view box, a start point and its minima."""

    box: tuple[float, float, float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...] = ()
    log_scale = False
    lrs: dict[str, float] = {}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        raise NotImplementedError

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        raise NotImplementedError


class Quadratic(Surface):
    """Ill-conditioned bowl: f = x^2 / 20 + y^2 (condition number 20)."""

    box, start, minima = (-10.0, 10.0, -5.0, 5.0), (-7.0, 2.0), ((0.0, 0.0),)
    lrs = {"sgd": 0.9, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.5, "rmsprop": 0.1, "adam": 0.3}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return x * x / 20 + y * y

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        return x / 10, 2 * y


class Rosenbrock(Surface):
    """Rosenbrock's banana valley: f = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1)."""

    box, start, minima, log_scale = (-2.0, 2.0, -1.0, 3.0), (-1.2, 1.0), ((1.0, 1.0),), True
    lrs = {"sgd": 0.002, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.5, "rmsprop": 0.02, "adam": 0.1}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        return -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)


class Saddle(Surface):
    """Saddle point at the origin: f = x^2 - y^2 (unbounded below along y)."""

    box, start = (-2.0, 2.0, -2.0, 2.0), (-1.8, 0.001)
    lrs = {"sgd": 0.05, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.02}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return x * x - y * y

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        return 2 * x, -2 * y


class Himmelblau(Surface):
    """Himmelblau's function: f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four minima of value 0."""

    box, start, log_scale = (-5.0, 5.0, -5.0, 5.0), (-0.3, -0.9), True
    minima = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    lrs = {"sgd": 0.005, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.5, "rmsprop": 0.02, "adam": 0.1}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        a, b = x * x + y - 11, x + y * y - 7
        return 4 * x * a + 2 * b, 2 * a + 4 * y * b


class Beale(Surface):
    """Beale's function, minimum at (3, 0.5).

    f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2
    """

    box, start, minima, log_scale = (-4.5, 4.5, -4.5, 4.5), (1.0, 1.5), ((3.0, 0.5),), True
    lrs = {"sgd": 0.01, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.5, "rmsprop": 0.05, "adam": 0.1}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        gx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
        gy = 2 * a * x + 4 * b * x * y + 6 * c * x * y**2
        return gx, gy


class TwoValleys(Surface):
    """Tilted double well: f = (x^2 - 1)^2 + 0.3x + y^2 / 2; better minimum (-1.036, 0), worse (0.960, 0)."""

    box, start = (-2.5, 2.5, -2.0, 2.0), (2.2, 1.5)
    minima = ((-1.035579, 0.0), (0.960150, 0.0))
    lrs = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05}

    def f(self, x: Coordinate, y: Coordinate) -> Coordinate:
        return (x * x - 1) ** 2 + 0.3 * x + y * y / 2

    def grad(self, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        return 4 * x * (x * x - 1) + 0.3, y


SURFACES = {
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "saddle": Saddle,
    "himmelblau": Himmelblau,
    "beale": Beale,
    "two_valleys": TwoValleys,
}

RACERS: dict[str, dict[str, Any]] = {
    "sgd": {"name": "sgd"},
    "momentum": {"name": "sgd", "momentum": 0.9},
    "nesterov": {"name": "sgd", "momentum": 0.9, "nesterov": True},
    "adagrad": {"name": "adagrad"},
    "rmsprop": {"name": "rmsprop"},
    "adam": {"name": "adam"},
}


def get_surface(spec: str | Surface) -> Surface:
    """A surface from its name or an instance; unknown names raise ValueError listing the valid ones."""
    return lookup("surface", SURFACES, Surface, spec)


def default_racers(surface: str | Surface) -> dict[str, dict[str, Any]]:
    """SGD, Momentum, Nesterov, AdaGrad, RMSProp and Adam, each with a learning rate suited to the surface."""
    lrs = get_surface(surface).lrs
    return {label: {**spec, "lr": lrs[label]} for label, spec in RACERS.items()}


def surface_grid(surface: str | Surface, n: int = 101) -> dict[str, Any]:
    """The surface on an n x n grid over its view box (z rows over y), for contour plots."""
    s = get_surface(surface)
    x0, x1, y0, y1 = s.box
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "z": _floats(s.f(gx, gy)),
        "box": list(s.box),
        "start": list(s.start),
        "minima": [list(m) for m in s.minima],
        "log_scale": s.log_scale,
    }


def _trajectory(
    s: Surface, spec: Mapping[str, Any], start: Sequence[float], steps: int, schedule: schedules.Schedule
) -> dict[str, Any]:
    optimizer = optimizers.get({k: v for k, v in dict(spec).items() if k != "label"})
    base_lr = optimizer.lr
    point = np.array(start, dtype=np.float64)
    x0, x1, y0, y1 = s.box
    reach = 10 * max(x1 - x0, y1 - y0)
    path, lrs, status = [point.copy()], [], "completed"
    with np.errstate(all="ignore"):
        for t in range(steps):
            optimizer.lr = schedule.lr_at(t, base_lr)
            lrs.append(optimizer.lr)
            optimizer.step([point], [np.array(s.grad(*point), dtype=np.float64)])
            path.append(point.copy())
            if not np.all(np.isfinite(point)):
                status = "diverged"
                break
            if np.max(np.abs(point)) > reach:
                status = "escaped"
                break
        xy = np.array(path)
        loss = s.f(xy[:, 0], xy[:, 1])
    return {
        "x": _floats(xy[:, 0]),
        "y": _floats(xy[:, 1]),
        "loss": _floats(loss),
        "lr": lrs,
        "status": status,
    }


def race(
    surface: str | Surface,
    racers: Mapping[str, Spec] | Sequence[Spec] | None = None,
    steps: int = 300,
    start: Sequence[float] | None = None,
    schedule: Spec = "constant",
) -> dict[str, Any]:
    """Run the engine's optimizers from one start on a surface, one step per schedule epoch.

    Each runner updates a parameter p of shape (2,) in place with the surface's gradient; a runner stops
    when p is not finite ("diverged") or leaves ten times the view box ("escaped").
    """
    s = get_surface(surface)
    if racers is None:
        racers = default_racers(surface)
    if not isinstance(racers, Mapping):
        racers = {_label(spec): spec for spec in racers}
    start = tuple(s.start if start is None else start)
    sched = schedules.get(schedule)
    runs = []
    for label, spec in racers.items():
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        path = _trajectory(s, spec, start, steps, sched)
        end = nearest_minimum(s, path["x"][-1], path["y"][-1]) if path["status"] == "completed" else None
        runs.append({"label": label, "optimizer": spec, **path, "minimum": end})
    return {
        "surface": surface if isinstance(surface, str) else type(surface).__name__.lower(),
        "start": list(start),
        "steps": steps,
        "runs": runs,
    }


def nearest_minimum(s: Surface, x: float, y: float, radius: float = 0.1) -> int | None:
    """The index of the surface's minimum within radius of (x, y), or None."""
    for index, (mx, my) in enumerate(s.minima):
        if np.hypot(x - mx, y - my) <= radius:
            return index
    return None


def _equal_lr_racers(lr: float, momentum: float) -> dict[str, Spec]:
    heavy = {"name": "sgd", "lr": lr, "momentum": momentum}
    return {"sgd": {"name": "sgd", "lr": lr}, "momentum": heavy, "adam": {"name": "adam", "lr": lr}}


def _growth(lr: float, momentum: float) -> float:
    """Per-step growth of |y| down the saddle: the largest root of r^2 - (1 + mu + 2 lr) r + mu."""
    b = 1 + momentum + 2 * lr
    return (b + np.sqrt(b * b - 4 * momentum)) / 2


def saddle_escape(
    seed: int = 0, lr: float = 0.01, momentum: float = 0.9, threshold: float = 0.5
) -> dict[str, Any]:
    """Steps SGD and SGD with momentum, at one lr, need to get |y| > threshold on the saddle f = x^2 - y^2.

    Seed 0 starts at the surface's start (-1.8, 0.001); other seeds draw x in [-1.9, -1.5] and |y| in
    [0.0005, 0.002] with a random sign. The check: SGD needs at least 3 times as many steps (Adam: reported).
    """
    s = get_surface("saddle")
    rng = np.random.default_rng(seed)
    start = s.start if seed == 0 else (-rng.uniform(1.5, 1.9), rng.choice([-1, 1]) * rng.uniform(5e-4, 2e-3))
    result = race(s, _equal_lr_racers(lr, momentum), steps=2000, start=start)
    steps: dict[str, int | None] = {}
    for run in result["runs"]:
        above = np.flatnonzero(np.abs(np.asarray(run["y"], dtype=np.float64)) > threshold)
        steps[run["label"]] = int(above[0]) if len(above) else None
    sgd, heavy = steps["sgd"], steps["momentum"]
    ratio = sgd / heavy if sgd and heavy else 0.0
    slow, fast = _growth(lr, 0.0), _growth(lr, momentum)
    expected = float(np.log(fast) / np.log(slow))
    summary = (
        f"at lr {lr}, plain SGD needs {sgd} steps to get |y| > {threshold} and momentum {momentum} "
        f"needs {heavy}: {ratio:.1f} times fewer (|y| grows by {slow:.3f} per step vs {fast:.3f} once the "
        f"velocity builds up, a ratio of {expected:.1f}); Adam at the same lr needs {steps['adam']}"
    )
    return {
        "check": "saddle_escape",
        "seed": seed,
        "start": list(map(float, start)),
        "threshold": threshold,
        "runs": result["runs"],
        "verdict": {
            "passed": bool(ratio >= 3),
            "summary": summary,
            "values": {
                "sgd_steps": sgd,
                "momentum_steps": heavy,
                "adam_steps": steps["adam"],
                "ratio": ratio,
                "expected_ratio": expected,
            },
        },
    }


def valley_escape(seed: int = 0, lr: float = 0.01, momentum: float = 0.9, starts: int = 20) -> dict[str, Any]:
    """From starts in the worse valley of two_valleys, which minimum SGD and momentum at the same lr end in.

    The seed draws `starts` points with x in [1.4, 2.3], y in [-1.5, 1.5] (downhill they all lead to the worse
    minimum); each optimizer takes 600 steps. The check: SGD reaches the better minimum from at most 5% of
    them and momentum from at least half. Adam at the same lr is reported, not checked.
    """
    s = get_surface("two_valleys")
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(1.4, 2.3, starts), rng.uniform(-1.5, 1.5, starts)])
    better = {"sgd": 0, "momentum": 0, "adam": 0}
    ends = []
    for point in points:
        runs = race(s, _equal_lr_racers(lr, momentum), steps=600, start=tuple(point))["runs"]
        found = {run["label"]: nearest_minimum(s, run["x"][-1], run["y"][-1]) for run in runs}
        ends.append({"start": point.tolist(), **found})
        for label, index in found.items():
            better[label] += index == 0
    sgd, heavy = better["sgd"] / starts, better["momentum"] / starts
    summary = (
        f"from {starts} starts in the worse valley, at lr {lr}: plain SGD reaches the better minimum from "
        f"{sgd:.0%} of them, momentum {momentum} from {heavy:.0%} (its velocity carries it over the ridge "
        f"at x = 0.075); Adam at the same lr from {better['adam'] / starts:.0%}"
    )
    return {
        "check": "valley_escape",
        "seed": seed,
        "ends": ends,
        "verdict": {
            "passed": bool(sgd <= 0.05 and heavy >= 0.5),
            "summary": summary,
            "values": {"sgd_better": sgd, "momentum_better": heavy, "adam_better": better["adam"] / starts},
        },
    }


RACE_CHECKS = {"saddle": saddle_escape, "two_valleys": valley_escape}


# Initialization explorer

INIT_PRESETS: dict[str, dict[str, Any]] = {
    "N(0, 1)": {"name": "normal", "std": 1.0},
    "N(0, 0.01)": {"name": "normal", "std": 0.01},
    "xavier": {"name": "xavier_normal"},
    "xavier (tanh gain)": {"name": "xavier_normal", "gain": "tanh"},
    "he": {"name": "he_normal", "nonlinearity": "relu"},
    "zeros": {"name": "zeros"},
    "default": {"name": "default"},
}


def _distinct_units(values: np.ndarray) -> int:
    return len(np.unique(np.round(values.T, 12), axis=0))


def init_stats(
    depth: int = 10,
    width: int = 256,
    activation: Spec = "tanh",
    initializer: Spec = "xavier",
    batch: int = 256,
    bins: int = 30,
    seed: int = 0,
) -> dict[str, Any]:
    """One forward and one backward pass through a fresh (dense, activation) x depth engine Model.

    Inputs x ~ N(0, 1) of shape (batch, width); the backward pass starts from g ~ N(0, 1) / batch at the top,
    i.e. the gradient of L = sum(g * output); biases start at 0. Per layer: activation stats and histogram
    (edges shared by all layers), ||dL/dW||, the fraction of saturated values or dead units, and how many
    units are distinct.
    """
    initializer = INIT_PRESETS.get(initializer, initializer) if isinstance(initializer, str) else initializer
    rng = np.random.default_rng(seed)
    pairs = [
        (Dense(width, weight_init=initializer, bias_init="zeros"), activations.get(activation))
        for _ in range(depth)
    ]
    model = Model([layer for pair in pairs for layer in pair], (width,)).build(rng, np.float64)
    x = rng.standard_normal((batch, width))
    output = model.forward(x, training=True)
    model.backward(rng.standard_normal(output.shape) / batch)
    values = [act.y for _, act in pairs]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    rows = []
    for k, (dense, act) in enumerate(pairs, start=1):
        dead, saturated = tm.unit_fractions(act, act.x, act.y)
        rows.append(
            {
                "layer": k,
                "mean": float(act.y.mean()),
                "std": float(act.y.std()),
                "histogram": np.histogram(act.y, bins=edges)[0].tolist(),
                "grad_norm": tm.l2_norm([dense.grads["weight"]]),
                "dead_fraction": dead,
                "saturated_fraction": saturated,
                "distinct_units": _distinct_units(act.y),
            }
        )
    return {
        "activation": _label(activation),
        "initializer": _label(initializer),
        "depth": depth,
        "width": width,
        "edges": edges.tolist(),
        "layers": rows,
    }


# Loss landscape


def filter_normalized_direction(params: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A random direction with each filter (row) scaled to its weight row's norm; 1-D params get 0.

    d_i <- d_i / ||d_i|| * ||w_i||  for every row i of a weight (out, in, ...), d ~ N(0, 1)  (Li et al. 2018).
    """
    direction = []
    for w in params:
        if w.ndim < 2:
            direction.append(np.zeros(w.shape))
            continue
        d = rng.standard_normal(w.shape)
        rows, w_rows = d.reshape(len(d), -1), np.asarray(w, dtype=np.float64).reshape(len(w), -1)
        rows *= (np.linalg.norm(w_rows, axis=1) / np.maximum(np.linalg.norm(rows, axis=1), 1e-12))[:, None]
        direction.append(d)
    return direction


def _flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def _assign(params: Sequence[np.ndarray], flat: np.ndarray) -> None:
    offset = 0
    for p in params:
        p[...] = flat[offset : offset + p.size].reshape(p.shape)
        offset += p.size


def pca_directions(
    params: Sequence[np.ndarray], path: np.ndarray, center: np.ndarray, count: int = 2
) -> list[np.ndarray]:
    """The trajectory's principal directions (Li et al. 2018, section 7), scaled to the weights' norm.

    The top `count` right singular vectors v of the displacements (path - center), shape (steps, n_params),
    each scaled to ||W|| (the norm of the >= 2-D params): the norm a filter-normalised random direction has,
    so a = 1 means as far in both bases. Scaling filter by filter would tilt the plane off the path.
    """
    displacements = path - center
    if not np.any(displacements):
        raise ValueError("the training path must move to have principal directions")
    components = np.linalg.svd(displacements, full_matrices=False)[2][:count]
    scale = float(np.sqrt(sum(np.sum(np.asarray(w, dtype=np.float64) ** 2) for w in params if w.ndim >= 2)))
    return [component * scale for component in components]


def captured_fraction(basis: np.ndarray, displacements: np.ndarray) -> tuple[float, np.ndarray]:
    """How much of a path's motion a plane holds: sum |P d|^2 / sum |d|^2, and each step's off-plane share.

    d = path - center per step, P the orthogonal projection on the columns of basis; a step's off-plane share
    is |d - P d| / |d| (0 on the plane, 1 orthogonal to it; 0 for the centre itself).
    """
    q = np.linalg.qr(basis)[0]
    projected = displacements @ q @ q.T
    total = float(np.sum(displacements**2))
    fraction = float(np.sum(projected**2)) / total if total > 0 else 1.0
    lengths = np.linalg.norm(displacements, axis=1)
    residual = np.linalg.norm(displacements - projected, axis=1)
    off = np.divide(residual, lengths, out=np.zeros_like(lengths), where=lengths > 0)
    return fraction, off


def loss_landscape(
    source: Trainer | Model,
    data: tuple[np.ndarray, np.ndarray] | None = None,
    loss: Loss | None = None,
    directions: int = 2,
    n: int = 21,
    span: float = 1.0,
    seed: int = 0,
    path: Sequence[np.ndarray] | None = None,
    basis: str = "random",
) -> dict[str, Any]:
    """The loss on a 1-D or 2-D slice through the current weights along filter-normalised directions.

    L(a, b) = loss(model(theta + a d1 + b d2)(x), y), a, b in [-span, span] (eval mode). source is a Trainer
    (its model, loss and training data) or a Model with data = (x, y) and a loss. The directions are random
    (basis "random") or the training path's principal directions (basis "pca", Li et al. 2018); a path
    (flattened weight snapshots, ordered as model.parameters()) is projected on them by least squares, with
    the fraction of its motion the slice captures, its own loss and the loss where its projection lands.
    """
    if directions not in (1, 2):
        raise ValueError(f"directions must be 1 or 2, got {directions!r}")
    if basis not in ("random", "pca"):
        raise ValueError(f"basis must be 'random' or 'pca', got {basis!r}")
    if isinstance(source, Model):
        if data is None or loss is None:
            raise ValueError("a Model needs data = (x, y) and a loss")
        model, (x, y) = source, data
    else:
        model, loss = source.model, source.loss
        x, y = (source.x_train, source.y_train) if data is None else data
    params = model.parameters()
    theta = _flat(params)
    steps = None if path is None else np.asarray(path, dtype=np.float64).reshape(len(path), -1)
    if basis == "pca":
        if steps is None or len(steps) < 2:
            raise ValueError("basis 'pca' needs a training path of at least 2 recorded epochs")
        columns = pca_directions(params, steps, theta, directions)
    else:
        rng = np.random.default_rng(seed)
        columns = [_flat(filter_normalized_direction(params, rng)) for _ in range(directions)]
    matrix = np.column_stack(columns)
    a = np.linspace(-span, span, n)
    b = a if directions == 2 else np.zeros(1)

    def at(point: np.ndarray) -> float:
        _assign(params, point.astype(model.dtype))
        return float(loss.forward(model.forward(x, training=False), y))

    try:
        with np.errstate(all="ignore"):
            z = np.array([[at(theta + matrix @ np.array([ai, bi][:directions])) for ai in a] for bi in b])
            result = {
                "basis": basis,
                "x": a.tolist(),
                "y": b.tolist() if directions == 2 else None,
                "z": _floats(z if directions == 2 else z[0]),
                "center": at(theta),
            }
            if steps is not None:
                coords = np.linalg.lstsq(matrix, (steps - theta).T, rcond=None)[0]
                fraction, off = captured_fraction(matrix, steps - theta)
                result["path"] = {
                    "x": _floats(coords[0]),
                    "y": _floats(coords[1]) if directions == 2 else None,
                    "loss": _floats([at(step) for step in steps]),
                    "plane_loss": _floats([at(theta + matrix @ c) for c in coords.T]),
                    "off_plane": _floats(off),
                    "captured": fraction,
                }
    finally:
        _assign(params, theta.astype(model.dtype))
    return result
