import math

import numpy as np
import pytest

from engine import config, schedules
from engine.plan import run_torch

CASES = [
    ("constant", {}),
    ("step", {"step_size": 30, "gamma": 0.1}),
    ("step", {"step_size": 7, "gamma": 0.5}),
    ("multistep", {"milestones": [10, 50, 120], "gamma": 0.3}),
    ("multistep", {"milestones": [1, 2], "gamma": 0.1}),
    ("exponential", {"gamma": 0.98}),
    ("cosine", {"t_max": 100, "eta_min": 0.0}),
    ("cosine", {"t_max": 40, "eta_min": 0.01}),
]


def test_closed_forms():
    base = 0.1
    assert schedules.get("constant").lr_at(123, base) == base
    step = schedules.get({"name": "step", "step_size": 10, "gamma": 0.5})
    assert [step.lr_at(e, base) for e in (0, 9, 10, 19, 20)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    multistep = schedules.get({"name": "multistep", "milestones": [3, 5], "gamma": 0.1})
    assert [multistep.lr_at(e, 1.0) for e in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    assert schedules.get({"name": "exponential", "gamma": 0.9}).lr_at(3, 2.0) == pytest.approx(2 * 0.9**3)
    cosine = schedules.get({"name": "cosine", "t_max": 10, "eta_min": 0.001})
    assert cosine.lr_at(5, base) == pytest.approx(0.001 + 0.099 / 2)
    assert cosine.lr_at(10, base) == pytest.approx(0.001)
    assert cosine.lr_at(20, base) == pytest.approx(base)


@pytest.mark.parametrize("name, params", CASES)
def test_epoch_zero_is_the_base_lr(name, params):
    assert schedules.get({"name": name, **params}).lr_at(0, 0.37) == 0.37


def assert_follows_torch(ours, base=0.05, epochs=300):
    """ours.lr_at equals, epoch by epoch, the torch scheduler its torch() declares."""
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    scheduler = run_torch(f"scheduler = {ours.torch()}", optimizer=optimizer)["scheduler"]
    expected = []
    for _ in range(epochs):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose([ours.lr_at(e, base) for e in range(epochs)], expected, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_matches_torch_schedulers_over_300_epochs(name, params):
    assert_follows_torch(schedules.get({"name": name, **params}))


def test_get_accepts_config_models_and_instances():
    cosine = schedules.get(config.CosineLR(t_max=7, eta_min=0.5))
    assert (cosine.t_max, cosine.eta_min) == (7, 0.5)
    assert schedules.get(config.MultiStepLR()).milestones == [50, 100]
    assert isinstance(schedules.get(config.ConstantLR()), schedules.Constant)
    assert schedules.get(cosine) is cosine
    assert repr(schedules.get({"name": "step", "step_size": 3})) == "Step(step_size=3, gamma=0.1)"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("linear", "unknown schedule 'linear'; valid: constant, step, multistep, exponential, cosine"),
        (None, "must be a name, a dict"),
        ({"name": "constant", "gamma": 0.1}, "unknown parameter 'gamma'"),
        ({"name": "step", "step_size": 0}, "^step_size: Input should be greater than or equal to 1, got 0$"),
        ({"name": "step", "step_size": 2.5}, "^step_size: Input should be a valid integer"),
        ({"name": "step", "step_size": 10_001}, "^step_size: Input should be less than or equal to 10000"),
        ({"name": "step", "gamma": 0}, "^gamma: Input should be greater than 0, got 0$"),
        ({"name": "step", "gamma": 1.5}, "^gamma: Input should be less than or equal to 1"),
        ({"name": "multistep", "milestones": 5}, "^milestones: Input should be a valid list, got 5$"),
        ({"name": "multistep", "milestones": [3, 0]}, "^milestones.1: Input should be greater"),
        ({"name": "multistep", "milestones": ["3"]}, "^milestones.0: Input should be a valid integer"),
        ({"name": "multistep", "milestones": [5, 3]}, "^milestones: milestones must be strictly increasing"),
        ({"name": "multistep", "milestones": []}, "^milestones: List should have at least 1 item"),
        ({"name": "exponential", "gamma": -1}, "^gamma: "),
        ({"name": "cosine", "t_max": 0}, "^t_max: "),
        ({"name": "cosine", "eta_min": -0.1}, "^eta_min: "),
    ],
)
def test_bad_specs_raise_value_errors_naming_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        schedules.get(spec)


def test_cosine_is_symmetric_around_t_max():
    cosine = schedules.get({"name": "cosine", "t_max": 50})
    assert all(math.isclose(cosine.lr_at(50 - k, 1.0), cosine.lr_at(50 + k, 1.0)) for k in range(50))
