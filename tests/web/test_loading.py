"""The run controls wait for the app: disabled and saying so until it has loaded."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)


def test_play_is_disabled_and_says_loading_until_the_app_has_loaded(page):
    held = []
    page.route("**/api/catalog", lambda route: held.append(route))
    page.goto("/")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the app never asked for the catalog"
    page.wait_for_function("document.getElementById('play-btn').disabled")
    assert page.get_attribute("#play-btn", "title") == "Loading…"
    assert page.get_attribute(".run-controls", "aria-busy") == "true"
    assert page.evaluate("[...document.querySelectorAll('.run-controls button')].every((b) => b.disabled)")
    page.click("#play-btn", force=True)
    held[0].continue_()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.wait_for_function("!document.getElementById('play-btn').disabled")
    assert page.get_attribute(".run-controls", "aria-busy") is None
    assert page.get_attribute("#play-btn", "title") == "Play / pause (space)"
    assert page.text_content("#run-status") == "ready" and page.text_content("#epoch-counter") == "0"
    page.click("#play-btn")
    page.wait_for_function("Number(document.getElementById('epoch-counter').textContent) > 0", timeout=30_000)
