"""POST /api/lab/backprop: the graph of a config's or a run's net on one example, its errors and its queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from engine import losses
from server.app import create_app
from server.predict import load_npz
from tests.engine.test_backprop import Quartic
from tests.server.conftest import make_settings, small_config, wait_for, wait_status

pytestmark = pytest.mark.timeout(120)
CONV = {"type": "conv2d", "filters": 2}


def test_the_default_net_and_a_preset(client):
    response = client.post("/api/lab/backprop", json={})
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result["nodes"]) == 2 + 4 + 4 + 2 + 2 + 1 + 1 and result["engine_difference"] <= 1e-12
    assert result["cost"]["forward"]["passes"] == result["cost"]["parameters"] == 25
    presets = client.get("/api/lab").json()["backprop_presets"]
    config = presets["3-class spiral, 2-3-3 relu, softmax cross-entropy"]
    spiral = client.post("/api/lab/backprop", json={"config": config, "example": 5}).json()
    assert spiral["loss"]["name"] == "cross_entropy" and spiral["example"] == 5
    assert len(spiral["gradients"]["2.weight"]) == 3


def test_a_runs_latest_weights(client):
    run = client.post("/api/runs", json=small_config(epochs=4)).json()
    wait_status(client, run["id"], "completed")
    result = client.post("/api/lab/backprop", json={"run_id": run["id"], "example": 2}).json()
    weights = load_npz(client.get(f"/api/runs/{run['id']}/model", params={"format": "npz"}).content)[
        "0.weight"
    ]
    first = next(node for node in result["nodes"] if node["id"] == "z0.0")
    assert [term["local"] for term in first["inputs"]] == pytest.approx(weights[0].tolist(), rel=1e-6)
    assert result["engine_difference"] <= 1e-12


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"config": {"model": {"layers": [CONV]}}}, ["body", "config", "model", "layers", 0]),
        (
            {"config": {"model": {"layers": [{"type": "dense", "units": 4}, {"type": "dense", "units": 9}]}}},
            ["body", "config", "model", "layers", 1, "units"],
        ),
        (
            {"config": {"data": {"dataset": "digits", "images": False}}},
            ["body", "config", "data", "features"],
        ),
        ({"config": {"model": {"layers": [{"type": "dense", "units": 0}]}}}, ["body", "config", "model"]),
        ({"example": 5000}, ["body", "example"]),
        ({"example": -1}, ["body", "example"]),
        ({"example": 1.5}, ["body", "example"]),
        ({"config": {}, "run_id": "x"}, ["body", "run_id"]),
        ({"nope": 1}, ["body", "nope"]),
    ],
)
def test_bad_requests_name_the_field(client, body, loc):
    response = client.post("/api/lab/backprop", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][: len(loc)] == loc


def test_an_unknown_run_is_404(client):
    assert client.post("/api/lab/backprop", json={"run_id": "nope"}).status_code == 404


def test_backprop_waits_in_the_lab_queue(tmp_path):
    app = create_app(make_settings(tmp_path, lab_concurrency=1, lab_queue=0))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.post, "/api/lab/experiments/overfitting/run", json={"epochs": 100})
        wait_for(lambda: app.state.lab_limiter.statistics().borrowed_tokens == 1)
        busy = client.post("/api/lab/backprop", json={})
        assert busy.status_code == 429 and "NNPLAY_LAB_QUEUE" in busy.json()["detail"]
        assert slow.result().status_code == 200
        assert client.post("/api/lab/backprop", json={}).status_code == 200


def test_a_registered_loss_without_a_formula_is_422_naming_the_loss(client, monkeypatch):
    monkeypatch.setitem(losses.LOSSES, "quartic", Quartic)
    config = {"data": {"dataset": "plane"}, "loss": {"name": "quartic"}}
    response = client.post("/api/lab/backprop", json={"config": config})
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "config", "loss"]
    assert "loss 'quartic' has no formula in backprop; it steps mse, mae," in problem["msg"]
