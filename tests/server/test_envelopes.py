"""Websocket messages are valid JSON built from JSON texts."""

from __future__ import annotations

import json
import time

from server.envelopes import envelope, epoch_envelope, epochs_envelope, history_envelope


def test_envelopes_are_json():
    assert json.loads(envelope("status", status="paused", message=None)) == {
        "type": "status",
        "status": "paused",
        "message": None,
    }
    assert json.loads(epoch_envelope('{"epoch": 3}')) == {"type": "epoch", "record": {"epoch": 3}}
    assert json.loads(epoch_envelope('{"epoch": 3}', coalesced=True))["coalesced"] is True
    assert json.loads(epochs_envelope(['{"epoch": 3}', '{"epoch": 4}'])) == {
        "type": "epochs",
        "records": [{"epoch": 3}, {"epoch": 4}],
    }
    run = {"id": "r", "status": "running", "config": {}, "created_at": time.time()}
    history = json.loads(history_envelope(run, ['{"epoch": 1}', '{"epoch": 2}'], None))
    assert history["type"] == "history" and history["run"]["id"] == "r"
    assert history["epochs"] == [{"epoch": 1}, {"epoch": 2}] and history["latest"] is None
    assert json.loads(history_envelope(run, [], '{"epoch": 0}'))["latest"] == {"epoch": 0}
