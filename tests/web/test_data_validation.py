"""The playground's data.validation control: slider and box, checked like other fields, sent with the run."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(180)


def field(page, path: str):
    return page.locator(f'.sidebar .field[data-path="{path}"]')


def config(page) -> dict:
    return page.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config))")


def test_validation_split_is_set_checked_and_sent_with_the_run(page):
    open_app(page)
    validation = field(page, "data.validation")
    assert validation.locator(".control").input_value() == "0"
    validation.locator(".slider").fill("0.2")
    page.wait_for_function("window.nnplay.state.config.data.validation === 0.2")
    assert "data.validation=0.2" in page.url

    validation.locator(".control").fill("0.7")
    validation.locator(".control").press("Tab")
    error = validation.locator(".field-error")
    page.wait_for_function("(node) => node.textContent.includes('0.5')", arg=error.element_handle())
    assert config(page)["data"]["validation"] == 0.2
    validation.locator(".control").fill("0.25")
    validation.locator(".control").press("Tab")
    page.wait_for_function("window.nnplay.state.config.data.validation === 0.25")
    assert error.text_content() == ""

    with page.expect_request(lambda r: r.url.endswith("/api/runs") and r.method == "POST") as sent:
        page.click("#step-btn")
    assert sent.value.post_data_json["data"]["validation"] == 0.25
    page.wait_for_function("window.nnplay.latest?.epoch === 1", timeout=60_000)
    assert page.evaluate("typeof window.nnplay.latest.val_loss") == "number"


def test_a_validation_split_from_a_link_shows_where_it_is_set(page):
    open_app(page, "#data.validation=0.3")
    assert field(page, "data.validation").locator(".control").input_value() == "0.3"
    assert config(page)["data"]["validation"] == 0.3
