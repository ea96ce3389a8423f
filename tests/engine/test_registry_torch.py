"""Every registered optimizer and schedule, at its schema's defaults, against its declared torch equivalent.

Nothing here names a component: one added to its registry is compared with PyTorch without a test edit.
"""

import numpy as np
import pytest

from engine import optimizers, schedules
from tests.engine.test_optimizers_torch import _grads, _problem, torch_twin
from tests.engine.test_schedules import assert_follows_torch

torch = pytest.importorskip("torch")


def _schema_defaults(entry) -> dict:
    return entry.Config().model_dump()


@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_every_optimizer_at_its_schema_defaults_steps_as_its_torch_equivalent(name):
    ours = optimizers.get(_schema_defaults(optimizers.OPTIMIZERS[name]))
    params, coefs = _problem()
    tparams = [torch.tensor(p, dtype=torch.float64) for p in params]
    theirs = torch_twin(ours, tparams)
    for step in range(40):
        ours.step(params, _grads(params, coefs))
        for t, g in zip(tparams, _grads([t.numpy() for t in tparams], coefs), strict=True):
            t.grad = torch.from_numpy(g)
        theirs.step()
        for p, t in zip(params, tparams, strict=True):
            np.testing.assert_allclose(p, t.numpy(), rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
            p[...] = t.numpy()


@pytest.mark.parametrize("name", list(schedules.SCHEDULES))
def test_every_schedule_at_its_schema_defaults_follows_its_torch_equivalent(name):
    assert_follows_torch(schedules.get(_schema_defaults(schedules.SCHEDULES[name])))
