"""GET /api/health."""

from __future__ import annotations


def test_health(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["max_runs"] == 2
    assert set(health) >= {"version", "workers", "active_runs", "queued_runs"}
