"""The playground's gradient clipping field and the validation split's loss trace and sample count."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(180)

CLIP = "training.clip_grad_norm"


def field(page, path: str):
    return page.locator(f'.sidebar .field[data-path="{path}"]')


def state(page, path: str):
    return page.evaluate(
        "(path) => path.split('.').reduce((node, key) => node[key], window.nnplay.state.config)", path
    )


def type_into(page, path: str, value) -> None:
    control = field(page, path).locator(".control")
    control.fill(str(value))
    control.press("Tab")


def train(page, epochs: int) -> dict:
    """Play a run of `epochs` epochs to the end; return the run as GET /api/runs/{id} has it."""
    type_into(page, "training.epochs", epochs)
    page.click("#play-btn")
    status = "document.getElementById('run-status').textContent"
    page.wait_for_function(f"{status} === 'completed'", timeout=90_000)
    return page.request.get(f"/api/runs/{page.evaluate('window.nnplay.run.id')}").json()


def loss_traces(page, epochs: int) -> list[dict]:
    """The loss chart's traces once they hold `epochs` points (a chart redraw can trail the run)."""
    drawn = "(n) => document.getElementById('loss-chart').data?.[0]?.x?.length === n"
    page.wait_for_function(drawn, arg=epochs)
    return page.evaluate(
        "Array.from(document.getElementById('loss-chart').data,"
        " (t) => ({name: t.name, color: t.line.color, x: [...t.x], y: [...t.y]}))"
    )


def test_clip_grad_norm_is_switched_on_checked_and_sent_with_the_run(page):
    open_app(page)
    switch = field(page, f"{CLIP}.on").locator(".control")
    assert not switch.is_checked() and field(page, CLIP).count() == 0
    assert state(page, CLIP) is None

    switch.check()
    page.wait_for_function("window.nnplay.state.config.training.clip_grad_norm === 1")
    assert field(page, CLIP).locator(".control").input_value() == "1"
    assert f"{CLIP}=1" in page.url

    error = field(page, CLIP).locator(".field-error")
    for bad, says in (("0", "> 0"), ("2000000", "≤ 1000000"), ("", "is required")):
        type_into(page, CLIP, bad)
        assert says in error.text_content(), (bad, error.text_content())
        assert field(page, CLIP).locator(".control").get_attribute("aria-invalid") is not None
        assert state(page, CLIP) == 1
    type_into(page, CLIP, "0.5")
    page.wait_for_function("window.nnplay.state.config.training.clip_grad_norm === 0.5")
    assert error.text_content() == ""
    assert f"{CLIP}=0.5" in page.url

    run = train(page, 3)
    assert run["config"]["training"]["clip_grad_norm"] == 0.5

    field(page, f"{CLIP}.on").locator(".control").uncheck()
    page.wait_for_function("window.nnplay.state.config.training.clip_grad_norm === null")
    assert field(page, CLIP).count() == 0 and CLIP not in page.url


def test_clip_grad_norm_from_a_link_and_from_the_lab(page):
    open_app(page, f"#{CLIP}=2.5")
    assert field(page, f"{CLIP}.on").locator(".control").is_checked()
    assert field(page, CLIP).locator(".control").input_value() == "2.5"
    assert state(page, CLIP) == 2.5

    open_app(page, f"#{CLIP}=-1")
    assert "> 0" in field(page, CLIP).locator(".field-error").text_content()
    page.wait_for_function("document.body.dataset.plan === 'invalid'")

    page.click("#tab-lab-btn")
    page.click('.lab-nav [data-section="experiments"]')
    page.wait_for_selector('#lab-experiments[data-state="ready"]', timeout=30_000)
    page.locator('[data-name="exploding_gradients"] button:has-text("Load “clipped at 1”")').click()
    page.wait_for_function("document.getElementById('tab-play-btn').getAttribute('aria-selected') === 'true'")
    page.wait_for_function("window.nnplay.state.config.training.clip_grad_norm === 1")
    assert field(page, f"{CLIP}.on").locator(".control").is_checked()
    assert field(page, CLIP).locator(".control").input_value() == "1"
    assert field(page, CLIP).locator(".field-error").text_content() == ""
    assert f"{CLIP}=1" in page.url


def test_validation_loss_has_its_own_trace_and_the_data_line_counts_the_held_out_samples(page):
    open_app(page, "#data.validation=0.2")
    config = page.evaluate("JSON.parse(JSON.stringify(window.nnplay.state.config))")
    plan = page.request.post("/api/plan", data=config).json()
    held, kept = plan["validation_samples"], plan["train_samples"]
    assert held > 0
    page.wait_for_function(
        "(text) => document.getElementById('data-info').textContent.includes(text)",
        arg=f"Validation holds out {held} of the {held + kept} training samples.",
    )

    run = train(page, 4)
    assert run["config"]["data"]["validation"] == 0.2
    epochs = page.request.get(f"/api/runs/{run['id']}/epochs").json()
    val_losses = [record["val_loss"] for record in epochs]
    assert all(isinstance(value, float) for value in val_losses)
    traces = loss_traces(page, 4)
    assert [trace["name"] for trace in traces] == ["train", "test", "validation"]
    colors = [trace["color"] for trace in traces]
    assert colors[2] and len(set(colors)) == 3
    assert traces[2]["x"] == [1, 2, 3, 4]
    assert traces[2]["y"] == pytest.approx(val_losses)
    assert traces[2]["y"] != pytest.approx(traces[1]["y"])
    assert page.locator("#val-legend").is_visible()
    assert "validation" in page.get_attribute("#loss-chart", "aria-label")

    type_into(page, "data.validation", 0)
    page.wait_for_function("!document.getElementById('data-info').textContent.includes('Validation')")
    train(page, 2)
    assert [trace["name"] for trace in loss_traces(page, 2)] == ["train", "test"]
    assert not page.locator("#val-legend").is_visible()
