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


PIXEL_AT = """([x1, x2]) => {
    const el = document.getElementById('boundary-chart');
    const canvas = el.querySelector('.live-heatmap');
    if (!canvas || canvas.style.display !== 'block') return null;
    const { xaxis, yaxis } = el._fullLayout;
    const ratio = canvas.width / xaxis._length;
    const pixel = canvas.getContext('2d').getImageData(
        Math.round(xaxis.c2p(x1) * ratio), Math.round(yaxis.c2p(x2) * ratio), 1, 1).data;
    return Array.from(pixel.slice(0, 3));
}"""

PREDICTION_AT = """([x1, x2]) => {
    const { x, y, z } = window.nnplay.heavy.boundary;
    const nearest = (axis, value) =>
        axis.reduce((best, v, i) => (Math.abs(v - value) < Math.abs(axis[best] - value) ? i : best), 0);
    return z[nearest(y, x2)][nearest(x, x1)];
}"""


def test_live_boundary_canvas_shows_the_models_prediction_colours(page):
    open_app(page, "#training.epochs=10000")
    page.click("#play-btn")
    drawn_live = "window.nnplay.boundary.drawnLive && window.nnplay.heavy?.boundary?.x"
    page.wait_for_function(drawn_live, timeout=60_000)
    page.wait_for_function(f"({PIXEL_AT})([0, 0]) !== null")
    early = page.evaluate(PIXEL_AT, [0, 0])
    page.wait_for_function(
        f"window.nnplay.heavy.epoch > 200 && ({PREDICTION_AT})([0, 0]) > 0.9"
        f" && ({PREDICTION_AT})([5.5, 5.5]) < 0.1",
        timeout=60_000,
    )
    blue_inside = f"(([r, g, b]) => b - r > 60)(({PIXEL_AT})([0, 0]))"
    orange_outside = f"(([r, g, b]) => r - b > 60)(({PIXEL_AT})([5.5, 5.5]))"
    page.wait_for_function(f"{blue_inside} && {orange_outside}", timeout=10_000)
    assert page.text_content("#run-status") == "running"
    assert page.evaluate(f"({PREDICTION_AT})([0, 0]) > 0.9 && ({PREDICTION_AT})([5.5, 5.5]) < 0.1")
    assert max(abs(a - b) for a, b in zip(early, page.evaluate(PIXEL_AT, [0, 0]), strict=True)) > 30
