import subprocess
import sys

import numpy as np
import pytest

from engine import fused
from engine.gradcheck import numeric_grad, relative_error
from engine.model import Model

DENSE = [
    {"type": "dense", "units": 5, "activation": "relu"},
    {"type": "dense", "units": 4, "activation": "tanh"},
    {"type": "dense", "units": 4, "activation": "sigmoid"},
    {"type": "dense", "units": 3, "activation": {"name": "leaky_relu", "negative_slope": 0.1}},
    {"type": "dense", "units": 2},
]
CONV = [
    {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d"},
    {"type": "conv2d", "filters": 4, "kernel_size": 2, "stride": 2, "activation": "tanh"},
    {"type": "conv2d", "filters": 2, "kernel_size": 1},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
]
CASES = [(DENSE, (3,)), (CONV, (2, 8, 8))]


def build(specs, input_shape, dtype="float64", seed=0) -> Model:
    return Model.from_specs(specs, input_shape).build(np.random.default_rng(seed), dtype)


def layer_by_layer(model, x, upstream):
    """Output, input gradient and param grads running each layer's own forward and backward."""
    for layer in model.layers:
        x = layer.forward(x, True)
    grad = upstream
    for layer in reversed(model.layers):
        grad = layer.backward(grad)
    return x, grad, [g.copy() for g in model.gradients()]


def test_dense_and_conv_layers_take_the_activation_after_them():
    steps = build(CONV, (2, 8, 8)).steps
    assert [type(s).__name__ for s in steps] == [
        "ConvStep",
        "LayerStep",
        "ConvStep",
        "ConvStep",
        "LayerStep",
        "DenseStep",
    ]
    assert [type(s.activation).__name__ for s in steps if isinstance(s, fused.ConvStep)] == [
        "ReLU",
        "Tanh",
        "NoneType",
    ]
    assert [s.in_place is not None for s in build(DENSE, (3,)).steps] == [True, True, True, False, False]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("specs, input_shape", CASES)
def test_steps_give_the_same_bits_as_the_layers_one_by_one(specs, input_shape, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, *input_shape)).astype(dtype)
    stepped, plain = build(specs, input_shape, dtype), build(specs, input_shape, dtype)
    upstream = rng.standard_normal((6, *plain.output_shape)).astype(dtype)
    expected_y, expected_dx, expected_grads = layer_by_layer(plain, x, upstream)
    y = stepped.forward(x, True)
    dx = stepped.backward(upstream)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(dx, expected_dx)
    for grad, expected in zip(stepped.gradients(), expected_grads, strict=True):
        np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("specs, input_shape", CASES)
def test_fused_steps_pass_a_central_difference_gradient_check(specs, input_shape):
    rng = np.random.default_rng(2)
    model = build(specs, input_shape)
    x = rng.standard_normal((4, *input_shape))
    upstream = rng.standard_normal((4, *model.output_shape))

    def loss(_):
        return float(np.sum(model.forward(x, True) * upstream))

    model.forward(x, True)
    analytic = [np.array(model.backward(upstream)), *(g.copy() for g in model.gradients())]
    numeric = [numeric_grad(loss, x), *(numeric_grad(loss, p) for p in model.parameters())]
    errors = [relative_error(a, n) for a, n in zip(analytic, numeric, strict=True)]
    assert max(errors) < 1e-6, errors


def test_the_gradient_check_catches_a_wrong_fused_derivative(monkeypatch):
    def wrong_tanh_grad(grad, z, y, out):
        return np.multiply(grad, 1 - y, out=out)

    monkeypatch.setitem(fused.IN_PLACE, fused.activations.Tanh, (fused._tanh, wrong_tanh_grad))
    rng = np.random.default_rng(2)
    model = build(DENSE[1:2] + DENSE[-1:], (3,))
    x, upstream = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    model.forward(x, True)
    model.backward(upstream)
    weight = model.parameters()[0]
    numeric = numeric_grad(lambda _: float(np.sum(model.forward(x, True) * upstream)), weight)
    model.forward(x, True)
    model.backward(upstream)
    assert relative_error(model.gradients()[0], numeric) > 1e-2


IDENTITY_LAST = [
    ([*DENSE, {"type": "activation", "name": "identity"}], (3,)),
    ([*CONV[:3], {"type": "conv2d", "filters": 2, "kernel_size": 1, "activation": "identity"}], (2, 8, 8)),
]


@pytest.mark.parametrize("specs, input_shape", CASES + IDENTITY_LAST)
def test_training_outputs_and_input_gradients_are_new_arrays_and_batch_sizes_may_change(specs, input_shape):
    rng = np.random.default_rng(3)
    model, reference = build(specs, input_shape), build(specs, input_shape)
    first = rng.standard_normal((5, *input_shape))
    output = model.forward(first, True)
    dx = model.backward(np.ones_like(output))
    kept_output, kept_dx = output.copy(), dx.copy()
    assert len(np.unique(output.round(12))) > output.shape[1]
    for n in (5, 2, 7, 5):
        batch = rng.standard_normal((n, *input_shape))
        y = model.forward(batch, True)
        np.testing.assert_array_equal(y, reference.forward(batch, True))
        model.backward(np.ones_like(y))
    np.testing.assert_array_equal(output, kept_output)
    np.testing.assert_array_equal(dx, kept_dx)


@pytest.mark.parametrize("specs, input_shape", CASES)
def test_without_the_input_gradient_the_param_grads_are_the_same(specs, input_shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, *input_shape))
    with_dx, without_dx = build(specs, input_shape), build(specs, input_shape)
    upstream = rng.standard_normal((4, *with_dx.output_shape))
    with_dx.forward(x, True)
    assert with_dx.backward(upstream) is not None
    without_dx.forward(x, True)
    assert without_dx.backward(upstream, input_grad=False) is None
    for a, b in zip(with_dx.gradients(), without_dx.gradients(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_activation_caches_are_left_as_the_layers_leave_them():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 2, 8, 8))
    stepped, plain = build(CONV, (2, 8, 8)), build(CONV, (2, 8, 8))
    stepped.forward(x, True)
    for layer in plain.layers:
        x = layer.forward(x, True)
    for a, b in zip(stepped.layers, plain.layers, strict=True):
        if hasattr(b, "kind"):
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.y, b.y)


def test_a_float64_batch_into_a_float32_model_takes_the_layers_path():
    rng = np.random.default_rng(6)
    model, plain = build(DENSE, (3,), "float32"), build(DENSE, (3,), "float32")
    x = rng.standard_normal((4, 3))
    upstream = np.ones((4, 2))
    y_expected, dx_expected, grads_expected = layer_by_layer(plain, x, upstream)
    np.testing.assert_array_equal(model.forward(x, True), y_expected)
    np.testing.assert_array_equal(model.backward(upstream), dx_expected)
    for grad, expected in zip(model.gradients(), grads_expected, strict=True):
        np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("specs, input_shape", CASES)
def test_a_training_step_matches_torch(specs, input_shape):
    torch = pytest.importorskip("torch")
    from tests.engine.test_layers_torch import declared_module

    rng = np.random.default_rng(7)
    model = build(specs, input_shape)
    shapes = [input_shape, *model.output_shapes]
    net = torch.nn.Sequential(*[declared_module(layer, shapes[i]) for i, layer in enumerate(model.layers)])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((5, *input_shape))
    upstream = rng.standard_normal((5, *model.output_shape))
    tx = torch.tensor(x, requires_grad=True)
    ty = net(tx)
    ty.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(model.forward(x, True), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.backward(upstream), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    for grad, param in zip(model.gradients(), net.parameters(), strict=True):
        np.testing.assert_allclose(grad, param.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("specs, input_shape", CASES)
def test_eval_through_the_steps_gives_the_bits_of_the_layers_and_new_arrays(specs, input_shape, dtype):
    rng = np.random.default_rng(8)
    model, plain = build(specs, input_shape, dtype), build(specs, input_shape, dtype)
    x = rng.standard_normal((7, *input_shape)).astype(dtype)
    expected = x
    for layer in plain.layers:
        expected = layer.forward(expected, False)
    first = model.forward(x)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(model.predict(x), expected)
    model.forward(rng.standard_normal((7, *input_shape)).astype(dtype))
    np.testing.assert_array_equal(first, expected)
    upstream = rng.standard_normal(first.shape).astype(dtype)
    model.forward(x)
    for layer in plain.layers:
        x = layer.forward(x, False)
    np.testing.assert_array_equal(model.backward(upstream), layer_by_layer_backward(plain, upstream))


def layer_by_layer_backward(model, grad):
    for layer in reversed(model.layers):
        grad = layer.backward(grad)
    return grad


PRIMED_PRODUCTS = """
import numpy as np
from engine import fused
rng = np.random.default_rng(0)
a, w = (rng.standard_normal(shape).astype(np.float32) for shape in ((128, 256), (256, 256)))
cold = a @ w.T
fused.prime_blas()
print(int(np.array_equal(cold, a @ w.T)), fused.prime_blas.cache_info().currsize)
"""


def test_priming_blas_keeps_the_products_bits_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-c", PRIMED_PRODUCTS], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]


def test_building_a_model_primes_blas_once_per_process():
    fused.prime_blas.cache_clear()
    build(DENSE, (3,))
    build(CONV, (2, 8, 8))
    info = fused.prime_blas.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_relu_against_the_shared_zeros_gives_the_bits_of_max_with_a_scalar_zero():
    z = np.array([[-2.0, -0.0, 0.0, 3.0, np.nan, np.inf, -np.inf]], np.float32)
    y = fused._relu(z, np.empty_like(z))
    expected = np.maximum(z, np.float32(0))
    assert np.array_equal(y.view(np.uint32), expected.view(np.uint32))
    assert np.isnan(y[0, 4]) and y[0, 5] == np.inf and y[0, 6] == 0
    zeros = fused.zeros(z.shape, z.dtype)
    assert zeros is fused.zeros(z.shape, z.dtype) and not zeros.any()
    with pytest.raises(ValueError, match="read-only"):
        zeros[0, 0] = 1
