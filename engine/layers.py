"""Layers: Dense, Dropout, BatchNorm, Conv2d, pools, Flatten, Maxout, and the LAYERS registry.

Each layer type declares its config schema (`Config`, e.g. DenseLayer) beside its class and checks its
arguments with it.
"""

from __future__ import annotations

from types import EllipsisType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike
from pydantic import Field, ValidationInfo, field_validator

from engine.registry import lookup
from engine.schema import MAX_FILTERS, MAX_UNITS, Named, Spec, SpecLike, Strict, check_spec, validated

if TYPE_CHECKING:
    from engine.initializers import Initializer

Shape = tuple[int, ...]
Window = tuple[EllipsisType, slice, slice]
Param = float | str | bool


class Layer:
    """Base layer: forward caches what backward needs; params and grads share keys."""

    Config: ClassVar[type[Strict]]
    regularized: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        """Create params for an input of shape (batch, *input_shape); return the output shape (no batch)."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def adopt(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Keep these arrays (same keys and shapes, e.g. views into one flat vector) as params and grads."""
        self.params.update(params)
        self.grads.update(grads)

    def output_shape(self, input_shape: Shape) -> Shape:
        """The output shape (no batch) `build` would return, without allocating; ValueError if it cannot."""
        return tuple(input_shape)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """Shapes of the params `build` would create, by state_dict key."""
        return {}

    def buffer_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """Shapes of the buffers `build` would create, by state_dict key."""
        return {}

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        """Values per sample besides its input and output: (kept from forward to backward, scratch)."""
        return 0, 0

    torch_definition = ""

    def torch(self, input_shape: Shape) -> str:
        """The equivalent torch module as a Python expression over `nn` (and `torch_definition`, if any)."""
        return f"nn.{type(self).__name__}()"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _pair(name: str, value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """(value, value), or value itself if it is a pair; each half is checked by the layer's schema."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
        return value[0], value[1]
    return value, value


def _initializer(name: str, spec: SpecLike) -> Initializer:
    from engine import initializers

    try:
        return initializers.get(spec)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _window_slices(kernel: tuple[int, int], out: tuple[int, int], stride: tuple[int, int]) -> list[Window]:
    """For each kernel offset k = i*kw + j, the (h, w) slices of the input it touches across all outputs."""
    (kh, kw), (ho, wo), (sh, sw) = kernel, out, stride
    return [
        (..., slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    ]


def _spatial_output(
    name: str,
    input_shape: Shape,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
) -> tuple[int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"{name} needs input (channels, height, width), got {tuple(input_shape)}")
    _, h, w = input_shape
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    if kernel[0] > hp or kernel[1] > wp:
        padded = " padded" if any(padding) else ""
        raise ValueError(f"{name} kernel {kernel[0]}x{kernel[1]} is larger than the{padded} input {hp}x{wp}")
    return (hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1


class _Initialized(Strict):
    weight_init: Annotated[Spec, Named("initializer")] = "default"
    bias_init: Annotated[Spec, Named("initializer")] = "default"


class _BiasAndActivation(_Initialized):
    bias: bool = True
    activation: Annotated[Spec, Named("activation")] | None = None


class _WeightAndBias(Layer):
    """A layer with a weight (out, *fan) and an optional bias (out,) drawn from initializer specs."""

    regularized = ("weight",)

    weight: np.ndarray
    bias: np.ndarray | None

    def __init__(self, weight_init: SpecLike, bias_init: SpecLike, bias: bool) -> None:
        super().__init__()
        self.weight_init, self.bias_init, self.use_bias = weight_init, bias_init, bias
        self.weight_initializer = _initializer("weight_init", weight_init)
        self.bias_initializer = _initializer("bias_init", bias_init) if bias else None

    def init_params(self, shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> None:
        """Draw weight `shape` then bias (shape[0],); a "default" bias is U(±1/sqrt(fan_in)) of the weight."""
        from engine import initializers

        self.params["weight"] = np.asarray(self.weight_initializer(shape, rng), dtype=dtype)
        if self.bias_initializer is not None:
            if isinstance(self.bias_initializer, initializers.Default):
                bound = 1 / np.sqrt(initializers.fans(shape)[0])
                bias = rng.uniform(-bound, bound, shape[0])
            else:
                try:
                    bias = self.bias_initializer((shape[0],), rng)
                except ValueError as e:
                    raise ValueError(f"bias_init: {e}") from None
            self.params["bias"] = np.asarray(bias, dtype=dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.weight, self.bias = self.params["weight"], self.params.get("bias")

    def adopt(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        super().adopt(params, grads)
        self.weight, self.bias = self.params["weight"], self.params.get("bias")


class DenseLayer(_BiasAndActivation):
    """Fully connected: y = x W^T + b."""

    type: Literal["dense"] = "dense"
    units: int = Field(8, ge=1, le=MAX_UNITS)


class Dense(_WeightAndBias):
    """Fully connected: y = x @ W.T + b, (batch, n_in) -> (batch, units), W (units, n_in), b (units,)."""

    Config = DenseLayer

    def __init__(
        self,
        units: int,
        weight_init: SpecLike = "default",
        bias_init: SpecLike = "default",
        bias: bool = True,
    ) -> None:
        config = validated(self.Config, units=units, weight_init=weight_init, bias_init=bias_init, bias=bias)
        super().__init__(config.weight_init, config.bias_init, config.bias)
        self.units = config.units

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        shape = self.output_shape(input_shape)
        self.init_params((self.units, input_shape[0]), rng, dtype)
        return shape

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"dense needs input (features,), got {tuple(input_shape)}; add a flatten first")
        return (self.units,)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        weight: dict[str, Shape] = {"weight": (self.units, input_shape[0])}
        return {**weight, "bias": (self.units,)} if self.use_bias else weight

    def torch(self, input_shape: Shape) -> str:
        return f"nn.Linear({input_shape[0]}, {self.units}{'' if self.use_bias else ', bias=False'})"

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x = x
        y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        np.matmul(grad.T, self.x, out=self.grads["weight"])
        if self.bias is not None:
            grad.sum(0, out=self.grads["bias"])
        return grad @ self.weight

    def __repr__(self) -> str:
        return f"Dense(units={self.units})"


class ActivationLayer(Strict):
    """An activation function as its own layer."""

    type: Literal["activation"] = "activation"
    name: str = "relu"
    params: dict[str, Param] = Field(default_factory=dict, max_length=8)

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        check_spec("activation", name)
        return name

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Param], info: ValidationInfo) -> dict[str, Param]:
        """What the named activation's Config accepts; an error's loc ends in params and the field."""
        name = info.data.get("name")
        if name is not None:
            check_spec("activation", {**params, "name": name})
        return params


class _ActivationByName:
    """The activation layer ACTIVATIONS[name] built with its params (given inline or as a `params` dict)."""

    Config = ActivationLayer

    def __call__(self, name: str = "relu", params: dict[str, Param] | None = None, **kwargs: Param) -> Layer:
        from engine import activations

        return activations.get({"name": name, **(params or {}), **kwargs})


activation = _ActivationByName()


class DropoutLayer(Strict):
    """Inverted dropout: zero each input with probability p, scale the rest by 1/(1-p)."""

    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0, lt=1)


class Dropout(Layer):
    """Inverted dropout: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) in training; y = x in eval."""

    Config = DropoutLayer

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = validated(self.Config, p=p).p

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        self.rng = rng
        return tuple(input_shape)

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        return int(np.prod(input_shape)), int(np.prod(input_shape))

    def torch(self, input_shape: Shape) -> str:
        return f"nn.Dropout(p={self.p!r})"

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if not training or self.p == 0:
            self.mask = None
            return x
        self.mask = (self.rng.random(x.shape, dtype=x.dtype) >= self.p) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad if self.mask is None else grad * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class BatchNormLayer(Strict):
    """Batch normalization over the channel axis."""

    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, gt=0, le=1)
    eps: float = Field(1e-5, gt=0, le=1)


class BatchNorm(Layer):
    """Batch normalization per channel: y = (x - mean) / sqrt(var + eps) * weight + bias, (batch, C[, H, W]).

    Training normalizes with the batch's biased var and updates running = (1 - momentum) * running
    + momentum * batch_stat with the unbiased var; eval normalizes with the running stats.
    """

    Config = BatchNormLayer

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        config = validated(self.Config, momentum=momentum, eps=eps)
        self.momentum, self.eps = config.momentum, config.eps

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        self.output_shape(input_shape)
        c = input_shape[0]
        self.axes = (0,) if len(input_shape) == 1 else (0, 2, 3)
        self.param_shape = (1, c) if len(input_shape) == 1 else (1, c, 1, 1)
        self.params = {"weight": np.ones(c, dtype), "bias": np.zeros(c, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(c, dtype),
            "running_var": np.ones(c, dtype),
            "num_batches_tracked": np.array(0, dtype=np.int64),
        }
        return tuple(input_shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) not in (1, 3):
            raise ValueError(
                f"batchnorm needs input (features,) or (channels, height, width), got {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"weight": (input_shape[0],), "bias": (input_shape[0],)}

    def buffer_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        c = input_shape[0]
        return {"running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        size = int(np.prod(input_shape))
        return size, 3 * size

    def torch(self, input_shape: Shape) -> str:
        kind = "1d" if len(input_shape) == 1 else "2d"
        return f"nn.BatchNorm{kind}({input_shape[0]}, eps={self.eps!r}, momentum={self.momentum!r})"

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        weight = self.params["weight"].reshape(self.param_shape)
        bias = self.params["bias"].reshape(self.param_shape)
        if training:
            m = x.size // x.shape[1]
            if m < 2:
                raise ValueError(
                    f"batchnorm needs more than 1 value per channel when training, got input shape {x.shape}"
                )
            mean = x.mean(self.axes, keepdims=True)
            xc = x - mean
            var = (xc * xc).mean(self.axes, keepdims=True)
            mom = self.momentum
            running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
            running_mean *= 1 - mom
            running_mean += mom * mean.reshape(-1)
            running_var *= 1 - mom
            running_var += (mom * m / (m - 1)) * var.reshape(-1)
            self.buffers["num_batches_tracked"] += 1
        else:
            xc = x - self.buffers["running_mean"].reshape(self.param_shape)
            var = self.buffers["running_var"].reshape(self.param_shape)
        self.training = training
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.xhat = xc * self.inv_std
        return self.xhat * weight + bias

    def backward(self, grad: np.ndarray) -> np.ndarray:
        weight = self.params["weight"].reshape(self.param_shape)
        (grad * self.xhat).sum(self.axes, out=self.grads["weight"])
        grad.sum(self.axes, out=self.grads["bias"])
        if not self.training:
            return grad * (weight * self.inv_std)
        g = grad * weight
        return self.inv_std * (
            g - g.mean(self.axes, keepdims=True) - self.xhat * (g * self.xhat).mean(self.axes, keepdims=True)
        )

    def __repr__(self) -> str:
        return f"BatchNorm(momentum={self.momentum}, eps={self.eps})"


class Conv2dLayer(_BiasAndActivation):
    """2-D convolution over (channels, height, width) images."""

    type: Literal["conv2d"] = "conv2d"
    filters: int = Field(8, ge=1, le=MAX_FILTERS)
    kernel_size: int = Field(3, ge=1, le=11)
    stride: int = Field(1, ge=1, le=8)
    padding: int = Field(0, ge=0, le=5)


class Conv2d(_WeightAndBias):
    """2-D convolution (cross-correlation), zero padding: y[n, o] = sum_c W[o, c] * x_pad[n, c] + b[o].

    (batch, C, H, W) -> (batch, filters, H_out, W_out), H_out = (H + 2 * padding - kh) // stride + 1;
    W (filters, C, kh, kw), b (filters,); kernel_size, stride and padding may be (height, width) pairs.
    """

    Config = Conv2dLayer

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        weight_init: SpecLike = "default",
        bias_init: SpecLike = "default",
        bias: bool = True,
    ) -> None:
        pairs = _pair("kernel_size", kernel_size), _pair("stride", stride), _pair("padding", padding)
        for kernel_half, stride_half, padding_half in zip(*pairs, strict=True):
            config = validated(
                self.Config,
                filters=filters,
                kernel_size=kernel_half,
                stride=stride_half,
                padding=padding_half,
                weight_init=weight_init,
                bias_init=bias_init,
                bias=bias,
            )
        super().__init__(config.weight_init, config.bias_init, config.bias)
        self.filters = config.filters
        self.kernel_size, self.stride, self.padding = pairs

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        self.out_hw = _spatial_output("conv2d", input_shape, self.kernel_size, self.stride, self.padding)
        c, h, w = input_shape
        (ph, pw), (kh, kw) = self.padding, self.kernel_size
        self.padded_shape = (c, h + 2 * ph, w + 2 * pw)
        self.inner = (..., slice(ph, ph + h), slice(pw, pw + w))
        self.slices = _window_slices(self.kernel_size, self.out_hw, self.stride)
        self.init_params((self.filters, c, kh, kw), rng, dtype)
        return (self.filters, *self.out_hw)

    def output_shape(self, input_shape: Shape) -> Shape:
        out_hw = _spatial_output("conv2d", input_shape, self.kernel_size, self.stride, self.padding)
        return (self.filters, *out_hw)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        weight: dict[str, Shape] = {"weight": (self.filters, input_shape[0], *self.kernel_size)}
        return {**weight, "bias": (self.filters,)} if self.use_bias else weight

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        """The unfolded windows (kept); padded input, window gradients and input gradient (scratch)."""
        c, h, w = input_shape
        _, ho, wo = self.output_shape(input_shape)
        columns = ho * wo * c * self.kernel_size[0] * self.kernel_size[1]
        padded = c * (h + 2 * self.padding[0]) * (w + 2 * self.padding[1])
        return columns, columns + 2 * padded + self.filters * ho * wo

    def torch(self, input_shape: Shape) -> str:
        bias = "" if self.use_bias else ", bias=False"
        return (
            f"nn.Conv2d({input_shape[0]}, {self.filters}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}{bias})"
        )

    def im2col(
        self, x: np.ndarray, cols: np.ndarray | None = None, padded: np.ndarray | None = None
    ) -> np.ndarray:
        """Every window as a column: (batch, C, H, W) -> (C * kh * kw, batch * H_out * W_out), one copy."""
        n = x.shape[0]
        if any(self.padding):
            if padded is None:
                padded = np.zeros((n, *self.padded_shape), x.dtype)
            padded[self.inner] = x
            x = padded
        sh, sw = self.stride
        windows = sliding_window_view(x, self.kernel_size, axis=(2, 3))[:, :, ::sh, ::sw]
        windows = windows.transpose(1, 4, 5, 0, 2, 3)
        if cols is None:
            return windows.reshape(-1, n * self.out_hw[0] * self.out_hw[1])
        np.copyto(cols.reshape(windows.shape), windows)
        return cols

    def col2im(self, dcols: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Input gradient from the columns' gradient (C * kh * kw, batch * H_out * W_out), summed back."""
        c, hp, wp = self.padded_shape
        dcols = dcols.reshape(c, len(self.slices), -1, *self.out_hw)
        if out is None:
            out = np.zeros((c, dcols.shape[2], hp, wp), dcols.dtype)
        else:
            out.fill(0)
        for k, window in enumerate(self.slices):
            out[window] += dcols[:, k]
        dx = out.transpose(1, 0, 2, 3)
        return dx[self.inner] if any(self.padding) else dx

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.cols = self.im2col(x)
        y = np.dot(self.weight.reshape(self.filters, -1), self.cols)
        if self.bias is not None:
            np.add(y, self.bias[:, None], out=y)
        return y.reshape(self.filters, x.shape[0], *self.out_hw).transpose(1, 0, 2, 3)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = grad.transpose(1, 0, 2, 3).reshape(self.filters, -1)
        np.dot(g, self.cols.T, out=self.grads["weight"].reshape(self.filters, -1))
        if self.bias is not None:
            np.add.reduce(g, 1, out=self.grads["bias"])
        return self.col2im(np.dot(self.weight.reshape(self.filters, -1).T, g))

    def __repr__(self) -> str:
        return (
            f"Conv2d(filters={self.filters}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding})"
        )


class _Pool2d(Layer):
    """kernel_size and stride may be (height, width) pairs; stride None is kernel_size."""

    def __init__(
        self, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride)
        for kernel_half, stride_half in zip(self.kernel_size, self.stride, strict=True):
            validated(self.Config, kernel_size=kernel_half, stride=stride_half)

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        name = type(self).__name__.lower()
        self.out_hw = _spatial_output(name, input_shape, self.kernel_size, self.stride)
        self.slices = _window_slices(self.kernel_size, self.out_hw, self.stride)
        return (input_shape[0], *self.out_hw)

    def output_shape(self, input_shape: Shape) -> Shape:
        name = type(self).__name__.lower()
        return (input_shape[0], *_spatial_output(name, input_shape, self.kernel_size, self.stride))

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        c, ho, wo = self.output_shape(input_shape)
        windows = c * ho * wo * self.kernel_size[0] * self.kernel_size[1]
        return c * ho * wo, windows + int(np.prod(input_shape)) + c * ho * wo

    def torch(self, input_shape: Shape) -> str:
        return f"nn.{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"

    def windows(self, x: np.ndarray) -> np.ndarray:
        sh, sw = self.stride
        return sliding_window_view(x, self.kernel_size, axis=(2, 3))[:, :, ::sh, ::sw]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2dLayer(Strict):
    """Max over kernel_size x kernel_size windows."""

    type: Literal["maxpool2d"] = "maxpool2d"
    kernel_size: int = Field(2, ge=1, le=8)
    stride: int | None = Field(None, ge=1, le=8)


class MaxPool2d(_Pool2d):
    """Max pooling: y[n, c, i, j] = max of x[n, c, i*sh : i*sh + kh, j*sw : j*sw + kw].

    (batch, C, H, W) -> (batch, C, H_out, W_out); the gradient goes to the first maximum (torch's tie rule).
    """

    Config = MaxPool2dLayer

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x = x
        self.y = x[self.slices[0]].copy()
        for window in self.slices[1:]:
            np.maximum(self.y, x[window], out=self.y)
        return self.y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x, y = self.x, self.y
        nan = bool(np.isnan(y).any())
        dx = np.zeros(x.shape, grad.dtype)
        free = None
        for window in self.slices:
            hit = x[window] == y
            if nan:
                hit |= np.isnan(x[window])
            if free is None:
                free = ~hit
            else:
                hit &= free
                free &= ~hit
            dx[window] += grad * hit
        return dx


class AvgPool2dLayer(Strict):
    """Mean over kernel_size x kernel_size windows."""

    type: Literal["avgpool2d"] = "avgpool2d"
    kernel_size: int = Field(2, ge=1, le=8)
    stride: int | None = Field(None, ge=1, le=8)


class AvgPool2d(_Pool2d):
    """Average pooling: y[n, c, i, j] = mean of x[n, c, i*sh : i*sh + kh, j*sw : j*sw + kw].

    (batch, C, H, W) -> (batch, C, H_out, W_out).
    """

    Config = AvgPool2dLayer

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x_shape = x.shape
        return self.windows(x).mean((-2, -1))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        dx = np.zeros(self.x_shape, grad.dtype)
        g = grad / (self.kernel_size[0] * self.kernel_size[1])
        for window in self.slices:
            dx[window] += g
        return dx


class FlattenLayer(Strict):
    """(batch, C, H, W) -> (batch, C*H*W)."""

    type: Literal["flatten"] = "flatten"


class Flatten(Layer):
    """Flatten all but the batch axis: (batch, C, H, W) -> (batch, C * H * W)."""

    Config = FlattenLayer

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        return (int(np.prod(input_shape)),)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (int(np.prod(input_shape)),)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self.x_shape)


class MaxoutLayer(_Initialized):
    """Maxout: the max of `pieces` linear maps per unit."""

    type: Literal["maxout"] = "maxout"
    units: int = Field(8, ge=1, le=MAX_UNITS)
    pieces: int = Field(2, ge=2, le=8)


class Maxout(_WeightAndBias):
    """Maxout: y[:, u] = max_p z[:, u, p], z = (x @ W.T + b).reshape(batch, units, pieces).

    (batch, n_in) -> (batch, units); W (units * pieces, n_in), b (units * pieces,), as torch Linear then max
    over view(batch, units, pieces); the gradient goes to the first maximum.
    """

    Config = MaxoutLayer

    def __init__(
        self, units: int, pieces: int = 2, weight_init: SpecLike = "default", bias_init: SpecLike = "default"
    ) -> None:
        config = validated(
            self.Config, units=units, pieces=pieces, weight_init=weight_init, bias_init=bias_init
        )
        super().__init__(config.weight_init, config.bias_init, True)
        self.units, self.pieces = config.units, config.pieces

    def build(self, input_shape: Shape, rng: np.random.Generator, dtype: DTypeLike) -> Shape:
        shape = self.output_shape(input_shape)
        self.init_params((self.units * self.pieces, input_shape[0]), rng, dtype)
        self.piece_ids = np.arange(self.pieces)
        return shape

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"maxout needs input (features,), got {tuple(input_shape)}; add a flatten first")
        return (self.units,)

    def parameter_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {"weight": (self.units * self.pieces, input_shape[0]), "bias": (self.units * self.pieces,)}

    def working_values(self, input_shape: Shape) -> tuple[int, int]:
        linear = self.units * self.pieces
        return self.units, 3 * linear

    torch_definition = """class Maxout(nn.Module):
    def __init__(self, in_features, units, pieces):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.weight = nn.Parameter(torch.empty(units * pieces, in_features))
        self.bias = nn.Parameter(torch.empty(units * pieces))

    def forward(self, x):
        y = nn.functional.linear(x, self.weight, self.bias)
        return y.view(-1, self.units, self.pieces).max(dim=2).values
"""

    def torch(self, input_shape: Shape) -> str:
        return f"Maxout({input_shape[0]}, {self.units}, {self.pieces})"

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.x = x
        z = (x @ self.weight.T + self.bias).reshape(x.shape[0], self.units, self.pieces)
        self.argmax = z.argmax(-1)
        return np.take_along_axis(z, self.argmax[..., None], -1)[..., 0]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        dz = ((self.argmax[..., None] == self.piece_ids) * grad[..., None]).reshape(grad.shape[0], -1)
        np.matmul(dz.T, self.x, out=self.grads["weight"])
        dz.sum(0, out=self.grads["bias"])
        return dz @ self.weight

    def __repr__(self) -> str:
        return f"Maxout(units={self.units}, pieces={self.pieces})"


class LayerFactory(Protocol):
    """What LAYERS holds: a layer class (or callable) with its Config, called with the config's fields."""

    @property
    def Config(self) -> type[Strict]: ...  # noqa: N802

    def __call__(self, *args: Any, **kwargs: Any) -> Layer: ...


LAYERS: dict[str, LayerFactory] = {
    "dense": Dense,
    "activation": activation,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "conv2d": Conv2d,
    "maxpool2d": MaxPool2d,
    "avgpool2d": AvgPool2d,
    "flatten": Flatten,
    "maxout": Maxout,
}


def get(spec: SpecLike | Layer) -> Layer:
    """A layer from a type name, a dict {"type": name, **params}, or a Layer instance (returned as is)."""
    layer: Layer = lookup("layer type", LAYERS, Layer, spec, key="type", prefix_errors=True)
    return layer
