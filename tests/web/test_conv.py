"""Conv nets in the browser: a net built in the UI on digits shows its filters and a sample's feature maps."""

from __future__ import annotations

from tests.web.conftest import open_app
from tests.web.test_playground import config, field, type_into, wait_param_count, wait_status

CANVAS_INK = """(canvas) => {
    const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
    return {width: canvas.width, height: canvas.height, colours: colours.size, url: canvas.toDataURL()};
}"""


def add_layer(page, kind: str) -> None:
    page.select_option("#add-layer-type", kind)
    page.click("#add-layer-btn")


def wait_trained(page, epochs: int) -> None:
    page.wait_for_function("(epochs) => window.nnplay.lastEpoch > epochs", arg=epochs, timeout=30_000)


def feature_rows(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#feature-maps .fmap-row')].map((row) => ({
        name: row.querySelector('.fmap-name').textContent,
        detail: row.querySelector('.fmap-detail').textContent,
        scale: row.querySelector('.fmap-scale').textContent,
        canvases: row.querySelectorAll('canvas').length,
    }))""")


def map_ink(page, row: int, channel: int) -> dict:
    canvas = page.locator("#feature-maps .fmap-row").nth(row).locator("canvas").nth(channel)
    return canvas.evaluate(CANVAS_INK)


def test_conv_net_built_from_the_ui_shows_feature_maps(page):
    open_app(page)
    page.select_option('.field[data-path="data.dataset"] select', "digits")
    page.wait_for_function("document.getElementById('data-info').textContent.includes('10 classes')")
    assert page.locator("#boundary-chart").is_hidden() and page.locator("#output-toggles").is_hidden()
    assert page.text_content("#boundary-note").startswith("The decision boundary is drawn for 2-D datasets")
    type_into(page, "data.n_samples", 300)
    type_into(page, "training.epochs", 3000)
    assert page.text_content("#hidden-count") == "3 hidden layers"
    for _ in range(3):
        page.click("#remove-hidden")
    assert page.text_content("#hidden-count") == "0 hidden layers"

    add_layer(page, "conv2d")
    type_into(page, "model.layers.0.filters", 4)
    add_layer(page, "activation")
    assert field(page, "model.layers.1.name").locator("select").input_value() == "relu"
    add_layer(page, "maxpool2d")
    add_layer(page, "flatten")
    layers = config(page)["model"]["layers"]
    assert [layer["type"] for layer in layers] == ["conv2d", "activation", "maxpool2d", "flatten"]
    assert layers[1] == {"type": "activation", "name": "relu", "params": {}}
    wait_param_count(page, 4 * 9 + 4 + 4 * 3 * 3 * 10 + 10)
    assert page.locator("#model-errors").count() == 0
    page.locator("#conv-section").scroll_into_view_if_needed()
    page.wait_for_function("document.getElementById('feature-maps').textContent.includes('Train to see')")

    page.click("#play-btn")
    page.locator("#conv-section").scroll_into_view_if_needed()
    page.wait_for_function(
        "document.querySelectorAll('#feature-maps .fmap-row').length === 4", timeout=30_000
    )
    wait_trained(page, 2)
    rows = feature_rows(page)
    assert [(row["name"], row["detail"], row["canvases"]) for row in rows] == [
        ("input", rows[0]["detail"], 1),
        ("0 conv2d", "4×6×6", 4),
        ("1 relu", "4×6×6", 4),
        ("2 maxpool2d", "4×3×3", 4),
    ]
    assert rows[0]["detail"].startswith("label ")
    assert rows[1]["scale"].startswith("±")

    image = map_ink(page, 0, 0)
    assert (image["width"], image["height"]) == (8, 8)
    assert image["colours"] > 2
    conv = [map_ink(page, 1, channel) for channel in range(4)]
    assert all((ink["width"], ink["height"]) == (6, 6) for ink in conv)
    assert max(ink["colours"] for ink in conv) > 2
    assert page.locator("#filters canvas").count() == 4

    before = [ink["url"] for ink in conv]
    wait_trained(page, page.evaluate("window.nnplay.lastEpoch") + 3)
    page.wait_for_function(
        """([urls]) => [...document.querySelectorAll('#feature-maps .fmap-row')[1].querySelectorAll('canvas')]
            .some((canvas, i) => canvas.toDataURL() !== urls[i])""",
        arg=[before],
        timeout=30_000,
    )

    page.click("#play-btn")
    wait_status(page, "paused")
    assert feature_rows(page)[1]["canvases"] == 4


def test_feature_maps_off_says_so(page):
    open_app(
        page,
        "#data.dataset=digits&data.n_samples=100&training.epochs=2&telemetry.feature_maps=false&model.layers="
        '[{"type":"conv2d","filters":2},{"type":"flatten"}]',
    )
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    page.locator("#conv-section").scroll_into_view_if_needed()
    page.wait_for_function(
        "document.getElementById('feature-maps').textContent.includes('Feature maps are off')"
    )
    assert page.locator("#filters canvas").count() == 2
