import numpy as np
import pytest

from engine import layers
from engine.gradcheck import check_layer_gradients
from engine.layers import (
    LAYERS,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    Layer,
    Maxout,
    MaxPool2d,
    get,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def built(layer, input_shape, dtype=np.float64, seed=0):
    layer.output_shape = layer.build(input_shape, rng(seed), dtype)
    return layer


def check_gradients(layer, x, training=True):
    assert check_layer_gradients(layer, x, training) < 1e-7


def randomized_params(layer, seed=1):
    for v in layer.params.values():
        v[...] = rng(seed).normal(size=v.shape)
    return layer


GRADIENT_CASES = {
    "dense": (lambda: Dense(4), (5,), 3),
    "dense_no_bias": (lambda: Dense(3, bias=False), (4,), 2),
    "conv2d": (lambda: Conv2d(3, kernel_size=3), (2, 5, 5), 2),
    "conv2d_stride_padding": (lambda: Conv2d(2, kernel_size=3, stride=2, padding=1), (2, 6, 5), 2),
    "conv2d_rect": (
        lambda: Conv2d(2, kernel_size=(2, 3), stride=(2, 1), padding=(0, 2), bias=False),
        (1, 5, 4),
        2,
    ),
    "maxpool2d": (lambda: MaxPool2d(2), (2, 4, 6), 2),
    "maxpool2d_overlap": (lambda: MaxPool2d(3, stride=2), (2, 7, 5), 2),
    "avgpool2d": (lambda: AvgPool2d(2), (2, 4, 6), 2),
    "avgpool2d_overlap": (lambda: AvgPool2d((3, 2), stride=1), (2, 5, 4), 2),
    "flatten": (lambda: Flatten(), (2, 3, 2), 2),
    "maxout": (lambda: Maxout(3, pieces=3), (4,), 5),
    "batchnorm1d": (lambda: BatchNorm(), (3,), 6),
    "batchnorm2d": (lambda: BatchNorm(), (2, 3, 2), 3),
    "activation": (lambda: get({"type": "activation", "name": "tanh"}), (4,), 3),
}


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_gradients_match_central_differences(case):
    make, input_shape, batch = GRADIENT_CASES[case]
    layer = make()
    layer.build(input_shape, rng(), np.float64)
    if case.startswith("batchnorm"):
        randomized_params(layer)
    x = rng(2).normal(size=(batch, *input_shape))
    check_gradients(layer, x)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 2)])
def test_batchnorm_eval_gradients(shape):
    layer = randomized_params(built(BatchNorm(), shape))
    for seed in range(3):
        layer.forward(rng(seed).normal(size=(4, *shape)) * 3 + 1, True)
    check_gradients(layer, rng(5).normal(size=(4, *shape)), training=False)


def test_dropout_gradients_use_the_forward_mask():
    class SameMaskDropout(Dropout):
        def forward(self, x, training):
            self.rng = rng(3)
            return super().forward(x, training)

    layer = built(SameMaskDropout(p=0.4), (6,))
    check_gradients(layer, rng(2).normal(size=(5, 6)))


def test_gradient_check_catches_a_wrong_gradient():
    class Broken(Dense):
        def backward(self, grad):
            return 1.01 * super().backward(grad)

    layer = built(Broken(3), (4,))
    assert check_layer_gradients(layer, rng(1).normal(size=(2, 4))) > 1e-3


def test_dense_forward_formula_and_torch_layout():
    layer = built(Dense(3), (4,))
    assert layer.params["weight"].shape == (3, 4) and layer.params["bias"].shape == (3,)
    assert layer.output_shape == (3,)
    x = rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(layer.forward(x, True), x @ layer.params["weight"].T + layer.params["bias"])


def test_dense_default_init_is_torch_uniform_fan_in():
    layer = built(Dense(50), (16,))
    bound = 1 / np.sqrt(16)
    for v in layer.params.values():
        assert np.all(np.abs(v) <= bound) and np.abs(v).max() > 0.9 * bound


def test_conv2d_default_init_uses_channels_times_kernel_as_fan_in():
    layer = built(Conv2d(40, kernel_size=3), (2, 5, 5))
    bound = 1 / np.sqrt(2 * 3 * 3)
    for v in layer.params.values():
        assert np.all(np.abs(v) <= bound) and np.abs(v).max() > 0.9 * bound


def test_initializers_and_bias_flag_are_respected():
    layer = built(Dense(3, weight_init="ones", bias_init={"name": "constant", "value": 0.5}), (2,))
    np.testing.assert_array_equal(layer.params["weight"], np.ones((3, 2)))
    np.testing.assert_array_equal(layer.params["bias"], np.full(3, 0.5))
    assert set(built(Conv2d(2, bias=False), (1, 3, 3)).params) == {"weight"}
    assert set(built(Dense(2, bias=False), (3,)).params) == {"weight"}


def test_bias_init_that_needs_a_2d_weight_fails_at_build_naming_bias_init():
    with pytest.raises(ValueError, match="bias_init"):
        Dense(2, bias_init="xavier_uniform").build((3,), rng(), np.float64)


def test_build_is_deterministic_given_the_seed():
    a, b, c = (built(Conv2d(3), (2, 4, 4), seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    np.testing.assert_array_equal(a.params["bias"], b.params["bias"])
    assert not np.array_equal(a.params["weight"], c.params["weight"])


def test_regularized_keys():
    assert Dense.regularized == Conv2d.regularized == Maxout.regularized == ("weight",)
    for cls in (Dropout, BatchNorm, MaxPool2d, AvgPool2d, Flatten):
        assert cls.regularized == ()


def conv2d_reference(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    xp[:, :, padding : padding + h, padding : padding + wd] = x
    ho, wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, :, r * stride : r * stride + kh, s * stride : s * stride + kw]
                    y[i, f, r, s] = np.sum(patch * w[f]) + b[f]
    return y


def conv2d_reference_backward(x, w, g, stride, padding):
    n, c, h, wd = x.shape
    _, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    xp[:, :, padding : padding + h, padding : padding + wd] = x
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(n):
        for f in range(g.shape[1]):
            for r in range(g.shape[2]):
                for s in range(g.shape[3]):
                    rows, cols = slice(r * stride, r * stride + kh), slice(s * stride, s * stride + kw)
                    dw[f] += g[i, f, r, s] * xp[i, :, rows, cols]
                    dxp[i, :, rows, cols] += g[i, f, r, s] * w[f]
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, g.sum((0, 2, 3))


@pytest.mark.parametrize(
    "kernel, stride, padding", [(3, 1, 0), (3, 2, 1), (2, 2, 0), (1, 1, 2), (3, 3, 2), (5, 1, 1)]
)
def test_conv2d_matches_nested_loops(kernel, stride, padding):
    layer = built(Conv2d(3, kernel_size=kernel, stride=stride, padding=padding), (2, 7, 6))
    x = rng(1).normal(size=(2, 2, 7, 6))
    w, b = layer.params["weight"], layer.params["bias"]
    expected = conv2d_reference(x, w, b, stride, padding)
    y = layer.forward(x, True)
    assert y.shape == expected.shape and y.shape[1:] == layer.output_shape
    np.testing.assert_allclose(y, expected, atol=1e-12)
    g = rng(2).normal(size=y.shape)
    dx, dw, db = conv2d_reference_backward(x, w, g, stride, padding)
    np.testing.assert_allclose(layer.backward(g), dx, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], dw, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], db, atol=1e-12)


def pool_reference(x, kernel, stride, reduce):
    n, c, h, w = x.shape
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    y = np.zeros((n, c, ho, wo))
    dy_dx = np.zeros((n, c, ho, wo, h, w))
    for i, ch, r, s in np.ndindex(n, c, ho, wo):
        window = x[i, ch, r * stride : r * stride + kernel, s * stride : s * stride + kernel]
        if reduce == "max":
            y[i, ch, r, s] = window.max()
            a, b = divmod(int(np.argmax(window)), kernel)
            dy_dx[i, ch, r, s, r * stride + a, s * stride + b] = 1
        else:
            y[i, ch, r, s] = window.mean()
            dy_dx[i, ch, r, s, r * stride : r * stride + kernel, s * stride : s * stride + kernel] = (
                1 / kernel**2
            )
    return y, dy_dx


@pytest.mark.parametrize("cls, reduce", [(MaxPool2d, "max"), (AvgPool2d, "mean")])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (3, 2), (2, 3), (4, None)])
def test_pools_match_nested_loops(cls, reduce, kernel, stride):
    layer = built(cls(kernel_size=kernel, stride=stride), (3, 7, 6))
    x = rng(1).normal(size=(2, 3, 7, 6))
    expected, dy_dx = pool_reference(x, kernel, stride or kernel, reduce)
    y = layer.forward(x, True)
    assert y.shape == expected.shape and y.shape[1:] == layer.output_shape
    np.testing.assert_allclose(y, expected, atol=1e-14)
    g = rng(2).normal(size=y.shape)
    dx = np.einsum("ncrs,ncrshw->nchw", g, dy_dx)
    np.testing.assert_allclose(layer.backward(g), dx, atol=1e-14)


def test_maxpool_ties_route_the_gradient_to_the_first_maximum():
    layer = built(MaxPool2d(2), (1, 2, 4))
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0]]]])
    np.testing.assert_array_equal(layer.forward(x, True), [[[[1.0, 2.0]]]])
    dx = layer.backward(np.array([[[[3.0, 5.0]]]]))
    np.testing.assert_array_equal(dx, [[[[3.0, 0.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]]]])



def test_maxpool_passes_nan_on_and_routes_its_gradient_to_one_nan():
    layer = built(MaxPool2d(2), (1, 2, 4))
    x = np.array([[[[1.0, np.nan, 0.0, 2.0], [np.nan, 0.0, 2.0, 2.0]]]])
    y = layer.forward(x, True)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == 2.0
    dx = layer.backward(np.array([[[[3.0, 5.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 3.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]]]])

def test_maxout_matches_reference():
    units, pieces = 3, 4
    layer = built(Maxout(units, pieces=pieces), (5,))
    assert layer.params["weight"].shape == (units * pieces, 5) and layer.output_shape == (units,)
    x = rng(1).normal(size=(6, 5))
    z = x @ layer.params["weight"].T + layer.params["bias"]
    expected = np.zeros((6, units))
    for i, u in np.ndindex(6, units):
        expected[i, u] = max(z[i, u * pieces + p] for p in range(pieces))
    np.testing.assert_allclose(layer.forward(x, True), expected)
    g = rng(2).normal(size=(6, units))
    dz = np.zeros_like(z)
    for i, u in np.ndindex(6, units):
        dz[i, u * pieces + int(np.argmax(z[i, u * pieces : (u + 1) * pieces]))] = g[i, u]
    np.testing.assert_allclose(layer.backward(g), dz @ layer.params["weight"])
    np.testing.assert_allclose(layer.grads["weight"], dz.T @ x)
    np.testing.assert_allclose(layer.grads["bias"], dz.sum(0))


def test_flatten_shapes():
    layer = built(Flatten(), (3, 4, 5))
    assert layer.output_shape == (60,)
    x = rng(1).normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(layer.forward(x, True), x.reshape(2, 60))
    np.testing.assert_array_equal(layer.backward(x.reshape(2, 60)), x)


@pytest.mark.parametrize("shape, axes", [((3,), (0,)), ((3, 4, 2), (0, 2, 3))])
def test_batchnorm_training_and_running_stats(shape, axes):
    momentum, eps = 0.2, 1e-3
    layer = randomized_params(built(BatchNorm(momentum=momentum, eps=eps), shape))
    w = layer.params["weight"].reshape(-1, *[1] * (len(shape) - 1))
    b = layer.params["bias"].reshape(w.shape)
    mean, var = np.zeros(shape[0]), np.ones(shape[0])
    count = layer.buffers["num_batches_tracked"]
    assert count.dtype == np.int64 and count.shape == ()
    for step in range(1, 4):
        x = rng(step).normal(size=(5, *shape)) * 2 + 3
        m = x.size // shape[0]
        batch_mean, batch_var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
        y = layer.forward(x, True)
        np.testing.assert_allclose(y, (x - batch_mean) / np.sqrt(batch_var + eps) * w + b, atol=1e-12)
        mean = (1 - momentum) * mean + momentum * batch_mean.reshape(-1)
        var = (1 - momentum) * var + momentum * batch_var.reshape(-1) * m / (m - 1)
        np.testing.assert_allclose(layer.buffers["running_mean"], mean, atol=1e-12)
        np.testing.assert_allclose(layer.buffers["running_var"], var, atol=1e-12)
        assert int(layer.buffers["num_batches_tracked"]) == step

    x = rng(9).normal(size=(2, *shape))
    shape_c = (-1, *[1] * (len(shape) - 1))
    expected = (x - mean.reshape(shape_c)) / np.sqrt(var.reshape(shape_c) + eps) * w + b
    np.testing.assert_allclose(layer.forward(x, False), expected, atol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_mean"], mean, atol=1e-12)
    assert int(layer.buffers["num_batches_tracked"]) == 3


def test_batchnorm_init_and_single_value_error():
    layer = built(BatchNorm(), (4, 2, 2))
    np.testing.assert_array_equal(layer.params["weight"], np.ones(4))
    np.testing.assert_array_equal(layer.params["bias"], np.zeros(4))
    np.testing.assert_array_equal(layer.buffers["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(4))
    layer1d = built(BatchNorm(), (4,))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer1d.forward(np.ones((1, 4)), True)
    assert layer1d.forward(np.ones((1, 4)), False).shape == (1, 4)


def test_dropout_statistics_and_modes():
    p = 0.3
    layer = built(Dropout(p=p), (200,), seed=4)
    x = np.ones((500, 200))
    y = layer.forward(x, True)
    assert abs((y == 0).mean() - p) < 0.01
    assert abs(y.mean() - 1) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))
    np.testing.assert_array_equal(layer.backward(x), y)
    assert layer.forward(x, False) is x
    assert layer.backward(x) is x


def test_dropout_is_deterministic_given_the_rng():
    x = rng(1).normal(size=(4, 10))
    a, b, c = (built(Dropout(0.5), (10,), seed=s) for s in (3, 3, 4))
    ya, yb = a.forward(x, True), b.forward(x, True)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, c.forward(x, True))
    assert not np.array_equal(ya, a.forward(x, True))


def test_dropout_p_zero_is_identity_and_p_one_is_rejected():
    x = rng(1).normal(size=(3, 4))
    np.testing.assert_array_equal(built(Dropout(0.0), (4,)).forward(x, True), x)
    with pytest.raises(ValueError, match="p"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="p"):
        Dropout(-0.1)


@pytest.mark.parametrize(
    "layer, input_shape, message",
    [
        (Conv2d(2), (2,), r"conv2d needs input \(channels, height, width\), got \(2,\)"),
        (Conv2d(2, kernel_size=5), (1, 4, 4), "kernel 5x5 is larger than the input 4x4"),
        (Conv2d(2, kernel_size=5, padding=1), (1, 2, 9), "kernel 5x5 is larger than the padded input 4x11"),
        (MaxPool2d(3), (1, 2, 2), "maxpool2d kernel 3x3 is larger than the input 2x2"),
        (AvgPool2d(2), (4,), r"avgpool2d needs input \(channels, height, width\)"),
        (Dense(2), (1, 3, 3), r"dense needs input \(features,\), got \(1, 3, 3\)"),
        (Maxout(2), (2, 2), r"maxout needs input \(features,\)"),
        (BatchNorm(), (2, 3), r"batchnorm needs input \(features,\) or \(channels, height, width\)"),
    ],
)
def test_build_rejects_shapes_that_do_not_fit(layer, input_shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build(input_shape, rng(), np.float64)


@pytest.mark.parametrize(
    "layer, input_shape, output_shape",
    [
        (Conv2d(4, kernel_size=3, stride=2, padding=1), (2, 8, 7), (4, 4, 4)),
        (Conv2d(4, kernel_size=(3, 1)), (2, 8, 7), (4, 6, 7)),
        (MaxPool2d(2), (3, 5, 5), (3, 2, 2)),
        (AvgPool2d(3, stride=1), (3, 5, 4), (3, 3, 2)),
        (BatchNorm(), (3, 5, 4), (3, 5, 4)),
        (Dropout(), (7,), (7,)),
        (Flatten(), (2, 3, 4), (24,)),
        (Maxout(5, pieces=3), (4,), (5,)),
    ],
)
def test_output_shapes(layer, input_shape, output_shape):
    assert layer.build(input_shape, rng(), np.float64) == output_shape
    assert layer.forward(np.ones((2, *input_shape)), True).shape == (2, *output_shape)


FLOAT32_CASES = [
    (lambda: Dense(4), (3,)),
    (lambda: Conv2d(2, padding=1, stride=2), (2, 5, 5)),
    (lambda: MaxPool2d(2), (2, 4, 4)),
    (lambda: AvgPool2d(2), (2, 4, 4)),
    (lambda: BatchNorm(), (3,)),
    (lambda: BatchNorm(), (2, 3, 3)),
    (lambda: Dropout(0.5), (6,)),
    (lambda: Flatten(), (2, 3, 3)),
    (lambda: Maxout(3), (4,)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(FLOAT32_CASES)))
def test_dtype_is_preserved(case, dtype):
    make, input_shape = FLOAT32_CASES[case]
    layer = make()
    layer.build(input_shape, rng(), dtype)
    x = rng(1).normal(size=(4, *input_shape)).astype(dtype)
    for training in (True, False):
        y = layer.forward(x, training)
        assert y.dtype == dtype
        assert layer.backward(np.ones_like(y)).dtype == dtype
    for d in (layer.params, layer.grads):
        assert all(v.dtype == dtype for v in d.values())
    for k, v in layer.buffers.items():
        assert v.dtype == (np.int64 if k == "num_batches_tracked" else dtype)


@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: Dense(3), (2,)),
        (lambda: Conv2d(2), (1, 4, 4)),
        (lambda: BatchNorm(), (3,)),
        (lambda: Maxout(2), (3,)),
    ],
)
def test_params_are_never_rebound_and_grads_are_overwritten(make, input_shape):
    layer = make()
    layer.build(input_shape, rng(), np.float64)
    params = dict(layer.params)
    x = rng(1).normal(size=(3, *input_shape))
    g = np.ones_like(layer.forward(x, True))
    layer.backward(g)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x, True)
    layer.backward(g)
    for k, v in layer.grads.items():
        np.testing.assert_allclose(v, first[k])
    for v in layer.params.values():
        v -= 0.1
    assert all(layer.params[k] is v for k, v in params.items())
    np.testing.assert_allclose(layer.forward(x, False), make_reference(layer, x))


def make_reference(layer, x):
    if isinstance(layer, Dense):
        return x @ layer.params["weight"].T + layer.params["bias"]
    if isinstance(layer, Conv2d):
        return conv2d_reference(x, layer.params["weight"], layer.params["bias"], 1, 0)
    if isinstance(layer, BatchNorm):
        rm, rv = layer.buffers["running_mean"], layer.buffers["running_var"]
        return (x - rm) / np.sqrt(rv + layer.eps) * layer.params["weight"] + layer.params["bias"]
    z = (x @ layer.params["weight"].T + layer.params["bias"]).reshape(len(x), layer.units, layer.pieces)
    return z.max(-1)


def test_registry_names():
    assert list(LAYERS) == [
        "dense",
        "activation",
        "dropout",
        "batchnorm",
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "flatten",
        "maxout",
    ]


def test_get_accepts_names_dicts_and_instances():
    assert isinstance(get("flatten"), Flatten)
    dense = get({"type": "dense", "units": 3, "bias": False})
    assert isinstance(dense, Dense) and dense.units == 3 and not dense.use_bias
    assert get(dense) is dense
    conv = get({"type": "conv2d", "filters": 2, "kernel_size": 5, "stride": 2, "padding": 1})
    assert conv.kernel_size == (5, 5) and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert get({"type": "maxpool2d", "kernel_size": 3}).stride == (3, 3)
    assert get({"type": "maxout", "units": 4, "pieces": 3}).pieces == 3


def test_activation_entry_builds_the_activation_layer():
    from engine import activations

    inline = get({"type": "activation", "name": "leaky_relu", "negative_slope": 0.2})
    nested = get({"type": "activation", "name": "leaky_relu", "params": {"negative_slope": 0.2}})
    for layer in (inline, nested):
        assert isinstance(layer, Layer) and isinstance(layer, type(activations.get("leaky_relu")))
        assert layer.negative_slope == 0.2
    relu = get({"type": "activation", "name": "relu"})
    np.testing.assert_array_equal(relu.forward(np.array([[-1.0, 2.0]]), True), [[0.0, 2.0]])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("conv3d", "unknown layer type 'conv3d'; valid: dense, activation, dropout"),
        ({"units": 3}, "unknown layer type None"),
        (3, "layer type must be a name, a dict"),
        ({"type": "dense"}, "dense: missing required parameter 'units'"),
        ({"type": "dense", "units": 3, "size": 2}, "dense: unknown parameter 'size'"),
        ({"type": "dense", "units": 0}, "^dense: units: Input should be greater than or equal to 1, got 0$"),
        ({"type": "dense", "units": 1025}, "^dense: units: Input should be less than or equal to 1024"),
        ({"type": "dense", "units": 2.5}, "units"),
        ({"type": "dense", "units": 2, "weight_init": "nope"}, "weight_init: unknown initializer 'nope'"),
        ({"type": "maxout", "units": 2, "bias_init": "nope"}, "bias_init"),
        ({"type": "dropout", "p": 1}, "^dropout: p: Input should be less than 1, got 1$"),
        ({"type": "batchnorm", "momentum": 1.5}, "momentum"),
        ({"type": "batchnorm", "eps": 0}, "^batchnorm: eps: Input should be greater than 0, got 0$"),
        ({"type": "batchnorm", "momentum": 0}, "^batchnorm: momentum: Input should be greater than 0"),
        ({"type": "dense", "units": 2, "bias": "no"}, "^dense: bias: Input should be a valid boolean"),
        ({"type": "conv2d", "filters": 2, "padding": -1}, "padding"),
        ({"type": "conv2d", "filters": 2, "kernel_size": (1, 2, 3)}, "kernel_size"),
        ({"type": "conv2d", "filters": 2, "kernel_size": (3, 12)}, "^conv2d: kernel_size: Input"),
        ({"type": "conv2d", "filters": 129}, "^conv2d: filters: Input should be less than or equal to 128"),
        ({"type": "maxpool2d", "kernel_size": (2, 9)}, "^maxpool2d: kernel_size: Input should be less"),
        ({"type": "maxpool2d", "stride": 0}, "stride"),
        ({"type": "maxout", "units": 2, "pieces": 1}, "^maxout: pieces: Input should be greater"),
        ({"type": "activation", "name": "nope"}, "nope"),
    ],
)
def test_get_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        get(spec)


def test_layers_module_imports_activations_lazily():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(layers))
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported = {node.module for node in top_level if isinstance(node, ast.ImportFrom)}
    assert not imported & {"engine.activations", "engine.initializers", "engine"}
