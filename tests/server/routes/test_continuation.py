"""POST /api/runs/{id}/continue right after the done envelope: ∞ training goes on chunk after chunk."""

from __future__ import annotations

import pytest

from tests.server.conftest import epoch_records, receive_until, small_config

pytestmark = pytest.mark.timeout(90)


def test_a_run_continues_as_soon_as_its_done_envelope_arrives(client):
    run_id = client.post("/api/runs", json=small_config(epochs=3)).json()["id"]
    epochs = []
    for chunk in range(3):
        with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
            messages = receive_until(websocket, "done")
            if chunk < 2:
                response = client.post(f"/api/runs/{run_id}/continue", json={"epochs": 3})
                assert response.status_code == 200, response.text
        epochs += [record["epoch"] for record in epoch_records(messages)]
        assert messages[-1]["status"] == "completed" and messages[-1]["epochs"] == 3 * (chunk + 1)
    assert sorted(set(epochs)) == list(range(1, 10))
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "completed" and run["epochs"] == 9 and run["config"]["training"]["epochs"] == 9
