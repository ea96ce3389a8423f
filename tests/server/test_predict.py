"""Predictions: inputs the run's dtype cannot hold are a 422 naming the row, never a 500."""

from __future__ import annotations

import pytest

from tests.server.conftest import small_config, wait_status

pytestmark = pytest.mark.timeout(60)


def _completed(client, **extra) -> str:
    run = client.post("/api/runs", json=small_config(epochs=2, **extra)).json()
    wait_status(client, run["id"], "completed")
    return run["id"]


def test_inputs_beyond_float32_are_422(client):
    run_id = _completed(client)
    response = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0.5, 1], [1e308, -1e308]]})
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "inputs", 1]
    assert detail["msg"].startswith("inputs row 1 column 0 is 1e+308, out of range for this float32 run")
    response = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[3e38, 0.0]]})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_features_that_overflow_are_422(client):
    run_id = _completed(client, dtype="float64", data={"features": ["x1", "x2", "x1^2"]})
    assert client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[1e150, 0.0]]}).status_code == 200
    response = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[1e200, 0.0]]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].startswith("features row 0 column 2 is inf, out of range")
