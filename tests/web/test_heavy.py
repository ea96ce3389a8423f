"""The browser: a paused run shows the paused epoch's heavy fields; charts draw within a budget."""

from __future__ import annotations

import math

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


def test_line_charts_past_1000_points_draw_a_thinned_copy_with_its_extremes(page):
    open_app(page)
    thinned = page.evaluate("""async () => {
        const { thinLine } = await import("/charts.js");
        const xs = Array.from({ length: 5000 }, (_, i) => i + 1);
        const ys = xs.map((x) => Math.sin(x / 40) + (x === 3333 ? 9 : 0));
        ys[4000] = null;
        const [x, y] = thinLine(xs, ys);
        const [few] = thinLine(xs.slice(0, 900), ys.slice(0, 900));
        return { length: x.length, same: y.length === x.length, last: x.at(-1), peak: Math.max(...y),
                 rising: x.every((value, i) => i === 0 || value > x[i - 1]), few: few.length };
    }""")
    peak = pytest.approx(9 + math.sin(3333 / 40))
    assert thinned == {"length": 1000, "same": True, "last": 5000, "peak": peak, "rising": True, "few": 900}


def test_costly_views_share_one_drawing_budget_however_many_are_in_view(page):
    open_app(page)
    shares = page.evaluate("""async () => {
        const { FrameScheduler, View } = await import("/charts.js");
        const scheduler = new FrameScheduler();
        const busy = { ms: 0, flushes: [0, 0, 0] };
        const views = [0, 1, 2].map((n) => {
            const view = new View(document.createElement("div"), scheduler, { lazy: false });
            view.flush = () => {
                const start = performance.now();
                while (performance.now() - start < 20);
                busy.ms += performance.now() - start;
                busy.flushes[n] += 1;
            };
            return view;
        });
        const started = performance.now();
        while (performance.now() - started < 3000) {
            for (const view of views) view.invalidate();
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return { share: busy.ms / (performance.now() - started), flushes: busy.flushes };
    }""")
    assert shares["share"] < 0.2, shares
    assert min(shares["flushes"]) >= 2, shares
