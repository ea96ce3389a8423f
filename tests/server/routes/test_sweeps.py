"""REST sweeps: grid and random sweeps run to the end with their table and CSV; bad axes; delete."""

from __future__ import annotations

import csv
import io

import pytest

from tests.server.conftest import small_config, wait_for, wait_status

pytestmark = pytest.mark.timeout(120)

LR = {"path": "optimizer.lr", "values": [0.01, 0.3]}
ACTIVATION = {"path": "model.layers.0.activation", "values": ["tanh", "relu"]}


def finished(client, sweep_id: str) -> dict:
    return wait_for(
        lambda: (t := client.get(f"/api/sweeps/{sweep_id}").json())["status"] != "running" and t, 90
    )


def run_count(client) -> int:
    return client.get("/api/runs").json()["count"]


def test_a_grid_sweep_runs_every_combination_and_tabulates_them(client):
    body = {"base": small_config(epochs=4), "axes": [LR, ACTIVATION], "budget": 4, "concurrency": 2}
    response = client.post("/api/sweeps", json=body)
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]
    assert response.json()["total"] == 4
    table = finished(client, sweep_id)
    assert table["status"] == "completed" and table["finished"] == 4
    combos = {
        (row["params"]["optimizer.lr"], row["params"]["model.layers.0.activation"]) for row in table["runs"]
    }
    assert combos == {(0.01, "tanh"), (0.01, "relu"), (0.3, "tanh"), (0.3, "relu")}
    for row in table["runs"]:
        assert row["status"] == "completed" and row["epochs"] == 4
        assert 0 <= row["best_test_metric"] <= 1 and 1 <= row["best_epoch"] <= 4
        assert row["final_test_loss"] is not None
        run = client.get(f"/api/runs/{row['run_id']}").json()
        assert run["config"]["optimizer"]["lr"] == row["params"]["optimizer.lr"]
        assert run["config"]["model"]["layers"][0]["activation"] == row["params"]["model.layers.0.activation"]
    exported = client.get(f"/api/sweeps/{sweep_id}/csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 4 and {r["model.layers.0.activation"] for r in rows} == {"tanh", "relu"}
    assert {float(r["optimizer.lr"]) for r in rows} == {0.01, 0.3}
    assert all(
        float(r["best_test_metric"]) == t["best_test_metric"]
        for r, t in zip(rows, table["runs"], strict=True)
    )
    assert sweep_id in [s["id"] for s in client.get("/api/sweeps").json()]


def test_a_random_sweep_samples_its_distributions_within_the_budget(client):
    axes = [
        {"path": "optimizer.lr", "distribution": "log_uniform", "low": 0.001, "high": 0.1},
        {"path": "seed", "distribution": "int", "low": 0, "high": 1000},
        {"path": "optimizer.name", "distribution": "choice", "choices": ["sgd", "adam"]},
    ]
    body = {"base": small_config(epochs=2), "axes": axes, "mode": "random", "budget": 3, "seed": 5}
    sweep_id = client.post("/api/sweeps", json=body).json()["id"]
    table = finished(client, sweep_id)
    assert len(table["runs"]) == 3 and table["status"] == "completed"
    for row in table["runs"]:
        params = row["params"]
        assert 0.001 <= params["optimizer.lr"] <= 0.1 and isinstance(params["seed"], int)
        run = client.get(f"/api/runs/{row['run_id']}").json()
        assert (
            run["config"]["seed"] == params["seed"]
            and run["config"]["optimizer"]["name"] == params["optimizer.name"]
        )


@pytest.mark.parametrize(
    ("axes", "budget", "named", "loc"),
    [
        ([{"path": "optimizer.lrr", "values": [0.1]}], 4, "optimizer.lrr", ["body", "axes", 0, "path"]),
        (
            [ACTIVATION, {"path": "optimizer.lr", "values": [-1.0]}],
            4,
            "optimizer.lr",
            ["body", "axes", 1, "path"],
        ),
        (
            [LR, {"path": "regularization.rate", "values": [0.0, "x"]}],
            4,
            "regularization.rate",
            ["body", "axes", 1],
        ),
        ([LR, LR], 4, "repeated: optimizer.lr", ["body"]),
        (
            [{"path": "model.layers.3.units", "values": [4]}],
            4,
            "model.layers.3.units",
            ["body", "axes", 0, "path"],
        ),
        ([LR, ACTIVATION], 3, "optimizer.lr (2) x model.layers.0.activation (2)", ["body", "axes"]),
        ([{"path": "seed", "distribution": "uniform"}], 4, "seed", ["body", "axes", 0]),
    ],
)
def test_bad_axes_are_422s_naming_the_axis_before_any_run_starts(client, axes, budget, named, loc):
    before = run_count(client)
    response = client.post("/api/sweeps", json={"base": small_config(), "axes": axes, "budget": budget})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert named in detail["msg"] and detail["loc"][: len(loc)] == loc
    assert run_count(client) == before


def test_deleting_a_sweep_stops_its_runs_and_starts_no_more(client):
    body = {"base": small_config(epochs=10_000), "axes": [LR], "budget": 2, "concurrency": 1}
    sweep_id = client.post("/api/sweeps", json=body).json()["id"]
    first = wait_for(lambda: client.get(f"/api/sweeps/{sweep_id}").json()["runs"][0]["run_id"])
    wait_status(client, first, "running")
    before = run_count(client)
    assert client.delete(f"/api/sweeps/{sweep_id}").status_code == 204
    assert wait_status(client, first, "stopped")["message"] == "the sweep was deleted"
    assert client.get(f"/api/sweeps/{sweep_id}").status_code == 404
    assert client.delete(f"/api/sweeps/{sweep_id}").status_code == 404
    assert run_count(client) == before


def test_the_websocket_streams_sweep_progress_until_done(client):
    body = {"base": small_config(epochs=30), "axes": [LR], "budget": 2, "concurrency": 1}
    sweep_id = client.post("/api/sweeps", json=body).json()["id"]
    messages = []
    with client.websocket_connect(f"/api/sweeps/{sweep_id}/stream") as websocket:
        while not messages or messages[-1]["type"] != "done":
            messages.append(websocket.receive_json())
    tables = [m["sweep"] for m in messages if m["type"] == "sweep"]
    assert len(tables) >= 2 and tables[0]["finished"] < 2
    assert tables[-1]["finished"] == 2 and all(row["epochs"] == 30 for row in tables[-1]["runs"])
    assert messages[-1] == {"type": "done", "status": "completed", "finished": 2}
    with client.websocket_connect("/api/sweeps/nope/stream") as websocket:
        error = websocket.receive_json()
    assert error["type"] == "error" and "nope" in error["detail"]
