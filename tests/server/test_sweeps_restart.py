"""Sweeps kept in the store: listed after a restart, and carried on after the server is killed mid-sweep."""

from __future__ import annotations

import contextlib
import sqlite3

import httpx
import pytest

from tests.server.conftest import small_config, wait_for
from tests.server.test_recovery import (
    EVERY_EPOCH,
    assert_same_weights,
    config,
    stored_checkpoint,
    uninterrupted,
)
from tests.server.test_recovery import weights as run_weights

pytestmark = pytest.mark.timeout(300)


def table(client: httpx.Client, sweep_id: str) -> dict:
    response = client.get(f"/api/sweeps/{sweep_id}")
    assert response.status_code == 200, response.text
    return response.json()


def ended(client: httpx.Client, sweep_id: str, timeout: float = 180) -> dict:
    return wait_for(lambda: (t := table(client, sweep_id))["status"] != "running" and t, timeout, 0.2)


def test_sweeps_are_listed_and_read_after_a_restart(live_server, tmp_path):
    body = {"base": small_config(epochs=3), "axes": [{"path": "optimizer.lr", "values": [0.01, 0.3]}]}
    first = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=first.url, timeout=30) as client:
        done = client.post("/api/sweeps", json={**body, "name": "lr"}).json()["id"]
        before = ended(client, done)
        running = client.post("/api/sweeps", json=body | {"base": small_config(epochs=10_000)}).json()["id"]
        wait_for(lambda: table(client, running)["runs"][0]["status"] == "running")
        listed = client.get("/api/sweeps").json()
        assert [s["id"] for s in listed] == [running, done]
        assert "runs" not in listed[0] and listed[1]["counts"] == {"completed": 2}
        assert listed[1]["name"] == "lr" and listed[1]["finished"] == listed[1]["total"] == 2
    first.stop()
    second = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=second.url, timeout=30) as client:
        listed = {s["id"]: s for s in client.get("/api/sweeps").json()}
        assert set(listed) == {done, running}
        assert listed[done]["status"] == "completed" and listed[done]["counts"] == {"completed": 2}
        assert listed[done]["created_at"] == before["created_at"]
        after = table(client, done)
        assert after["runs"] == before["runs"] and after["axes"] == before["axes"]
        assert client.get(f"/api/sweeps/{done}/csv").text.count("\n") == 3
        assert client.delete(f"/api/sweeps/{running}").status_code == 204
    second.stop()
    third = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=third.url, timeout=30) as client:
        assert [s["id"] for s in client.get("/api/sweeps").json()] == [done]
        assert client.get(f"/api/sweeps/{running}").status_code == 404


def test_a_sweep_in_flight_when_the_server_is_killed_carries_on_after_the_restart(live_server, tmp_path):
    axes = [{"path": "seed", "values": [1, 2, 3, 4]}]
    body = {"base": config(300), "axes": axes, "budget": 4, "concurrency": 2}
    first = live_server(env=EVERY_EPOCH, data_dir=tmp_path / "data")
    with httpx.Client(base_url=first.url, timeout=30) as client:
        sweep_id = client.post("/api/sweeps", json=body).json()["id"]
        in_flight = wait_for(
            lambda: len(r := [r for r in table(client, sweep_id)["runs"] if r["run_id"]]) == 2 and r
        )
        first_run = in_flight[0]["run_id"]
        wait_for(lambda: client.get(f"/api/runs/{first_run}").json()["epochs"] >= 30)
        wait_for(lambda: stored_checkpoint(tmp_path / "data", first_run))
        assert table(client, sweep_id)["runs"][3]["status"] == "pending"
    first.stop(kill=True)
    second = live_server(env=EVERY_EPOCH, data_dir=tmp_path / "data")
    with httpx.Client(base_url=second.url, timeout=30) as client:
        resumed = client.get(f"/api/runs/{first_run}").json()
        assert resumed["status"] == "completed" or "server restarted" in resumed["message"]
        assert client.get("/api/sweeps").json()[0]["status"] == "running"
        final = ended(client, sweep_id)
        assert final["status"] == "completed" and final["counts"] == {"completed": 4}
        assert [row["params"]["seed"] for row in final["runs"]] == [1, 2, 3, 4]
        assert all(row["status"] == "completed" and row["epochs"] == 300 for row in final["runs"])
        run_ids = {row["run_id"] for row in final["runs"]}
        assert {run["id"] for run in client.get("/api/runs").json()["data"]} == run_ids
        expected, _ = uninterrupted({**config(300), "seed": 1})
        assert_same_weights(run_weights(client, first_run), expected)


def test_a_stored_sweep_that_no_longer_validates_is_skipped_at_start(live_server, tmp_path):
    live_server(data_dir=tmp_path / "data").stop()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "nnplay.sqlite3")) as db, db:
        row = ("old", "running", 0, '{"axes": []}')
        db.execute("INSERT INTO sweeps (id, status, created_at, spec) VALUES (?, ?, ?, ?)", row)
    server = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/api/sweeps").json() == []
        assert client.get("/api/sweeps/old").status_code == 404
