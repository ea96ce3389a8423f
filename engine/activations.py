"""Activation layers (PyTorch definitions and defaults) and the ACTIVATIONS registry.

Each activation declares its config schema (`Config`, e.g. LeakyReLUConfig) beside its class and checks its
parameters with it; its catalog entry, its options in the plan and its torch equivalent are derived from it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import DTypeLike
from pydantic import Field, model_validator
from scipy.special import erf, expit

from engine.layers import Layer, Shape
from engine.registry import lookup
from engine.schema import SpecLike, Strict, validated


class Activation(Layer):
    """Elementwise activation y = f(x) on any shape; backward returns grad * df(x, y)."""

    Config: ClassVar[type[Strict]]
    kind = "smooth"

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x = x
        self.y = self.f(x)
        return self.y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.df(self.x, self.y)

    def options(self) -> dict[str, Any]:
        """The resolved parameters, by name: the fields of its Config besides the registry name."""
        return {key: getattr(self, key) for key in self.Config.model_fields if key != "name"}

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        return 0, 2 * int(np.prod(input_shape))

    def torch(self, input_shape: Shape) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"nn.{type(self).__name__}({args})"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"


def _slope(x: np.ndarray, negative_slope: float | np.ndarray) -> np.ndarray:
    return np.where(x > 0, x.dtype.type(1), np.asarray(negative_slope, dtype=x.dtype))


class IdentityConfig(Strict):
    """y = x."""

    name: Literal["identity"] = "identity"


class Identity(Activation):
    """Identity: y = x."""

    Config = IdentityConfig

    def f(self, x: np.ndarray) -> np.ndarray:
        return x

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.ones_like(x)


class StepConfig(Strict):
    """y = 1 if x > 0 else 0."""

    name: Literal["step"] = "step"


class Step(Activation):
    """Heaviside step: y = 1 if x > 0 else 0; dy/dx = 0 everywhere (nothing below it learns)."""

    Config = StepConfig
    kind = "saturating"
    torch_definition = """class Step(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)
"""

    def torch(self, input_shape: Shape) -> str:
        return "Step()"

    def f(self, x: np.ndarray) -> np.ndarray:
        return (x > 0).astype(x.dtype)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)


class SigmoidConfig(Strict):
    """y = 1 / (1 + exp(-x))."""

    name: Literal["sigmoid"] = "sigmoid"


class Sigmoid(Activation):
    """Logistic sigmoid: y = 1 / (1 + exp(-x))."""

    Config = SigmoidConfig
    kind = "saturating"

    def f(self, x: np.ndarray) -> np.ndarray:
        return expit(x)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y * (1 - y)


class HardsigmoidConfig(Strict):
    """y = clip(x + 3, 0, 6) / 6."""

    name: Literal["hardsigmoid"] = "hardsigmoid"


class Hardsigmoid(Activation):
    """Hard sigmoid: y = relu6(x + 3) / 6 = clip(x + 3, 0, 6) / 6."""

    Config = HardsigmoidConfig
    kind = "saturating"

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x + 3, 0, 6) / 6

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where((x > -3) & (x < 3), x.dtype.type(1 / 6), x.dtype.type(0))


class HardLogisticConfig(Strict):
    """y = clip(x / 4 + 1/2, 0, 1)."""

    name: Literal["hard_logistic"] = "hard_logistic"


class HardLogistic(Activation):
    """The course notes' hard logistic, sigmoid's tangent at 0 clipped: y = clip(x / 4 + 1/2, 0, 1).

    PyTorch has no such layer: its hardsigmoid is clip(x / 6 + 1/2, 0, 1).
    """

    Config = HardLogisticConfig
    kind = "saturating"
    torch_definition = """class HardLogistic(nn.Module):
    def forward(self, x):
        return nn.functional.hardtanh(0.25 * x + 0.5, 0.0, 1.0)
"""

    def torch(self, input_shape: Shape) -> str:
        return "HardLogistic()"

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.clip(0.25 * x + 0.5, 0, 1)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where((x > -2) & (x < 2), x.dtype.type(0.25), x.dtype.type(0))


class TanhConfig(Strict):
    """y = tanh(x)."""

    name: Literal["tanh"] = "tanh"


class Tanh(Activation):
    """Hyperbolic tangent: y = tanh(x)."""

    Config = TanhConfig
    kind = "saturating"

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1 - y * y


class HardtanhConfig(Strict):
    """y = clip(x, min_val, max_val), min_val < max_val."""

    name: Literal["hardtanh"] = "hardtanh"
    min_val: float = Field(-1.0, ge=-10, le=10)
    max_val: float = Field(1.0, ge=-10, le=10)

    @model_validator(mode="after")
    def _max_above_min(self) -> HardtanhConfig:
        if self.max_val <= self.min_val:
            raise ValueError("max_val must be greater than min_val")
        return self


class Hardtanh(Activation):
    """Hard tanh: y = clip(x, min_val, max_val)."""

    Config = HardtanhConfig
    kind = "saturating"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        config = validated(self.Config, min_val=min_val, max_val=max_val)
        self.min_val, self.max_val = config.min_val, config.max_val

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.min_val, self.max_val)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ((x > self.min_val) & (x < self.max_val)).astype(x.dtype)


class ReLUConfig(Strict):
    """y = max(x, 0)."""

    name: Literal["relu"] = "relu"


class ReLU(Activation):
    """Rectified linear unit: y = max(x, 0)."""

    Config = ReLUConfig
    kind = "relu"

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x > 0).astype(x.dtype)


class LeakyReLUConfig(Strict):
    """y = x if x > 0 else negative_slope * x."""

    name: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: float = Field(0.01, ge=0, le=1)


class LeakyReLU(Activation):
    """Leaky ReLU: y = x if x > 0 else negative_slope * x."""

    Config = LeakyReLUConfig
    kind = "relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = validated(self.Config, negative_slope=negative_slope).negative_slope

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * self.negative_slope)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _slope(x, self.negative_slope)


class PReLUConfig(Strict):
    """y = x if x > 0 else weight * x, one learnable weight starting at init."""

    name: Literal["prelu"] = "prelu"
    init: float = Field(0.25, ge=0, le=1)


class PReLU(Activation):
    """Parametric ReLU with one learnable slope: y = x if x > 0 else weight * x; params {"weight": (1,)}."""

    Config = PReLUConfig
    kind = "relu"

    def __init__(self, init: float = 0.25) -> None:
        super().__init__()
        self.init = validated(self.Config, init=init).init

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        self.params["weight"] = np.full((1,), self.init, dtype=dtype)
        self.grads["weight"] = np.zeros((1,), dtype=dtype)
        return tuple(input_shape)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"weight": (1,)}

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * self.params["weight"])

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _slope(x, self.params["weight"])

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.grads["weight"][0] = np.sum(np.where(self.x > 0, 0, self.x * grad), dtype=grad.dtype)
        return super().backward(grad)


class RReLUConfig(Strict):
    """y = x if x > 0 else a * x, a ~ U(lower, upper) in training, (lower + upper) / 2 in eval."""

    name: Literal["rrelu"] = "rrelu"
    lower: float = Field(1 / 8, ge=0, le=1)
    upper: float = Field(1 / 3, ge=0, le=1)

    @model_validator(mode="after")
    def _upper_from_lower(self) -> RReLUConfig:
        if self.upper < self.lower:
            raise ValueError("upper must be at least lower")
        return self


class RReLU(Activation):
    """Randomized leaky ReLU, random slope per element in training, the mean slope in eval.

    y = x if x > 0 else a * x,  a ~ U(lower, upper) in training,  a = (lower + upper) / 2 in eval.
    """

    Config = RReLUConfig
    kind = "relu"

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3) -> None:
        super().__init__()
        config = validated(self.Config, lower=lower, upper=upper)
        self.lower, self.upper = config.lower, config.upper
        self.rng: np.random.Generator | None = None
        self.slope: float | np.ndarray = (self.lower + self.upper) / 2

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        self.rng = rng
        return tuple(input_shape)

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        return int(np.prod(input_shape)), 2 * int(np.prod(input_shape))

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if not training:
            self.slope = (self.lower + self.upper) / 2
        elif self.rng is None:
            raise RuntimeError("RReLU: call build() with an rng before training")
        else:
            self.slope = self.rng.uniform(self.lower, self.upper, size=x.shape).astype(x.dtype)
        return super().forward(x, training)

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * self.slope)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _slope(x, self.slope)


class ELUConfig(Strict):
    """y = x if x > 0 else alpha * (exp(x) - 1)."""

    name: Literal["elu"] = "elu"
    alpha: float = Field(1.0, ge=0, le=10)


class ELU(Activation):
    """Exponential linear unit: y = x if x > 0 else alpha * (exp(x) - 1)."""

    Config = ELUConfig

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = validated(self.Config, alpha=alpha).alpha

    def f(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x.dtype.type(1), y + self.alpha)


class SELUConfig(Strict):
    """y = scale * (x if x > 0 else alpha * (exp(x) - 1)), fixed alpha and scale."""

    name: Literal["selu"] = "selu"


class SELU(Activation):
    """Scaled ELU: y = scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6733, scale = 1.0507."""

    Config = SELUConfig
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def f(self, x: np.ndarray) -> np.ndarray:
        return self.scale * np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x.dtype.type(self.scale), y + self.scale * self.alpha)


class GELUConfig(Strict):
    """y = x * Phi(x), exact ("none") or with the tanh approximation."""

    name: Literal["gelu"] = "gelu"
    approximate: Literal["none", "tanh"] = "none"


class GELU(Activation):
    """Gaussian error linear unit, exact or with the tanh approximation.

    y = x * Phi(x) = x/2 (1 + erf(x / sqrt 2));  "tanh": y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """

    Config = GELUConfig
    kappa = 0.044715
    c = math.sqrt(2 / math.pi)

    def __init__(self, approximate: Literal["none", "tanh"] = "none") -> None:
        super().__init__()
        self.approximate = validated(self.Config, approximate=approximate).approximate

    def f(self, x: np.ndarray) -> np.ndarray:
        if self.approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(self.c * (x + self.kappa * x**3)))
        return 0.5 * x * (1 + erf(x * math.sqrt(0.5)))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.approximate == "tanh":
            t = np.tanh(self.c * (x + self.kappa * x**3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self.c * (1 + 3 * self.kappa * x * x)
        return 0.5 * (1 + erf(x * math.sqrt(0.5))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


class SiLUConfig(Strict):
    """y = x * sigmoid(x)."""

    name: Literal["silu"] = "silu"


class SiLU(Activation):
    """Sigmoid linear unit: y = x * sigmoid(x)."""

    Config = SiLUConfig

    def f(self, x: np.ndarray) -> np.ndarray:
        return x * expit(x)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = expit(x)
        return s * (1 + x * (1 - s))


class SwishConfig(Strict):
    """y = x * sigmoid(beta * x)."""

    name: Literal["swish"] = "swish"
    beta: float = Field(1.0, ge=0, le=10)


class Swish(Activation):
    """Swish: y = x * sigmoid(beta * x); beta 1 is SiLU."""

    Config = SwishConfig
    torch_definition = """class Swish(nn.Module):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
"""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = validated(self.Config, beta=beta).beta

    def torch(self, input_shape: Shape) -> str:
        return "nn.SiLU()" if self.beta == 1 else f"Swish(beta={self.beta!r})"

    def f(self, x: np.ndarray) -> np.ndarray:
        return x * expit(self.beta * x)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = expit(self.beta * x)
        return s * (1 + self.beta * x * (1 - s))


class SoftplusConfig(Strict):
    """y = log(1 + exp(beta * x)) / beta, linear above threshold."""

    name: Literal["softplus"] = "softplus"
    beta: float = Field(1.0, ge=0.01, le=100)
    threshold: float = Field(20.0, ge=0, le=100)


class Softplus(Activation):
    """Softplus: y = log(1 + exp(beta * x)) / beta, and y = x where beta * x > threshold."""

    Config = SoftplusConfig

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        config = validated(self.Config, beta=beta, threshold=threshold)
        self.beta, self.threshold = config.beta, config.threshold

    def f(self, x: np.ndarray) -> np.ndarray:
        bx = self.beta * x
        return np.where(bx > self.threshold, x, np.logaddexp(0, bx) / self.beta)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        bx = self.beta * x
        return np.where(bx > self.threshold, x.dtype.type(1), expit(bx))


class SoftsignConfig(Strict):
    """y = x / (1 + |x|)."""

    name: Literal["softsign"] = "softsign"


class Softsign(Activation):
    """Softsign: y = x / (1 + |x|)."""

    Config = SoftsignConfig
    kind = "saturating"

    def f(self, x: np.ndarray) -> np.ndarray:
        return x / (1 + np.abs(x))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.abs(x)) ** 2


class SoftmaxConfig(Strict):
    """y_i = exp(x_i) / sum_j exp(x_j) over the features."""

    name: Literal["softmax"] = "softmax"


class Softmax(Activation):
    """Softmax over dim 1 of (batch, n): y_i = exp(x_i) / sum_j exp(x_j); backward y * (g - sum_j g_j y_j)."""

    Config = SoftmaxConfig

    def torch(self, input_shape: Shape) -> str:
        return "nn.Softmax(dim=1)"

    def f(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The Jacobian's diagonal y (1 - y), for plots; backward uses the whole Jacobian."""
        return y * (1 - y)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self.y * (grad - np.sum(grad * self.y, axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "step": Step,
    "sigmoid": Sigmoid,
    "hardsigmoid": Hardsigmoid,
    "hard_logistic": HardLogistic,
    "tanh": Tanh,
    "hardtanh": Hardtanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "rrelu": RReLU,
    "elu": ELU,
    "selu": SELU,
    "gelu": GELU,
    "silu": SiLU,
    "swish": Swish,
    "softplus": Softplus,
    "softsign": Softsign,
    "softmax": Softmax,
}


def get(spec: SpecLike | Activation) -> Activation:
    """Return an activation from a name, a {"name": ..., **params} dict or an Activation instance."""
    activation: Activation = lookup("activation", ACTIVATIONS, Activation, spec, prefix_errors=True)
    return activation
