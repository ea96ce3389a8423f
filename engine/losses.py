"""Losses with mean reduction (torch.nn.functional semantics) and the LOSSES registry.

Each loss declares its config schema (`Config`, e.g. HuberLoss) beside its class and checks its parameters
with it; its catalog entry and its torch equivalent are derived from it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field
from scipy.special import expit

from engine.registry import lookup
from engine.schema import SpecLike, Strict, validated


class Loss:
    """A mean-reduced loss: forward(pred, target) -> float caches what backward() -> dLoss/dpred needs."""

    Config: ClassVar[type[Strict]]
    targets: ClassVar[Literal["values", "binary", "indices"]] = "values"
    """What pred is compared with: "values" (a regression's targets, or one-hot classes), "binary" (one unit
    against 0/1 labels) or "indices" (one output per class against class indices)."""
    output_activation: ClassVar[str | None] = None
    """The activation the plan puts after the output layer, for a loss that takes probabilities."""
    task: ClassVar[str] = "regression"
    torch_class = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.task = "regression" if cls.targets == "values" else "classification"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, pred: np.ndarray, target: ArrayLike) -> np.ndarray:
        """dLoss/dpred for a training step, which needs no loss value."""
        self.forward(pred, target)
        return self.backward()

    def output(self, pred: np.ndarray) -> np.ndarray:
        """What to display for pred: probabilities for classification losses on logits, else pred itself."""
        return pred

    def options(self) -> dict[str, Any]:
        """The resolved parameters, by name: the fields of its Config besides the registry name."""
        return {key: getattr(self, key) for key in self.Config.model_fields if key != "name"}

    def torch(self) -> str:
        """The equivalent torch loss module (mean reduction), as a Python expression over `nn`."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"nn.{self.torch_class}({args})"

    def _diff(self, pred: np.ndarray, target: ArrayLike) -> np.ndarray:
        self.diff: np.ndarray = pred - np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
        return self.diff

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"


class MSELoss(Strict):
    """L = mean((pred - target)^2)."""

    name: Literal["mse"] = "mse"


class MSE(Loss):
    """Mean squared error, pred and target (batch, n): L = mean((pred - target)^2)."""

    Config = MSELoss
    torch_class = "MSELoss"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        d = self._diff(pred, target)
        return float(np.mean(d * d))

    def backward(self) -> np.ndarray:
        return 2 * self.diff / self.diff.size


class MAELoss(Strict):
    """L = mean(|pred - target|)."""

    name: Literal["mae"] = "mae"


class MAE(Loss):
    """Mean absolute error (torch L1Loss), pred and target (batch, n): L = mean(|pred - target|)."""

    Config = MAELoss
    torch_class = "L1Loss"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        return float(np.mean(np.abs(self._diff(pred, target))))

    def backward(self) -> np.ndarray:
        return np.sign(self.diff) / self.diff.size


class SmoothL1Loss(Strict):
    """L = mean(0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta), d = pred - target; beta 0 is L1."""

    name: Literal["smooth_l1"] = "smooth_l1"
    beta: float = Field(1.0, ge=0, le=100)


class SmoothL1(Loss):
    """Smooth L1 (beta 0 is L1), d = pred - target.

    L = mean(0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta)
    """

    Config = SmoothL1Loss
    torch_class = "SmoothL1Loss"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = validated(self.Config, beta=beta).beta

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        d = np.abs(self._diff(pred, target))
        if self.beta == 0:
            return float(np.mean(d))
        return float(np.mean(np.where(d < self.beta, 0.5 * d * d / self.beta, d - 0.5 * self.beta)))

    def backward(self) -> np.ndarray:
        d = self.diff
        grad = np.sign(d) if self.beta == 0 else np.clip(d / self.beta, -1, 1)
        return grad / d.size


class HuberLoss(Strict):
    """L = mean(0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)), d = pred - target."""

    name: Literal["huber"] = "huber"
    delta: float = Field(1.0, gt=0, le=100)


class Huber(Loss):
    """Huber, d = pred - target: L = mean(0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta))."""

    Config = HuberLoss
    torch_class = "HuberLoss"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = validated(self.Config, delta=delta).delta

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        d = np.abs(self._diff(pred, target))
        return float(np.mean(np.where(d < self.delta, 0.5 * d * d, self.delta * (d - 0.5 * self.delta))))

    def backward(self) -> np.ndarray:
        return np.clip(self.diff, -self.delta, self.delta) / self.diff.size


class BCELoss(Strict):
    """L = -mean(t log p + (1 - t) log(1 - p)) on probabilities p."""

    name: Literal["bce"] = "bce"


class BCE(Loss):
    """Binary cross-entropy on probabilities p (batch, 1), each log clamped to >= -100.

    L = -mean(t log p + (1 - t) log(1 - p))
    """

    Config = BCELoss
    torch_class = "BCELoss"
    targets = "binary"
    output_activation = "sigmoid"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        self.pred = pred
        self.target = np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(pred), -100)
            log_q = np.maximum(np.log1p(-pred), -100)
        return float(-np.mean(self.target * log_p + (1 - self.target) * log_q))

    def backward(self) -> np.ndarray:
        p = self.pred
        return (p - self.target) / np.maximum(p * (1 - p), 1e-12) / p.size


class BCEWithLogitsLoss(Strict):
    """L = mean(max(x, 0) - x t + log(1 + exp(-|x|))) on logits x."""

    name: Literal["bce_with_logits"] = "bce_with_logits"


class BCEWithLogits(Loss):
    """Sigmoid and binary cross-entropy fused, on logits x (batch, 1).

    L = mean(max(x, 0) - x t + log(1 + exp(-|x|)))
    """

    Config = BCEWithLogitsLoss
    torch_class = "BCEWithLogitsLoss"
    targets = "binary"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        self._keep(pred, target)
        return float(np.mean(np.maximum(pred, 0) - pred * self.target + np.log1p(np.exp(-np.abs(pred)))))

    def backward(self) -> np.ndarray:
        return self._gradient_into(np.empty_like(self.pred), self.pred.size)

    def gradient(self, pred: np.ndarray, target: ArrayLike) -> np.ndarray:
        """dLoss/dpred into a buffer this loss reuses while pred's shape and dtype stay the same."""
        self._keep(pred, target)
        buffer, size = self._buffer
        if buffer.shape != pred.shape or buffer.dtype != pred.dtype:
            buffer, size = self._buffer = np.empty_like(pred), np.full((), pred.size, pred.dtype)
        return self._gradient_into(buffer, size)

    _buffer = np.empty(0), np.ones(())

    def _gradient_into(self, out: np.ndarray, size: int | np.ndarray) -> np.ndarray:
        """(sigmoid(x) - t) / n; n is pred.size, a Python int or a 0-d array of pred's dtype (same bits)."""
        expit(self.pred, out=out)
        np.subtract(out, self.target, out=out)
        return np.divide(out, size, out=out)

    def _keep(self, pred: np.ndarray, target: ArrayLike) -> None:
        self.pred = pred
        ready = isinstance(target, np.ndarray) and target.dtype == pred.dtype and target.shape == pred.shape
        self.target = target if ready else np.asarray(target, dtype=pred.dtype).reshape(pred.shape)

    def output(self, pred: np.ndarray) -> np.ndarray:
        return expit(pred)


class CrossEntropyLoss(Strict):
    """L = mean(logsumexp(x) - x_t) on logits x and class indices t."""

    name: Literal["cross_entropy"] = "cross_entropy"


class CrossEntropy(Loss):
    """Softmax and cross-entropy fused, on logits x (batch, classes) and class indices t (batch,).

    L = mean(logsumexp(x) - x_t)
    """

    Config = CrossEntropyLoss
    torch_class = "CrossEntropyLoss"
    targets = "indices"

    def forward(self, pred: np.ndarray, target: ArrayLike) -> float:
        self._log_probs(pred, target)
        return float(-np.mean(self.log_probs[np.arange(len(pred)), self.target]))

    def backward(self) -> np.ndarray:
        grad = np.exp(self.log_probs)
        grad[np.arange(len(grad)), self.target] -= 1
        grad /= len(grad)
        return grad

    def gradient(self, pred: np.ndarray, target: ArrayLike) -> np.ndarray:
        """(exp(log_softmax(x)) - onehot(t)) / n into buffers reused while pred's shape and dtype stay.

        The operations of forward + backward, in place, so the same bits.
        """
        t = self._indices(pred, target)
        if self._buffers[0].shape != pred.shape or self._buffers[0].dtype != pred.dtype:
            n = len(pred)
            self._buffers = np.empty_like(pred), np.empty_like(pred), np.empty_like(pred[:, :1]), np.arange(n)
        grad, shifted, column, rows = self._buffers
        np.maximum.reduce(pred, axis=1, keepdims=True, out=column)
        np.subtract(pred, column, out=shifted)
        np.exp(shifted, out=grad)
        np.add.reduce(grad, axis=1, keepdims=True, out=column)
        np.log(column, out=column)
        np.subtract(shifted, column, out=grad)
        np.exp(grad, out=grad)
        grad[rows, t] -= 1
        return np.divide(grad, len(grad), out=grad)

    _buffers: tuple[np.ndarray, ...] = (np.empty((0, 0)),)

    def _indices(self, pred: np.ndarray, target: ArrayLike) -> np.ndarray:
        t = self.target = np.asarray(target).reshape(-1).astype(np.intp, copy=False)
        n, classes = pred.shape
        if t.shape != (n,) or t.min() < 0 or t.max() >= classes:
            raise ValueError(f"cross_entropy needs {n} class indices in [0, {classes}), got {target!r:.200}")
        return t

    def _log_probs(self, pred: np.ndarray, target: ArrayLike) -> None:
        self._indices(pred, target)
        shifted = pred - np.max(pred, axis=1, keepdims=True)
        self.log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))

    def output(self, pred: np.ndarray) -> np.ndarray:
        e = np.exp(pred - np.max(pred, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "mae": MAE,
    "smooth_l1": SmoothL1,
    "huber": Huber,
    "bce": BCE,
    "bce_with_logits": BCEWithLogits,
    "cross_entropy": CrossEntropy,
}


def get(spec: SpecLike | Loss) -> Loss:
    """Return a loss from a name, a {"name": ..., **params} dict or a Loss instance."""
    return lookup("loss", LOSSES, Loss, spec, prefix_errors=True)
