"""The Sweeps tab: build a sweep from the playground setup, follow it live, chart and open its runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(240)

SCREENSHOT = Path(os.environ.get("NNPLAY_SCREENSHOTS", tempfile.gettempdir())) / "nnplay-sweeps-1280.png"


def open_sweeps(page) -> None:
    open_app(page)
    page.click("#tab-sweeps-btn")
    page.wait_for_selector("#tab-sweeps:not([hidden]) #sweep-start")


def test_grid_sweep_over_lr_runs_live_and_charts_every_run(page):
    open_sweeps(page)
    page.fill('input[aria-label="Axis path"]', "optimizer.lr")
    page.fill('input[aria-label="Axis values"]', "0.01, 0.1, 0.3")
    page.fill("#sweep-epochs", "3")
    page.fill("#sweep-concurrency", "2")
    page.click("#sweep-start")
    page.wait_for_selector("#sweep-body tr", timeout=30_000)
    assert page.locator("#sweep-body tr").count() == 3
    page.wait_for_selector('#tab-sweeps[data-state="completed"]', timeout=180_000)

    rows = page.locator("#sweep-body tr")
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["completed"] * 3
    assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)] == ["0.0100", "0.100", "0.300"]
    best = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(3)]
    assert all(text != "–" for text in best), best
    assert "3 of 3 runs finished" in page.inner_text("#sweep-status")

    parcoords = page.evaluate(
        """() => {
            const trace = document.getElementById('sweep-parcoords').data[0];
            return {type: trace.type, labels: trace.dimensions.map((d) => d.label),
                    lines: trace.dimensions.map((d) => d.values.length), lr: trace.dimensions[0].values};
        }"""
    )
    assert parcoords["type"] == "parcoords"
    assert parcoords["lines"] == [3, 3]
    assert parcoords["labels"][0] == "log10 optimizer.lr"
    assert parcoords["lr"] == pytest.approx([-2, -1, -0.5228787], abs=1e-6)
    scatter = page.evaluate(
        """() => {
            const node = document.querySelector('#sweep-scatters .sweep-scatter');
            return {points: node.data[0].x.length, xaxis: node.layout.xaxis.type};
        }"""
    )
    assert scatter == {"points": 3, "xaxis": "log"}

    href = page.get_attribute("#sweep-csv", "href")
    csv = page.evaluate("(url) => fetch(url).then((r) => r.text())", href)
    header, *lines = csv.strip().splitlines()
    assert header.startswith("index,run_id,status,optimizer.lr,") and len(lines) == 3

    page.wait_for_selector("#sweep-top .sweep-top-card >> nth=2")
    page.locator("#sweep-top").scroll_into_view_if_needed()
    page.wait_for_function(
        "document.querySelectorAll('#sweep-top .sweep-top-boundary.js-plotly-plot').length === 3"
    )
    top = page.evaluate(
        """() => [...document.querySelectorAll('#sweep-top .sweep-top-card')].map((card) => ({
            index: Number(card.dataset.index),
            loss: card.querySelector('.sweep-top-loss').data.map((trace) => trace.x.length),
            images: card.querySelector('.sweep-top-boundary').layout.images.length,
        }))"""
    )
    table = page.evaluate("window.nnplaySweeps.sweep.runs")
    by_best = sorted(table, key=lambda row: -row["best_test_metric"])
    assert [card["index"] for card in top] == [row["index"] for row in by_best]
    assert all(card["loss"] == [3, 3] and card["images"] == 1 for card in top), top
    assert page.inner_text("#sweep-top-title").startswith("Top 3 runs by best test accuracy")

    page.screenshot(path=str(SCREENSHOT), full_page=True)

    best = by_best[0]["run_id"]
    page.click("#sweep-top .sweep-top-card >> nth=0")
    page.wait_for_selector("#tab-play:not([hidden])")
    page.wait_for_function("(id) => window.nnplay.run && window.nnplay.run.id === id", arg=best)
    page.click("#tab-sweeps-btn")

    run_id = page.evaluate("window.nnplaySweeps.sweep.runs[1].run_id")
    rows.nth(1).click()
    page.wait_for_selector("#tab-play:not([hidden])")
    page.wait_for_function("(id) => window.nnplay.run && window.nnplay.run.id === id", arg=run_id)
    assert page.evaluate("window.nnplay.state.config.optimizer.lr") == pytest.approx(0.1)


def test_bad_axis_path_shows_the_servers_error_next_to_the_form(page):
    page.expected_errors.append("422")
    open_sweeps(page)
    page.fill('input[aria-label="Axis path"]', "optimizer.nonsense")
    page.fill('input[aria-label="Axis values"]', "1, 2")
    page.click("#sweep-start")
    page.wait_for_function("document.getElementById('sweep-error').textContent.length > 0")
    error = page.inner_text("#sweep-error")
    assert "axis 'optimizer.nonsense'" in error
    assert page.get_attribute('input[aria-label="Axis path"]', "aria-invalid") is not None
    assert page.locator("#sweep-body tr").count() == 0
    assert not page.is_disabled("#sweep-start")


def test_stop_deletes_the_sweep_and_stops_its_runs(page):
    page.expected_errors.append("404")
    open_sweeps(page)
    page.fill('input[aria-label="Axis values"]', "0.01, 0.1")
    page.fill("#sweep-epochs", "5000")
    page.fill("#sweep-concurrency", "1")
    page.click("#sweep-start")
    page.wait_for_selector('#sweep-body tr[data-status="running"]', timeout=30_000)
    sweep_id = page.evaluate("window.nnplaySweeps.sweep.id")
    page.click("#sweep-stop")
    page.wait_for_selector('#tab-sweeps[data-state="stopped"]')
    assert "stopped" in page.inner_text("#sweep-status")
    assert page.evaluate("(id) => fetch(`/api/sweeps/${id}`).then((r) => r.status)", sweep_id) == 404
    run_id = page.evaluate("window.nnplaySweeps.sweep.runs[0].run_id")
    page.wait_for_function(
        "(id) => fetch(`/api/runs/${id}`).then((r) => r.json()).then((run) => run.status === 'stopped')",
        arg=run_id,
    )


def test_random_sweep_samples_distributions_and_charts_categorical_axes(page):
    open_sweeps(page)
    page.select_option('select[aria-label="Axis kind"]', "log_uniform")
    assert page.is_hidden('input[aria-label="Axis values"]')
    page.fill('input[aria-label="Axis low"]', "0.01")
    page.fill('input[aria-label="Axis high"]', "0.3")
    page.click("#sweep-add-axis")
    second = page.locator(".sweep-axis").nth(1)
    second.locator('input[aria-label="Axis path"]').fill("model.layers.0.activation")
    second.locator('select[aria-label="Axis kind"]').select_option("choice")
    second.locator('input[aria-label="Axis values"]').fill("tanh, relu")
    page.select_option("#sweep-mode", "random")
    page.fill("#sweep-budget", "3")
    page.fill("#sweep-epochs", "2")
    with page.expect_request(lambda r: r.url.endswith("/api/sweeps") and r.method == "POST") as sent:
        page.click("#sweep-start")
    spec = sent.value.post_data_json
    assert spec["axes"] == [
        {"path": "optimizer.lr", "distribution": "log_uniform", "low": 0.01, "high": 0.3},
        {"path": "model.layers.0.activation", "distribution": "choice", "choices": ["tanh", "relu"]},
    ]
    assert (spec["mode"], spec["budget"], spec["base"]["training"]["epochs"]) == ("random", 3, 2)
    page.wait_for_selector('#tab-sweeps[data-state="completed"]', timeout=180_000)

    runs = page.evaluate("window.nnplaySweeps.sweep.runs.map((row) => row.params)")
    assert len(runs) == 3
    assert all(0.01 <= run["optimizer.lr"] <= 0.3 for run in runs)
    assert {run["model.layers.0.activation"] for run in runs} <= {"tanh", "relu"}
    assert page.locator("#sweep-body tr").count() == 3
    parcoords = page.evaluate(
        """() => document.getElementById('sweep-parcoords').data[0].dimensions.map(
            (d) => ({label: d.label, lines: d.values.length, ticks: d.ticktext || null}))"""
    )
    labels = [d["label"] for d in parcoords]
    assert labels == ["log10 optimizer.lr", "model.layers.0.activation", "best test accuracy"]
    assert all(d["lines"] == 3 for d in parcoords)
    assert set(parcoords[1]["ticks"]) <= {"tanh", "relu"}
    assert page.locator("#sweep-scatters .sweep-scatter").count() == 2


def axis_of(page) -> tuple[str, str]:
    axis = page.locator(".sweep-axis")
    assert axis.count() == 1
    return (
        axis.locator('input[aria-label="Axis path"]').input_value(),
        axis.locator('input[aria-label="Axis values"]').input_value(),
    )


def sweep_this(page, selector: str) -> tuple[str, str]:
    page.click("#tab-play-btn")
    live = selector.startswith("#live")
    page.click(f".live-field:has({selector}) .sweep-this" if live else f"{selector} .sweep-this")
    page.wait_for_selector("#tab-sweeps:not([hidden])")
    return axis_of(page)


def test_sweep_this_opens_the_sweeps_tab_with_an_axis_on_the_field(page):
    open_app(page)
    catalog = page.evaluate("window.nnplay.state.catalog")
    field = '.field[data-path="{}"]'.format
    assert sweep_this(page, field("optimizer.lr")) == ("optimizer.lr", "0.003, 0.009, 0.03, 0.09, 0.3")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Axis values"
    assert page.input_value("#sweep-epochs") == str(
        page.evaluate("window.nnplay.state.config.training.epochs")
    )
    assert sweep_this(page, field("model.layers.0.units")) == ("model.layers.0.units", "2, 4, 8")
    assert sweep_this(page, field("seed")) == ("seed", "0, 1, 2, 3")
    assert sweep_this(page, field("data.seed")) == ("data.seed", "0, 1, 2, 3")
    assert sweep_this(page, field("data.n_samples")) == ("data.n_samples", "250, 500, 1000")
    assert sweep_this(page, field("training.batch_size")) == ("training.batch_size", "full, 1, 10, 50")
    activation = sweep_this(page, field("model.layers.0.activation"))
    assert activation == ("model.layers.0.activation", ", ".join(catalog["activations"]))
    assert sweep_this(page, field("optimizer.name")) == ("optimizer.name", ", ".join(catalog["optimizers"]))
    assert sweep_this(page, "#live-rate") == ("regularization.rate", "0, 0.0001, 0.001, 0.01")
    assert page.locator("#telemetry-fields .sweep-this").count() == 0

    page.click("#tab-play-btn")
    page.fill("#live-lr", "0.1")
    page.press("#live-lr", "Enter")
    page.wait_for_function("window.nnplay.state.config.optimizer.lr === 0.1")
    assert sweep_this(page, "#live-lr") == ("optimizer.lr", "0.01, 0.03, 0.1, 0.3, 1")
    page.fill('input[aria-label="Axis values"]', "0.03, 0.3")
    page.fill("#sweep-epochs", "2")
    with page.expect_request(lambda r: r.url.endswith("/api/sweeps") and r.method == "POST") as sent:
        page.click("#sweep-start")
    spec = sent.value.post_data_json
    assert spec["axes"] == [{"path": "optimizer.lr", "values": [0.03, 0.3]}] and spec["mode"] == "grid"
    assert spec["base"]["optimizer"]["lr"] == 0.1 and spec["base"]["training"]["epochs"] == 2
    page.wait_for_selector('#tab-sweeps[data-state="completed"]', timeout=120_000)
    swept = page.evaluate("window.nnplaySweeps.sweep.runs.map((row) => row.params['optimizer.lr'])")
    assert swept == [0.03, 0.3]


def test_a_reload_shows_the_running_sweep_and_earlier_sweeps_reopen(page):
    open_sweeps(page)
    done = page.evaluate(
        """async () => {
            const axes = [{path: "seed", values: [1, 2]}];
            const spec = {base: {training: {epochs: 2}}, axes, name: "two seeds"};
            const headers = {"Content-Type": "application/json"};
            const body = JSON.stringify(spec);
            const response = await fetch("/api/sweeps", {method: "POST", headers, body});
            return (await response.json()).id;
        }"""
    )
    page.wait_for_function(
        "(id) => fetch(`/api/sweeps/${id}`).then((r) => r.json()).then((t) => t.status === 'completed')",
        arg=done,
    )
    page.fill('input[aria-label="Axis values"]', "0.01, 0.1")
    page.fill("#sweep-epochs", "5000")
    page.fill("#sweep-concurrency", "1")
    page.click("#sweep-start")
    page.wait_for_selector('#sweep-body tr[data-status="running"]', timeout=30_000)
    running = page.evaluate("window.nnplaySweeps.sweep.id")

    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.click("#tab-sweeps-btn")
    page.wait_for_selector(
        '#tab-sweeps[data-state="running"] #sweep-body tr[data-status="running"]', timeout=30_000
    )
    assert page.evaluate("window.nnplaySweeps.sweep.id") == running
    assert not page.is_disabled("#sweep-stop")
    page.wait_for_selector(f'#sweep-list tr[data-id="{running}"][aria-current="true"]')
    cells = page.inner_text(f'#sweep-list tr[data-id="{done}"]').split("\t")
    assert cells[1:4] == ["two seeds", "completed", "2 of 2"]

    page.click(f'#sweep-list tr[data-id="{done}"] button')
    page.wait_for_selector('#tab-sweeps[data-state="completed"]')
    assert page.evaluate("window.nnplaySweeps.sweep.id") == done
    assert page.locator("#sweep-body tr").count() == 2 and page.is_disabled("#sweep-stop")

    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.click("#tab-sweeps-btn")
    page.wait_for_function("(id) => window.nnplaySweeps.sweep?.id === id", arg=done)
    page.click(f'#sweep-list tr[data-id="{running}"] button')
    page.wait_for_selector('#tab-sweeps[data-state="running"]')
    page.click("#sweep-stop")
    page.wait_for_selector('#tab-sweeps[data-state="stopped"]')
    page.wait_for_selector(f'#sweep-list tr[data-id="{running}"]', state="detached")
