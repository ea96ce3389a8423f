"""The rough edges a first visit hits (issue 15): reset, regularization, layer defaults, digits, links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.web.conftest import open_app
from tests.web.test_playground import config, field, type_into, wait_status, wait_text

PREVIEW_POINTS = "JSON.stringify(document.getElementById('preview-chart').data.map((t) => [t.x, t.y]))"
FIRST_WEIGHTS = "JSON.stringify(window.nnplay.heavy?.weights?.['0']?.weight ?? null)"
HEADER_BOXES = """() => [...document.querySelectorAll('#network .net-column-head')].map((head) => {
    const boxes = [head, ...head.querySelectorAll('*')].map((el) => el.getBoundingClientRect());
    return {left: Math.min(...boxes.map((b) => b.left)), right: Math.max(...boxes.map((b) => b.right)),
            title: head.querySelector('.net-title').textContent};
})"""


def step_once(page) -> None:
    page.click("#step-btn")
    page.wait_for_function("window.nnplay.lastEpoch === 1 && window.nnplay.heavy?.weights?.['0']")
    wait_status(page, "paused")


def test_reset_keeps_the_data_and_draws_new_weights(page):
    open_app(page, "#data.dataset=spiral&data.noise=20")
    page.wait_for_function("document.getElementById('preview-chart').data?.[0]?.x?.length > 0")
    points = page.evaluate(PREVIEW_POINTS)
    step_once(page)
    first_run = page.evaluate("window.nnplay.run.id")
    weights = page.evaluate(FIRST_WEIGHTS)
    seed = config(page)["seed"]

    page.click("#reset-btn")
    page.wait_for_function("document.getElementById('epoch-counter').textContent === '0'")
    assert config(page)["seed"] != seed
    assert config(page)["data"]["seed"] == seed
    step_once(page)
    run_id = page.evaluate("window.nnplay.run.id")
    run = page.evaluate("(id) => fetch(`/api/runs/${id}`).then((r) => r.json())", run_id)
    assert run["id"] != first_run
    assert run["config"]["data"]["seed"] == seed
    assert page.evaluate(PREVIEW_POINTS) == points
    assert page.evaluate(FIRST_WEIGHTS) != weights

    page.click("#regenerate-btn")
    page.wait_for_function("(points) => " + PREVIEW_POINTS + " !== points", arg=points)
    assert config(page)["data"]["seed"] is None


def test_changing_the_penalty_mid_run_asks_before_it_restarts(page):
    open_app(page, "#training.epochs=5000")
    page.click("#play-btn")
    page.wait_for_function("window.nnplay.lastEpoch > 3", timeout=30_000)
    run_id = page.evaluate("window.nnplay.run.id")
    page.select_option("#live-penalty", "l2")
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "restarts training from epoch 0" in page.text_content("#banner-text")
    assert page.evaluate("window.nnplay.run.id") == run_id
    wait_status(page, "running")
    assert config(page)["regularization"]["penalty"] == "none"
    assert page.input_value("#live-penalty") == "none"

    page.fill("#live-rate", "0.01")
    page.press("#live-rate", "Tab")
    assert page.evaluate("window.nnplay.run.id") == run_id

    page.click("#banner-action")
    page.wait_for_function("(old) => window.nnplay.run && window.nnplay.run.id !== old", arg=run_id)
    wait_status(page, "running", "queued")
    assert config(page)["regularization"] == {"penalty": "l2", "rate": 0.01}
    assert page.evaluate("window.nnplay.run.config.regularization.penalty") == "l2"
    assert banner.is_hidden()


def test_a_penalty_chosen_before_training_applies_at_once(page):
    open_app(page)
    page.select_option("#live-penalty", "l1")
    assert config(page)["regularization"]["penalty"] == "l1"
    assert page.locator("#banner").is_hidden()


def test_an_added_dense_layer_takes_the_previous_activation(page):
    open_app(page)
    page.select_option("#add-layer-type", "dense")
    page.click("#add-layer-btn")
    assert config(page)["model"]["layers"][2]["activation"] == "tanh"
    page.select_option("#add-layer-type", "activation")
    page.click("#add-layer-btn")
    page.select_option('.field[data-path="model.layers.3.name"] select', "elu")
    page.select_option("#add-layer-type", "dense")
    page.click("#add-layer-btn")
    assert config(page)["model"]["layers"][4]["activation"] == "elu"
    page.select_option(".layer-card:nth-child(5) .layer-type", "dropout")
    page.select_option(".layer-card:nth-child(5) .layer-type", "dense")
    assert config(page)["model"]["layers"][4]["activation"] == "elu"


def test_an_image_dataset_gets_a_small_working_cnn(page):
    open_app(page, "#training.epochs=3")
    page.select_option('.field[data-path="data.dataset"] select', "digits")
    wait_text(page, "toast", "Digits are 8×8 images")
    assert [layer["type"] for layer in config(page)["model"]["layers"]] == ["conv2d", "maxpool2d", "flatten"]
    assert page.locator("#model-errors").count() == 0
    assert "model.layers=" in page.url
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    assert float(page.text_content("#metric-value").rstrip("%")) > 50

    page.select_option('.field[data-path="data.dataset"] select', "circle")
    assert [layer["units"] for layer in config(page)["model"]["layers"]] == [4, 2]
    assert page.locator("#model-errors").count() == 0


def test_a_link_to_digits_opens_with_a_working_network(page):
    open_app(page, "#data.dataset=digits")
    assert config(page)["model"]["layers"][0]["type"] == "conv2d"
    assert page.locator("#model-errors").count() == 0
    wait_text(page, "toast", "Digits are 8×8 images")


def test_bad_values_from_a_link_are_flagged_where_they_show(page):
    open_app(page, "#optimizer.lr=30&training.epochs=1.5&loss=%22hinge%22&data.dataset=%22pictures%22&foo=1")
    assert "Learning rate must be ≤ 10" in field(page, "optimizer.lr").locator(".field-error").text_content()
    epochs_error = field(page, "training.epochs").locator(".field-error").text_content()
    assert "Epochs must be a whole number" in epochs_error
    assert "Loss must be one of" in field(page, "loss").locator(".field-error").text_content()
    assert page.get_attribute("#live-lr", "aria-invalid") is not None
    assert "Learning rate must be ≤ 10" in page.text_content("#live-error")
    toast = page.text_content("#toast")
    assert 'data.dataset "pictures" is not one of' in toast and "foo is not a setting" in toast

    page.click("#play-btn")
    wait_text(page, "toast", "Loss must be one of")
    assert page.evaluate("window.nnplay.run") is None
    type_into(page, "optimizer.lr", 0.1)
    assert field(page, "optimizer.lr").locator(".field-error").text_content() == ""
    assert page.get_attribute("#live-lr", "aria-invalid") is None


def test_a_server_422_lands_on_the_field_it_names(page):
    page.expected_errors.append("status of 422")
    open_app(page, "#training.early_stopping={%22patience%22:0}")
    error = field(page, "training.early_stopping.patience").locator(".field-error")
    assert "must be ≥ 1" in error.text_content()
    type_into(page, "training.early_stopping.patience", 5)
    page.evaluate("window.nnplay.state.config.training.early_stopping.patience = 0")
    page.click("#play-btn")
    page.wait_for_function("(error) => error.textContent.includes('greater than or equal to 1')",
                           arg=error.element_handle())
    assert page.evaluate("window.nnplay.run") is None


def test_reset_clears_the_hovered_neurons_tooltip_and_heatmap(page):
    """The hover is a dispatched mouseenter: a real cursor resting on the node would enter the rebuilt
    diagram's node under it once reset's fresh weights arrive, and rightly show that neuron again."""
    open_app(page)
    step_once(page)
    page.evaluate("document.activeElement.blur()")
    page.dispatch_event(".net-node.hidden >> nth=0", "mouseenter")
    wait_text(page, "boundary-note", "Showing 0 dense unit 1")
    assert "bias" in page.text_content(".net-tooltip")
    assert page.evaluate("window.nnplay.boundary.highlight !== null")
    page.keyboard.press("r")
    page.wait_for_function("window.nnplay.run === null && window.nnplay.state.config.data.seed !== null")
    page.wait_for_function("window.nnplay.boundary.highlight === null")
    page.wait_for_function("(tip) => tip.hidden || !tip.textContent.includes('bias')",
                           arg=page.locator(".net-tooltip").element_handle())
    assert page.text_content("#boundary-note") == ""


def six_layers() -> str:
    return json.dumps([{"type": "dense", "units": 6, "activation": "relu"}] * 6).replace(" ", "")


CONV_STACK = json.dumps([
    {"type": "conv2d", "filters": 4, "padding": 1, "activation": "relu"}, {"type": "maxpool2d"},
    {"type": "conv2d", "filters": 8, "padding": 1, "activation": "relu"}, {"type": "flatten"},
    {"type": "dense", "units": 16, "activation": "relu"},
]).replace(" ", "")


@pytest.mark.parametrize("width", [800, 1280, 1920])
@pytest.mark.parametrize(
    "hash_",
    [f"#model.layers={six_layers()}", f"#data.dataset=digits&model.layers={CONV_STACK}"],
    ids=["six-dense", "conv-stack"],
)
def test_network_headers_do_not_overlap(page, width, hash_):
    page.set_viewport_size({"width": width, "height": 800})
    open_app(page, hash_)
    page.wait_for_function("document.querySelectorAll('#network .net-column-head').length >= 5")
    boxes = page.evaluate(HEADER_BOXES)
    network = page.locator("#network").bounding_box()
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left["right"] <= right["left"], f"{left['title']} overlaps {right['title']} at {width} px"
    assert boxes[0]["left"] >= network["x"] - 0.5
    assert boxes[-1]["right"] <= network["x"] + network["width"] + 0.5


def test_csv_error_says_what_is_wrong_once(page):
    page.expected_errors.append("status of 422")
    open_app(page)
    page.locator(".csv-file").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": b"a,b,label\n1,x,0\n2,3\n"}
    )
    wait_text(page, "csv-message", "Could not use broken.csv")
    message = page.text_content("#csv-message")
    assert message == "Could not use broken.csv: line 3 has 2 values but the header has 3 columns."


def test_model_json_and_npz_downloads_share_a_name(page):
    open_app(page, "#training.epochs=2")
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    page.click("#tab-runs-btn")
    page.wait_for_function("document.getElementById('download-npz').getAttribute('href')")
    names = []
    for link in ("#download-json", "#download-npz"):
        with page.expect_download() as download:
            page.click(link)
        names.append(download.value.suggested_filename)
    assert [Path(name).suffix for name in names] == [".json", ".npz"]
    assert Path(names[0]).stem == Path(names[1]).stem == f"nnplay-{page.evaluate('window.nnplay.run.id')}"


def test_cosine_t_max_follows_the_epochs(page):
    open_app(page)
    page.select_option('.field[data-path="schedule.name"] select', "cosine")
    assert config(page)["schedule"]["t_max"] == config(page)["training"]["epochs"] == 200
    type_into(page, "training.epochs", 300)
    assert config(page)["schedule"]["t_max"] == 300
    type_into(page, "schedule.t_max", 100)
    type_into(page, "training.epochs", 400)
    assert config(page)["schedule"]["t_max"] == 100


def test_choosing_adam_says_it_changes_the_learning_rate(page):
    open_app(page)
    page.select_option('.field[data-path="optimizer.name"] select', "adam")
    wait_text(page, "toast", "adam starts from its usual learning rate 0.001 (it was 0.03)")
    assert page.input_value("#live-lr") == "0.001"


NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("size", [(800, 800), (390, 844)], ids=["800px", "phone-portrait"])
def test_narrow_windows_do_not_scroll_sideways(page, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    open_app(page)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate("document.documentElement.scrollWidth")
    for selector in ("#play-btn", "#boundary-chart", "#network"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, selector
    page.click("#play-btn")
    page.locator("#boundary-chart").scroll_into_view_if_needed()
    page.wait_for_function("(document.getElementById('boundary-chart').layout?.images?.length ?? 0) > 0")
    page.click("#play-btn")
    wait_status(page, "paused", "completed")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)


def test_the_play_controls_stay_in_view_below_the_fold(page):
    open_app(page)
    page.locator(".histograms").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    box = page.locator("#play-btn").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 60
    page.click("#play-btn")
    wait_status(page, "running", "queued", "completed")


def test_neurons_are_reachable_by_keyboard_and_charts_have_text(page):
    open_app(page)
    page.focus(".net-node.input >> nth=0")
    wait_text(page, "boundary-note", "Showing feature x1")
    assert page.is_visible(".net-tooltip")
    page.keyboard.press("Tab")
    wait_text(page, "boundary-note", "Showing feature x2")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "feature x2"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "0 dense unit 1"
    page.evaluate("document.activeElement.blur()")
    page.wait_for_function("document.getElementById('boundary-note').textContent === ''")
    assert page.is_hidden(".net-tooltip")

    unlabelled = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot, [id$="-chart"]')]
        .filter((chart) => chart.getAttribute('role') !== 'img' || !chart.getAttribute('aria-label'))
        .map((chart) => chart.id)""")
    assert unlabelled == []
    step_once(page)
    page.wait_for_function("document.getElementById('loss-chart').ariaLabel.includes('At epoch 1')")


def test_sliders_set_noise_train_ratio_and_batch_size(page):
    open_app(page, "#data.dataset=spiral")
    page.wait_for_function("document.getElementById('data-info').textContent.includes('250 train')")
    field(page, "data.noise").locator(".slider").fill("30")
    page.wait_for_function("window.nnplay.state.config.data.noise === 30")
    assert field(page, "data.noise").locator(".control").input_value() == "30"
    field(page, "data.train_ratio").locator(".slider").fill("0.7")
    page.wait_for_function("document.getElementById('data-info').textContent.includes('350 train')")
    field(page, "training.batch_size.n").locator(".slider").fill("25")
    assert config(page)["training"]["batch_size"] == 25
    assert "data.noise=30" in page.url and "training.batch_size=25" in page.url
    slider = field(page, "data.noise").locator(".slider")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.nnplay.state.config.data.noise === 31")
    assert page.evaluate("document.activeElement.classList.contains('slider')")


def test_layers_up_to_16_units_show_a_picture_per_neuron(page):
    layers = json.dumps([
        {"type": "dense", "units": 16, "activation": "tanh"},
        {"type": "dense", "units": 40},
    ])
    open_app(page, "#model.layers=" + layers.replace(" ", ""))
    page.wait_for_function("document.querySelectorAll('.net-node.hidden').length > 0")
    assert page.locator(".net-node.hidden:not(.compact)").count() == 16
    assert page.locator(".net-node.hidden.compact").count() == 1
    step_once(page)
    page.hover(".net-node.hidden >> nth=15")
    wait_text(page, "boundary-note", "Showing 0 dense unit 16")
