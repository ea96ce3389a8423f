"""The browser app against a server that needs a token: it signs in from the URL fragment, streams
through the websocket subprotocol, and the token never reaches the server's access log."""

from __future__ import annotations

import pytest

from server.local import LocalServer
from tests.web.conftest import VIEWPORT

pytestmark = pytest.mark.timeout(180)

TOKEN = "browser-Token_7"


@pytest.fixture
def token_server(tmp_path):
    """A server that needs TOKEN and logs every request to `server.log_path`."""
    with open(tmp_path / "server.log", "wb") as log:
        env = {"NNPLAY_TOKEN": TOKEN, "NNPLAY_MAX_RUNS": "1"}
        server = LocalServer(tmp_path / "data", env, log=log, log_level="info").start()
        server.log_path = tmp_path / "server.log"
        try:
            yield server
        finally:
            server.stop()


def test_the_app_signs_in_from_the_fragment_and_keeps_the_token_out_of_urls(browser, token_server):
    context = browser.new_context(viewport=VIEWPORT, base_url=token_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.goto(f"/#token={TOKEN}&training.epochs=4")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    assert TOKEN not in page.url and "training.epochs=4" in page.url

    page.click("#play-btn")
    page.wait_for_function(
        "document.getElementById('run-status').textContent === 'completed'", timeout=60_000
    )
    assert page.text_content("#epoch-counter") == "4"
    page.click("#tab-runs-btn")
    page.wait_for_function(
        "document.getElementById('download-json').getAttribute('href')?.includes('/model')"
    )
    download = page.request.get(page.get_attribute("#download-json", "href"))
    assert download.status == 200 and "state_dict" in download.json()

    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.click("#tab-lab-btn")
    page.click('.lab-nav [data-section="init"]')
    page.wait_for_selector('#lab-init[data-state="ready"]', timeout=60_000)
    context.close()
    assert errors == []
    token_server.stop()
    access_log = token_server.log_path.read_text()
    assert "WebSocket /api/runs/" in access_log and "POST /api/lab/init" in access_log
    assert TOKEN not in access_log
