"""Heavy telemetry: declared heavy fields never ride in the scalars; pulled by viewers; on demand."""

from __future__ import annotations

import json
import time
from collections import deque

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import telemetry
from engine.config import RunConfig
from engine.trainer import EpochRecord
from server.app import create_app
from server.executor import Job
from server.pool import coalesce
from tests.server.conftest import (
    CLIENT_HEADERS,
    epoch_records,
    make_settings,
    receive_until,
    small_config,
    wait_for,
    wait_status,
)
from tests.server.routes.test_stream import create
from tests.server.test_pool import run

pytestmark = pytest.mark.timeout(120)

CONV = {
    "data": {"dataset": "digits", "n_samples": 100},
    "model": {"layers": [{"type": "conv2d", "filters": 2, "activation": "relu"}, {"type": "maxpool2d"}]},
    "training": {"epochs": 2, "batch_size": 50},
    "telemetry": {"every": 1},
}


def conv_job(run_id: str, **config) -> Job:
    return Job(run_id, RunConfig.model_validate({**CONV, **config}).model_dump(mode="json"))


def test_a_conv_runs_scalar_messages_carry_no_heavy_field():
    async def scenario(executor, events):
        executor.submit(conv_job("conv"))
        return await events.until("conv", "done")

    epochs = [event.data for event in run(scenario) if event.kind == "epoch"]
    assert len(epochs) == 2
    for data in epochs:
        assert not EpochRecord.HEAVY_FIELDS & json.loads(data["scalars_json"]).keys()
        assert json.loads(data["record_json"])["feature_maps"]["layers"]


def heavy_epochs(client, run_id):
    response = client.get(f"/api/runs/{run_id}/epochs", params={"heavy": 1, "full": 1})
    return [record["epoch"] for record in response.json()]


def unscheduled(epochs):
    """A run with no scheduled heavy records whose 15 batches an epoch outlast every window below."""
    return small_config(training={"epochs": epochs, "batch_size": 4}, telemetry={"every": 10_000})


def test_an_unwatched_run_stores_its_schedule_of_about_200_heavy_records(client):
    run_id = create(client, **small_config(epochs=1000, telemetry={"every": None}))
    wait_status(client, run_id, "completed", timeout=60)
    assert heavy_epochs(client, run_id) == [1, *range(5, 1001, 5)]


def test_a_watching_subscriber_pulls_heavy_frames_at_most_heavy_per_second(tmp_path):
    rate = 5
    app = create_app(make_settings(tmp_path, heavy_per_second=rate))
    with TestClient(app, headers=CLIENT_HEADERS) as client:
        config = unscheduled(10_000)
        config["data"]["n_samples"], config["training"]["batch_size"] = 200, 10
        run_id = create(client, **config)
        with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
            message = websocket.receive_json()
            while message["type"] not in ("epoch", "epochs"):
                message = websocket.receive_json()
            started, frames = time.monotonic(), []
            while time.monotonic() - started < 3:
                message = websocket.receive_json()
                assert message["type"] != "done"
                if message["type"] == "epoch" and message["record"].get("layers"):
                    frames.append(time.monotonic())
            client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
            receive_until(websocket, "done")
        elapsed = time.monotonic() - started
        stored = heavy_epochs(client, run_id)
    assert rate < len(frames) <= rate * 3 + 2
    assert rate < len(stored) <= rate * elapsed + 3


def heavy_frame(message):
    """Heavy records in a message (a pulled viewer's may ride in an `epochs` message)."""
    records = [message["record"]] if message["type"] == "epoch" else message.get("records", [])
    return sum("layers" in record for record in records)


def test_a_pulled_viewer_gets_one_heavy_frame_per_ready_and_its_worker_computes_no_more(client):
    run_id = create(client, paused=True, **unscheduled(10_000))
    wait_status(client, run_id, "paused")
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        assert websocket.receive_json()["type"] == "history"
        websocket.send_json({"type": "ready"})
        websocket.send_json({"type": "control", "action": "resume"})
        frames, started = 0, time.monotonic()
        while time.monotonic() - started < 1.5:
            frames += heavy_frame(websocket.receive_json())
        assert frames == 1
        for _ in range(3):
            websocket.send_json({"type": "ready"})
            while not heavy_frame(websocket.receive_json()):
                pass
        client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
        messages = receive_until(websocket, "done")
    stopped = wait_status(client, run_id, "stopped")
    assert stopped["epochs"] > 100
    assert len(heavy_epochs(client, run_id)) <= 6
    assert sum(map(heavy_frame, messages)) <= 2


def test_a_stream_opened_pulled_gets_no_heavy_frame_before_its_first_ready(client):
    config = unscheduled(10_000)
    config["telemetry"]["every"] = 1
    run_id = create(client, **config)
    with client.websocket_connect(f"/api/runs/{run_id}/stream?pull=1") as websocket:
        frames, epochs, started = 0, 0, time.monotonic()
        while time.monotonic() - started < 1.5:
            message = websocket.receive_json()
            frames += heavy_frame(message)
            epochs += len(epoch_records([message]))
        assert epochs > 20 and frames == 0
        websocket.send_json({"type": "ready"})
        while not heavy_frame(websocket.receive_json()):
            pass
        client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
        messages = receive_until(websocket, "done")
    assert sum(map(heavy_frame, messages)) <= 1


def test_a_pull_other_than_0_or_1_is_an_error_then_4400(client):
    from starlette.websockets import WebSocketDisconnect

    run_id = create(client, paused=True, **unscheduled(10))
    with client.websocket_connect(f"/api/runs/{run_id}/stream?pull=yes") as websocket:
        error = websocket.receive_json()
        assert error["type"] == "error" and "pull must be 0 or 1" in error["detail"], error
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket.receive_json()
    assert closed.value.code == 4400


def test_a_flood_of_ready_messages_grants_no_more_than_heavy_per_second(tmp_path):
    rate = 5
    app = create_app(make_settings(tmp_path, heavy_per_second=rate))
    with TestClient(app, headers=CLIENT_HEADERS) as client:
        config = unscheduled(10_000)
        config["data"]["n_samples"] = 2000
        run_id = create(client, **config)
        with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
            receive_until(websocket, "epoch", "epochs")
            started, frames = time.monotonic(), 0
            for _ in range(5000):
                websocket.send_text('{"type": "ready"}')
            flooded = time.monotonic()
            while time.monotonic() - flooded < 4:
                message = websocket.receive_json()
                assert message["type"] in ("epoch", "epochs", "status"), message
                frames += heavy_frame(message)
                websocket.send_text('{"type": "ready"}')
            elapsed = time.monotonic() - started
            asked = time.monotonic()
            websocket.send_json({"type": "ping"})
            assert receive_until(websocket, "pong")[-1] == {"type": "pong"}
            assert time.monotonic() - asked < 2
            assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
            client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
            receive_until(websocket, "done")
    assert 2 <= frames <= rate * elapsed + 2


def test_steps_pauses_and_stops_carry_heavy_telemetry(client):
    run_id = create(client, paused=True, **unscheduled(10_000))
    for _ in range(3):
        client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["epochs"] == 3)
    assert heavy_epochs(client, run_id) == [1, 2, 3]
    client.post(f"/api/runs/{run_id}/control", json={"action": "resume"})
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["epochs"] > 20)
    client.post(f"/api/runs/{run_id}/control", json={"action": "pause"})
    paused_at = wait_status(client, run_id, "paused")["epochs"]
    wait_for(lambda: heavy_epochs(client, run_id)[-1] == paused_at)
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        history = websocket.receive_json()
    assert history["latest"]["epoch"] == paused_at and history["latest"]["boundary"]
    client.post(f"/api/runs/{run_id}/control", json={"action": "resume"})
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["epochs"] > paused_at + 20)
    client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
    stopped = wait_status(client, run_id, "stopped")
    assert heavy_epochs(client, run_id)[-1] == stopped["epochs"]
    assert len(heavy_epochs(client, run_id)) == 5


def test_a_waiting_heavy_request_coalesces():
    pending = deque([("control", "a", "heavy", {}), ("control", "a", "pause", {})])
    assert coalesce(pending, ("control", "a", "heavy", {}))
    assert not coalesce(pending, ("control", "b", "heavy", {}))
    assert not coalesce(deque([("control", "a", "stop", {})]), ("control", "a", "heavy", {}))


def latest(client, run_id):
    return client.get(f"/api/runs/{run_id}/epochs/latest")


def test_the_latest_epoch_of_a_running_run_comes_with_heavy_fields_from_its_worker(client):
    run_id = create(client, **unscheduled(10_000))
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["epochs"] > 20)
    asked_at = client.get(f"/api/runs/{run_id}").json()["epochs"]
    response = latest(client, run_id)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["epoch"] >= asked_at and record["heavy"] and record["layers"] and record["boundary"]
    client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
    wait_status(client, run_id, "stopped")


def test_the_latest_epoch_of_a_paused_run_is_the_paused_epoch_in_full(client):
    run_id = create(client, **unscheduled(10_000))
    wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["epochs"] > 20)
    client.post(f"/api/runs/{run_id}/control", json={"action": "pause"})
    paused_at = wait_status(client, run_id, "paused")["epochs"]
    wait_for(lambda: latest(client, run_id).json()["epoch"] == paused_at)
    record = latest(client, run_id).json()
    assert record["heavy"] and record["boundary"] and record["layers"]
    client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})
    wait_status(client, run_id, "stopped")


def test_a_finished_run_without_a_stored_last_heavy_record_computes_it_on_its_final_weights(tmp_path):
    app = create_app(make_settings(tmp_path, max_run_storage_mb=0.001))
    with TestClient(app, headers=CLIENT_HEADERS) as client:
        run_id = create(client, **small_config(epochs=30))
        run = wait_status(client, run_id, "completed")
        assert heavy_epochs(client, run_id) == []
        response = latest(client, run_id)
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["epoch"] == 30 and record["test_loss"] == run["last"]["test_loss"]
        assert record["heavy"] and record["layers"] and record["boundary"]
        state = client.get(f"/api/runs/{run_id}/model").json()["state_dict"]
        shown = telemetry.decode(record["weights"]["0"]["weight"])
        assert np.array_equal(shown, np.asarray(state["0.weight"]["values"], dtype=np.float32))
        assert latest(client, run_id).json() == record


def test_a_finished_run_gives_its_stored_last_record(client):
    run_id = create(client, **small_config(epochs=4))
    wait_status(client, run_id, "completed")
    stored = client.get(f"/api/runs/{run_id}/epochs", params={"heavy": 1}).json()[-1]
    assert latest(client, run_id).json() == stored and stored["epoch"] == 4


def test_latest_epoch_refuses_unknown_untrained_and_diverged_runs(client):
    assert latest(client, "nope").status_code == 404
    waiting = create(client, paused=True, **small_config(epochs=10))
    wait_status(client, waiting, "paused")
    response = latest(client, waiting)
    assert response.status_code == 409 and "has not trained an epoch" in response.json()["detail"]
    client.post(f"/api/runs/{waiting}/control", json={"action": "stop"})
    wait_status(client, waiting, "stopped")
    response = latest(client, waiting)
    assert response.status_code == 409 and "without training an epoch" in response.json()["detail"]
    diverging = small_config(epochs=50, optimizer={"name": "sgd", "lr": 10}, data={"dataset": "plane"})
    diverged = create(client, **diverging)
    wait_status(client, diverged, "diverged")
    response = latest(client, diverged)
    assert response.status_code == 409 and "diverged" in response.json()["detail"]
