"""The browser playground against the real server: build, train, watch, keep and share."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.web.conftest import ROOT, open_app

ARTIFACTS = ROOT / "artifacts"
FINISHED = ("completed", "stopped", "diverged", "failed")


def counter(page) -> int:
    return int(page.text_content("#epoch-counter"))


def trace_length(page, chart: str, trace: int = 0) -> int:
    return page.evaluate("([id, t]) => document.getElementById(id).data?.[t]?.x?.length ?? 0", [chart, trace])


def config(page) -> dict:
    return page.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config))")


def field(page, path: str):
    return page.locator(f'.sidebar .field[data-path="{path}"]')


def type_into(page, path: str, value) -> None:
    control = field(page, path).locator(".control")
    control.fill(str(value))
    control.press("Tab")


def wait_status(page, *statuses: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(wanted) => wanted.includes(document.getElementById('run-status').textContent)",
        arg=list(statuses),
        timeout=timeout,
    )


def wait_text(page, element_id: str, start: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "([id, start]) => document.getElementById(id).textContent.startsWith(start)",
        arg=[element_id, start],
        timeout=timeout,
    )


def wait_param_count(page, count: int) -> None:
    """Wait until the plan drawn in the model summary has `count` parameters."""
    page.wait_for_function(
        "(count) => document.getElementById('param-count')?.textContent === count", arg=f"{count:,}"
    )


def wait_epoch(page, expression: str) -> None:
    page.wait_for_function(f"Number(document.getElementById('epoch-counter').textContent) {expression}")


def boundary_drawn(page) -> bool:
    """Waits for the boundary chart's PNG image (drawn on a later paced frame); a timeout fails."""
    page.wait_for_function(
        "(document.getElementById('boundary-chart').layout?.images?.[0]?.source ?? '')"
        ".startsWith('data:image/png')",
        timeout=15_000,
    )
    return True


LIVE_PIXELS = """([id, selector, color, tolerance = 40]) => {
    const canvas = document.querySelector(`#${id} > ${selector}`);
    if (!canvas || canvas.style.display !== 'block' || !canvas.width) return -1;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const rgb = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
    let count = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const near = rgb.every((value, k) => Math.abs(pixels[i + k] - value) <= tolerance);
        if (pixels[i + 3] > 200 && near) count += 1;
    }
    return count;
}"""


def live_pixels(page, chart: str, color: str, selector: str = ".live-traces", tolerance: int = 40) -> int:
    """How many pixels near a colour (#rrggbb) the chart's live canvas shows (-1 when it is hidden)."""
    return page.evaluate(LIVE_PIXELS, [chart, selector, color, tolerance])


def train_to_end(page, epochs: int) -> None:
    type_into(page, "training.epochs", epochs)
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    assert counter(page) == epochs
    page.wait_for_function(f"document.getElementById('loss-chart').data?.[0]?.x.length === {epochs}")


def test_build_train_pause_step_reset(page):
    open_app(page)
    page.click("#add-hidden")
    page.click("button[aria-label='Add a neuron to layer 3']")
    type_into(page, "training.epochs", 5000)
    assert [layer["units"] for layer in config(page)["model"]["layers"]] == [4, 2, 3]
    assert page.text_content("#hidden-count") == "3 hidden layers"

    page.click("#play-btn")
    page.wait_for_function(
        "Number(document.getElementById('epoch-counter').textContent) > 5"
        " && window.nnplay.runView.loss.xs[0].length > 3",
        timeout=30_000,
    )
    first = counter(page)
    wait_epoch(page, f"> {first + 5}")
    page.wait_for_function(f"({LIVE_PIXELS})(['loss-chart', '.live-traces', '#334e7a']) > 20")
    page.wait_for_function("window.nnplay.heavy?.boundary && window.nnplay.boundary.drawnLive")
    assert 0 <= live_pixels(page, "boundary-chart", "#ffffff", ".live-heatmap", tolerance=0) < 100
    assert page.evaluate("document.querySelectorAll('.net-node.hidden').length") == 4 + 2 + 3
    assert page.text_content("#train-loss") != "–"

    page.fill("#live-lr", "0.1")
    page.press("#live-lr", "Tab")
    page.wait_for_function("window.nnplay.latest?.lr === 0.1")
    assert page.text_content("#run-status") == "running"

    page.click("#play-btn")
    wait_status(page, "paused")
    time.sleep(0.5)
    paused_at = counter(page)
    time.sleep(1.0)
    assert counter(page) == paused_at
    page.wait_for_function("document.getElementById('loss-chart').data[0].x.length > 3")
    page.wait_for_function("(document.getElementById('boundary-chart').layout?.images?.length ?? 0) > 0")
    assert boundary_drawn(page)

    page.hover(".net-node.hidden >> nth=0")
    wait_text(page, "boundary-note", "Showing 0 dense unit 1")
    assert "0 dense" in page.text_content(".net-tooltip")
    page.mouse.move(0, 0)
    page.wait_for_function("document.getElementById('boundary-note').textContent === ''")

    page.click("#step-btn")
    wait_epoch(page, f"=== {paused_at + 1}")
    wait_status(page, "paused")
    time.sleep(0.5)
    assert counter(page) == paused_at + 1

    seed = config(page)["seed"]
    page.click("#reset-btn")
    page.wait_for_function("document.getElementById('epoch-counter').textContent === '0'")
    assert page.text_content("#run-status") == "ready"
    assert config(page)["seed"] != seed
    page.wait_for_function("(document.getElementById('loss-chart').data?.[0]?.x?.length ?? 0) === 0")
    assert f"seed={config(page)['seed']}" in page.url


def test_trained_playground_screenshot(page):
    layers = [{"type": "dense", "units": units, "activation": "tanh"} for units in (8, 6, 4)]
    features = json.dumps(["x1", "x2", "sin_x1", "sin_x2"])
    optimizer = json.dumps({"name": "adam", "lr": 0.01})
    layers = json.dumps(layers)
    open_app(page, f"#data.dataset=spiral&data.noise=5&data.features={features}&model.layers={layers}"
             f"&optimizer={optimizer}&training.epochs=300")
    page.click("#play-btn")
    wait_status(page, "completed", timeout=120_000)
    assert boundary_drawn(page)
    assert float(page.text_content("#metric-value").rstrip("%")) > 90
    ARTIFACTS.mkdir(exist_ok=True)
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "playground.png"))
    assert (ARTIFACTS / "playground.png").stat().st_size > 20_000


def test_change_dataset_and_layers(page):
    open_app(page)
    page.select_option('.field[data-path="data.dataset"] select', "xor")
    page.wait_for_function("document.getElementById('data-info').textContent.includes('250 train')")
    assert config(page)["data"]["dataset"] == "xor"
    assert "data.dataset=xor" in page.url

    page.select_option('.field[data-path="data.dataset"] select', "digits")
    page.wait_for_function("document.getElementById('boundary-chart').hidden")
    page.select_option('.field[data-path="data.dataset"] select', "spiral")
    page.wait_for_function("!document.getElementById('boundary-chart').hidden")
    assert page.locator("#boundary-chart").is_visible() and page.locator("#output-toggles").is_visible()

    type_into(page, "data.classes", 3)
    page.wait_for_function("window.nnplay.info?.classes === 3")
    wait_param_count(page, 2 * 4 + 4 + 4 * 2 + 2 + 2 * 3 + 3)

    page.select_option("#add-layer-type", "dropout")
    page.click("#add-layer-btn")
    page.click("button[aria-label='Move layer 3 up']")
    assert [layer["type"] for layer in config(page)["model"]["layers"]] == ["dense", "dropout", "dense"]
    type_into(page, "model.layers.2.units", 5)
    page.select_option('.field[data-path="model.layers.2.activation"] select', "relu")
    layers = config(page)["model"]["layers"]
    assert layers[2]["units"] == 5 and layers[2]["activation"] == "relu"
    wait_param_count(page, 2 * 4 + 4 + 4 * 5 + 5 + 5 * 3 + 3)
    page.click("button[aria-label='Remove layer 2']")
    assert [layer["type"] for layer in config(page)["model"]["layers"]] == ["dense", "dense"]
    page.click("#remove-hidden")
    page.click("#remove-hidden")
    assert page.text_content("#hidden-count") == "0 hidden layers"
    wait_param_count(page, 2 * 3 + 3)

    page.locator('.checks input[data-feature="x1^2"]').check()
    page.locator('.checks input[data-feature="sin_x2"]').check()
    assert config(page)["data"]["features"] == ["x1", "x2", "x1^2", "sin_x2"]
    page.wait_for_function("document.querySelectorAll('.net-node.input').length === 4")


def test_invalid_input_shows_its_message(page):
    open_app(page)
    type_into(page, "model.layers.0.units", 0)
    assert "Units must be ≥ 1" in field(page, "model.layers.0.units").text_content()
    page.click("#play-btn")
    page.wait_for_function("document.getElementById('toast').textContent.includes('Units must be')")
    assert page.text_content("#run-status") == "ready"
    type_into(page, "model.layers.0.units", 3)
    assert field(page, "model.layers.0.units").locator(".field-error").text_content() == ""

    page.expected_errors.append("status of 422")
    field(page, "optimizer.nesterov").locator("input").check()
    page.click("#play-btn")
    error = field(page, "optimizer.name").locator(".field-error")
    error.wait_for()
    page.wait_for_function("(error) => error.textContent.includes('nesterov')", arg=error.element_handle())
    assert "momentum" in error.text_content()
    assert page.text_content("#run-status") == "ready"

    field(page, "optimizer.nesterov").locator("input").uncheck()
    page.select_option("#add-layer-type", "conv2d")
    page.click("#add-layer-btn")
    errors = "document.getElementById('model-errors')?.textContent"
    page.wait_for_function(f"{errors}.includes('conv2d needs input (channels, height, width)')")


def test_catalog_defaults_fill_the_forms(page):
    open_app(page)
    page.select_option('.field[data-path="schedule.name"] select', "multistep")
    assert config(page)["schedule"] == {"name": "multistep", "milestones": [50, 100], "gamma": 0.1}
    assert field(page, "schedule.milestones").locator(".control").input_value() == "50, 100"

    page.select_option("#add-layer-type", "activation")
    page.click("#add-layer-btn")
    assert config(page)["model"]["layers"][2] == {"type": "activation", "name": "relu", "params": {}}
    page.select_option('.field[data-path="model.layers.2.name"] select', "leaky_relu")
    type_into(page, "model.layers.2.name.negative_slope", 0.2)
    expected = config(page)
    slope = {"type": "activation", "name": "leaky_relu", "params": {"negative_slope": 0.2}}
    assert expected["model"]["layers"][2] == slope
    assert page.locator("#model-errors").count() == 0

    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'")
    assert config(page) == expected
    assert field(page, "model.layers.2.name.negative_slope").locator(".control").input_value() == "0.2"
    train_to_end(page, 3)


def test_url_round_trip(page, browser, server_url):
    open_app(page)
    page.select_option('.field[data-path="data.dataset"] select', "spiral")
    type_into(page, "data.classes", 4)
    type_into(page, "data.noise", 15)
    page.select_option('.field[data-path="optimizer.name"] select', "adam")
    type_into(page, "optimizer.lr", 0.02)
    page.click("#add-hidden")
    page.select_option('.field[data-path="model.layers.2.activation"] select', "leaky_relu")
    type_into(page, "model.layers.2.activation.negative_slope", 0.2)
    page.select_option('.field[data-path="schedule.name"] select', "step")
    page.select_option('.field[data-path="training.batch_size"] select', "full")
    page.select_option("#live-penalty", "l2")
    page.fill("#live-rate", "0.001")
    page.press("#live-rate", "Tab")
    page.check("#show-test")
    page.check("#log-loss")
    expected = config(page)
    assert expected["model"]["layers"][2]["activation"] == {"name": "leaky_relu", "negative_slope": 0.2}
    url = page.url

    other = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        other.goto(url)
        other.wait_for_function("document.body.dataset.ready === 'true'")
        assert other.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config))") == expected
        assert other.evaluate("window.nnplay.state.ui.showTest && window.nnplay.state.ui.logLoss")
        assert other.input_value('.field[data-path="data.dataset"] select') == "spiral"
        assert other.input_value("#live-rate") == "0.001"
        assert other.is_checked("#show-test")
        assert other.url == url
    finally:
        other.close()


def test_export_and_import_config(page, tmp_path):
    open_app(page)
    page.select_option('.field[data-path="data.dataset"] select', "moons")
    page.click("#add-hidden")
    with page.expect_download() as download:
        page.click("#export-config")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported == config(page)

    exported["data"]["dataset"] = "gauss"
    exported["model"]["layers"] = [{"type": "dense", "units": 7, "activation": "relu"}]
    (tmp_path / "setup.json").write_text(json.dumps(exported))
    page.set_input_files("#import-file", str(tmp_path / "setup.json"))
    page.wait_for_function("window.nnplay.state.config.data.dataset === 'gauss'")
    assert config(page)["model"]["layers"][0]["units"] == 7
    assert page.input_value('.field[data-path="model.layers.0.units"] .control') == "7"

    (tmp_path / "broken.json").write_text("{not json")
    page.set_input_files("#import-file", str(tmp_path / "broken.json"))
    wait_text(page, "toast", "Could not import broken.json")
    assert config(page)["data"]["dataset"] == "gauss"


def test_every_control_is_labelled_and_reachable_by_keyboard(page):
    open_app(page)
    tags = ("input", "select", "button")
    controls = ", ".join(f"{scope} {tag}" for scope in ("#tab-play", "header") for tag in tags)
    unlabelled = page.evaluate("""(selector) => [...document.querySelectorAll(selector)]
        .filter((control) => {
            if (control.getAttribute('aria-label') || control.getAttribute('aria-labelledby')) return false;
            if (control.labels && control.labels.length) return false;
            return control.tagName !== 'BUTTON' || control.textContent.trim() === '';
        })
        .map((control) => control.outerHTML.slice(0, 120))""", controls)
    assert unlabelled == []
    page.locator("body").focus()
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "play-btn":
            break
    assert page.evaluate("document.activeElement.id") == "play-btn"
    page.keyboard.press("Enter")
    page.wait_for_function("Number(document.getElementById('epoch-counter').textContent) > 0")
    page.locator("body").focus()
    page.keyboard.press(" ")
    wait_status(page, "paused", "completed")


def test_csv_upload_good_and_bad(page):
    open_app(page)
    rows = ["a,b,label"] + [f"{i % 7 - 3},{(i * 3) % 5 - 2},{int(i % 7 > 3)}" for i in range(60)]
    upload = page.locator(".csv-file")
    upload.set_input_files({"name": "points.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()})
    wait_text(page, "csv-message", "Loaded points.csv")
    assert page.text_content("#csv-message").endswith("; 2 classes (0, 1).")
    assert config(page)["data"]["dataset"] == "csv"
    assert config(page)["data"]["csv_id"]
    page.wait_for_function("document.getElementById('data-info').textContent.includes('60 rows')")
    assert page.text_content("#model-summary tbody tr:first-child td:nth-child(2)") == "(2)"

    page.expected_errors.append("status of 422")
    page.locator(".csv-file").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": b"a,b,label\n1,x,0\n2,3\n"}
    )
    message = page.locator("#csv-message")
    wait_text(page, "csv-message", "Could not use broken.csv")
    assert "error" in message.get_attribute("class")
    assert config(page)["data"]["dataset"] == "csv"


def test_history_reopen_and_compare(page):
    open_app(page)
    train_to_end(page, 15)
    first = page.evaluate("window.nnplay.run.id")
    page.fill("#live-lr", "0.3")
    page.press("#live-lr", "Tab")
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    second = page.evaluate("window.nnplay.run.id")
    assert first != second

    page.click("#tab-runs-btn")
    page.locator(f'#runs-body tr[data-id="{first}"]').wait_for()
    page.locator(f'#runs-body tr[data-id="{first}"] input[type=checkbox]').check()
    page.locator(f'#runs-body tr[data-id="{second}"] input[type=checkbox]').check()
    page.click("#compare-btn")
    page.wait_for_function("document.getElementById('compare-chart').data?.length === 4"
                           " && document.getElementById('compare-chart').data[2].x.length === 15")

    page.locator(f'#runs-body tr[data-id="{first}"] button:text("Open")').click()
    page.wait_for_function(f"window.nnplay.run?.id === '{first}' && window.nnplay.lastEpoch === 15")
    assert page.is_visible("#tab-play")
    assert config(page)["optimizer"]["lr"] == 0.03
    page.wait_for_function("document.getElementById('loss-chart').data[0].x.length === 15")
    page.wait_for_function("(document.getElementById('boundary-chart').layout?.images?.length ?? 0) > 0")
    wait_epoch(page, "=== 15")
    wait_status(page, "completed")


def test_export_runs_in_pytorch(page, server_url, tmp_path):
    torch = pytest.importorskip("torch")
    open_app(page, "#model.layers=" + json.dumps([
        {"type": "dense", "units": 5, "activation": {"name": "leaky_relu", "negative_slope": 0.1}},
        {"type": "batchnorm"},
        {"type": "maxout", "units": 3, "pieces": 2},
        {"type": "dense", "units": 3, "activation": "swish"},
    ]).replace(" ", "") + "&data.features=[\"x1\",\"x2\",\"sin_x1\"]")
    train_to_end(page, 5)
    run_id = page.evaluate("window.nnplay.run.id")
    page.click("#tab-runs-btn")
    page.wait_for_function("document.getElementById('download-json').getAttribute('href')?.includes('/model')")
    snippet = page.text_content("#torch-snippet")
    with urllib.request.urlopen(f"{server_url}/api/runs/{run_id}/model") as response:
        (tmp_path / "model.json").write_bytes(response.read())
    (tmp_path / "rebuild.py").write_text(snippet)
    result = subprocess.run(
        [sys.executable, "rebuild.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "tensor" in result.stdout
    assert torch.__version__


def test_diverged_run_says_why(page):
    open_app(page, "#data.dataset=plane&training.epochs=300")
    page.fill("#live-lr", "10")
    page.press("#live-lr", "Tab")
    page.click("#play-btn")
    page.locator("#banner").wait_for(state="visible", timeout=60_000)
    text = page.text_content("#banner-text")
    assert "diverged" in text and "learning rate" in text
    page.click("#banner-action")
    assert config(page)["optimizer"]["lr"] < 10


def test_conv_net_shows_filters(page):
    layers = [{"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "activation", "name": "relu"},
              {"type": "maxpool2d"}, {"type": "flatten"}]
    open_app(page, "#data.dataset=digits&data.n_samples=200&training.epochs=3&model.layers="
             + json.dumps(layers).replace(" ", ""))
    page.wait_for_function("document.getElementById('data-info').textContent.includes('classification')")
    wait_param_count(page, 4 * 9 + 4 + 36 * 10 + 10)
    page.wait_for_function("document.querySelectorAll('#preview-images canvas').length === 16")
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    page.locator(".inside").scroll_into_view_if_needed()
    page.wait_for_function("document.querySelectorAll('#filters canvas').length === 4")


def test_stays_responsive_while_streaming(page):
    open_app(page, "#training.epochs=3000")
    page.evaluate("""() => {
        window.perf = {frames: 0, long: []};
        new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) window.perf.long.push(entry.duration);
        }).observe({type: "longtask"});
        const tick = () => { window.perf.frames += 1; requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }""")
    page.click("#play-btn")
    page.wait_for_function("Number(document.getElementById('epoch-counter').textContent) > 3", timeout=30_000)
    page.evaluate("window.perf.frames = 0; window.perf.long = []; window.perf.start = performance.now();"
                  "window.perf.epoch = Number(document.getElementById('epoch-counter').textContent)")
    time.sleep(4)
    figures = page.evaluate("""() => {
        const seconds = (performance.now() - window.perf.start) / 1000;
        return {seconds, fps: window.perf.frames / seconds, long: window.perf.long,
                epochs: Number(document.getElementById('epoch-counter').textContent) - window.perf.epoch};
    }""")
    started = time.monotonic()
    page.click("#play-btn")
    wait_status(page, "paused")
    pause_latency = time.monotonic() - started
    long_tasks = figures["long"]
    seconds = figures["seconds"]
    longest = max(long_tasks, default=0)
    rate = figures["epochs"] / seconds
    print(
        f"\nbrowser while streaming: {figures['fps']:.1f} frames/s, {rate:.1f} epochs/s"
        f" drawn, {len(long_tasks)} long tasks (total {sum(long_tasks):.0f} ms, max {longest:.0f} ms"
        f" in {seconds:.1f} s), pause took {pause_latency * 1000:.0f} ms"
    )
    assert figures["epochs"] > 0
    assert figures["fps"] >= 5
    assert sum(long_tasks) < 0.6 * seconds * 1000
    assert pause_latency < 5


def test_heavy_fields_arrive_as_typed_arrays_and_still_draw(page):
    open_app(page)
    train_to_end(page, 15)
    heavy = page.evaluate(
        """() => {
          const h = window.nnplay.heavy;
          const weight = h.layers[0].weight;
          return {
            epoch: h.epoch,
            rows: h.boundary.z.length,
            typedRows: h.boundary.z[0] instanceof Float32Array,
            counts: weight.histogram.counts instanceof Float32Array ? weight.histogram.counts.length : -1,
            total: Array.from(weight.histogram.counts).reduce((a, b) => a + b, 0),
            percentiles: weight.percentiles.length,
            neuron: Array.isArray(h.neurons[0].z) && h.neurons[0].z.length,
            weights: Array.isArray(h.weights["0"].weight[0]),
          };
        }"""
    )
    assert heavy == {
        "epoch": 15, "rows": 50, "typedRows": True, "counts": 30, "total": 8, "percentiles": 9,
        "neuron": 10, "weights": True,
    }
    assert boundary_drawn(page)
    page.locator("#hist-chart").scroll_into_view_if_needed()
    page.wait_for_function(
        "(document.getElementById('hist-chart').data ?? []).some((t) => t.x.length === 32)"
    )
    page.select_option("#hist-view", "distribution")
    page.wait_for_function(
        "(document.getElementById('hist-chart').data ?? [])"
        ".some((t) => t.name === 'median' && t.x.length === window.nnplay.histories.length)"
    )
