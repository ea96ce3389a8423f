"""Every optimizer and option against torch.optim (single-tensor path) in float64, step by step.

Each step starts from torch's parameters: torch's kernels round an ulp differently from CPU to CPU, and
50 steps on a curved loss grow one ulp to 1e-10.
"""

import numpy as np
import pytest

from engine import optimizers
from engine.plan import run_torch

torch = pytest.importorskip("torch")

SHAPES = [(3, 2), (3,), (1, 3), (1,), (70, 60)]

CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"momentum": 0.8, "nesterov": True}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("sgd", {"weight_decay": 0.1}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.05}),
    ("adagrad", {"initial_accumulator_value": 0.3, "weight_decay": 0.1}),
    ("adagrad", {"lr_decay": 0.01, "eps": 1e-6, "initial_accumulator_value": 0.1}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("adam", {}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6}),
    ("adam", {"amsgrad": True}),
    ("adam", {"weight_decay": 0.1}),
    ("adam", {"weight_decay": 0.1, "amsgrad": True, "betas": (0.3, 0.5)}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.2, "amsgrad": True}),
    ("adamw", {"betas": (0.5, 0.9), "weight_decay": 0.0}),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_twin(optimizer: optimizers.Optimizer, params: list) -> torch.optim.Optimizer:
    """The optimizer's declared torch equivalent over `params`, on torch's single-tensor path."""
    theirs = run_torch(f"optimizer = {optimizer.torch('params')}", params=params)["optimizer"]
    for group in theirs.param_groups:
        group["foreach"] = False
    return theirs


def _problem(seed=0):
    """A quadratic f(p) = sum(a p^2 / 2 + b p + c sin p) per parameter: grad = a p + b + c cos p."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s) for s in SHAPES]
    coefs = [(rng.uniform(0.1, 2, s), rng.normal(size=s), rng.normal(size=s)) for s in SHAPES]
    return params, coefs


def _grads(params, coefs):
    return [a * p + b + c * np.cos(p) for p, (a, b, c) in zip(params, coefs, strict=True)]


def assert_steps_as_torch(ours: optimizers.Optimizer, steps: int, lr_change: tuple[int, float] | None = None):
    """Step `ours` and its declared torch twin side by side, each step from torch's parameters.

    Parameters match to rtol 1e-13 after every step, the state vectors torch also keeps to 1e-12 at the
    end; `lr_change` = (step, lr) sets both lrs before that step.
    """
    params, coefs = _problem()
    tparams = [torch.tensor(p, dtype=torch.float64) for p in params]
    theirs = torch_twin(ours, tparams)
    for step in range(steps):
        if lr_change is not None and step == lr_change[0]:
            ours.lr = theirs.param_groups[0]["lr"] = lr_change[1]
        ours.step(params, _grads(params, coefs))
        for t, g in zip(tparams, _grads([t.numpy() for t in tparams], coefs), strict=True):
            t.grad = torch.from_numpy(g)
        theirs.step()
        for p, t in zip(params, tparams, strict=True):
            np.testing.assert_allclose(p, t.numpy(), rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
            p[...] = t.numpy()
    for i, t in enumerate(tparams):
        for key, value in theirs.state[t].items():
            if key in ours.state[i]:
                np.testing.assert_allclose(ours.state[i][key], value.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_matches_torch(name, hyper):
    lr = {"sgd": 0.05, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.05, "adamw": 0.05}[name]
    assert_steps_as_torch(optimizers.get({"name": name, "lr": lr, **hyper}), 50, lr_change=(30, lr / 3))
