"""The websocket on the real server: a deeply nested message gets an error envelope, the socket stays."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets.sync.client as ws_client

from tests.server.conftest import small_config, wait_status

pytestmark = pytest.mark.timeout(60)


def test_nested_60kb_array_gets_an_error_envelope_and_the_socket_stays_open(live_server):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run = client.post("/api/runs", json=small_config(epochs=50, paused=True)).json()
        wait_status(client, run["id"], "paused")
    nested = "[" * 30_000 + "]" * 30_000
    with ws_client.connect(f"{server.ws_url}/api/runs/{run['id']}/stream", max_size=None) as websocket:
        assert json.loads(websocket.recv(timeout=10))["type"] == "history"
        websocket.send(nested)
        error = json.loads(websocket.recv(timeout=10))
        assert error == {
            "type": "error",
            "detail": "the message is nested too deeply to be a control or a ping",
        }
        websocket.send(json.dumps({"type": "ping"}))
        assert json.loads(websocket.recv(timeout=10))["type"] == "pong"
        websocket.send(json.dumps({"type": "control", "action": "stop"}))
