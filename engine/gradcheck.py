"""Central-difference gradient checks for layers and losses, in float64."""

from collections.abc import Callable

import numpy as np

from engine.layers import Layer
from engine.losses import Loss


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f(x): df/dx_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).

    x (float64) is perturbed in place and restored, so f may read it through another name (a layer param).
    """
    if x.dtype != np.float64:
        raise ValueError(f"numeric_grad needs a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f(x)
        x[i] = saved - eps
        down = f(x)
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |analytic - numeric| / max(max |analytic|, max |numeric|); 0 when both are 0."""
    scale = max(np.max(np.abs(analytic), initial=0), np.max(np.abs(numeric), initial=0))
    return float(np.max(np.abs(analytic - numeric), initial=0) / scale) if scale > 0 else 0.0


def check_layer_gradients(
    layer: Layer, x: np.ndarray, training: bool = True, seed: int = 0, eps: float = 1e-6
) -> float:
    """Max relative error of layer.backward (dL/dx and every param grad) for L = sum(forward(x) * upstream).

    The layer must be built in float64; upstream is a fixed random gradient.
    """
    if any(p.dtype != np.float64 for p in layer.params.values()):
        raise ValueError("check_layer_gradients needs a layer built with dtype float64")
    x = np.array(x, dtype=np.float64)
    upstream = np.random.default_rng(seed).standard_normal(layer.forward(x, training).shape)

    def loss(_: np.ndarray) -> float:
        return float(np.sum(layer.forward(x, training) * upstream))

    analytic = {"x": np.array(layer.backward(upstream))}
    analytic.update({k: np.array(g) for k, g in layer.grads.items()})
    numeric = {"x": numeric_grad(loss, x, eps)}
    numeric.update({k: numeric_grad(loss, p, eps) for k, p in layer.params.items()})
    return max(relative_error(analytic[k], numeric[k]) for k in numeric)


def check_loss_gradients(loss: Loss, pred: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> float:
    """Max relative error of loss.backward() against central differences of loss.forward(pred, target)."""
    pred = np.array(pred, dtype=np.float64)
    loss.forward(pred, target)
    analytic = np.array(loss.backward())
    return relative_error(analytic, numeric_grad(lambda p: loss.forward(p, target), pred, eps))
