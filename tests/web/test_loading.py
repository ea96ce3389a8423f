"""Loading: the run controls wait for the app; reopening a long run reads scalars and a bounded set of heavy
records, not every epoch in full."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app

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


REOPEN_LIMIT = 5 * 2**20
BOUNDED_HEAVY_BYTES = 1.5 * 2**20


def trained_run(page, **config) -> str:
    response = page.request.post("/api/runs", data={"training": {"epochs": 2000}, **config})
    assert response.status == 201, response.text()
    run_id = response.json()["id"]
    for _ in range(1200):
        if page.request.get(f"/api/runs/{run_id}").json()["status"] == "completed":
            return run_id
        page.wait_for_timeout(100)
    raise AssertionError(f"run {run_id} did not complete")


def reopen_bytes(page, run_id: str) -> tuple[int, list[str]]:
    """Open the run from the Runs tab; the bytes on the wire (CDP encodedDataLength) of its requests."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent", lambda sent: urls.update({sent["requestId"]: sent["request"]["url"]}))
    cdp.on("Network.loadingFinished", lambda end: sizes.update({end["requestId"]: end["encodedDataLength"]}))
    page.click("#tab-runs-btn")
    page.locator(f'#runs-body tr[data-id="{run_id}"] button:text("Open")').click()
    opened = "window.nnplay.lastEpoch === 2000 && window.nnplay.heavy?.epoch === 2000"
    page.wait_for_function(opened, timeout=60_000)
    page.wait_for_function("(document.getElementById('boundary-chart').layout?.images?.length ?? 0) > 0")
    page.wait_for_function("nnplay.histories.length > 50 && nnplay.runView.grad.xs[0].length > 50")
    page.wait_for_timeout(500)
    mine = [request for request, url in urls.items() if f"/api/runs/{run_id}" in url]
    return sum(sizes.get(request, 0) for request in mine), [urls[request] for request in mine]


@pytest.mark.timeout(300)
def test_reopening_a_2000_epoch_run_reads_at_most_200_of_its_2000_heavy_records(page):
    """Measured: 0.63 MB on the wire; every epoch in full (full=1, gzip) was 4.6 MB."""
    open_app(page)
    run_id = trained_run(page, telemetry={"every": 1})
    transferred, urls = reopen_bytes(page, run_id)
    assert transferred <= min(REOPEN_LIMIT, BOUNDED_HEAVY_BYTES), (transferred, urls)
    assert not any("full=1" in url for url in urls)
    assert page.evaluate("window.nnplay.histories.length") <= 300
