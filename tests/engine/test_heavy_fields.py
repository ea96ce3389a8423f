"""A heavy field is declared once, in engine.recorder.HEAVY_FIELDS; the record and the plan derive from it.

WEIGHT_NORMS is declared by this test alone (the server and browser tests use it too): each weighted
layer's L2 weight norm, switched by `telemetry.weights`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import Trainer, plan
from engine import telemetry as tm
from engine.config import TelemetryConfig
from engine.recorder import HEAVY_FIELDS, HeavyField, Recorder, Snapshot
from engine.trainer import EpochRecord


def weight_norms(recorder: Recorder, snapshot: Snapshot) -> dict:
    layers = [(index, layer) for index, layer in enumerate(recorder.model.layers) if "weight" in layer.params]
    norms = [np.linalg.norm(layer.params["weight"].astype(np.float64)) for _, layer in layers]
    return {"layer": [index for index, _ in layers], "norm": tm.encode(norms, lists=True)}


def weight_norms_size(telemetry, planned, data) -> int:
    return sum("weight" in layer.parameters for layer in planned.layers) * tm.ENCODED_VALUE


WEIGHT_NORMS = HeavyField(weight_norms, weight_norms_size, "weights")

CONFIG = {
    "data": {"dataset": "circle", "n_samples": 80},
    "model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]},
    "training": {"epochs": 4, "batch_size": "full"},
    "telemetry": {"every": 3, "bins": 5, "probe_size": 8, "grid_size": 10, "neuron_grid_size": 5},
}


def register() -> None:
    """Declare WEIGHT_NORMS (a worker process's sitecustomize calls this in the server test)."""
    HEAVY_FIELDS["weight_norms"] = WEIGHT_NORMS


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(HEAVY_FIELDS, "weight_norms", WEIGHT_NORMS)


def test_a_field_declared_here_is_in_the_heavy_records_only(registered):
    trainer = Trainer(CONFIG)
    records = list(trainer.epochs())
    assert [record.heavy for record in records] == [True, False, True, True]
    assert records[1].weight_norms is None and "weight_norms" not in records[1].scalars()
    last = records[-1]
    weights = [layer.params["weight"] for layer in trainer.model.layers if "weight" in layer.params]
    assert last.weight_norms["layer"] == [0, 2]
    np.testing.assert_allclose(
        tm.decode(last.weight_norms["norm"]), [np.linalg.norm(w) for w in weights], rtol=1e-6
    )
    assert "weight_norms" in EpochRecord.HEAVY_FIELDS
    assert "weight_norms" not in last.scalars() and "weight_norms" in json.loads(last.model_dump_json())
    trainer.request_heavy()
    assert trainer.heavy_record().weight_norms == last.weight_norms


def test_its_switch_turns_it_off_and_light_records_carry_it_as_none(registered):
    records = list(Trainer({**CONFIG, "telemetry": {**CONFIG["telemetry"], "weights": False}}).epochs())
    assert all(record.weight_norms is None for record in records)
    assert records[0].heavy and records[0].layers


def test_the_plans_memory_estimate_counts_its_declared_size(monkeypatch):
    without = plan(CONFIG).memory["parts"]["telemetry"]
    monkeypatch.setitem(HEAVY_FIELDS, "weight_norms", WEIGHT_NORMS)
    assert plan(CONFIG).memory["parts"]["telemetry"] == without + 2 * tm.ENCODED_VALUE
    off = {**CONFIG, "telemetry": {**CONFIG["telemetry"], "weights": False}}
    monkeypatch.delitem(HEAVY_FIELDS, "weight_norms")
    off_without = plan(off).memory["parts"]["telemetry"]
    monkeypatch.setitem(HEAVY_FIELDS, "weight_norms", WEIGHT_NORMS)
    assert plan(off).memory["parts"]["telemetry"] == off_without


def test_an_undeclared_field_is_not_recorded():
    record = next(Trainer(CONFIG).epochs())
    assert "weight_norms" not in EpochRecord.HEAVY_FIELDS
    assert "weight_norms" not in record.model_dump()


def test_every_declared_switch_is_a_telemetry_flag():
    flags = {name for name, info in TelemetryConfig.model_fields.items() if info.annotation is bool}
    switches = {field.switch for field in HEAVY_FIELDS.values()} - {None}
    assert switches <= flags
    assert flags - switches == {"histograms", "activations"}
    assert set(EpochRecord.HEAVY_FIELDS) == set(HEAVY_FIELDS)


def test_a_stored_record_validates_with_every_heavy_field(registered):
    record = EpochRecord.model_validate(next(Trainer(CONFIG).epochs()).scalars())
    assert record.layers is None and record.weight_norms is None
