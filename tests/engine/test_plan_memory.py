"""engine.plan's memory estimate counts a heavy record in its compact encoding, not as nested lists."""

from __future__ import annotations

import pytest

from engine import Trainer, plan
from engine.plan import RECORD_BASELINE


@pytest.mark.parametrize("units", [8, 128])
def test_the_telemetry_estimate_is_one_to_three_times_the_records_json(units):
    dense = {"type": "dense", "units": units, "activation": "tanh"}
    config = {
        "data": {"dataset": "circle", "n_samples": 100},
        "model": {"layers": [dense, dense]},
        "training": {"epochs": 1},
        "telemetry": {"max_weights": 65536},
    }
    record = next(Trainer(config).epochs())
    assert record.heavy and record.weights and record.boundary and (units > 8 or record.neurons)
    encoded = len(record.model_dump_json())
    estimate = plan(config).memory["parts"]["telemetry"] - RECORD_BASELINE
    assert encoded <= estimate <= 3 * encoded, (estimate, encoded)
