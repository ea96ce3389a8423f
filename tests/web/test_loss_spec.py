"""The Loss control is a spec: the loss and its parameters go with the run, links and loaded configs."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(180)

HUBER = {"name": "huber", "delta": 0.5}


def field(page, path: str):
    return page.locator(f'.sidebar .field[data-path="{path}"]')


def loss(page):
    return page.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config.loss))")


def wait_loss(page, expected) -> None:
    page.wait_for_function(
        "(expected) => JSON.stringify(window.nnplay.state.config.loss) === JSON.stringify(expected)",
        arg=expected,
    )


def set_delta(page, value) -> None:
    control = field(page, "loss.delta").locator(".control")
    control.fill(str(value))
    control.press("Tab")


def test_huber_with_its_delta_is_sent_with_the_run_and_kept_in_the_url(page, browser):
    open_app(page, "#data.dataset=plane&training.epochs=2")
    assert field(page, "loss.delta").count() == 0
    field(page, "loss").locator("select").select_option("huber")
    wait_loss(page, "huber")
    assert field(page, "loss.delta").locator(".control").input_value() == "1"

    set_delta(page, 0.5)
    wait_loss(page, HUBER)
    assert field(page, "loss.delta").locator(".field-error").text_content() == ""
    set_delta(page, 0)
    assert "> 0" in field(page, "loss.delta").locator(".field-error").text_content()
    assert loss(page) == HUBER
    set_delta(page, 0.5)
    assert field(page, "loss.delta").locator(".field-error").text_content() == ""
    assert 'loss={"name":"huber","delta":0.5}' in unquote(page.url)

    page.click("#play-btn")
    page.wait_for_function(
        "document.getElementById('run-status').textContent === 'completed'", timeout=90_000
    )
    run = page.request.get(f"/api/runs/{page.evaluate('window.nnplay.run.id')}").json()
    assert run["config"]["loss"] == HUBER

    other = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        other.goto(page.url)
        other.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
        assert loss(other) == HUBER
        assert other.input_value('.field[data-path="loss"] select') == "huber"
        assert other.input_value('.field[data-path="loss.delta"] .control') == "0.5"
    finally:
        other.close()

    set_delta(page, 1)
    wait_loss(page, "huber")
    assert "loss=huber" in page.url


def test_a_loaded_config_keeps_its_loss_object(page, tmp_path):
    open_app(page)
    config = page.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config))")
    config["data"]["dataset"] = "plane"
    config["loss"] = {"name": "huber", "delta": 0.25}
    (tmp_path / "setup.json").write_text(json.dumps(config))
    page.set_input_files("#import-file", str(tmp_path / "setup.json"))
    page.wait_for_function("window.nnplay.state.config.data.dataset === 'plane'")
    assert loss(page) == {"name": "huber", "delta": 0.25}
    assert page.evaluate("window.nnplay.state.problems") == []
    assert page.input_value('.field[data-path="loss"] select') == "huber"
    assert page.input_value('.field[data-path="loss.delta"] .control') == "0.25"

    open_app(page, '#data.dataset=plane&loss={"name":"smooth_l1","beta":0.125}')
    assert loss(page) == {"name": "smooth_l1", "beta": 0.125}
    assert page.evaluate("window.nnplay.state.problems") == []
    assert page.input_value('.field[data-path="loss.beta"] .control') == "0.125"
