"""The `weight` control: one dense weight set on a live run (the network diagram's weight popup)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.executor import Job
from tests.server.conftest import (
    CLIENT_HEADERS,
    make_settings,
    receive_until,
    small_config,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.timeout(90)


def create(client, **config) -> str:
    response = client.post("/api/runs", json=config)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def weight_of(client, run_id: str, key: str, row: int, column: int) -> float:
    return client.get(f"/api/runs/{run_id}/model").json()["state_dict"][key]["values"][row][column]


def edit(layer=0, from_unit=1, to_unit=2, value=1.5) -> dict:
    return {"action": "weight", "layer": layer, "from_unit": from_unit, "to_unit": to_unit, "value": value}


def test_a_weight_set_on_a_paused_run_is_in_its_model_and_moves_its_next_epoch(client):
    edited = create(client, paused=True, **small_config(epochs=100))
    plain = create(client, paused=True, **small_config(epochs=100))
    wait_status(client, edited, "paused")
    response = client.post(f"/api/runs/{edited}/control", json=edit())
    assert response.status_code == 200 and response.json()["accepted"] == "weight"
    wait_for(lambda: weight_of(client, edited, "0.weight", 2, 1) == 1.5)
    for run_id in (edited, plain):
        client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
    losses = [
        wait_for(lambda run_id=run_id: client.get(f"/api/runs/{run_id}").json()["last"])["train_loss"]
        for run_id in (edited, plain)
    ]
    assert losses[0] != losses[1]


def test_a_weight_sent_on_the_socket_applies_before_the_next_epoch(client):
    run_id = create(client, paused=True, **small_config(epochs=100))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        websocket.receive_json()
        wait_status(client, run_id, "paused")
        websocket.send_json({"type": "control", **edit(layer=2, from_unit=0, to_unit=0, value=-2.25)})
        wait_for(lambda: weight_of(client, run_id, "2.weight", 0, 0) == -2.25)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "weight", "layer": 0, "from_unit": 0, "to_unit": 0}, "missing value"),
        ({"action": "weight", "value": 1.0}, "missing layer, from_unit, to_unit"),
        (edit(value=1e4), "value"),
        (edit(from_unit=-1), "from_unit"),
        ({"action": "pause", "layer": 0}, "layer go with action 'weight'"),
    ],
)
def test_malformed_weight_controls_are_422_naming_the_field(client, body, field):
    run_id = create(client, paused=True, **small_config(epochs=100))
    response = client.post(f"/api/runs/{run_id}/control", json=body)
    assert response.status_code == 422
    assert field in response.json()["message"]


def test_a_weight_outside_the_network_gets_a_status_message_naming_it(client):
    run_id = create(client, paused=True, **small_config(epochs=100))
    with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
        websocket.receive_json()
        wait_status(client, run_id, "paused")
        for body, message in [
            (edit(layer=1), "weight.layer: 1 is not a dense layer; the dense layers are [0, 2]"),
            (edit(to_unit=3), "weight.to_unit: 3 is not a unit of layer 0 (0-2)"),
        ]:
            websocket.send_json({"type": "control", **body})
            status = receive_until(websocket, "status")[-1]
            while status["message"] is None:
                status = receive_until(websocket, "status")[-1]
            assert status["message"] == message and status["status"] == "paused"
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "paused"


def test_a_weight_sent_to_a_queued_run_applies_when_it_starts(tmp_path):
    with TestClient(create_app(make_settings(tmp_path)), headers=CLIENT_HEADERS) as client:
        busy = [create(client, **small_config(epochs=10_000)) for _ in range(2)]
        for run_id in busy:
            wait_status(client, run_id, "running")
        queued = create(client, paused=True, **small_config(epochs=100))
        assert client.get(f"/api/runs/{queued}").json()["status"] == "queued"
        assert client.post(f"/api/runs/{queued}/control", json=edit(value=0.75)).status_code == 200
        client.post(f"/api/runs/{queued}/control", json={"action": "set", "lr": 0.5})
        client.post(f"/api/runs/{busy[0]}/control", json={"action": "stop"})
        wait_status(client, queued, "paused")
        assert weight_of(client, queued, "0.weight", 2, 1) == 0.75
        client.post(f"/api/runs/{queued}/control", json={"action": "step"})
        assert wait_for(lambda: client.get(f"/api/runs/{queued}").json()["last"])["lr"] == 0.5
        for run_id in (queued, busy[1]):
            client.post(f"/api/runs/{run_id}/control", json={"action": "stop"})


def test_a_waiting_set_does_not_merge_into_a_waiting_weight():
    job = Job("run", {})
    job.control_waiting("set", {"lr": 0.1})
    job.control_waiting("weight", {"layer": 0, "from_unit": 0, "to_unit": 0, "value": 1.0})
    job.control_waiting("set", {"lr": 0.2})
    assert job.settings == [
        {"lr": 0.1},
        {"weight": {"layer": 0, "from_unit": 0, "to_unit": 0, "value": 1.0}},
        {"lr": 0.2},
    ]
