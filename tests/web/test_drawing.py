"""The browser draws heavy records at its own pace and says when it has drawn one."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app
from tests.web.test_playground import train_to_end

pytestmark = pytest.mark.timeout(120)

RECORD_HEAVY_DRAWN = """() => {
    const view = window.nnplay.runView;
    window.drawnCalls = [];
    view.onHeavyDrawn = (epoch) => {
        const waiting = view.heavyViews.filter((v) => v.visible && view.scheduler.dirty.has(v)).length;
        window.drawnCalls.push({ epoch, waiting, heavy: view.heavy.epoch });
    };
}"""


def test_on_heavy_drawn_is_called_once_the_heavy_views_in_sight_are_drawn(page):
    open_app(page)
    page.evaluate(RECORD_HEAVY_DRAWN)
    train_to_end(page, 30)
    page.wait_for_function("window.drawnCalls.at(-1)?.epoch === 30")
    calls = page.evaluate("window.drawnCalls")
    assert all(call["waiting"] == 0 for call in calls), calls
    assert all(call["epoch"] == call["heavy"] for call in calls), calls
    epochs = [call["epoch"] for call in calls]
    assert epochs == sorted(set(epochs)), epochs
