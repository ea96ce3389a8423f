"""A real `dask scheduler` and two `dask worker`s on loopback: runs, controls and a killed worker's run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client
from distributed import Client

from tests.server.conftest import epoch_records, small_config, wait_for, wait_status
from tests.server.test_heavy_fields import PLUGIN, assert_norms_of_its_weights
from tests.server.test_recovery import (
    assert_same_epochs,
    assert_same_weights,
    children,
    config,
    epochs_done,
    receive_until_done,
    uninterrupted,
    weights,
)

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))


def spawn(arguments: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    with open(log, "w") as output:
        return subprocess.Popen([DASK, *arguments], cwd=ROOT, env=env, stdout=output, stderr=output)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    """The scheduler's address and a client of it; every process is killed at the end."""
    tmp = tmp_path_factory.mktemp("dask")
    scheduler_file = tmp / "scheduler.json"
    processes = [
        spawn(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(scheduler_file)],
            tmp / "scheduler.log",
        )
    ]
    try:
        wait_for(lambda: scheduler_file.exists() and scheduler_file.read_text().strip(), timeout=60)
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("w1", "w2"):
            worker = ["worker", address, "--name", name, "--host", "127.0.0.1", "--nthreads", "1"]
            worker += ["--resources", "CPU=1", "--no-nanny", "--no-dashboard"]
            processes.append(spawn(worker, tmp / f"{name}.log"))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            yield address, client
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(10)


def dask_env(address: str) -> dict[str, str]:
    return {"NNPLAY_EXECUTOR": "dask", "NNPLAY_DASK_SCHEDULER": address, "NNPLAY_CHECKPOINT_SECONDS": "0"}


def worker_running(client: Client, run_id: str) -> tuple[str, int] | None:
    """(address, pid) of the Dask worker processing the run's task, if any."""
    for address, keys in client.processing().items():
        if any(run_id in str(key) for key in keys):
            return address, client.run(os.getpid, workers=[address])[address]
    return None


def test_controls_reach_a_run_on_a_dask_worker(dask_cluster, live_server):
    address, _ = dask_cluster
    server = live_server(env=dask_env(address))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json={**config(1000), "paused": True}).json()["id"]
        wait_status(client, run_id, "paused", timeout=60)
        for _ in range(3):
            assert client.post(f"/api/runs/{run_id}/control", json={"action": "step"}).status_code == 200
        wait_for(lambda: epochs_done(client, run_id) == 3)
        time.sleep(0.3)
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["epochs"] == 3 and run["status"] == "paused"
        client.post(f"/api/runs/{run_id}/control", json={"action": "set", "lr": 0.5})
        client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
        wait_for(lambda: epochs_done(client, run_id) == 4)
        assert client.get(f"/api/runs/{run_id}/epochs").json()[-1]["lr"] == 0.5
        snapshot = client.get(f"/api/runs/{run_id}/model")
        assert snapshot.status_code == 200 and snapshot.json()["state_dict"]
        client.post(f"/api/runs/{run_id}/control", json={"action": "resume"})
        wait_for(lambda: epochs_done(client, run_id) >= 10)
        client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
        run = wait_status(client, run_id, "stopped")
        assert run["message"] == "stopped by the user"


def test_a_run_on_a_dask_worker_carries_a_heavy_field_of_an_nnplay_plugins_module(dask_cluster, live_server):
    address, _ = dask_cluster
    server = live_server(env={**dask_env(address), "NNPLAY_PLUGINS": PLUGIN})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=small_config(epochs=8, telemetry={"every": 4})).json()["id"]
        wait_status(client, run_id, "completed", timeout=60)
        stored = client.get(f"/api/runs/{run_id}/epochs", params={"full": 1}).json()
    heavy = [record for record in stored if record["heavy"]]
    assert [record["epoch"] for record in heavy] == [1, 4, 8]
    for record in heavy:
        assert_norms_of_its_weights(record)


def test_a_plugin_the_dask_worker_cannot_import_fails_the_run_naming_it(dask_cluster, live_server, tmp_path):
    address, _ = dask_cluster
    (tmp_path / "nnplay_server_only_plugin.py").write_text('"""Importable by the server alone."""\n')
    env = {"NNPLAY_PLUGINS": "nnplay_server_only_plugin", "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    server = live_server(env={**dask_env(address), **env})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=small_config(epochs=8)).json()["id"]
        run = wait_status(client, run_id, "failed", "completed", timeout=60)
    assert run["status"] == "failed"
    assert run["message"].startswith("the Dask worker could not run it: NNPLAY_PLUGINS: cannot import module")
    assert "'nnplay_server_only_plugin': ModuleNotFoundError" in run["message"]


def test_a_sweep_runs_through_both_dask_workers(dask_cluster, live_server):
    address, dask = dask_cluster
    server = live_server(env=dask_env(address))
    axes = [{"path": "optimizer.lr", "values": [0.001, 0.01, 0.1, 0.3]}]
    body = {"base": config(60), "axes": axes, "budget": 4, "concurrency": 2}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        sweep_id = client.post("/api/sweeps", json=body).json()["id"]
        seen: set[str] = set()

        def finished() -> dict | None:
            for keys in dask.processing().values():
                seen.update(str(key) for key in keys)
            table = client.get(f"/api/sweeps/{sweep_id}").json()
            return table if table["status"] != "running" else None

        table = wait_for(finished, timeout=120, interval=0.2)
    assert table["status"] == "completed" and [row["status"] for row in table["runs"]] == ["completed"] * 4
    assert all(row["epochs"] == 60 and row["best_test_metric"] is not None for row in table["runs"])
    assert sum(any(row["run_id"] in key for key in seen) for row in table["runs"]) >= 2


def test_a_hung_dask_worker_is_detected_by_heartbeat_and_its_run_resumes_elsewhere(dask_cluster, live_server):
    address, dask = dask_cluster
    cfg = config(300)
    expected, records = uninterrupted(cfg)
    server = live_server(env={**dask_env(address), "NNPLAY_DASK_HEARTBEAT_SECONDS": "3"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json={**cfg, "paused": True}).json()["id"]
        wait_status(client, run_id, "paused", timeout=60)
        time.sleep(7)
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "paused" and not run["message"], run
        with ws_client.connect(f"{server.ws_url}/api/runs/{run_id}/stream") as websocket:
            client.post(f"/api/runs/{run_id}/control", json={"action": "resume"})
            wait_for(lambda: epochs_done(client, run_id) >= 30, timeout=60)
            _, pid = wait_for(lambda: worker_running(dask, run_id))
            os.kill(pid, signal.SIGSTOP)
            try:
                messages = receive_until_done(websocket)
            finally:
                os.kill(pid, signal.SIGCONT)
        assert messages[-1]["status"] == "completed", messages[-1]
        (rewind,) = [m for m in messages if m["type"] == "status" and m.get("rewind") is not None]
        assert "sent nothing for 3 s" in rewind["message"] and "retry 1 of 2" in rewind["message"]
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)


def test_a_run_whose_dask_worker_is_killed_finishes_elsewhere_bit_for_bit(dask_cluster, live_server):
    address, dask = dask_cluster
    cfg = config(300)
    expected, records = uninterrupted(cfg)
    server = live_server(env=dask_env(address))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=cfg).json()["id"]
        with ws_client.connect(f"{server.ws_url}/api/runs/{run_id}/stream") as websocket:
            wait_for(lambda: epochs_done(client, run_id) >= 30, timeout=60)
            worker_address, pid = wait_for(lambda: worker_running(dask, run_id))
            os.kill(pid, signal.SIGKILL)
            messages = receive_until_done(websocket)
        assert messages[-1]["status"] == "completed", messages[-1]
        (rewind,) = [m for m in messages if m["type"] == "status" and m.get("rewind") is not None]
        assert rewind["rewind"] >= 25 and "Dask worker" in rewind["message"]
        after = [r["epoch"] for r in epoch_records(messages[messages.index(rewind) :])]
        assert after == list(range(rewind["rewind"] + 1, 301))
        assert worker_address not in dask.scheduler_info(n_workers=-1)["workers"]
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)


def test_without_a_scheduler_runs_train_on_an_in_process_local_cluster(live_server):
    cfg = config(20)
    expected, records = uninterrupted(cfg)
    server = live_server(env={"NNPLAY_EXECUTOR": "dask", "NNPLAY_MAX_RUNS": "1"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = client.post("/api/runs", json=cfg).json()["id"]
        wait_status(client, run_id, "completed", timeout=60)
        assert_same_weights(weights(client, run_id), expected)
        assert_same_epochs(client, run_id, records)
        cluster = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children(server.process.pid)]
    assert cluster and not any(b"server.worker" in command for command in cluster)
