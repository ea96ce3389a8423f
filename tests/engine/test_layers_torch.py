"""Every layer against the torch module it declares (`torch(input_shape)` and `torch_definition`), float64."""

import numpy as np
import pytest

from engine.layers import AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, Layer, Maxout, MaxPool2d
from engine.plan import run_torch

torch = pytest.importorskip("torch")

TOL = 1e-10


def rng(seed=0):
    return np.random.default_rng(seed)


def tensor(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def declared_module(layer: Layer, input_shape: tuple[int, ...]):
    """The torch module an engine layer declares for inputs of `input_shape`, built in float64."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return run_torch(f"{layer.torch_definition}\nmodule = {layer.torch(input_shape)}")["module"]
    finally:
        torch.set_default_dtype(default)


def twin(layer: Layer, input_shape: tuple[int, ...]):
    """The declared module holding the layer's parameters."""
    module = declared_module(layer, input_shape)
    with torch.no_grad():
        for k, v in layer.params.items():
            getattr(module, k).copy_(tensor(v))
    return module


def close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=TOL, atol=TOL)


def compare(layer, module, x, seed=2):
    """Forward and backward of layer against the torch module (same params) on x."""
    tx = tensor(x, grad=True)
    ty = module(tx)
    g = rng(seed).normal(size=tuple(ty.shape))
    ty.backward(tensor(g))
    y = layer.forward(x, module.training)
    close(y, ty)
    close(layer.backward(g), tx.grad)
    for k, v in layer.grads.items():
        close(v, getattr(module, k).grad)
        getattr(module, k).grad = None


@pytest.mark.parametrize("bias", [True, False])
def test_dense_matches_torch_linear(bias):
    layer = Dense(6, bias=bias)
    layer.build((4,), rng(), np.float64)
    compare(layer, twin(layer, (4,)), rng(1).normal(size=(5, 4)))


@pytest.mark.parametrize(
    "kernel, stride, padding, bias",
    [
        (3, 1, 0, True),
        (3, 2, 1, True),
        (2, 3, 2, False),
        ((2, 3), (1, 2), (1, 0), True),
        (1, 1, 0, True),
    ],
)
def test_conv2d_matches_torch(kernel, stride, padding, bias):
    layer = Conv2d(4, kernel_size=kernel, stride=stride, padding=padding, bias=bias)
    out = layer.build((3, 7, 6), rng(), np.float64)
    module = twin(layer, (3, 7, 6))
    x = rng(1).normal(size=(2, 3, 7, 6))
    assert tuple(module(tensor(x)).shape[1:]) == out
    compare(layer, module, x)


@pytest.mark.parametrize("ours", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2)), (2, 3)])
def test_pools_match_torch(ours, kernel, stride):
    layer = ours(kernel, stride)
    out = layer.build((3, 7, 6), rng(), np.float64)
    x = rng(1).normal(size=(2, 3, 7, 6))
    x[0, 0, :3, :3] = 0.5
    module = twin(layer, (3, 7, 6))
    assert tuple(module(tensor(x)).shape[1:]) == out
    compare(layer, module, x)


@pytest.mark.parametrize("shape", [(3,), (3, 4, 2)])
def test_batchnorm_matches_torch_over_train_and_eval_steps(shape):
    layer = BatchNorm(momentum=0.3, eps=1e-4)
    layer.build(shape, rng(), np.float64)
    for v in layer.params.values():
        v[...] = rng(7).normal(size=v.shape)
    module = twin(layer, shape)
    for step, training in enumerate([True, True, False, True, False]):
        module.train(training)
        compare(layer, module, rng(step).normal(size=(5, *shape)) * 2 + 1, seed=10 + step)
        for k, v in layer.buffers.items():
            close(v, getattr(module, k))


def test_maxout_matches_its_declared_module_linear_then_max_over_pieces():
    layer = Maxout(3, pieces=4)
    layer.build((5,), rng(), np.float64)
    compare(layer, twin(layer, (5,)), rng(1).normal(size=(6, 5)))


def test_small_cnn_matches_torch_sequential():
    ours = [
        Conv2d(4, padding=1),
        BatchNorm(),
        MaxPool2d(2),
        Conv2d(3, kernel_size=2, stride=2),
        AvgPool2d(2),
        Flatten(),
        Dense(2),
    ]
    shape = (1, 8, 8)
    modules = []
    for i, layer in enumerate(ours):
        modules.append(declared_module(layer, shape))
        shape = layer.build(shape, rng(i), np.float64)
    theirs = torch.nn.Sequential(*modules)
    theirs.load_state_dict(
        {
            f"{i}.{k}": tensor(v)
            for i, layer in enumerate(ours)
            for k, v in {**layer.params, **layer.buffers}.items()
        }
    )
    x = rng(1).normal(size=(3, 1, 8, 8))
    tx = tensor(x, grad=True)
    ty = theirs(tx)
    g = rng(2).normal(size=tuple(ty.shape))
    ty.backward(tensor(g))
    y = x
    for layer in ours:
        y = layer.forward(y, True)
    close(y, ty)
    for layer in reversed(ours):
        g = layer.backward(g)
    close(g, tx.grad)
    named = dict(theirs.named_parameters())
    for i, layer in enumerate(ours):
        for k, v in layer.grads.items():
            close(v, named[f"{i}.{k}"].grad)
