"""Losses with mean reduction (torch.nn.functional semantics) and the LOSSES registry."""

import inspect

import numpy as np
from scipy.special import expit

from engine.registry import checked, lookup


class Loss:
    """A mean-reduced loss: forward(pred, target) -> float caches what backward() -> dLoss/dpred needs."""

    task = "regression"
    bounds: dict[str, tuple[float, float]] = {}
    torch_class = ""

    def _set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, checked(type(self).__name__, key, value, self.bounds, {}))

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        """dLoss/dpred for a training step, which needs no loss value."""
        self.forward(pred, target)
        return self.backward()

    def output(self, pred: np.ndarray) -> np.ndarray:
        """What to display for pred: probabilities for classification losses on logits, else pred itself."""
        return pred

    def torch(self) -> str:
        """The equivalent torch loss module (mean reduction), as a Python expression over `nn`."""
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"nn.{self.torch_class}({args})"

    def _diff(self, pred, target):
        self.diff = pred - np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
        return self.diff

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({args})"


class MSE(Loss):
    """Mean squared error, pred and target (batch, n): L = mean((pred - target)^2)."""

    torch_class = "MSELoss"

    def forward(self, pred, target):
        d = self._diff(pred, target)
        return float(np.mean(d * d))

    def backward(self):
        return 2 * self.diff / self.diff.size


class MAE(Loss):
    """Mean absolute error (torch L1Loss), pred and target (batch, n): L = mean(|pred - target|)."""

    torch_class = "L1Loss"

    def forward(self, pred, target):
        return float(np.mean(np.abs(self._diff(pred, target))))

    def backward(self):
        return np.sign(self.diff) / self.diff.size


class SmoothL1(Loss):
    """Smooth L1 (beta 0 is L1), d = pred - target.

    L = mean(0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta)
    """

    torch_class = "SmoothL1Loss"

    bounds = {"beta": (0.0, 100.0)}

    def __init__(self, beta=1.0):
        self._set_params(beta=beta)

    def forward(self, pred, target):
        d = np.abs(self._diff(pred, target))
        if self.beta == 0:
            return float(np.mean(d))
        return float(np.mean(np.where(d < self.beta, 0.5 * d * d / self.beta, d - 0.5 * self.beta)))

    def backward(self):
        d = self.diff
        grad = np.sign(d) if self.beta == 0 else np.clip(d / self.beta, -1, 1)
        return grad / d.size


class Huber(Loss):
    """Huber, d = pred - target: L = mean(0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta))."""

    torch_class = "HuberLoss"

    bounds = {"delta": (0.0, 100.0)}

    def __init__(self, delta=1.0):
        self._set_params(delta=delta)

    def forward(self, pred, target):
        d = np.abs(self._diff(pred, target))
        return float(np.mean(np.where(d < self.delta, 0.5 * d * d, self.delta * (d - 0.5 * self.delta))))

    def backward(self):
        return np.clip(self.diff, -self.delta, self.delta) / self.diff.size


class BCE(Loss):
    """Binary cross-entropy on probabilities p (batch, 1), each log clamped to >= -100.

    L = -mean(t log p + (1 - t) log(1 - p))
    """

    torch_class = "BCELoss"

    task = "classification"

    def forward(self, pred, target):
        self.pred = pred
        self.target = np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(pred), -100)
            log_q = np.maximum(np.log1p(-pred), -100)
        return float(-np.mean(self.target * log_p + (1 - self.target) * log_q))

    def backward(self):
        p = self.pred
        return (p - self.target) / np.maximum(p * (1 - p), 1e-12) / p.size


class BCEWithLogits(Loss):
    """Sigmoid and binary cross-entropy fused, on logits x (batch, 1).

    L = mean(max(x, 0) - x t + log(1 + exp(-|x|)))
    """

    torch_class = "BCEWithLogitsLoss"

    task = "classification"

    def forward(self, pred, target):
        self._keep(pred, target)
        return float(np.mean(np.maximum(pred, 0) - pred * self.target + np.log1p(np.exp(-np.abs(pred)))))

    def backward(self):
        return self._gradient_into(np.empty_like(self.pred), self.pred.size)

    def gradient(self, pred, target):
        """dLoss/dpred into a buffer this loss reuses while pred's shape and dtype stay the same."""
        self._keep(pred, target)
        buffer, size = self._buffer
        if buffer.shape != pred.shape or buffer.dtype != pred.dtype:
            buffer, size = self._buffer = np.empty_like(pred), np.full((), pred.size, pred.dtype)
        return self._gradient_into(buffer, size)

    _buffer = np.empty(0), np.ones(())

    def _gradient_into(self, out, size):
        """(sigmoid(x) - t) / n; n is pred.size, a Python int or a 0-d array of pred's dtype (same bits)."""
        expit(self.pred, out=out)
        np.subtract(out, self.target, out=out)
        return np.divide(out, size, out=out)

    def _keep(self, pred, target):
        self.pred = pred
        ready = isinstance(target, np.ndarray) and target.dtype == pred.dtype and target.shape == pred.shape
        self.target = target if ready else np.asarray(target, dtype=pred.dtype).reshape(pred.shape)

    def output(self, pred):
        return expit(pred)


class CrossEntropy(Loss):
    """Softmax and cross-entropy fused, on logits x (batch, classes) and class indices t (batch,).

    L = mean(logsumexp(x) - x_t)
    """

    torch_class = "CrossEntropyLoss"

    task = "classification"

    def forward(self, pred, target):
        self._log_probs(pred, target)
        return float(-np.mean(self.log_probs[np.arange(len(pred)), self.target]))

    def backward(self):
        grad = np.exp(self.log_probs)
        grad[np.arange(len(grad)), self.target] -= 1
        grad /= len(grad)
        return grad

    def gradient(self, pred, target):
        self._log_probs(pred, target)
        return self.backward()

    def _log_probs(self, pred, target):
        t = self.target = np.asarray(target).reshape(-1).astype(np.intp)
        n, classes = pred.shape
        if t.shape != (n,) or t.min() < 0 or t.max() >= classes:
            raise ValueError(f"cross_entropy needs {n} class indices in [0, {classes}), got {target!r:.200}")
        shifted = pred - np.max(pred, axis=1, keepdims=True)
        self.log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))

    def output(self, pred):
        e = np.exp(pred - np.max(pred, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)


LOSSES = {
    "mse": MSE,
    "mae": MAE,
    "smooth_l1": SmoothL1,
    "huber": Huber,
    "bce": BCE,
    "bce_with_logits": BCEWithLogits,
    "cross_entropy": CrossEntropy,
}


def get(spec) -> Loss:
    """Return a loss from a name, a {"name": ..., **params} dict or a Loss instance."""
    return lookup("loss", LOSSES, Loss, spec)
