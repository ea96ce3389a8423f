"""Checkpoints on a real server: a killed worker or server resumes its runs bit for bit; runs continue."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import websockets.sync.client as ws_client

from engine import Trainer
from tests.server.conftest import epoch_records, merge, wait_for, wait_status

EVERY_EPOCH = {"NNPLAY_CHECKPOINT_SECONDS": "0"}


def config(epochs: int) -> dict:
    """Shuffled mini-batches, dropout, batchnorm and Adam: a resume that misses any state shows."""
    return {
        "data": {"dataset": "circle", "n_samples": 100},
        "model": {
            "layers": [
                {"type": "dense", "units": 8},
                {"type": "batchnorm"},
                {"type": "activation", "name": "relu"},
                {"type": "dropout", "p": 0.2},
                {"type": "dense", "units": 4, "activation": "tanh"},
            ]
        },
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": epochs, "batch_size": 20},
        "telemetry": {"every": 100, "bins": 5, "probe_size": 8, "grid_size": 10, "neuron_grid_size": 4},
    }


def uninterrupted(cfg: dict) -> tuple[dict[str, np.ndarray], list]:
    trainer = Trainer(cfg)
    records = list(trainer.epochs())
    return trainer.model.state_dict(), records


def weights(client: httpx.Client, run_id: str) -> dict[str, np.ndarray]:
    response = client.get(f"/api/runs/{run_id}/model", params={"format": "npz"})
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as npz:
        return {key: npz[key] for key in npz.files}


def assert_same_weights(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key in expected:
        assert np.array_equal(got[key], expected[key]), key


def assert_same_epochs(client: httpx.Client, run_id: str, records: list) -> None:
    stored = client.get(f"/api/runs/{run_id}/epochs").json()
    assert [e["epoch"] for e in stored] == [r.epoch for r in records]
    assert [e["train_loss"] for e in stored] == [r.train_loss for r in records]
    assert [e["test_loss"] for e in stored] == [r.test_loss for r in records]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def worker_pids(server) -> list[int]:
    pids = children(server.process.pid)
    return [pid for pid in pids if b"server.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def receive_until_done(websocket) -> list[dict]:
    messages = []
    while not messages or messages[-1]["type"] != "done":
        message = websocket.recv(timeout=60)
        if isinstance(message, str):
            messages.append(json.loads(message))
    return messages


def stored_checkpoint(data_dir: Path, run_id: str) -> int | None:
    """The epoch of the run's checkpoint committed to the server's database, if any."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'nnplay.sqlite3'}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT epoch FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
    return row[0] if row else None


def epochs_done(client: httpx.Client, run_id: str) -> int:
    return client.get(f"/api/runs/{run_id}").json()["epochs"]


def test_a_run_whose_worker_is_killed_resumes_from_its_checkpoint_bit_for_bit(live_server):
    cfg = config(300)
    expected, records = uninterrupted(cfg)
    server = live_server(env=EVERY_EPOCH)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=cfg).json()["id"]
        with ws_client.connect(f"{server.ws_url}/api/runs/{run_id}/stream") as websocket:
            wait_for(lambda: epochs_done(client, run_id) >= 30)
            (pid,) = worker_pids(server)
            os.kill(pid, signal.SIGKILL)
            messages = receive_until_done(websocket)
        assert messages[-1]["status"] == "completed"
        rewinds = [m for m in messages if m["type"] == "status" and m.get("rewind") is not None]
        assert len(rewinds) == 1 and "retry 1 of 2" in rewinds[0]["message"]
        rewind = rewinds[0]["rewind"]
        assert rewind >= 25
        after = [r["epoch"] for r in epoch_records(messages[messages.index(rewinds[0]) :])]
        assert after == list(range(rewind + 1, 301)) and pid not in worker_pids(server)
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)
        assert client.get(f"/api/runs/{run_id}").json()["epochs"] == 300


def test_a_worker_killed_past_the_retries_fails_the_run(live_server):
    server = live_server(env={**EVERY_EPOCH, "NNPLAY_MAX_RETRIES": "0"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=config(5000)).json()["id"]
        wait_for(lambda: epochs_done(client, run_id) >= 5)
        (pid,) = worker_pids(server)
        os.kill(pid, signal.SIGKILL)
        run = wait_status(client, run_id, "failed")
        assert "exited unexpectedly" in run["message"]


def test_a_run_in_flight_when_the_server_is_killed_resumes_on_restart(live_server, tmp_path):
    cfg = config(300)
    expected, records = uninterrupted(cfg)
    first = live_server(env=EVERY_EPOCH, data_dir=tmp_path / "data")
    with httpx.Client(base_url=first.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=cfg).json()["id"]
        wait_for(lambda: epochs_done(client, run_id) >= 30)
        wait_for(lambda: stored_checkpoint(tmp_path / "data", run_id))
    first.stop(kill=True)
    second = live_server(env=EVERY_EPOCH, data_dir=tmp_path / "data")
    with httpx.Client(base_url=second.url, timeout=30) as client:
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] in ("queued", "running") and "server restarted" in run["message"]
        wait_status(client, run_id, "completed", timeout=60)
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)


def test_a_completed_run_continues_for_more_epochs_under_the_same_id(live_server, tmp_path):
    expected, records = uninterrupted(config(60))
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=config(40)).json()["id"]
        wait_status(client, run_id, "completed")
        response = client.post(f"/api/runs/{run_id}/continue", json={"epochs": 20})
        assert response.status_code == 200, response.text
        assert response.json()["id"] == run_id
        run = wait_status(client, run_id, "completed")
        assert run["epochs"] == 60 and run["config"]["training"]["epochs"] == 60
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)
        assert len(client.get("/api/runs").json()["data"]) == 1
        assert stored_checkpoint(tmp_path / "data", run_id) == 60
        assert client.delete(f"/api/runs/{run_id}").status_code == 204
        wait_for(lambda: stored_checkpoint(tmp_path / "data", run_id) is None)


def test_continue_refuses_what_cannot_continue(live_server):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/api/runs/nope/continue", json={"epochs": 5}).status_code == 404
        running = client.post("/api/runs", json=merge(config(10_000), {"paused": True})).json()["id"]
        wait_status(client, running, "paused")
        refused = client.post(f"/api/runs/{running}/continue", json={"epochs": 5})
        assert refused.status_code == 409 and "in flight" in refused.text
        client.post(f"/api/runs/{running}/control", json={"action": "stop"})
        wait_status(client, running, "stopped")
        for body in ({"epochs": 0}, {"epochs": "5"}, {}):
            bad = client.post(f"/api/runs/{running}/continue", json=body)
            assert bad.status_code == 422 and "epochs" in json.dumps(bad.json()), body
        over = client.post(f"/api/runs/{running}/continue", json={"epochs": 10_001})
        assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["body", "epochs"], over.text


def test_an_lr_set_after_the_last_checkpoint_survives_a_killed_worker(live_server, tmp_path):
    cfg = config(40)
    trainer = Trainer(cfg)
    epochs = trainer.epochs()
    records = [next(epochs) for _ in range(5)]
    trainer.set_lr(0.05)
    records += list(epochs)
    server = live_server(env={"NNPLAY_CHECKPOINT_SECONDS": "3600"}, data_dir=tmp_path / "data")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=merge(cfg, {"paused": True})).json()["id"]
        wait_status(client, run_id, "paused")
        for _ in range(5):
            client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
        wait_for(lambda: epochs_done(client, run_id) == 5)
        set_lr = {"action": "set", "lr": 0.05}
        assert client.post(f"/api/runs/{run_id}/control", json=set_lr).status_code == 200
        wait_for(lambda: stored_checkpoint(tmp_path / "data", run_id) == 5)
        (pid,) = worker_pids(server)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: "retry 1" in (client.get(f"/api/runs/{run_id}").json()["message"] or ""))
        wait_status(client, run_id, "paused")
        client.post(f"/api/runs/{run_id}/control", json={"action": "resume"})
        wait_status(client, run_id, "completed")
        stored = client.get(f"/api/runs/{run_id}/epochs").json()
        assert [e["lr"] for e in stored] == [0.01] * 5 + [0.05] * 35
        assert_same_weights(weights(client, run_id), trainer.model.state_dict())
        assert_same_epochs(client, run_id, records)
