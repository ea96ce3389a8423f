"""Heavy telemetry in the worker: the record's declared heavy fields never ride in the scalars."""

from __future__ import annotations

import json

import pytest

from engine.config import RunConfig
from engine.trainer import EpochRecord
from server.executor import Job
from tests.server.test_pool import run

pytestmark = pytest.mark.timeout(120)

CONV = {
    "data": {"dataset": "digits", "n_samples": 100},
    "model": {"layers": [{"type": "conv2d", "filters": 2, "activation": "relu"}, {"type": "maxpool2d"}]},
    "training": {"epochs": 2, "batch_size": 50},
    "telemetry": {"every": 1},
}


def conv_job(run_id: str, **config) -> Job:
    return Job(run_id, RunConfig.model_validate({**CONV, **config}).model_dump(mode="json"))


def test_a_conv_runs_scalar_messages_carry_no_heavy_field():
    async def scenario(executor, events):
        executor.submit(conv_job("conv"))
        return await events.until("conv", "done")

    epochs = [event.data for event in run(scenario) if event.kind == "epoch"]
    assert len(epochs) == 2
    for data in epochs:
        assert not EpochRecord.HEAVY_FIELDS & data["scalars"].keys()
        assert json.loads(data["scalars_json"]) == data["scalars"]
        assert json.loads(data["record_json"])["feature_maps"]["layers"]
