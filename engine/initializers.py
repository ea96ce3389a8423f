"""Weight initializers `init(shape, rng) -> float64 array` (torch.nn.init semantics) and INITIALIZERS.

Each initializer declares its config schema (`Config`, e.g. NormalInit) beside its class and checks its
parameters with it; its catalog entry and its torch.nn.init call are derived from it.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.registry import lookup
from engine.schema import SpecLike, Strict, validated

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
Nonlinearity = Literal["linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
NONLINEARITIES: tuple[str, ...] = get_args(Nonlinearity)
FanMode = Literal["fan_in", "fan_out", "fan_avg"]
Distribution = Literal["normal", "uniform"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
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

    Config: ClassVar[type[Strict]]
    torch_function = ""

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The resolved parameters, by name: the fields of its Config besides the registry name."""
        return {key: getattr(self, key) for key in self.Config.model_fields if key != "name"}

    def torch_arguments(self) -> dict[str, Any]:
        """The torch.nn.init function's keyword arguments."""
        return self.options()

    def torch(self, tensor: str) -> str:
        """The equivalent torch.nn.init call on `tensor` (in place), as a Python statement."""
        args = "".join(f", {k}={v!r}" for k, v in self.torch_arguments().items())
        return f"nn.init.{self.torch_function}({tensor}{args})"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"


class ZerosInit(Strict):
    """w = 0."""

    name: Literal["zeros"] = "zeros"


class Zeros(Initializer):
    """All zeros: w = 0."""

    Config = ZerosInit
    torch_function = "zeros_"

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.zeros(shape)


class OnesInit(Strict):
    """w = 1."""

    name: Literal["ones"] = "ones"


class Ones(Initializer):
    """All ones: w = 1."""

    Config = OnesInit
    torch_function = "ones_"

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.ones(shape)


class ConstantInit(Strict):
    """w = value."""

    name: Literal["constant"] = "constant"
    value: float = Field(0.0, ge=-10, le=10)


class Constant(Initializer):
    """A constant: w = value."""

    Config = ConstantInit
    torch_function = "constant_"

    def __init__(self, value: float = 0.0) -> None:
        self.value = validated(self.Config, value=value).value

    def torch_arguments(self) -> dict[str, Any]:
        return {"val": self.value}

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.full(shape, self.value)


class IdentityInit(Strict):
    """w = I, for a 2-D weight."""

    name: Literal["identity"] = "identity"


class Identity(Initializer):
    """The identity matrix of a 2-D weight (out, in), as torch.nn.init.eye_: w = I."""

    Config = IdentityInit
    torch_function = "eye_"

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"identity initializer needs a 2-D weight, got shape {tuple(shape)}")
        return np.eye(*shape)


class NormalInit(Strict):
    """w ~ N(mean, std^2)."""

    name: Literal["normal"] = "normal"
    mean: float = Field(0.0, ge=-10, le=10)
    std: float = Field(1.0, ge=0, le=10)


class Normal(Initializer):
    """Normal: w ~ N(mean, std^2)."""

    Config = NormalInit
    torch_function = "normal_"

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        config = validated(self.Config, mean=mean, std=std)
        self.mean, self.std = config.mean, config.std

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.std, shape)


class UniformInit(Strict):
    """w ~ U(a, b), a <= b."""

    name: Literal["uniform"] = "uniform"
    a: float = Field(0.0, ge=-10, le=10)
    b: float = Field(1.0, ge=-10, le=10)

    @model_validator(mode="after")
    def _b_from_a(self) -> UniformInit:
        if self.b < self.a:
            raise ValueError("b must be at least a")
        return self


class Uniform(Initializer):
    """Uniform: w ~ U(a, b)."""

    Config = UniformInit
    torch_function = "uniform_"

    def __init__(self, a: float = 0.0, b: float = 1.0) -> None:
        config = validated(self.Config, a=a, b=b)
        self.a, self.b = config.a, config.b

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.a, self.b, shape)


class VarianceScalingInit(Strict):
    """w with std = sqrt(scale / n), n the fan that `mode` names, drawn from `distribution`."""

    scale: float = Field(1.0, ge=0, le=100)
    mode: FanMode = "fan_in"
    distribution: Distribution = "normal"


class VarianceScaling(Initializer):
    """Zero-mean weights with variance scale / fan (keras VarianceScaling, no truncation).

    std = sqrt(scale / n), n = fan_in, fan_out or (fan_in + fan_out) / 2; uniform: U(-b, b), b = sqrt(3) std.
    """

    Config: ClassVar[type[Strict]] = VarianceScalingInit

    def __init__(
        self, scale: float = 1.0, mode: FanMode = "fan_in", distribution: Distribution = "normal"
    ) -> None:
        config = validated(VarianceScalingInit, scale=scale, mode=mode, distribution=distribution)
        self.scale, self.mode, self.distribution = config.scale, config.mode, config.distribution

    def std(self, shape: tuple[int, ...]) -> float:
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return math.sqrt(self.scale / n)

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        std = self.std(shape)
        if self.distribution == "uniform":
            return rng.uniform(-math.sqrt(3) * std, math.sqrt(3) * std, shape)
        return rng.normal(0.0, std, shape)


Gain = Annotated[float, Field(ge=0, le=10)] | Nonlinearity


class _XavierInit(Strict):
    gain: Gain = Field(1.0, description="a number, or a nonlinearity whose calculate_gain to use")

    @field_validator("gain", mode="wrap")
    @classmethod
    def _number_or_nonlinearity(cls, gain: object, handler: ValidatorFunctionWrapHandler) -> float | str:
        """One error, from the branch the input's type chooses: a number's bounds or a nonlinearity's name."""
        try:
            checked: float | str = handler(gain)
        except ValidationError as error:
            problem = error.errors()[1 if isinstance(gain, str) else 0]
            raise PydanticCustomError(problem["type"], problem["msg"]) from None
        return checked


class _Xavier(VarianceScaling):
    Config: ClassVar[type[_XavierInit]]

    def __init__(self, gain: float | str, distribution: Distribution) -> None:
        self.gain = validated(self.Config, gain=gain).gain
        scale = calculate_gain(self.gain) if isinstance(self.gain, str) else self.gain
        super().__init__(scale**2, "fan_avg", distribution)

    def torch(self, tensor: str) -> str:
        gain = f"nn.init.calculate_gain({self.gain!r})" if isinstance(self.gain, str) else repr(self.gain)
        return f"nn.init.{self.torch_function}({tensor}, gain={gain})"


class XavierUniformInit(_XavierInit):
    """Glorot uniform: w ~ U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))."""

    name: Literal["xavier_uniform"] = "xavier_uniform"


class XavierUniform(_Xavier):
    """Glorot uniform (gain: number or nonlinearity): w ~ U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))."""

    Config = XavierUniformInit
    torch_function = "xavier_uniform_"

    def __init__(self, gain: float | str = 1.0) -> None:
        super().__init__(gain, "uniform")


class XavierNormalInit(_XavierInit):
    """Glorot normal: w ~ N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out))."""

    name: Literal["xavier_normal"] = "xavier_normal"


class XavierNormal(_Xavier):
    """Glorot normal (gain: number or nonlinearity): w ~ N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out))."""

    Config = XavierNormalInit
    torch_function = "xavier_normal_"

    def __init__(self, gain: float | str = 1.0) -> None:
        super().__init__(gain, "normal")


class _KaimingInit(Strict):
    a: float = Field(0.0, ge=0, le=10, description="the negative slope of leaky_relu")
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Nonlinearity = "leaky_relu"


class _Kaiming(VarianceScaling):
    Config: ClassVar[type[_KaimingInit]]

    def __init__(self, a: float, mode: str, nonlinearity: str, distribution: Distribution) -> None:
        config = validated(self.Config, a=a, mode=mode, nonlinearity=nonlinearity)
        self.a, self.nonlinearity = config.a, config.nonlinearity
        super().__init__(calculate_gain(self.nonlinearity, self.a) ** 2, config.mode, distribution)


class HeUniformInit(_KaimingInit):
    """He (Kaiming) uniform: w ~ U(-b, b), b = gain(nonlinearity, a) * sqrt(3 / fan_mode)."""

    name: Literal["he_uniform"] = "he_uniform"


class HeUniform(_Kaiming):
    """He (Kaiming) uniform: w ~ U(-b, b), b = gain(nonlinearity, a) * sqrt(3 / fan_mode)."""

    Config = HeUniformInit
    torch_function = "kaiming_uniform_"

    def __init__(
        self, a: float = 0.0, mode: Literal["fan_in", "fan_out"] = "fan_in", nonlinearity: str = "leaky_relu"
    ) -> None:
        super().__init__(a, mode, nonlinearity, "uniform")


class HeNormalInit(_KaimingInit):
    """He (Kaiming) normal: w ~ N(0, std^2), std = gain(nonlinearity, a) / sqrt(fan_mode)."""

    name: Literal["he_normal"] = "he_normal"


class HeNormal(_Kaiming):
    """He (Kaiming) normal: w ~ N(0, std^2), std = gain(nonlinearity, a) / sqrt(fan_mode)."""

    Config = HeNormalInit
    torch_function = "kaiming_normal_"

    def __init__(
        self, a: float = 0.0, mode: Literal["fan_in", "fan_out"] = "fan_in", nonlinearity: str = "leaky_relu"
    ) -> None:
        super().__init__(a, mode, nonlinearity, "normal")


class LecunNormalInit(Strict):
    """w ~ N(0, 1 / fan_in)."""

    name: Literal["lecun_normal"] = "lecun_normal"


class LecunNormal(VarianceScaling):
    """LeCun normal (torch: kaiming_normal_ with nonlinearity "linear"): w ~ N(0, 1 / fan_in)."""

    Config = LecunNormalInit
    torch_function = "kaiming_normal_"

    def __init__(self) -> None:
        super().__init__(1.0, "fan_in", "normal")

    def torch_arguments(self) -> dict[str, Any]:
        return {"nonlinearity": "linear"}


class DefaultInit(Strict):
    """PyTorch's default for the layer: w ~ U(-b, b), b = 1 / sqrt(fan_in)."""

    name: Literal["default"] = "default"


class Default(VarianceScaling):
    """PyTorch's Linear/Conv2d default (kaiming_uniform_, a = sqrt 5): w ~ U(-b, b), b = 1 / sqrt(fan_in)."""

    Config = DefaultInit
    torch_function = "kaiming_uniform_"

    def __init__(self) -> None:
        super().__init__(1 / 3, "fan_in", "uniform")

    def torch_arguments(self) -> dict[str, Any]:
        return {"a": math.sqrt(5)}


INITIALIZERS: dict[str, type[Initializer]] = {
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


def get(spec: SpecLike | Initializer) -> Initializer:
    """Return an initializer from a name, a {"name": ..., **params} dict or an Initializer instance."""
    return lookup("initializer", INITIALIZERS, Initializer, spec, prefix_errors=True)
