"""Activation layers (PyTorch definitions and defaults) and the ACTIVATIONS registry."""

import inspect
import math

import numpy as np
from scipy.special import erf, expit

from engine.layers import Layer
from engine.registry import checked, lookup


class Activation(Layer):
    """Elementwise activation y = f(x) on any shape; backward returns grad * df(x, y)."""

    kind = "smooth"
    bounds: dict[str, tuple[float, float]] = {}
    choices: dict[str, tuple[str, ...]] = {}

    def _set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, checked(type(self).__name__, key, value, self.bounds, self.choices))

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

    def options(self) -> dict:
        """The resolved parameters, by name."""
        return {k: getattr(self, k) for k in inspect.signature(type(self)).parameters}

    def working_values(self, input_shape):
        return 0, 2 * int(np.prod(input_shape))

    def torch(self, input_shape):
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"nn.{type(self).__name__}({args})"

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({args})"


def _slope(x: np.ndarray, negative_slope) -> np.ndarray:
    return np.where(x > 0, x.dtype.type(1), np.asarray(negative_slope, dtype=x.dtype))


class Identity(Activation):
    """Identity: y = x."""

    def f(self, x):
        return x

    def df(self, x, y):
        return np.ones_like(x)


class Step(Activation):
    """Heaviside step: y = 1 if x > 0 else 0; dy/dx = 0 everywhere (nothing below it learns)."""

    kind = "saturating"
    torch_definition = """class Step(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)
"""

    def torch(self, input_shape):
        return "Step()"

    def f(self, x):
        return (x > 0).astype(x.dtype)

    def df(self, x, y):
        return np.zeros_like(x)


class Sigmoid(Activation):
    """Logistic sigmoid: y = 1 / (1 + exp(-x))."""

    kind = "saturating"

    def f(self, x):
        return expit(x)

    def df(self, x, y):
        return y * (1 - y)


class Hardsigmoid(Activation):
    """Hard sigmoid: y = relu6(x + 3) / 6 = clip(x + 3, 0, 6) / 6."""

    kind = "saturating"

    def f(self, x):
        return np.clip(x + 3, 0, 6) / 6

    def df(self, x, y):
        return np.where((x > -3) & (x < 3), x.dtype.type(1 / 6), x.dtype.type(0))


class HardLogistic(Activation):
    """The course notes' hard logistic, sigmoid's tangent at 0 clipped: y = clip(x / 4 + 1/2, 0, 1).

    PyTorch has no such layer: its hardsigmoid is clip(x / 6 + 1/2, 0, 1).
    """

    kind = "saturating"
    torch_definition = """class HardLogistic(nn.Module):
    def forward(self, x):
        return nn.functional.hardtanh(0.25 * x + 0.5, 0.0, 1.0)
"""

    def torch(self, input_shape):
        return "HardLogistic()"

    def f(self, x):
        return np.clip(0.25 * x + 0.5, 0, 1)

    def df(self, x, y):
        return np.where((x > -2) & (x < 2), x.dtype.type(0.25), x.dtype.type(0))


class Tanh(Activation):
    """Hyperbolic tangent: y = tanh(x)."""

    kind = "saturating"

    def f(self, x):
        return np.tanh(x)

    def df(self, x, y):
        return 1 - y * y


class Hardtanh(Activation):
    """Hard tanh: y = clip(x, min_val, max_val)."""

    kind = "saturating"
    bounds = {"min_val": (-10.0, 10.0), "max_val": (-10.0, 10.0)}

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self._set_params(min_val=min_val, max_val=max_val)
        if self.max_val <= self.min_val:
            raise ValueError(f"Hardtanh: parameter 'max_val' must be greater than min_val, got {max_val!r}")

    def f(self, x):
        return np.clip(x, self.min_val, self.max_val)

    def df(self, x, y):
        return ((x > self.min_val) & (x < self.max_val)).astype(x.dtype)


class ReLU(Activation):
    """Rectified linear unit: y = max(x, 0)."""

    kind = "relu"

    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x, y):
        return (x > 0).astype(x.dtype)


class LeakyReLU(Activation):
    """Leaky ReLU: y = x if x > 0 else negative_slope * x."""

    kind = "relu"
    bounds = {"negative_slope": (0.0, 1.0)}

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self._set_params(negative_slope=negative_slope)

    def f(self, x):
        return np.where(x > 0, x, x * self.negative_slope)

    def df(self, x, y):
        return _slope(x, self.negative_slope)


class PReLU(Activation):
    """Parametric ReLU with one learnable slope: y = x if x > 0 else weight * x; params {"weight": (1,)}."""

    kind = "relu"
    bounds = {"init": (0.0, 1.0)}

    def __init__(self, init=0.25):
        super().__init__()
        self._set_params(init=init)

    def build(self, input_shape, rng, dtype):
        self.params["weight"] = np.full((1,), self.init, dtype=dtype)
        self.grads["weight"] = np.zeros((1,), dtype=dtype)
        return tuple(input_shape)

    def parameter_shapes(self, input_shape):
        return {"weight": (1,)}

    def f(self, x):
        return np.where(x > 0, x, x * self.params["weight"])

    def df(self, x, y):
        return _slope(x, self.params["weight"])

    def backward(self, grad):
        self.grads["weight"][0] = np.sum(np.where(self.x > 0, 0, self.x * grad), dtype=grad.dtype)
        return super().backward(grad)


class RReLU(Activation):
    """Randomized leaky ReLU, random slope per element in training, the mean slope in eval.

    y = x if x > 0 else a * x,  a ~ U(lower, upper) in training,  a = (lower + upper) / 2 in eval.
    """

    kind = "relu"
    bounds = {"lower": (0.0, 1.0), "upper": (0.0, 1.0)}

    def __init__(self, lower=1 / 8, upper=1 / 3):
        super().__init__()
        self._set_params(lower=lower, upper=upper)
        if self.upper < self.lower:
            raise ValueError(f"RReLU: parameter 'upper' must be at least lower, got {upper!r}")
        self.rng = None
        self.slope = (self.lower + self.upper) / 2

    def build(self, input_shape, rng, dtype):
        self.rng = rng
        return tuple(input_shape)

    def working_values(self, input_shape):
        return int(np.prod(input_shape)), 2 * int(np.prod(input_shape))

    def forward(self, x, training):
        if not training:
            self.slope = (self.lower + self.upper) / 2
        elif self.rng is None:
            raise RuntimeError("RReLU: call build() with an rng before training")
        else:
            self.slope = self.rng.uniform(self.lower, self.upper, size=x.shape).astype(x.dtype)
        return super().forward(x, training)

    def f(self, x):
        return np.where(x > 0, x, x * self.slope)

    def df(self, x, y):
        return _slope(x, self.slope)


class ELU(Activation):
    """Exponential linear unit: y = x if x > 0 else alpha * (exp(x) - 1)."""

    bounds = {"alpha": (0.0, 10.0)}

    def __init__(self, alpha=1.0):
        super().__init__()
        self._set_params(alpha=alpha)

    def f(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return np.where(x > 0, x.dtype.type(1), y + self.alpha)


class SELU(Activation):
    """Scaled ELU: y = scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6733, scale = 1.0507."""

    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def f(self, x):
        return self.scale * np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return np.where(x > 0, x.dtype.type(self.scale), y + self.scale * self.alpha)


class GELU(Activation):
    """Gaussian error linear unit, exact or with the tanh approximation.

    y = x * Phi(x) = x/2 (1 + erf(x / sqrt 2));  "tanh": y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """

    choices = {"approximate": ("none", "tanh")}
    kappa = 0.044715
    c = math.sqrt(2 / math.pi)

    def __init__(self, approximate="none"):
        super().__init__()
        self._set_params(approximate=approximate)

    def f(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(self.c * (x + self.kappa * x**3)))
        return 0.5 * x * (1 + erf(x * math.sqrt(0.5)))

    def df(self, x, y):
        if self.approximate == "tanh":
            t = np.tanh(self.c * (x + self.kappa * x**3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self.c * (1 + 3 * self.kappa * x * x)
        return 0.5 * (1 + erf(x * math.sqrt(0.5))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


class SiLU(Activation):
    """Sigmoid linear unit: y = x * sigmoid(x)."""

    def f(self, x):
        return x * expit(x)

    def df(self, x, y):
        s = expit(x)
        return s * (1 + x * (1 - s))


class Swish(Activation):
    """Swish: y = x * sigmoid(beta * x); beta 1 is SiLU."""

    bounds = {"beta": (0.0, 10.0)}
    torch_definition = """class Swish(nn.Module):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
"""

    def __init__(self, beta=1.0):
        super().__init__()
        self._set_params(beta=beta)

    def torch(self, input_shape):
        return "nn.SiLU()" if self.beta == 1 else f"Swish(beta={self.beta!r})"

    def f(self, x):
        return x * expit(self.beta * x)

    def df(self, x, y):
        s = expit(self.beta * x)
        return s * (1 + self.beta * x * (1 - s))


class Softplus(Activation):
    """Softplus: y = log(1 + exp(beta * x)) / beta, and y = x where beta * x > threshold."""

    bounds = {"beta": (0.01, 100.0), "threshold": (0.0, 100.0)}

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self._set_params(beta=beta, threshold=threshold)

    def f(self, x):
        bx = self.beta * x
        return np.where(bx > self.threshold, x, np.logaddexp(0, bx) / self.beta)

    def df(self, x, y):
        bx = self.beta * x
        return np.where(bx > self.threshold, x.dtype.type(1), expit(bx))


class Softsign(Activation):
    """Softsign: y = x / (1 + |x|)."""

    kind = "saturating"

    def f(self, x):
        return x / (1 + np.abs(x))

    def df(self, x, y):
        return 1 / (1 + np.abs(x)) ** 2


class Softmax(Activation):
    """Softmax over dim 1 of (batch, n): y_i = exp(x_i) / sum_j exp(x_j); backward y * (g - sum_j g_j y_j)."""

    def torch(self, input_shape):
        return "nn.Softmax(dim=1)"

    def f(self, x):
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def df(self, x, y):
        """The Jacobian's diagonal y (1 - y), for plots; backward uses the whole Jacobian."""
        return y * (1 - y)

    def backward(self, grad):
        return self.y * (grad - np.sum(grad * self.y, axis=1, keepdims=True))


ACTIVATIONS = {
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


def get(spec) -> Activation:
    """Return an activation from a name, a {"name": ..., **params} dict or an Activation instance."""
    return lookup("activation", ACTIVATIONS, Activation, spec)
