"""Every registered optimizer and schedule, at its schema's defaults, against its declared torch equivalent.

Nothing here names a component: one added to its registry is compared with PyTorch without a test edit.
"""

import pytest

from engine import optimizers, schedules
from tests.engine.test_optimizers_torch import assert_steps_as_torch
from tests.engine.test_schedules import assert_follows_torch

torch = pytest.importorskip("torch")


def _schema_defaults(entry) -> dict:
    return entry.Config().model_dump()


@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_every_optimizer_at_its_schema_defaults_steps_as_its_torch_equivalent(name):
    assert_steps_as_torch(optimizers.get(_schema_defaults(optimizers.OPTIMIZERS[name])), 40)


@pytest.mark.parametrize("name", list(schedules.SCHEDULES))
def test_every_schedule_at_its_schema_defaults_follows_its_torch_equivalent(name):
    assert_follows_torch(schedules.get(_schema_defaults(schedules.SCHEDULES[name])))
