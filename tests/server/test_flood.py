"""A real server under a control flood on a run with large telemetry: it keeps answering and shuts down."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client

from tests.server.conftest import wait_status

pytestmark = pytest.mark.timeout(240)

LARGE_TELEMETRY = {
    "data": {"dataset": "circle", "n_samples": 4000},
    "model": {
        "layers": [
            {"type": "dense", "units": 120, "activation": "tanh"},
            {"type": "dense", "units": 120, "activation": "tanh"},
        ]
    },
    "training": {"epochs": 1000, "batch_size": 1},
    "telemetry": {"grid_size": 200, "neuron_grid_size": 100, "max_neurons": 256},
}
SET_LR_BODY = {"action": "set", "lr": 0.01}
SET_LR = json.dumps({"type": "control", **SET_LR_BODY})
UNLIMITED = {"NNPLAY_MAX_CONTROLS_PER_SECOND": "10000"}


def start_large_run(client: httpx.Client) -> str:
    """A run whose every epoch carries megabytes of telemetry."""
    response = client.post("/api/runs", json=LARGE_TELEMETRY)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def stream(server, run_id: str) -> ws_client.ClientConnection:
    return ws_client.connect(f"{server.ws_url}/api/runs/{run_id}/stream", max_size=None)


def wait_for_an_epoch(websocket: ws_client.ClientConnection) -> None:
    while json.loads(websocket.recv(timeout=120))["type"] not in ("epoch", "epochs"):
        pass


def assert_answers_quickly(client: httpx.Client) -> None:
    for path in ("/api/health", "/api/runs"):
        started = time.monotonic()
        assert client.get(path, timeout=5).status_code == 200
        assert time.monotonic() - started < 2, path


def assert_stops(client: httpx.Client, run_id: str) -> None:
    response = client.post(f"/api/runs/{run_id}/control", json={"action": "stop"}, timeout=5)
    assert response.status_code == 200, response.text
    assert wait_status(client, run_id, "stopped", timeout=90)["message"] == "stopped by the user"


def test_a_flood_of_set_controls_on_one_socket_leaves_every_endpoint_answering(live_server):
    server = live_server(env=UNLIMITED)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run_id = start_large_run(client)
        with stream(server, run_id) as websocket:
            wait_for_an_epoch(websocket)
            for _ in range(1500):
                websocket.send(SET_LR)
            websocket.send(json.dumps({"type": "ping"}))
            assert_answers_quickly(client)
            while json.loads(websocket.recv(timeout=60))["type"] != "pong":
                pass
            assert_answers_quickly(client)
            stop = threading.Event()
            flooding = threading.Thread(target=flood, args=(websocket, stop))
            flooding.start()
            try:
                for _ in range(3):
                    time.sleep(0.5)
                    assert_answers_quickly(client)
            finally:
                stop.set()
                flooding.join(10)
            assert_stops(client, run_id)


def test_a_burst_of_rest_controls_gets_429s_with_retry_after_and_the_server_keeps_answering(live_server):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run_id = start_large_run(client)
        with stream(server, run_id) as websocket:
            wait_for_an_epoch(websocket)
        answers = []

        def burst() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as own:
                for _ in range(150):
                    answers.append(own.post(f"/api/runs/{run_id}/control", json=SET_LR_BODY))

        threads = [threading.Thread(target=burst) for _ in range(8)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        assert_answers_quickly(client)
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        assert_answers_quickly(client)
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) == {200, 429} and statuses.count(200) <= 40 + 20 * took + 1
        limited = next(answer for answer in answers if answer.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        assert "NNPLAY_MAX_CONTROLS_PER_SECOND" in limited.json()["detail"]
        assert_stops(client, run_id)


def test_sigterm_during_a_flood_ends_the_server_and_its_workers_within_seconds(live_server):
    server = live_server(env=UNLIMITED)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run_id = start_large_run(client)
    workers = children(server.process.pid)
    assert workers
    with stream(server, run_id) as websocket:
        wait_for_an_epoch(websocket)
        flooding = threading.Thread(target=flood, args=(websocket,))
        flooding.start()
        time.sleep(1.0)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        took = time.monotonic() - started
        flooding.join(30)
    assert took < 10
    time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)]


def flood(websocket: ws_client.ClientConnection, stop: threading.Event | None = None) -> None:
    """Send set controls as fast as the socket takes them, until `stop` is set or the socket closes."""
    try:
        while stop is None or not stop.is_set():
            websocket.send(SET_LR)
    except Exception:
        return


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X") and os.path.exists(f"/proc/{pid}")
