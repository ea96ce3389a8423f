"""The app served by a real uvicorn process: live stream, static files, restart, token, limits, deadlines."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from tests.server.conftest import epoch_records, small_config, wait_status

pytestmark = pytest.mark.timeout(180)


def receive_until(websocket, kind, timeout=30):
    messages = []
    while True:
        message = json.loads(websocket.recv(timeout=timeout))
        messages.append(message)
        if message["type"] == kind:
            return messages


def test_create_stream_complete_over_the_network(live_server, tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!DOCTYPE html><title>nnplay</title>")
    server = live_server(env={"NNPLAY_WEB_DIR": str(web)})
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert "<title>nnplay</title>" in client.get("/").text
        plotly = client.get("/vendor/plotly.min.js")
        assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript")
        run = client.post("/api/runs", json=small_config(epochs=8, paused=True)).json()
        with (
            ws_client.connect(f"{server.ws_url}/api/runs/{run['id']}/stream") as first,
            ws_client.connect(f"{server.ws_url}/api/runs/{run['id']}/stream") as second,
        ):
            assert json.loads(first.recv(timeout=10))["type"] == "history"
            assert json.loads(second.recv(timeout=10))["type"] == "history"
            first.send(json.dumps({"type": "control", "action": "resume"}))
            got = [receive_until(socket, "done") for socket in (first, second)]
        for messages in got:
            assert [record["epoch"] for record in epoch_records(messages)] == list(range(1, 9))
            assert messages[-1]["status"] == "completed"


def test_restart_keeps_history_and_marks_runs_in_flight_interrupted(live_server, tmp_path):
    first = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=first.url, timeout=10) as client:
        done = client.post("/api/runs", json=small_config(epochs=5, name="kept")).json()["id"]
        wait_status(client, done, "completed")
        weights = client.get(f"/api/runs/{done}/model").json()["state_dict"]
        paused = client.post("/api/runs", json=small_config(epochs=50, paused=True)).json()["id"]
        wait_status(client, paused, "paused")
    first.stop(kill=True)
    second = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=second.url, timeout=10) as client:
        kept = client.get(f"/api/runs/{done}").json()
        assert kept["status"] == "completed" and kept["epochs"] == 5 and kept["name"] == "kept"
        assert len(client.get(f"/api/runs/{done}/epochs", params={"full": 1}).json()) == 5
        assert client.get(f"/api/runs/{done}/model").json()["state_dict"] == weights
        interrupted = client.get(f"/api/runs/{paused}").json()
        assert interrupted["status"] == "interrupted" and "in flight" in interrupted["message"]
        in_flight = client.post("/api/runs", json=small_config(epochs=1000, paused=True)).json()["id"]
        wait_status(client, in_flight, "paused")
    with ws_client.connect(f"{second.ws_url}/api/runs/{done}/stream") as websocket:
        history, finished = receive_until(websocket, "done")
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3, 4, 5] and history["latest"]["layers"]
    assert finished["status"] == "completed"
    second.stop()
    third = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=third.url, timeout=10) as client:
        assert client.get(f"/api/runs/{in_flight}").json()["status"] == "interrupted"
        assert client.get("/api/runs").json()["count"] == 3


def test_token_is_required_when_set(live_server):
    server = live_server(env={"NNPLAY_TOKEN": "s3cret"})
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/runs").status_code == 401
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        run = client.post("/api/runs", json=small_config(epochs=2), headers=auth).json()
        wait_status(httpx.Client(base_url=server.url, headers=auth), run["id"], "completed")
    with pytest.raises(InvalidStatus), ws_client.connect(f"{server.ws_url}/api/runs/{run['id']}/stream"):
        pass
    with ws_client.connect(
        f"{server.ws_url}/api/runs/{run['id']}/stream", subprotocols=["nnplay", "token.s3cret"]
    ) as websocket:
        assert websocket.subprotocol == "nnplay"
        assert receive_until(websocket, "done")[-1]["status"] == "completed"
    with ws_client.connect(
        f"{server.ws_url}/api/runs/{run['id']}/stream", additional_headers={"Authorization": "Bearer s3cret"}
    ) as websocket:
        assert json.loads(websocket.recv(timeout=10))["type"] == "history"


def test_limits_deadline_and_orphan_policy(live_server):
    server = live_server(
        env={
            "NNPLAY_RUN_DEADLINE_SECONDS": "1.5",
            "NNPLAY_ORPHAN_POLICY": "stop",
            "NNPLAY_MAX_REQUEST_BYTES": "100000",
        }
    )
    with httpx.Client(base_url=server.url, timeout=10) as client:

        def chunks():
            for _ in range(30):
                yield b" " * 10_000

        streamed = client.post("/api/runs", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/api/health").status_code == 200
        long_run = client.post("/api/runs", json=small_config(epochs=10_000)).json()["id"]
        stopped = wait_status(client, long_run, "stopped")
        assert stopped["message"] == "the run reached its deadline of 1.5 s"
        watched = client.post("/api/runs", json=small_config(epochs=10_000, paused=True)).json()["id"]
        with ws_client.connect(f"{server.ws_url}/api/runs/{watched}/stream") as websocket:
            websocket.recv(timeout=10)
        left = wait_status(client, watched, "stopped")
        assert left["message"] == "its last subscriber left"
