"""REST lab: explorers, experiments and the loss landscape of a real run."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.conftest import make_settings, small_config, wait_for, wait_status

pytestmark = pytest.mark.timeout(120)
RACERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def test_index_lists_groups_surfaces_and_presets(client):
    index = client.get("/api/lab").json()
    assert "hard vs smooth" in index["activation_groups"] and "maxout" in index["activations"]
    surfaces = {"quadratic", "rosenbrock", "saddle", "himmelblau", "beale", "two_valleys"}
    assert set(index["surfaces"]) == surfaces
    assert index["surfaces"]["rosenbrock"]["minima"] == [[1.0, 1.0]]
    assert list(index["surfaces"]["beale"]["racers"]) == RACERS
    assert "xavier" in index["init_presets"]
    assert "x/6" in index["notes_vs_torch"]["hard_logistic"] and "hard_logistic" in index["activations"]


def test_activations_with_parameters(client):
    spec = json.dumps({"name": "leaky_relu", "negative_slope": 0.2})
    response = client.get("/api/lab/activations", params={"spec": ["relu", spec], "n": 101})
    assert response.status_code == 200
    relu, leaky = response.json()["curves"]
    assert len(response.json()["x"]) == len(relu["y"]) == len(relu["dy"]) == 101
    assert relu["zero_gradient"] == [[-6.0, 0.0]]
    assert leaky["dy"][0] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"spec": "nope"}, ["query", "spec"]),
        ({"spec": '{"name": "elu", "alpha": -1}'}, ["query", "spec"]),
        ({"spec": "{broken"}, ["query", "spec"]),
        ({"n": 5}, ["query", "n"]),
        ({"x_min": 2, "x_max": 1}, ["query", "x_max"]),
    ],
)
def test_bad_activation_queries_name_the_field(client, params, field):
    response = client.get("/api/lab/activations", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == field


def test_race_runs_the_default_racers_and_returns_the_contour(client):
    response = client.post("/api/lab/race", json={"surface": "quadratic", "steps": 20, "grid": 11})
    assert response.status_code == 200
    race = response.json()
    assert [run["label"] for run in race["runs"]] == RACERS
    assert all(len(run["x"]) == 21 for run in race["runs"]) and race["start"] == [-7.0, 2.0]
    assert np.array(race["grid"]["z"]).shape == (11, 11)


def test_race_with_chosen_optimizers_start_and_schedule(client):
    body = {
        "surface": "rosenbrock",
        "optimizers": {"fast sgd": {"name": "sgd", "lr": 0.001}},
        "steps": 4,
        "start": [0.0, 0.0],
        "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
    }
    run = client.post("/api/lab/race", json=body).json()["runs"][0]
    assert run["label"] == "fast sgd" and run["lr"] == pytest.approx([0.001, 0.001, 0.0005, 0.0005])
    assert run["x"][1] == pytest.approx(0.002) and run["y"][1] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"surface": "moon"}, ["body", "surface"]),
        ({"steps": 0}, ["body", "steps"]),
        ({"optimizers": {"a": {"name": "adam", "lr": 100}}}, ["body", "optimizers", "a", "adam", "lr"]),
        ({"start": [1e9, 0]}, ["body", "start", 0]),
        ({"schedule": {"name": "step", "gamma": 2}}, ["body", "schedule", "step", "gamma"]),
    ],
)
def test_bad_races_name_the_field(client, body, field):
    response = client.post("/api/lab/race", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == field


def test_init_explorer(client):
    response = client.post(
        "/api/lab/init",
        json={
            "activation": "tanh",
            "initializer": "N(0, 1)",
            "width": 32,
            "depth": 4,
            "batch": 64,
            "bins": 10,
        },
    )
    assert response.status_code == 200
    result = response.json()
    assert len(result["layers"]) == 4 and len(result["edges"]) == 11
    assert all(layer["saturated_fraction"] > 0.5 for layer in result["layers"])
    body = {"initializer": {"name": "zeros"}, "width": 16, "depth": 2}
    zeros = client.post("/api/lab/init", json=body).json()
    assert all(layer["distinct_units"] == 1 for layer in zeros["layers"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"activation": "nope"}, ["body", "activation"]),
        ({"initializer": {"name": "normal", "std": -1}}, ["body", "initializer"]),
        ({"depth": 50}, ["body", "depth"]),
        ({"width": 4096}, ["body", "width"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
def test_bad_init_requests_name_the_field(client, body, field):
    response = client.post("/api/lab/init", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == field


def test_experiments_list_loads_as_runs(client):
    listed = client.get("/api/lab/experiments").json()
    names = [e["name"] for e in listed]
    assert "vanishing_gradients" in names and "overfitting" in names
    xor = next(e for e in listed if e["name"] == "xor")
    assert xor["claim"] and len(xor["configs"]) == 4 and xor["notes_vs_torch"] == []
    adagrad = next(e for e in listed if e["name"] == "adagrad_vs_rmsprop")
    assert "1e-10" in adagrad["notes_vs_torch"][0]
    config = {**xor["configs"]["hidden layer, tanh"], "training": {"epochs": 2, "batch_size": 10}}
    response = client.post("/api/runs", json=config)
    assert response.status_code == 201, response.text
    wait_status(client, response.json()["id"], "completed")


def test_run_an_experiment_and_get_its_verdict(client):
    response = client.post("/api/lab/experiments/step_cannot_learn/run", json={})
    assert response.status_code == 200
    result = response.json()
    assert result["verdict"]["passed"], result["verdict"]["summary"]
    assert set(result["runs"]) == {"step", "sigmoid"}
    series = result["runs"]["step"]["series"]
    assert series["epoch"] == list(range(1, 61)) and len(series["test_metric"]) == 60
    short = client.post("/api/lab/experiments/xor/run", json={"epochs": 2}).json()
    assert all(len(run["series"]["epoch"]) == 2 for run in short["runs"].values())
    assert client.post("/api/lab/experiments/nope/run", json={}).status_code == 404
    assert client.post("/api/lab/experiments/xor/run", json={"epochs": 0}).status_code == 422
    seeded = client.post("/api/lab/experiments/xor/run", json={"epochs": 2, "seed": 7}).json()
    feature = "x1x2 feature"
    assert seeded["seed"] == 7 and seeded["runs"][feature]["series"] != short["runs"][feature]["series"]


def test_landscape_of_a_finished_run_with_its_path(client):
    run = client.post("/api/runs", json=small_config(epochs=6)).json()
    wait_status(client, run["id"], "completed")
    response = client.post("/api/lab/landscape", json={"run_id": run["id"], "n": 7, "span": 0.5})
    assert response.status_code == 200, response.text
    result = response.json()
    z = np.array(result["z"], dtype=float)
    assert z.shape == (7, 7) and z[3, 3] == pytest.approx(result["center"])
    assert result["center"] == pytest.approx(run_loss(client, run["id"]), rel=1e-4)
    assert result["epochs"] == list(range(1, 7)) and len(result["path"]["x"]) == 6
    assert result["path"]["loss"][-1] == pytest.approx(result["center"], rel=1e-5)
    assert result["basis"] == "pca" and result["path"]["captured"] > 0.9
    assert len(result["path"]["plane_loss"]) == len(result["path"]["off_plane"]) == 6
    body = {"run_id": run["id"], "n": 5, "basis": "random"}
    random = client.post("/api/lab/landscape", json=body).json()
    assert random["basis"] == "random" and random["path"]["captured"] < result["path"]["captured"]
    body = {"run_id": run["id"], "directions": 1, "n": 5, "path": False}
    line = client.post("/api/lab/landscape", json=body)
    assert line.status_code == 200 and line.json()["y"] is None and "path" not in line.json()
    assert line.json()["basis"] == "random"
    pca_without_path = client.post("/api/lab/landscape", json={**body, "basis": "pca"})
    assert pca_without_path.status_code == 422
    assert pca_without_path.json()["detail"][0]["loc"] == ["body", "basis"]


def run_loss(client, run_id):
    return client.get(f"/api/runs/{run_id}/epochs").json()[-1]["train_loss"]


def test_landscape_errors(client):
    assert client.post("/api/lab/landscape", json={"run_id": "nope"}).status_code == 404
    response = client.post("/api/lab/landscape", json={"run_id": "x", "n": 500})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "n"]


def test_lab_computations_past_the_queue_get_429(tmp_path):
    app = create_app(make_settings(tmp_path, lab_concurrency=1, lab_queue=0))
    init = {"depth": 2, "width": 8, "batch": 8}
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.post, "/api/lab/experiments/overfitting/run", json={"epochs": 500})
        wait_for(lambda: app.state.lab_limiter.statistics().borrowed_tokens == 1)
        busy = client.post("/api/lab/init", json=init)
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
        assert "NNPLAY_LAB_QUEUE" in busy.json()["detail"]
        assert slow.result().status_code == 200
        assert client.post("/api/lab/init", json=init).status_code == 200
