"""Every Lab view at 800, 1280 and 1920 px: chart titles, legends and axis titles do not overlap."""

from __future__ import annotations

import os
import time

import pytest

from tests.web.test_lab import SMALL_RUN, open_lab

pytestmark = pytest.mark.timeout(600)
SHOTS = os.environ.get("NNPLAY_SCREENSHOTS")
PARTS = (".gtitle", ".legend", ".xtitle", ".ytitle")

BOXES = """([section, selectors]) => [...document.querySelectorAll(`#lab-${section} .js-plotly-plot`)]
    .filter((plot) => plot.offsetParent !== null)
    .map((plot) => {
        const frame = plot.getBoundingClientRect();
        const parts = selectors.flatMap((selector) => [...plot.querySelectorAll(selector)].map((node) => {
            const r = node.getBoundingClientRect();
            return [selector, r.left, r.top, r.right, r.bottom];
        })).filter((box) => box[3] > box[1] && box[4] > box[2]);
        return {id: plot.id, frame: [frame.left, frame.top, frame.right, frame.bottom], parts};
    })"""


def overlaps(plots) -> list[str]:
    """Every pair of a plot's title, legend and axis titles that intersect, and any part outside its plot."""
    found = []
    for plot in plots:
        left0, top0, right0, bottom0 = plot["frame"]
        for i, (name, left, top, right, bottom) in enumerate(plot["parts"]):
            if left < left0 - 1 or top < top0 - 1 or right > right0 + 1 or bottom > bottom0 + 1:
                found.append(f"{plot['id']}: {name} leaves the plot")
            for other, left2, top2, right2, bottom2 in plot["parts"][i + 1 :]:
                if not (right <= left2 or right2 <= left or bottom <= top2 or bottom2 <= top):
                    found.append(f"{plot['id']}: {name} overlaps {other}")
    return found


def check(page, section: str, width: int, expected: int) -> list[str]:
    page.wait_for_timeout(300)
    plots = page.evaluate(BOXES, [section, list(PARTS)])
    assert len(plots) >= expected, f"{section} at {width} px: {len(plots)} plots drawn"
    sideways = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert sideways <= 0, f"{section} at {width} px scrolls sideways by {sideways} px"
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lab-{section}-{width}.png", full_page=True)
    return [f"{width} px {problem}" for problem in overlaps(plots)]


@pytest.fixture(scope="module")
def finished_run(browser, server_url):
    context = browser.new_context(base_url=server_url)
    response = context.request.post("/api/runs", data=SMALL_RUN)
    run_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while context.request.get(f"/api/runs/{run_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the run did not complete"
        time.sleep(0.2)
    context.close()
    return run_id


@pytest.mark.parametrize("width", [800, 1280, 1920])
def test_no_lab_chart_has_overlapping_titles_legends_or_axis_titles(page, finished_run, width):
    page.set_viewport_size({"width": width, "height": 900})
    problems = []
    open_lab(page, "activations")
    page.select_option("#lab-activation-group", "relu family")
    page.wait_for_function("document.getElementById('lab-activations-f').data.length === 6")
    problems += check(page, "activations", width, 2)

    page.click('.lab-nav [data-section="race"]')
    page.wait_for_selector('#lab-race[data-state="ready"]', timeout=30_000)
    problems += check(page, "race", width, 2)

    page.click('.lab-nav [data-section="init"]')
    page.wait_for_selector('#lab-init[data-state="ready"]', timeout=30_000)
    problems += check(page, "init", width, 3)

    page.click('.lab-nav [data-section="landscape"]')
    page.select_option("#lab-landscape-run", finished_run)
    page.click('#lab-landscape button:has-text("Compute")')
    page.wait_for_function(
        "document.querySelector('#lab-landscape .lab-status').textContent.includes('recorded epochs')",
        timeout=60_000,
    )
    problems += check(page, "landscape", width, 3)

    page.click('.lab-nav [data-section="conv"]')
    page.wait_for_selector('#lab-conv[data-state="ready"]', timeout=30_000)
    page.click('#lab-conv button:has-text("Run the check")')
    page.wait_for_selector("#lab-conv[data-shift]", timeout=60_000)
    problems += check(page, "conv", width, 2)

    page.click('.lab-nav [data-section="experiments"]')
    page.wait_for_selector('#lab-experiments[data-state="ready"]', timeout=30_000)
    card = page.locator('[data-name="symmetric_init"]')
    card.locator('button:has-text("Run the check")').click()
    page.wait_for_selector('[data-name="symmetric_init"] .lab-verdict:is(.passed, .failed)', timeout=120_000)
    problems += check(page, "experiments", width, 1)
    assert not problems, "; ".join(problems)
