"""The Lab's backprop view: the graph drawn, stepped with buttons and keys, the gradients the API computed."""

from __future__ import annotations

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(180)
DEFAULT = "TF-Playground default: circle, 2-4-2-1 tanh"


def open_backprop(page) -> None:
    open_app(page)
    page.click("#tab-lab-btn")
    page.click('.lab-nav [data-section="backprop"]')
    page.wait_for_selector('#lab-backprop[data-state="ready"]', timeout=30_000)


def state(page) -> dict:
    return page.evaluate("({...document.getElementById('lab-backprop').dataset})")


def boxes(page, selector: str) -> list[list[float]]:
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((node) => {
            const r = node.getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom];
        })""",
        selector,
    )


def apart(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_the_graph_steps_forward_and_back_with_the_apis_gradients(page):
    open_backprop(page)
    preset = page.request.get("/api/lab").json()["backprop_presets"][DEFAULT]
    expected = page.request.post("/api/lab/backprop", data={"config": preset, "example": 0}).json()
    ids = [node["id"] for node in expected["nodes"]]
    assert page.locator("#lab-backprop-graph .bp-node").count() == len(ids) == 16
    assert page.locator("#lab-backprop-graph .bp-edge").count() == 8 + 4 + 8 + 2 + 2 + 1
    assert state(page) == {"state": "ready", "step": "0", "current": "x0", "phase": "forward"}
    assert page.locator('[data-node="x0"].bp-current').count() == 1

    page.click('#lab-backprop button:has-text("Next")')
    page.click('#lab-backprop button:has-text("Next")')
    assert state(page)["current"] == "z0.0" and page.locator("#lab-backprop-graph .bp-active").count() == 2
    assert "z¹₁ = Σ w·a + b" in page.inner_text("#lab-backprop-detail")
    value = page.text_content('[data-node="z0.0"] .bp-value')
    assert float(value) == pytest.approx(expected["nodes"][2]["value"], rel=1e-3)

    page.keyboard.press("End")
    assert state(page) == {
        "state": "ready",
        "step": str(2 * len(ids) - 1),
        "current": "x0",
        "phase": "backward",
    }
    assert page.locator('#lab-backprop button:has-text("Next")').is_disabled()
    page.keyboard.press("Home")
    assert state(page)["step"] == "0"
    backward_z = 2 * len(ids) - 1 - ids.index("z0.0")
    for _ in range(backward_z):
        page.keyboard.press("ArrowRight")
    assert state(page) == {"state": "ready", "step": str(backward_z), "current": "z0.0", "phase": "backward"}
    assert page.locator("#lab-backprop-graph .bp-back").count() == 1
    shown = {
        cell["param"]: float(cell["grad"])
        for cell in page.evaluate(
            "[...document.querySelectorAll('#lab-backprop-detail [data-param]')].map((c) => ({...c.dataset}))"
        )
    }
    assert shown == {
        "0.weight[0, 0]": expected["gradients"]["0.weight"][0][0],
        "0.weight[0, 1]": expected["gradients"]["0.weight"][0][1],
        "0.bias[0]": expected["gradients"]["0.bias"][0],
    }
    page.keyboard.press("ArrowLeft")
    assert state(page)["current"] == ids[ids.index("z0.0") + 1]

    cost = page.evaluate("({...document.getElementById('lab-backprop-cost').dataset})")
    assert int(cost["reverse"]) == expected["cost"]["reverse"]["multiply_adds"]
    assert int(cost["forward"]) == expected["cost"]["forward"]["multiply_adds"]
    assert "equal the engine's own backward pass" in page.inner_text("#lab-backprop-check")


def test_titles_labels_and_values_do_not_overlap(page):
    open_backprop(page)
    page.select_option("#lab-backprop-source", label="3-class spiral, 2-3-3 relu, softmax cross-entropy")
    page.wait_for_function(
        "document.getElementById('lab-backprop-graph').querySelectorAll('.bp-node').length === 12"
    )
    page.wait_for_selector('#lab-backprop[data-state="ready"]')
    page.keyboard.press("End")
    titles = boxes(page, "#lab-backprop-graph .bp-column")
    nodes = boxes(page, "#lab-backprop-graph .bp-node")
    assert len(titles) == 5 and len(nodes) == 12
    parts = titles + nodes
    for i, box in enumerate(parts):
        assert box[2] > box[0] and box[3] > box[1]
        for other in parts[i + 1 :]:
            assert apart(box, other), (box, other)
    controls = boxes(page, "#lab-backprop .lab-controls")[0]
    graph = boxes(page, "#lab-backprop-graph")[0]
    assert apart(controls, graph)


def test_the_playgrounds_network_opens_and_a_too_wide_one_is_refused(page):
    open_app(page)
    page.evaluate(
        """() => window.nnplay.state.replaceConfig({...window.nnplay.state.config,
            model: {layers: [{type: "dense", units: 3, activation: "sigmoid"}], output: true,
                    output_init: "default"}})"""
    )
    page.click("#tab-lab-btn")
    page.click('.lab-nav [data-section="backprop"]')
    page.wait_for_selector('#lab-backprop[data-state="ready"]', timeout=30_000)
    page.select_option("#lab-backprop-source", "playground")
    page.wait_for_function(
        "document.getElementById('lab-backprop-graph').querySelectorAll('.bp-node').length === 10"
    )
    assert "1: sigmoid" in page.text_content("#lab-backprop-graph")

    page.expected_errors.append("422")
    page.evaluate(
        """() => window.nnplay.state.replaceConfig({...window.nnplay.state.config,
            model: {layers: [{type: "dense", units: 9}], output: true, output_init: "default"}})"""
    )
    page.click('#lab-backprop button:has-text("Open")')
    page.wait_for_selector('#lab-backprop[data-state="error"]')
    assert "at most 8" in page.inner_text("#lab-backprop .lab-status")
