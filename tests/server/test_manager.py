"""RunManager: forgotten paused runs give back their worker; controls are rate-limited; bounded queue."""

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


def test_controls_beyond_the_rate_limit_get_a_429_with_retry_after_and_stop_still_works(tmp_path):
    app = create_app(make_settings(tmp_path, max_controls_per_second=2))
    with TestClient(app) as client:
        run_id = client.post("/api/runs", json=small_config(epochs=100, paused=True)).json()["id"]
        other = client.post("/api/runs", json=small_config(epochs=100, paused=True)).json()["id"]
        answers = [
            client.post(f"/api/runs/{run_id}/control", json={"action": "set", "lr": 0.1}) for _ in range(6)
        ]
        assert [answer.status_code for answer in answers[:4]] == [200] * 4
        limited = answers[-1]
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert "NNPLAY_MAX_CONTROLS_PER_SECOND" in limited.json()["detail"]
        assert client.post(f"/api/runs/{other}/control", json={"action": "pause"}).status_code == 200
        time.sleep(0.6)
        assert client.post(f"/api/runs/{run_id}/control", json={"action": "pause"}).status_code == 200
        for run in (run_id, other):
            assert client.post(f"/api/runs/{run}/control", json={"action": "stop"}).status_code == 200
            assert wait_status(client, run, "stopped")["message"] == "stopped by the user"


def test_max_queued_admits_that_many_waiting_runs_beyond_the_running_ones(tmp_path):
    app = create_app(make_settings(tmp_path, max_queued=1).model_copy(update={"max_runs": 1}))
    with TestClient(app) as client:
        running = client.post("/api/runs", json=small_config(epochs=1000, paused=True)).json()["id"]
        wait_status(client, running, "paused")
        waiting = client.post("/api/runs", json=small_config(epochs=2))
        assert waiting.status_code == 201 and waiting.json()["status"] == "queued"
        refused = client.post("/api/runs", json=small_config(epochs=2))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "1 runs are already waiting" in refused.json()["detail"]
        assert "NNPLAY_MAX_QUEUED" in refused.json()["detail"]
        client.post(f"/api/runs/{running}/control", json={"action": "stop"})
        wait_status(client, waiting.json()["id"], "completed")
        again = client.post("/api/runs", json=small_config(epochs=2))
        assert again.status_code == 201
        wait_status(client, again.json()["id"], "completed")
