"""Weight initializers `init(shape, rng) -> float64 array` (torch.nn.init semantics) and INITIALIZERS."""

import inspect
import math
from numbers import Real

import numpy as np

from engine.registry import checked, lookup

GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5 / 3,
    "relu": math.sqrt(2.0),
    "selu": 3 / 4,
}
NONLINEARITIES = ("linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """torch.nn.init.calculate_gain: the std gain of a nonlinearity; leaky_relu: sqrt(2 / (1 + slope^2))."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, Real):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + float(slope) ** 2))
    if nonlinearity not in GAINS:
        raise ValueError(
            f"unsupported nonlinearity {nonlinearity!r}; valid: {', '.join([*GAINS, 'leaky_relu'])}"
        )
    return GAINS[nonlinearity]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as torch for a weight (out, in, *kernel): (in * receptive, out * receptive)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight of at least 2 dimensions, got {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """An initializer: init(shape, rng) -> float64 array of that shape; the layer casts it to its dtype."""

    bounds: dict[str, tuple[float, float]] = {}
    choices: dict[str, tuple[str, ...]] = {}
    torch_function = ""

    def _set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, checked(type(self).__name__, key, value, self.bounds, self.choices))

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def torch_arguments(self) -> dict[str, object]:
        """The torch.nn.init function's keyword arguments."""
        return {k: getattr(self, k) for k in inspect.signature(type(self)).parameters}

    def torch(self, tensor: str) -> str:
        """The equivalent torch.nn.init call on `tensor` (in place), as a Python statement."""
        args = "".join(f", {k}={v!r}" for k, v in self.torch_arguments().items())
        return f"nn.init.{self.torch_function}({tensor}{args})"

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros: w = 0."""

    torch_function = "zeros_"

    def __call__(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones: w = 1."""

    torch_function = "ones_"

    def __call__(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """A constant: w = value."""

    torch_function = "constant_"

    def torch_arguments(self):
        return {"val": self.value}

    bounds = {"value": (-10.0, 10.0)}

    def __init__(self, value=0.0):
        self._set_params(value=value)

    def __call__(self, shape, rng):
        return np.full(shape, self.value)


class Identity(Initializer):
    """The identity matrix of a 2-D weight (out, in), as torch.nn.init.eye_: w = I."""

    torch_function = "eye_"

    def __call__(self, shape, rng):
        if len(shape) != 2:
            raise ValueError(f"identity initializer needs a 2-D weight, got shape {tuple(shape)}")
        return np.eye(*shape)


class Normal(Initializer):
    """Normal: w ~ N(mean, std^2)."""

    torch_function = "normal_"

    bounds = {"mean": (-10.0, 10.0), "std": (0.0, 10.0)}

    def __init__(self, mean=0.0, std=1.0):
        self._set_params(mean=mean, std=std)

    def __call__(self, shape, rng):
        return rng.normal(self.mean, self.std, shape)


class Uniform(Initializer):
    """Uniform: w ~ U(a, b)."""

    torch_function = "uniform_"

    bounds = {"a": (-10.0, 10.0), "b": (-10.0, 10.0)}

    def __init__(self, a=0.0, b=1.0):
        self._set_params(a=a, b=b)
        if self.b < self.a:
            raise ValueError(f"Uniform: parameter 'b' must be at least a, got {b!r}")

    def __call__(self, shape, rng):
        return rng.uniform(self.a, self.b, shape)


class VarianceScaling(Initializer):
    """Zero-mean weights with variance scale / fan (keras VarianceScaling, no truncation).

    std = sqrt(scale / n), n = fan_in, fan_out or (fan_in + fan_out) / 2; uniform: U(-b, b), b = sqrt(3) std.
    """

    bounds = {"scale": (0.0, 100.0)}
    choices = {"mode": ("fan_in", "fan_out", "fan_avg"), "distribution": ("normal", "uniform")}
    scale: float
    mode: str
    distribution: str

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal"):
        self._set_params(scale=scale, mode=mode, distribution=distribution)

    def std(self, shape) -> float:
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return math.sqrt(self.scale / n)

    def __call__(self, shape, rng):
        std = self.std(shape)
        if self.distribution == "uniform":
            return rng.uniform(-math.sqrt(3) * std, math.sqrt(3) * std, shape)
        return rng.normal(0.0, std, shape)


class _Xavier(VarianceScaling):
    bounds = {**VarianceScaling.bounds, "gain": (0.0, 10.0)}

    def __init__(self, gain, distribution):
        if isinstance(gain, str):
            if gain not in NONLINEARITIES:
                raise ValueError(
                    f"{type(self).__name__}: parameter 'gain' must be a number or one of "
                    f"{list(NONLINEARITIES)}, got {gain!r}"
                )
            self.gain, scale = gain, calculate_gain(gain)
        else:
            self._set_params(gain=gain)
            scale = self.gain
        super().__init__(scale**2, "fan_avg", distribution)

    def torch(self, tensor: str) -> str:
        gain = f"nn.init.calculate_gain({self.gain!r})" if isinstance(self.gain, str) else repr(self.gain)
        return f"nn.init.{self.torch_function}({tensor}, gain={gain})"


class XavierUniform(_Xavier):
    """Glorot uniform (gain: number or nonlinearity): w ~ U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))."""

    torch_function = "xavier_uniform_"

    def __init__(self, gain=1.0):
        super().__init__(gain, "uniform")


class XavierNormal(_Xavier):
    """Glorot normal (gain: number or nonlinearity): w ~ N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out))."""

    torch_function = "xavier_normal_"

    def __init__(self, gain=1.0):
        super().__init__(gain, "normal")


class _Kaiming(VarianceScaling):
    bounds = {**VarianceScaling.bounds, "a": (0.0, 10.0)}
    choices = {
        **VarianceScaling.choices,
        "mode": ("fan_in", "fan_out"),
        "nonlinearity": NONLINEARITIES,
    }

    def __init__(self, a, mode, nonlinearity, distribution):
        self._set_params(a=a, nonlinearity=nonlinearity)
        super().__init__(calculate_gain(self.nonlinearity, self.a) ** 2, mode, distribution)


class HeUniform(_Kaiming):
    """He (Kaiming) uniform: w ~ U(-b, b), b = gain(nonlinearity, a) * sqrt(3 / fan_mode)."""

    torch_function = "kaiming_uniform_"

    def __init__(self, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
        super().__init__(a, mode, nonlinearity, "uniform")


class HeNormal(_Kaiming):
    """He (Kaiming) normal: w ~ N(0, std^2), std = gain(nonlinearity, a) / sqrt(fan_mode)."""

    torch_function = "kaiming_normal_"

    def __init__(self, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
        super().__init__(a, mode, nonlinearity, "normal")


class LecunNormal(VarianceScaling):
    """LeCun normal (torch: kaiming_normal_ with nonlinearity "linear"): w ~ N(0, 1 / fan_in)."""

    torch_function = "kaiming_normal_"

    def torch_arguments(self):
        return {"nonlinearity": "linear"}

    def __init__(self):
        super().__init__(1.0, "fan_in", "normal")


class Default(VarianceScaling):
    """PyTorch's Linear/Conv2d default (kaiming_uniform_, a = sqrt 5): w ~ U(-b, b), b = 1 / sqrt(fan_in)."""

    torch_function = "kaiming_uniform_"

    def torch_arguments(self):
        return {"a": math.sqrt(5)}

    def __init__(self):
        super().__init__(1 / 3, "fan_in", "uniform")


INITIALIZERS = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "identity": Identity,
    "normal": Normal,
    "uniform": Uniform,
    "xavier_uniform": XavierUniform,
    "xavier_normal": XavierNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_normal": LecunNormal,
    "default": Default,
}


def get(spec) -> Initializer:
    """Return an initializer from a name, a {"name": ..., **params} dict or an Initializer instance."""
    return lookup("initializer", INITIALIZERS, Initializer, spec)
