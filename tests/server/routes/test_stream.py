"""The websocket stream: live epochs, history for late joiners, several subscribers, control messages."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.conftest import epoch_records, make_settings, receive_until, small_config, wait_status

pytestmark = pytest.mark.timeout(90)


def create(client, **config):
    response = client.post("/api/runs", json=config)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def epochs_of(messages):
    return [record["epoch"] for record in epoch_records(messages)]


def test_create_stream_complete(client):
    run_id = create(client, **small_config(epochs=6, telemetry={"every": 3}))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        messages = receive_until(websocket, "done")
    assert messages[0]["type"] == "history"
    assert messages[0]["run"]["id"] == run_id
    history = [e["epoch"] for e in messages[0]["epochs"]]
    assert history + epochs_of(messages) == [1, 2, 3, 4, 5, 6]
    assert messages[-1] == {"type": "done", "status": "completed", "message": None, "epochs": 6}
    live = epoch_records(messages)
    assert all(record["heavy"] for record in live if record["epoch"] in (1, 3, 6))
    singles = [m for m in messages if m["type"] == "epoch" and m["record"]["heavy"]]
    assert all(("layers" in m["record"]) != m.get("coalesced", False) for m in singles)
    batched = [record for m in messages if m["type"] == "epochs" for record in m["records"]]
    assert not any("layers" in record for record in batched)
    assert "layers" in live[-1] or "layers" in (messages[0]["latest"] or {})
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "completed" and run["epochs"] == 6 and run["last"]["epoch"] == 6


def test_late_joiner_gets_history_then_done(client):
    run_id = create(client, **small_config(epochs=4))
    wait_status(client, run_id, "completed")
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        history = websocket.receive_json()
        done = websocket.receive_json()
    assert history["type"] == "history"
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3, 4]
    assert "layers" not in history["epochs"][0]
    assert history["latest"]["epoch"] == 4 and history["latest"]["layers"]
    assert done["type"] == "done" and done["status"] == "completed"


def test_late_joiner_of_a_live_run_misses_nothing(client):
    run_id = create(client, paused=True, **small_config(epochs=50))
    wait_status(client, run_id, "paused")
    for _ in range(3):
        client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        history = websocket.receive_json()
        websocket.send_json({"type": "control", "action": "resume"})
        messages = receive_until(websocket, "done")
    assert [e["epoch"] for e in history["epochs"]] + epochs_of(messages) == list(range(1, 51))


def test_two_subscribers_get_every_epoch(client):
    run_id = create(client, paused=True, **small_config(epochs=30))
    wait_status(client, run_id, "paused")
    with (
        client.websocket_connect(f"/api/runs/{run_id}/stream") as first,
        client.websocket_connect(f"/api/runs/{run_id}/stream") as second,
    ):
        assert first.receive_json()["type"] == "history"
        assert second.receive_json()["type"] == "history"
        first.send_json({"type": "control", "action": "resume"})
        got_first, got_second = receive_until(first, "done"), receive_until(second, "done")
    assert epochs_of(got_first) == epochs_of(got_second) == list(range(1, 31))
    assert got_first[-1]["status"] == got_second[-1]["status"] == "completed"


def test_control_on_the_socket_pause_step_stop(client):
    run_id = create(client, paused=True, **small_config(epochs=1000))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        history = websocket.receive_json()
        if history["run"]["status"] == "queued":
            assert receive_until(websocket, "status")[-1]["status"] == "paused"
        websocket.send_json({"type": "control", "action": "step"})
        stepped = receive_until(websocket, "epoch", "epochs")
        assert epoch_records(stepped)[-1]["epoch"] == 1
        assert receive_until(websocket, "status")[-1]["status"] == "paused"
        websocket.send_json({"type": "control", "action": "set", "lr": 0.5})
        websocket.send_json({"type": "control", "action": "step"})
        assert epoch_records(receive_until(websocket, "epoch", "epochs"))[-1]["lr"] == 0.5
        websocket.send_json({"type": "control", "action": "stop"})
        done = receive_until(websocket, "done")[-1]
    assert done["status"] == "stopped" and done["message"] == "stopped by the user" and done["epochs"] == 2


def test_set_lr_mid_run_shows_in_the_next_epochs(client):
    run_id = create(client, **small_config(epochs=3000))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        websocket.receive_json()
        receive_until(websocket, "epoch", "epochs")
        live = {"optimizer": {"lr": 0.25}, "regularization": {"rate": 0.001}}
        websocket.send_json({"type": "control", "action": "set", **live})
        lrs = []
        while lrs.count(0.25) < 20:
            message = websocket.receive_json()
            assert message["type"] != "done", f"the run ended before 20 epochs at lr 0.25: {lrs}"
            lrs += [record["lr"] for record in epoch_records([message])]
        websocket.send_json({"type": "control", "action": "stop"})
        receive_until(websocket, "done")
    changed = lrs.index(0.25)
    assert set(lrs[:changed]) <= {0.03} and set(lrs[changed:]) == {0.25}, lrs


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "unknown message type"),
        ('{"type": "dance"}', "unknown message type 'dance'; valid: control, ping, ready"),
        ('{"type": "control", "action": "explode"}', "action"),
        ('{"type": "control", "action": "set"}', "needs optimizer.lr or regularization.rate"),
        ('{"type": "control", "action": "set", "regularization_rate": 0.1}', "regularization_rate"),
        ('{"type": "control", "action": "set", "regularization": {"rate": -1}}', "rate"),
        ('{"type": "control", "action": "set", "lr": -1}', "lr"),
        ('{"type": "control", "action": "set", "lr": NaN}', "lr"),
        ('{"type": "control", "action": "pause", "extra": 1}', "extra"),
        ("x" * 70_000, "NNPLAY_MAX_WS_MESSAGE_BYTES"),
    ],
)
def test_malformed_messages_get_an_error_and_the_socket_stays_open(client, message, expected):
    run_id = create(client, paused=True, **small_config(epochs=100))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        assert websocket.receive_json()["type"] == "history"
        websocket.send_text(message)
        error = receive_until(websocket, "error")[-1]
        assert expected in error["detail"]
        websocket.send_bytes(json.dumps({"type": "ping"}).encode())
        assert receive_until(websocket, "pong")[-1] == {"type": "pong"}


def test_controls_beyond_the_rate_limit_get_an_error_envelope_and_the_socket_stays_open(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, max_controls_per_second=1))) as client:
        run_id = create(client, paused=True, **small_config(epochs=100))
        with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
            assert websocket.receive_json()["type"] == "history"
            for _ in range(10):
                websocket.send_json({"type": "control", "action": "set", "lr": 0.1})
            websocket.send_json({"type": "ping"})
            replies = receive_until(websocket, "pong")
            errors = [reply for reply in replies if reply["type"] == "error"]
            assert len(errors) == 1, "one rate-limit error a second, not one per refused control"
            assert "at most 1 controls a second (NNPLAY_MAX_CONTROLS_PER_SECOND)" in errors[0]["detail"]
            websocket.send_json({"type": "control", "action": "stop"})
            assert receive_until(websocket, "done")[-1]["status"] == "stopped"


def test_control_of_an_ended_run_is_an_error_envelope(client):
    run_id = create(client, **small_config(epochs=2))
    wait_status(client, run_id, "completed")
    client.post(f"/api/runs/{run_id}/control", json={"action": "pause"})
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        messages = receive_until(websocket, "done")
    assert [m["type"] for m in messages] == ["history", "done"]


def test_unknown_run_gets_an_error_then_4404(client):
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/api/runs/nope/stream") as websocket:
        error = websocket.receive_json()
        assert error["type"] == "error" and "nope" in error["detail"]
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket.receive_json()
    assert closed.value.code == 4404


def test_run_keeps_going_when_its_subscriber_leaves(client):
    run_id = create(client, **small_config(epochs=40))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        websocket.receive_json()
        receive_until(websocket, "epoch", "epochs")
    assert wait_status(client, run_id, "completed")["epochs"] == 40
