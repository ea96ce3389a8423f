import numpy as np
import pytest

from engine.layers import AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, Maxout, MaxPool2d

torch = pytest.importorskip("torch")

TOL = 1e-10


def rng(seed=0):
    return np.random.default_rng(seed)


def tensor(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def load(module, layer):
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
    module = load(torch.nn.Linear(4, 6, bias=bias, dtype=torch.float64), layer)
    compare(layer, module, rng(1).normal(size=(5, 4)))


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
    module = load(torch.nn.Conv2d(3, 4, kernel, stride, padding, bias=bias, dtype=torch.float64), layer)
    x = rng(1).normal(size=(2, 3, 7, 6))
    assert tuple(module(tensor(x)).shape[1:]) == out
    compare(layer, module, x)


@pytest.mark.parametrize("ours, theirs", [(MaxPool2d, torch.nn.MaxPool2d), (AvgPool2d, torch.nn.AvgPool2d)])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2)), (2, 3)])
def test_pools_match_torch(ours, theirs, kernel, stride):
    layer = ours(kernel, stride)
    out = layer.build((3, 7, 6), rng(), np.float64)
    x = rng(1).normal(size=(2, 3, 7, 6))
    x[0, 0, :3, :3] = 0.5
    module = theirs(kernel, stride)
    assert tuple(module(tensor(x)).shape[1:]) == out
    compare(layer, module, x)


@pytest.mark.parametrize("shape", [(3,), (3, 4, 2)])
def test_batchnorm_matches_torch_over_train_and_eval_steps(shape):
    layer = BatchNorm(momentum=0.3, eps=1e-4)
    layer.build(shape, rng(), np.float64)
    cls = torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d
    module = cls(shape[0], momentum=0.3, eps=1e-4, dtype=torch.float64)
    for v in layer.params.values():
        v[...] = rng(7).normal(size=v.shape)
    load(module, layer)
    for step, training in enumerate([True, True, False, True, False]):
        module.train(training)
        compare(layer, module, rng(step).normal(size=(5, *shape)) * 2 + 1, seed=10 + step)
        for k, v in layer.buffers.items():
            close(v, getattr(module, k))


def test_maxout_matches_torch_linear_then_max_over_pieces():
    units, pieces = 3, 4
    layer = Maxout(units, pieces=pieces)
    layer.build((5,), rng(), np.float64)
    linear = load(torch.nn.Linear(5, units * pieces, dtype=torch.float64), layer)
    x = rng(1).normal(size=(6, 5))
    tx = tensor(x, grad=True)
    ty = linear(tx).view(6, units, pieces).max(dim=2).values
    g = rng(2).normal(size=(6, units))
    ty.backward(tensor(g))
    close(layer.forward(x, True), ty)
    close(layer.backward(g), tx.grad)
    close(layer.grads["weight"], linear.weight.grad)
    close(layer.grads["bias"], linear.bias.grad)


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
    for i, layer in enumerate(ours):
        shape = layer.build(shape, rng(i), np.float64)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 3, 2, stride=2),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(3, 2),
    ).double()
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
