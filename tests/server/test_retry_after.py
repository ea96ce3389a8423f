"""Every 429 says when to come back: the lab's queue (the run queue and control limits: test_manager)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.conftest import make_settings, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_busy_lab_answers_429_with_retry_after(tmp_path):
    app = create_app(make_settings(tmp_path, lab_concurrency=1, lab_queue=0))
    init = {"depth": 2, "width": 8, "batch": 8}
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.post, "/api/lab/experiments/overfitting/run", json={"epochs": 500})
        wait_for(lambda: app.state.lab_limiter.statistics().borrowed_tokens == 1)
        busy = client.post("/api/lab/init", json=init)
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
        assert "NNPLAY_LAB_QUEUE" in busy.json()["detail"]
        assert slow.result().status_code == 200
