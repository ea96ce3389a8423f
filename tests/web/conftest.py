"""Browser fixtures: the real server on a loopback port, headless Chromium, a page that records errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.local import LocalServer

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NNPLAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 720}

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (set NNPLAY_CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("nnplay-data")
    with open(data_dir / "server.log", "wb") as log:
        server = LocalServer(data_dir, {"NNPLAY_MAX_RUNS": "2"}, log=log).start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


STOP_ACTIVE_RUN = """async () => {
    const run = window.nnplay?.run;
    if (run && ["queued", "running", "paused"].includes(run.status)) {
        await fetch(`/api/runs/${run.id}/control`, {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({action: "stop"}),
        });
    }
}"""


@pytest.fixture
def page(browser, server_url):
    """A fresh page at 1280x720; the test fails if the page logs an error or throws.

    A test that provokes an HTTP error on purpose lists its text in `page.expected_errors`.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=server_url)
    page = context.new_page()
    page.expected_errors = []
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    yield page
    page.evaluate(STOP_ACTIVE_RUN)
    context.close()
    unexpected = [error for error in errors if not any(allowed in error for allowed in page.expected_errors)]
    assert unexpected == [], f"the page reported errors: {unexpected}"


def open_app(page, hash_: str = "") -> None:
    page.goto(f"/{hash_}")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
