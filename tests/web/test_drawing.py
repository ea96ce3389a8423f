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


PIXEL_AT = """([near1, near2]) => {
    const el = document.getElementById('boundary-chart');
    const canvas = el.querySelector('.live-heatmap');
    if (!canvas || canvas.style.display !== 'block') return null;
    const { xaxis, yaxis } = el._fullLayout;
    const ratio = canvas.width / xaxis._length;
    const { train } = window.nnplay.boundary.points;
    const steps = Array.from({ length: 21 }, (_, i) => (i % 2 ? 1 : -1) * Math.ceil(i / 2) * 0.1);
    const [x1, x2] = steps.flatMap((dx) => steps.map((dy) => [near1 + dx, near2 + dy])).find(([x, y]) =>
        train.x1.every((a, i) =>
            Math.hypot(xaxis.c2p(a) - xaxis.c2p(x), yaxis.c2p(train.x2[i]) - yaxis.c2p(y)) > 4));
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


WATCH_LIVE_LINE_CHARTS = """() => {
    const view = window.nnplay.runView;
    const charts = { 'loss-chart': view.loss, 'metric-chart': view.metric, 'lr-chart': view.lr,
        'boundary-chart': view.boundary };
    const watch = { calls: [], mutations: 0, counting: false, samples: 0, mismatches: [] };
    watch.xRanges = new Set();
    window.watch = watch;
    for (const name of ['newPlot', 'react', 'relayout', 'restyle', 'update', 'extendTraces', 'redraw']) {
        const original = Plotly[name];
        Plotly[name] = function (el, ...rest) {
            const chart = charts[el?.id];
            if (chart?.live && el.data) watch.calls.push(`${name} ${el.id} at epoch ${view.lastEpoch}`);
            return original.call(this, el, ...rest);
        };
    }
    for (const id of ['loss-chart', 'metric-chart']) {
        new MutationObserver((records) => { if (watch.counting) watch.mutations += records.length; })
            .observe(document.querySelector(`#${id} .main-svg`),
                { subtree: true, childList: true, attributes: true, characterData: true });
    }
    const dirty = view.scheduler.dirty;
    const sample = () => {
        const [loss, metric] = [view.loss.ranges?.x, view.metric.ranges?.x];
        if (watch.counting && loss && metric && !dirty.has(view.loss) && !dirty.has(view.metric)) {
            watch.samples += 1;
            watch.xRanges.add(JSON.stringify(loss));
            const same = JSON.stringify(loss) === JSON.stringify(metric);
            if (!same) watch.mismatches.push([view.lastEpoch, loss, metric]);
        }
        requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
}"""

AXIS_LABELS = """(id) => {
    const el = document.getElementById(id);
    const canvas = el.querySelector('.live-traces');
    if (!canvas || canvas.style.display !== 'block' || !canvas.width) return null;
    const { width, xaxis, yaxis } = el._fullLayout;
    const ratio = canvas.width / width;
    const top = Math.round((yaxis._offset + yaxis._length + 2) * ratio);
    const pixels = canvas.getContext('2d').getImageData(0, top, canvas.width, canvas.height - top).data;
    let ink = 0;
    let signature = 0;
    for (let i = 3; i < pixels.length; i += 4) {
        if (pixels[i] < 100) continue;
        ink += 1;
        signature = (signature * 31 + i) % 1000000007;
    }
    const leftWidth = Math.round((xaxis._offset - 2) * ratio);
    const left = canvas.getContext('2d').getImageData(0, 0, leftWidth, canvas.height).data;
    const leftInk = left.filter((value, i) => i % 4 === 3 && value >= 100).length;
    return { ink, leftInk, signature, range: window.nnplay.runView.loss.ranges.x };
}"""


def test_live_charts_paint_their_axes_without_plotly_and_share_the_epoch_range(page):
    open_app(page, "#training.epochs=3000")
    page.wait_for_function(
        "document.querySelector('#loss-chart .main-svg') && document.querySelector('#metric-chart .main-svg')"
    )
    page.evaluate(WATCH_LIVE_LINE_CHARTS)
    page.click("#play-btn")
    page.wait_for_function(
        "window.nnplay.runView.lastEpoch >= 20 && window.nnplay.runView.loss.canvasShown"
        " && window.nnplay.runView.metric.canvasShown",
        timeout=60_000,
    )
    page.evaluate("window.watch.counting = true")
    page.wait_for_function(f"({AXIS_LABELS})('loss-chart')?.ink > 50")
    first = page.evaluate(AXIS_LABELS, "loss-chart")
    assert first["leftInk"] > 50, first
    page.wait_for_function(
        f"(({AXIS_LABELS})('loss-chart')?.range[1] ?? 0) > {first['range'][1]}", timeout=60_000
    )
    grown = page.evaluate(AXIS_LABELS, "loss-chart")
    page.wait_for_function("window.nnplay.runView.lastEpoch >= 1500", timeout=120_000, polling=100)
    page.evaluate("window.watch.counting = false")
    assert page.text_content("#run-status") == "running"
    watch = page.evaluate(
        "({ calls: window.watch.calls, mutations: window.watch.mutations, samples: window.watch.samples,"
        " mismatches: window.watch.mismatches, ranges: window.watch.xRanges.size })"
    )
    assert grown["ink"] > 50 and grown["signature"] != first["signature"], (first, grown)
    assert watch["ranges"] >= 3, watch
    assert watch["calls"] == [], watch["calls"]
    assert watch["mutations"] == 0, watch["mutations"]
    assert watch["samples"] > 20 and watch["mismatches"] == [], watch


DRAW_APART = """() => {
    const { loss, metric } = window.nnplay.runView;
    loss.setLive(true);
    metric.setLive(true);
    for (let epoch = 1; epoch <= 150; epoch += 1) {
        loss.extend(epoch, [1 / epoch, 2 / epoch]);
        metric.extend(epoch, [1 - 1 / epoch, 1 - 2 / epoch]);
    }
    loss.flush();
    metric.extend(151, [0.99, 0.98]);
    loss.extend(151, [0.01, 0.02]);
    metric.flush();
    return [loss.ranges.x, metric.ranges.x];
}"""


def test_loss_and_accuracy_drawn_at_different_epochs_keep_one_x_range(page):
    open_app(page)
    page.wait_for_function("document.getElementById('metric-chart')._fullLayout")
    loss, metric = page.evaluate(DRAW_APART)
    assert loss == metric, (loss, metric)
    assert loss[1] > 151, loss


HOLD_COSTLY_VIEWS = """() => {
    const view = window.nnplay.runView;
    const first = { arrived: null, drawn: null };
    window.firstHeavy = first;
    const applyHeavy = view.applyHeavy.bind(view);
    view.applyHeavy = (record) => {
        if (first.arrived === null) first.arrived = performance.now();
        applyHeavy(record);
    };
    const reported = view.onHeavyDrawn;
    view.onHeavyDrawn = (epoch) => {
        if (first.arrived !== null && first.drawn === null) first.drawn = performance.now();
        reported?.(epoch);
    };
    const hold = () => {
        view.scheduler.nextCostly = performance.now() + 60_000;
        if (first.drawn === null) requestAnimationFrame(hold);
    };
    hold();
}"""


def test_a_runs_first_heavy_record_is_drawn_without_waiting_for_the_pacing(page):
    open_app(page, "#training.epochs=3000")
    page.wait_for_function("document.body.dataset.initial === 'shown' && window.nnplay.boundary.el.data")
    page.evaluate(HOLD_COSTLY_VIEWS)
    page.click("#play-btn")
    page.wait_for_function("window.firstHeavy.drawn !== null", timeout=60_000)
    first = page.evaluate("window.firstHeavy")
    assert first["drawn"] - first["arrived"] < 2000, first
    assert page.evaluate("window.nnplay.boundary.drawnLive && window.nnplay.runView.heavy.epoch") >= 1


LIVE_LEGEND = """() => {
    const { grad } = window.nnplay.runView;
    const calls = [];
    const originals = { react: Plotly.react, newPlot: Plotly.newPlot, relayout: Plotly.relayout };
    for (const [name, original] of Object.entries(originals)) {
        Plotly[name] = (...args) => { calls.push(name); return original(...args); };
    }
    grad.setLive(true);
    grad.setSeries([{ name: 'first layer', color: '#ff0000' }, { name: 'second layer', color: '#00a000' }]);
    for (let epoch = 1; epoch <= 50; epoch += 1) grad.extend(epoch, [1 / epoch, 2 / epoch]);
    grad.flush();
    Object.assign(Plotly, originals);
    const canvas = grad.el.querySelector('.live-traces');
    const ratio = canvas.width / grad.el._fullLayout.width;
    const above = Math.floor(grad.el._fullLayout.yaxis._offset * ratio);
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, above).data;
    const count = ([r, g, b]) => {
        let n = 0;
        for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i + 3] > 200 && Math.abs(pixels[i] - r) < 40 && Math.abs(pixels[i + 1] - g) < 40
                && Math.abs(pixels[i + 2] - b) < 40) n += 1;
        }
        return n;
    };
    return { calls, red: count([255, 0, 0]), green: count([0, 160, 0]) };
}"""


def test_live_legend_is_painted_without_plotly_when_the_series_change(page):
    open_app(page)
    page.evaluate("document.getElementById('grad-chart').scrollIntoView({block: 'center'})")
    page.wait_for_function("document.getElementById('grad-chart')._fullLayout")
    legend = page.evaluate(LIVE_LEGEND)
    assert legend["calls"] == [], legend
    assert legend["red"] > 10 and legend["green"] > 10, legend


LIVE_LOG_SCALE = """() => {
    const { loss } = window.nnplay.runView;
    loss.setLive(true);
    for (let epoch = 1; epoch <= 50; epoch += 1) loss.extend(epoch, [1 / epoch, 2 / epoch]);
    loss.flush();
    const linear = loss.ranges.y;
    const calls = [];
    const originals = { react: Plotly.react, newPlot: Plotly.newPlot, relayout: Plotly.relayout };
    for (const [name, original] of Object.entries(originals)) {
        Plotly[name] = (...args) => { calls.push(name); return original(...args); };
    }
    loss.setLog(true);
    loss.flush();
    Object.assign(Plotly, originals);
    return { calls, linear, log: loss.ranges.y };
}"""


def test_a_live_chart_turns_to_a_log_scale_without_plotly(page):
    open_app(page)
    page.wait_for_function("document.getElementById('loss-chart')._fullLayout")
    scale = page.evaluate(LIVE_LOG_SCALE)
    assert scale["calls"] == [], scale
    assert scale["linear"][0] == 0 and scale["log"][0] < -1.5 and 0.3 < scale["log"][1] < 1, scale


WATCH_BOUNDARY = """() => {
    const view = window.nnplay.runView;
    const watch = { calls: [] };
    window.boundaryWatch = watch;
    for (const name of ['newPlot', 'react', 'relayout', 'restyle', 'update', 'extendTraces', 'redraw']) {
        const original = Plotly[name];
        Plotly[name] = function (el, ...rest) {
            if (el?.id === 'boundary-chart' && view.boundary.live && el.data) watch.calls.push(name);
            return original.call(this, el, ...rest);
        };
    }
}"""

INK_PIXELS = """() => {
    const canvas = document.querySelector('#boundary-chart .live-heatmap');
    if (!canvas || canvas.style.display !== 'block') return null;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        if (Math.max(pixels[i], pixels[i + 1], pixels[i + 2]) < 100) ink += 1;
    }
    return ink;
}"""


def test_the_test_points_toggle_while_live_repaints_the_canvas_without_plotly(page):
    open_app(page, "#training.epochs=3000")
    page.wait_for_function("window.nnplay.boundary.el.data?.length === 1")
    page.evaluate(WATCH_BOUNDARY)
    page.click("#play-btn")
    page.wait_for_function(
        "window.nnplay.boundary.drawnLive && window.nnplay.runView.lastEpoch >= 20", timeout=60_000
    )
    page.wait_for_function(f"({INK_PIXELS})() !== null")
    train_only = page.evaluate(INK_PIXELS)
    hidden = "getComputedStyle(document.querySelector('#boundary-chart .scatterlayer')).visibility"
    assert page.evaluate(hidden) == "hidden"
    page.click("#show-test")
    page.wait_for_function(f"({INK_PIXELS})() > {train_only} + 500", timeout=10_000)
    page.click("#show-test")
    page.wait_for_function(f"({INK_PIXELS})() < {train_only} + 100", timeout=10_000)
    assert page.text_content("#run-status") == "running"
    assert page.evaluate("window.boundaryWatch.calls") == []
    page.click("#show-test")
    page.click("#play-btn")
    page.wait_for_function("document.getElementById('boundary-chart').data?.length === 2", timeout=30_000)
    assert page.evaluate(hidden) == "visible"


def test_epoch_messages_leave_the_unchanged_metric_title_alone(page):
    open_app(page, "#training.epochs=3000")
    page.evaluate(
        """() => {
            window.titleChanges = 0;
            const options = { subtree: true, childList: true, characterData: true };
            new MutationObserver((records) => { window.titleChanges += records.length; })
                .observe(document.getElementById('metric-title'), options);
        }"""
    )
    page.click("#play-btn")
    page.wait_for_function("window.nnplay.runView.lastEpoch >= 300", timeout=60_000)
    assert page.text_content("#metric-title") == "Accuracy"
    assert page.evaluate("window.titleChanges") <= 1
