"""Training steps: a dense or conv2d layer with the activation after it, forward and backward as one call.

A step runs the same numpy operations as its layers one by one (so the same bits) into buffers it keeps
per batch size, so a training batch allocates only its output; it leaves the caches the layers would
(`layer.x`, `layer.cols`, `activation.x`, `activation.y`) and backward reads them, so an eval forward
through the layers can be followed by a backward through the steps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np
from scipy.special import expit

from engine import activations
from engine.layers import Conv2d, Dense, Layer

MAX_BATCH_SIZES = 4


class Constant(dict[np.dtype, np.ndarray]):
    """A value as a 0-d array per dtype: numpy takes those faster than Python numbers, to the same bits."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def __missing__(self, dtype: np.dtype) -> np.ndarray:
        self[dtype] = np.full((), self.value, dtype)
        return self[dtype]


ZERO, ONE = Constant(0), Constant(1)


@functools.lru_cache(maxsize=16)
def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros: np.maximum against it runs ~4x faster than against a scalar zero.

    numpy 2.4 vectorises maximum over two arrays but not over an array and a scalar (128x256 float32:
    9 us against 41 us). np.zeros maps its pages lazily to the zero page, so reading it costs no memory.
    """
    array = np.zeros(shape, dtype)
    array.flags.writeable = False
    return array


def _tanh(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.tanh(z, y)


def _tanh_grad(grad: np.ndarray, z: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad * (1 - y^2)."""
    np.multiply(y, y, out)
    np.subtract(ONE[out.dtype], out, out)
    return np.multiply(grad, out, out)


def _sigmoid(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return expit(z, out=y)


def _sigmoid_grad(grad: np.ndarray, z: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad * (y (1 - y))."""
    np.subtract(ONE[out.dtype], y, out)
    np.multiply(y, out, out)
    return np.multiply(grad, out, out)


def _relu(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(z, zeros(z.shape, z.dtype), out=y)


def _relu_grad(grad: np.ndarray, z: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad * (z > 0)."""
    np.greater(z, ZERO[out.dtype], out=out)
    return np.multiply(grad, out, out)


Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

IN_PLACE: dict[type[activations.Activation], tuple[Forward, Backward]] = {
    activations.Tanh: (_tanh, _tanh_grad),
    activations.Sigmoid: (_sigmoid, _sigmoid_grad),
    activations.ReLU: (_relu, _relu_grad),
}


class LayerStep:
    """A layer on its own: its forward and backward."""

    def __init__(self, layer: Layer):
        self.layer = layer

    def forward(self, x: np.ndarray, fresh: bool) -> np.ndarray:
        return self.layer.forward(x, True)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x, False)

    def backward(self, grad: np.ndarray, input_grad: bool, fresh: bool) -> np.ndarray | None:
        return self.layer.backward(grad)


WeightedLayer = TypeVar("WeightedLayer", Dense, Conv2d)


class _WeightedStep(Generic[WeightedLayer]):
    """A dense or conv2d layer and the activation after it (or none); buffers per batch size."""

    def __init__(self, layer: WeightedLayer, activation: activations.Activation | None):
        self.layer: WeightedLayer = layer
        self.activation = activation
        self.in_place = IN_PLACE.get(type(activation)) if activation is not None else None
        self.dtype: np.dtype = layer.weight.dtype
        self.n = -1
        self._buffers: dict[int, dict[str, np.ndarray]] = {}

    def buffers(self, n: int) -> dict[str, np.ndarray]:
        """This batch size's buffers (allocated on first use; at most MAX_BATCH_SIZES sizes kept)."""
        found = self._buffers.get(n)
        if found is None:
            if len(self._buffers) >= MAX_BATCH_SIZES:
                self._buffers.clear()
                self.n = -1
            found = self._buffers[n] = {k: np.empty(shape, self.dtype) for k, shape in self.shapes(n).items()}
        return found

    def shapes(self, n: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode output as a new array: the layer's, then the activation in place on it.

        An in-place activation leaves activation.x = activation.y, from which its derivative is the same.
        """
        y = self.layer.forward(x, False)
        act = self.activation
        if act is None:
            return y
        if self.in_place is None:
            return act.forward(y, False)
        act.x = act.y = self.in_place[0](y, y)
        return y


class DenseStep(_WeightedStep[Dense]):
    """Dense then activation: z = x @ W.T + b, y = f(z); backward d = grad f'(z), dW = d.T @ x, dx = d @ W."""

    def shapes(self, n: int) -> dict[str, tuple[int, ...]]:
        units, features = self.layer.weight.shape
        return {"z": (n, units), "y": (n, units), "d": (n, units), "dx": (n, features)}

    def select(self, n: int) -> None:
        """Point z, y, d and dx at batch size n's buffers."""
        buffers = self.buffers(n)
        self.n, self.z, self.y, self.d, self.dx = n, buffers["z"], buffers["y"], buffers["d"], buffers["dx"]

    def forward(self, x: np.ndarray, fresh: bool) -> np.ndarray:
        dense, act = self.layer, self.activation
        if x.dtype != self.dtype:
            x = dense.forward(x, True)
            return x if act is None else act.forward(x, True)
        if len(x) != self.n:
            self.select(len(x))
        dense.x = x
        z = np.dot(x, dense.weight.T) if fresh and act is None else np.dot(x, dense.weight.T, self.z)
        if dense.bias is not None:
            np.add(z, dense.bias, z)
        if act is None:
            return z
        if self.in_place is None:
            y = act.forward(z, True)
            return y.copy() if fresh and y is z else y
        y = self.in_place[0](z, np.empty_like(z) if fresh else self.y)
        act.x, act.y = z, y
        return y

    def backward(self, grad: np.ndarray, input_grad: bool, fresh: bool) -> np.ndarray | None:
        dense, act = self.layer, self.activation
        x = dense.x
        if x.dtype != self.dtype or grad.dtype != self.dtype:
            return dense.backward(grad if act is None else act.backward(grad))
        if len(grad) != self.n:
            self.select(len(grad))
        if act is None:
            d = grad
        elif self.in_place is None:
            d = act.backward(grad)
        else:
            d = self.in_place[1](grad, act.x, act.y, self.d)
        np.dot(d.T, x, dense.grads["weight"])
        if dense.bias is not None:
            np.add.reduce(d, 0, out=dense.grads["bias"])
        if not input_grad:
            return None
        return np.dot(d, dense.weight) if fresh else np.dot(d, dense.weight, self.dx)


class ConvStep(_WeightedStep[Conv2d]):
    """Conv2d then activation, each one GEMM over the im2col columns (C * kh * kw, batch * H_out * W_out)."""

    def shapes(self, n: int) -> dict[str, tuple[int, ...]]:
        conv = self.layer
        rows, depth = n * conv.out_hw[0] * conv.out_hw[1], conv.weight[0].size
        return {
            "padded": (n, *conv.padded_shape),
            "cols": (depth, rows),
            "z": (conv.filters, rows),
            "y": (conv.filters, rows),
            "d": (conv.filters, rows),
            "dcols": (depth, rows),
            "dx": (conv.padded_shape[0], n, *conv.padded_shape[1:]),
        }

    def forward(self, x: np.ndarray, fresh: bool) -> np.ndarray:
        conv, act = self.layer, self.activation
        if x.dtype != self.dtype:
            x = conv.forward(x, True)
            return x if act is None else act.forward(x, True)
        n = len(x)
        if n not in self._buffers and any(conv.padding):
            self.buffers(n)["padded"].fill(0)
        buffers = self.buffers(n)
        conv.cols = conv.im2col(x, buffers["cols"], buffers["padded"])
        z = np.dot(conv.weight.reshape(conv.filters, -1), conv.cols, out=buffers["z"])
        if conv.bias is not None:
            np.add(z, conv.bias[:, None], out=z)

        def shaped(a: np.ndarray) -> np.ndarray:
            return a.reshape(conv.filters, n, *conv.out_hw).transpose(1, 0, 2, 3)

        if act is None:
            return shaped(z.copy() if fresh else z)
        if self.in_place is None:
            y = act.forward(shaped(z), True)
            return y.copy() if fresh and np.shares_memory(y, z) else y
        y = self.in_place[0](z, np.empty_like(z) if fresh else buffers["y"])
        act.x, act.y = shaped(z), shaped(y)
        return act.y

    def backward(self, grad: np.ndarray, input_grad: bool, fresh: bool) -> np.ndarray | None:
        conv, act = self.layer, self.activation
        if conv.cols.dtype != self.dtype or grad.dtype != self.dtype:
            return conv.backward(grad if act is None else act.backward(grad))
        n = len(grad)
        buffers = self.buffers(n)
        d = buffers["d"]
        shaped = d.reshape(conv.filters, n, *conv.out_hw).transpose(1, 0, 2, 3)
        if act is None:
            np.copyto(shaped, grad)
        elif self.in_place is None:
            np.copyto(shaped, act.backward(grad))
        else:
            self.in_place[1](grad, act.x, act.y, shaped)
        weight = conv.weight.reshape(conv.filters, -1)
        np.dot(d, conv.cols.T, out=conv.grads["weight"].reshape(conv.filters, -1))
        if conv.bias is not None:
            np.add.reduce(d, 1, out=conv.grads["bias"])
        if not input_grad:
            return None
        dcols = np.dot(weight.T, d, out=buffers["dcols"])
        return conv.col2im(dcols, None if fresh else buffers["dx"])


Step = LayerStep | DenseStep | ConvStep


@functools.cache
def prime_blas() -> None:
    """One 128x256 @ 256x512 float32 product, run once per process before the first training step.

    With the OpenBLAS that numpy's wheels bundle (0.3.31, measured on AMD EPYC Zen 1), products whose
    output has up to ~320 columns run about 3x slower in a process until one product with 384 or more
    output columns has run there (128x256 @ 256x256 float32: 1.8 ms before, 0.52 ms after, the same
    bits); any thread's product of that size ends it for the whole process.
    """
    np.ones((128, 256), np.float32) @ np.ones((256, 512), np.float32)


def steps(layers: list[Layer]) -> list[Step]:
    """The layers as training steps: each dense or conv2d takes the activation layer right after it."""
    prime_blas()
    result: list[Step] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        activation = following if isinstance(following, activations.Activation) else None
        if type(layer) is Dense:
            result.append(DenseStep(layer, activation))
        elif type(layer) is Conv2d:
            result.append(ConvStep(layer, activation))
        else:
            result.append(LayerStep(layer))
            activation = None
        i += 2 if activation is not None else 1
    return result
