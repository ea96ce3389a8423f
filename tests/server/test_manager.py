"""RunManager: a paused run nobody watches or controls gives its worker back."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.conftest import make_settings, small_config, wait_status


def test_a_forgotten_paused_run_is_stopped_and_a_watched_one_is_not(tmp_path):
    app = create_app(make_settings(tmp_path, paused_timeout_seconds=0.5))
    with TestClient(app) as client:
        forgotten = client.post("/api/runs", json=small_config(epochs=100, paused=True)).json()["id"]
        watched = client.post("/api/runs", json=small_config(epochs=100, paused=True)).json()["id"]
        with client.websocket_connect(f"/api/runs/{watched}/stream") as websocket:
            assert websocket.receive_json()["type"] == "history"
            wait_status(client, watched, "paused")
            stopped = wait_status(client, forgotten, "stopped", timeout=20)
            assert stopped["message"] == "paused with no subscriber and no control for 0.5 s"
            time.sleep(1.0)
            assert client.get(f"/api/runs/{watched}").json()["status"] == "paused"
            client.post(f"/api/runs/{watched}/control", json={"action": "stop"})
        assert wait_status(client, watched, "stopped")["message"] == "stopped by the user"
