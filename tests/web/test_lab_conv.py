"""The Lab's conv arithmetic view and the optimizer race's start point and checks, in Chromium."""

from __future__ import annotations

import os

import pytest

from tests.web.test_lab import assert_no_overlap, open_lab, plot

pytestmark = pytest.mark.timeout(180)
SHOTS = os.environ.get("NNPLAY_SCREENSHOTS")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_conv_view_steps_the_window_through_the_notes_example(page):
    open_lab(page, "conv")
    assert "4×4" in page.inner_text("#lab-conv .lab-quote")
    formula = page.inner_text("#lab-conv .lab-formula")
    assert "floor((4 + 2·1 − 3) / 1) + 1 = floor(3/1) + 1 = 4" in formula
    assert "✓ the engine's layers give conv2d (1, 4, 4) and maxpool2d (1, 2, 2)" in formula
    assert "position 1 of 16" in page.inner_text("#lab-conv .lab-position")
    window = page.locator("#lab-conv .lab-window")
    first = window.bounding_box()
    page.click('button[aria-label="next position"]')
    page.wait_for_function("document.getElementById('lab-conv').dataset.position === '1'")
    assert window.bounding_box()["x"] == pytest.approx(first["x"] + 22, abs=1)
    assert "window at (0, 1) → output (0, 1)" in page.inner_text("#lab-conv .lab-position")
    shot(page, "conv-padding")

    page.select_option("#lab-conv-example", "stride")
    formula = "document.querySelector('#lab-conv .lab-formula').textContent"
    page.wait_for_function(f"{formula}.includes('floor(4/3) + 1 = 2')")
    assert "1 row(s) and 1 column(s)" in page.inner_text("#lab-conv .lab-formula")
    page.locator("#lab-conv input[aria-label='window position']").evaluate(
        "(el) => { el.value = '3'; el.dispatchEvent(new Event('input')); }"
    )
    assert "window at (3, 3) → output (1, 1)" in page.inner_text("#lab-conv .lab-position")


def test_a_kernel_larger_than_the_padded_input_is_flagged_on_its_field(page):
    page.expected_errors = ["422"]
    open_lab(page, "conv")
    page.fill("#lab-conv-kernel-size", "7")
    page.dispatch_event("#lab-conv-kernel-size", "change")
    page.wait_for_selector('#lab-conv[data-state="error"]')
    status = page.inner_text("#lab-conv .lab-status")
    assert "kernel_size: kernel_size 7 is larger than the padded input 6" in status
    assert page.get_attribute("#lab-conv-kernel-size", "aria-invalid") == "true"
    page.fill("#lab-conv-padding", "9")
    page.dispatch_event("#lab-conv-padding", "change")
    page.wait_for_function(
        "document.querySelector('#lab-conv .lab-status').textContent.startsWith('padding')"
    )
    assert page.get_attribute("#lab-conv-padding", "aria-invalid") == "true"
    page.fill("#lab-conv-padding", "2")
    page.dispatch_event("#lab-conv-padding", "change")
    page.wait_for_selector('#lab-conv[data-state="ready"]')
    assert page.get_attribute("#lab-conv-kernel-size", "aria-invalid") is None
    assert "floor((4 + 2·2 − 7) / 1) + 1 = floor(1/1) + 1 = 2" in page.inner_text("#lab-conv .lab-formula")


def test_pooling_shift_check_draws_both_charts(page):
    open_lab(page, "conv")
    page.locator('#lab-conv input[aria-label="shift seed"]').fill("4")
    with page.expect_request(lambda r: r.url.endswith("/api/lab/pool-shift")) as sent:
        page.click('#lab-conv button:has-text("Run the check")')
    assert sent.value.post_data_json == {"seed": 4}
    page.wait_for_selector('#lab-conv[data-shift="passed"]', timeout=60_000)
    assert "✓ reproduced" in page.inner_text("#lab-conv .lab-verdict")
    for element_id in ("lab-conv-shift-change", "lab-conv-shift-kept"):
        traces = plot(page, element_id)
        assert [t["name"] for t in traces] == ["conv + ReLU", "after max pooling"] and traces[0]["x"] == 4
        assert_no_overlap(page, element_id, drawn=(".gtitle", ".legend", ".xtitle", ".ytitle"))
    shot(page, "conv-shift")


def test_race_start_by_typing_and_by_clicking_on_the_contour(page):
    open_lab(page, "race")
    page.wait_for_function("document.getElementById('lab-race').dataset.frame === '300'", timeout=30_000)
    assert page.input_value("#lab-race-start-x") == "-1.2"
    page.fill("#lab-race-start-x", "0.5")
    page.fill("#lab-race-start-y", "-0.5")
    with page.expect_request(lambda r: r.url.endswith("/api/lab/race")) as sent:
        page.click('#lab-race button:has-text("Race")')
    assert sent.value.post_data_json["start"] == [0.5, -0.5]
    start = "document.getElementById('lab-race-contour').data.find((t) => t.name === 'start')"
    page.wait_for_function(f"{start}.x[0] === 0.5 && {start}.y[0] === -0.5")

    box = page.locator("#lab-race-contour .nsewdrag").bounding_box()
    (x0, x1), (y0, y1) = page.evaluate(
        "['xaxis', 'yaxis'].map((a) => document.getElementById('lab-race-contour')._fullLayout[a].range)"
    )
    with page.expect_request(lambda r: r.url.endswith("/api/lab/race")) as sent:
        page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    x, y = sent.value.post_data_json["start"]
    assert x == pytest.approx(x0 + 0.75 * (x1 - x0), abs=0.02) and y == pytest.approx(
        y1 - 0.25 * (y1 - y0), abs=0.02
    )
    page.wait_for_function(f"{start}.x[0] === {x}")
    assert float(page.input_value("#lab-race-start-x")) == x


def test_two_valleys_race_and_its_check(page):
    open_lab(page, "race")
    page.select_option("#lab-race-surface", "two_valleys")
    page.fill("#lab-race-steps", "600")
    page.click('#lab-race button:has-text("Race")')
    page.wait_for_function("document.getElementById('lab-race').dataset.frame === '600'", timeout=30_000)
    rows = {
        row.split("\t")[0]: row.split("\t")[-1]
        for row in page.locator("#lab-race .lab-table tr").all_inner_texts()[1:]
    }
    assert rows["sgd"] == "★ (0.9601, 0)" and rows["momentum"] == "★ (-1.0356, 0)"
    page.click('#lab-race .lab-race-check button:has-text("Run the check")')
    page.wait_for_selector("#lab-race .lab-race-check .lab-verdict.passed", timeout=60_000)
    assert "plain SGD reaches the better minimum from 0%" in page.inner_text("#lab-race .lab-race-check")
    shot(page, "race-two-valleys")

    page.select_option("#lab-race-surface", "saddle")
    page.click('#lab-race .lab-race-check button:has-text("Run the check")')
    page.wait_for_selector("#lab-race .lab-race-check .lab-verdict.passed", timeout=60_000)
    verdict = page.inner_text("#lab-race .lab-race-check .lab-verdict")
    assert "plain SGD needs 314 steps" in verdict and "needs 65" in verdict
    page.select_option("#lab-race-surface", "quadratic")
    assert page.locator("#lab-race .lab-race-check button").count() == 0
