"""Heavy telemetry in the browser: a paused run shows the paused epoch's heavy fields."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app
from tests.web.test_playground import type_into, wait_epoch, wait_status

pytestmark = pytest.mark.timeout(120)


def test_pausing_shows_the_heavy_fields_of_the_paused_epoch(page):
    open_app(page)
    type_into(page, "training.epochs", 10_000)
    page.click("#play-btn")
    wait_epoch(page, "> 100")
    page.click("#play-btn")
    wait_status(page, "paused")
    page.wait_for_function(
        "window.nnplay.heavy?.epoch === window.nnplay.lastEpoch"
        " && window.nnplay.heavy.boundary.z[0] instanceof Float32Array",
        timeout=10_000,
    )
