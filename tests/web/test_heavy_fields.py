"""The browser decodes every encoded array of a heavy record, naming no field, as it decoded each before.

The record comes from a Python Trainer with tests.engine.test_heavy_fields.WEIGHT_NORMS declared.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import Trainer
from engine import telemetry as tm
from engine.recorder import HEAVY_FIELDS
from tests.engine.test_heavy_fields import CONFIG, WEIGHT_NORMS
from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(120)

DECODE = """async (text) => {
    const { decodeRecord } = await import("/charts.js");
    const record = decodeRecord(JSON.parse(text));
    const kind = (value) =>
        value instanceof Float32Array ? "f32" : Array.isArray(value) ? "array" : typeof value;
    const stats = record.layers[0].weight;
    return {
        norms: record.weight_norms.norm,
        normsKind: kind(record.weight_norms.norm),
        layers: record.weight_norms.layer,
        kinds: {
            boundaryX: kind(record.boundary.x),
            boundaryRow: kind(record.boundary.z[0]),
            neuronRow: kind(record.neurons[0].z[0]),
            weightRow: kind(record.weights["0"].weight[0]),
            bias: kind(record.weights["0"].bias),
            counts: kind(stats.histogram.counts),
            percentiles: kind(stats.percentiles),
            mapRow: kind(record.feature_maps?.input[0][0]),
        },
        weight: record.weights["0"].weight,
        z: Array.from(record.boundary.z[3]),
        unchanged: decodeRecord({ ...record, heavy: false }).weight_norms === record.weight_norms,
    };
}"""

CONV = {
    "data": {"dataset": "digits", "n_samples": 60},
    "model": {"layers": [{"type": "conv2d", "filters": 2, "activation": "relu"}, {"type": "flatten"}]},
    "training": {"epochs": 1, "batch_size": 30},
}


def test_a_declared_field_and_every_existing_one_decode_without_being_named(page, monkeypatch):
    monkeypatch.setitem(HEAVY_FIELDS, "weight_norms", WEIGHT_NORMS)
    record = json.loads(next(Trainer(CONFIG).epochs()).model_dump_json())
    open_app(page)
    decoded = page.evaluate(DECODE, json.dumps(record))
    assert decoded["layers"] == [0, 2] and decoded["normsKind"] == "array"
    np.testing.assert_array_equal(decoded["norms"], tm.decode(record["weight_norms"]["norm"]))
    assert decoded["kinds"] == {
        "boundaryX": "f32",
        "boundaryRow": "f32",
        "neuronRow": "array",
        "weightRow": "array",
        "bias": "array",
        "counts": "f32",
        "percentiles": "f32",
        "mapRow": "undefined",
    }
    np.testing.assert_array_equal(decoded["weight"], tm.decode(record["weights"]["0"]["weight"]))
    np.testing.assert_allclose(decoded["z"], tm.decode(record["boundary"]["z"])[3], rtol=1e-6)
    assert decoded["unchanged"]


def test_feature_maps_decode_as_rows_of_typed_arrays(page):
    record = json.loads(next(Trainer(CONV).epochs()).model_dump_json())
    open_app(page)
    kinds = page.evaluate(
        """async (text) => {
            const { decodeRecord } = await import("/charts.js");
            const maps = decodeRecord(JSON.parse(text)).feature_maps;
            const row = maps.layers[0].maps[1][2];
            const [channel] = maps.input;
            return [maps.input.length, channel instanceof Array, channel[0] instanceof Float32Array,
                    row instanceof Float32Array, Array.from(row)];
        }""",
        json.dumps(record),
    )
    maps = tm.decode(record["feature_maps"]["layers"][0]["maps"])
    assert kinds[:4] == [1, True, True, True]
    np.testing.assert_array_equal(kinds[4], maps[1][2])
