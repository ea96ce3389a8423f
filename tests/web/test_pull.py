"""The page pulls heavy frames: one per frame it has drawn; a lost or forgotten `ready` never stalls it."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app
from tests.web.test_playground import wait_status

pytestmark = pytest.mark.timeout(300)

PROBE = r"""(() => {
  const seen = { heavy: [], ready: 0 };
  window.__pull = seen;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        const records = message.type === "epoch" ? [message.record] : message.records ?? [];
        for (const record of records) if (record.layers) seen.heavy.push([performance.now(), record.epoch]);
      });
    }
    send(data) {
      if (JSON.parse(data).type === "ready") seen.ready += 1;
      super.send(data);
    }
  };
})();"""

COUNT_DRAWN = """() => {
  const view = window.nnplay.runView;
  const hook = view.onHeavyDrawn;
  window.__drawn = 0;
  view.onHeavyDrawn = (epoch) => { window.__drawn += 1; hook?.(epoch); };
}"""


def start(page, epochs: int) -> None:
    page.context.add_init_script(PROBE)
    open_app(page, f"#training.epochs={epochs}")
    page.wait_for_function("!document.getElementById('play-btn').disabled", timeout=30_000)


def test_the_page_receives_no_more_heavy_frames_than_it_draws(page):
    """Each heavy frame answers a ready, but the run's last record: it leaves in full as the stream closes."""
    start(page, 1500)
    page.evaluate(COUNT_DRAWN)
    page.click("#play-btn")
    wait_status(page, "completed", timeout=240_000)
    page.wait_for_timeout(500)
    seen = page.evaluate("({ ...window.__pull, drawn: window.__drawn })")
    received = len(seen["heavy"])
    assert received >= 3, seen
    assert received <= seen["ready"] + 1, seen
    assert received <= 1.05 * seen["drawn"] + 3, seen
    assert page.evaluate("window.nnplay.heavy.epoch") == 1500


def test_without_the_drawn_hook_the_page_asks_again_and_the_view_keeps_up(page):
    start(page, 10_000)
    page.evaluate("window.nnplay.runView.onHeavyDrawn = null")
    page.click("#play-btn")
    page.wait_for_function("window.__pull.heavy.length >= 1", timeout=30_000)
    first = page.evaluate("window.nnplay.heavy.epoch")
    page.wait_for_timeout(5000)
    later = page.evaluate("({ epoch: window.nnplay.heavy.epoch, frames: window.__pull.heavy.length })")
    page.click("#play-btn")
    wait_status(page, "paused")
    assert later["frames"] >= 3, later
    assert later["epoch"] > first
