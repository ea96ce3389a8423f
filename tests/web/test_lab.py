"""The Lab tab: each explorer renders its plots with data computed by the engine."""

from __future__ import annotations

import time

import pytest

from tests.web.conftest import open_app

pytestmark = pytest.mark.timeout(180)

SMALL_RUN = {
    "data": {"dataset": "circle", "n_samples": 60},
    "model": {"layers": [{"type": "dense", "units": 3, "activation": "tanh"}]},
    "training": {"epochs": 5, "batch_size": "full"},
}


def open_lab(page, section: str) -> None:
    open_app(page)
    page.click("#tab-lab-btn")
    page.click(f'.lab-nav [data-section="{section}"]')
    page.wait_for_selector(f'#lab-{section}[data-state="ready"]', timeout=30_000)


def plot(page, element_id: str):
    """The traces Plotly holds for a plot: [{type, x, y, z?}] with their lengths."""
    return page.evaluate(
        """(id) => (document.getElementById(id).data || []).map((t) => ({
            type: t.type || "scatter", name: t.name,
            x: t.x ? t.x.length : 0, y: t.y ? t.y.length : 0, z: t.z ? t.z.length : 0,
            last: t.y && t.y.length ? t.y[t.y.length - 1] : null }))""",
        element_id,
    )


def test_activation_explorer_draws_curves_derivatives_and_regions(page):
    open_lab(page, "activations")
    curves = plot(page, "lab-activations-f")
    assert [t["name"] for t in curves] == ["sigmoid", "hardsigmoid", "tanh", "hardtanh", "hard_logistic"]
    assert all(t["x"] == t["y"] == 401 for t in curves)
    assert len(plot(page, "lab-activations-df")) == 5
    assert "x/6 + 0.5" in page.inner_text("#lab-activations .lab-notes")
    shapes = page.evaluate("document.getElementById('lab-activations-df').layout.shapes.length")
    assert shapes >= 4
    assert "saturating: [-6, -4.38] [4.38, 6]" in page.inner_text("#lab-activations .lab-regions")

    page.select_option("#lab-activation-group", "relu family")
    page.wait_for_function("document.getElementById('lab-activations-f').data.length === 6")
    slider = page.locator('input[aria-label="leaky_relu negative_slope"]')
    slider.evaluate("(el) => { el.value = '0.5'; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function(
        """() => {
            const traces = document.getElementById('lab-activations-df').data;
            const leaky = traces.find((t) => t.name.startsWith('leaky_relu'));
            return leaky && leaky.name.includes('0.5') && Math.abs(leaky.y[0] - 0.5) < 1e-9;
        }"""
    )


def test_optimizer_race_animates_every_trajectory_on_the_contour(page):
    open_lab(page, "race")
    notes = page.inner_text("#lab-race .lab-controls")
    assert "v ← μv + g" in notes and "1e-10" in notes
    page.wait_for_function("document.getElementById('lab-race').dataset.frame === '300'", timeout=30_000)
    traces = plot(page, "lab-race-contour")
    assert traces[0]["type"] == "contour" and traces[0]["z"] == 81
    paths = [t for t in traces if t["name"] in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")]
    assert len(paths) == 6 and all(t["x"] == 301 for t in paths)
    assert all(t["y"] == 301 for t in plot(page, "lab-race-loss"))

    page.select_option("#lab-race-surface", "quadratic")
    page.fill('input[aria-label="sgd learning rate"]', "0.5")
    page.fill("#lab-race-steps", "40")
    page.click('#lab-race button:has-text("Race")')
    page.wait_for_function(
        "document.getElementById('lab-race-contour').layout.title.text.startsWith('quadratic')"
        " && document.getElementById('lab-race').dataset.frame === '40'",
        timeout=30_000,
    )
    rows = page.locator("#lab-race .lab-table tr")
    assert rows.count() == 7 and "completed" in rows.nth(1).inner_text()


DELAY_NEXT_RACE = """() => {
    const native = window.fetch;
    let delayed = false;
    window.fetch = async (path, init) => {
        const response = await native(path, init);
        if (path === "/api/lab/race" && !delayed) {
            delayed = true;
            await new Promise((resolve) => setTimeout(resolve, 1500));
        }
        return response;
    };
}"""


def test_a_race_superseded_while_its_request_is_out_never_draws(page):
    open_lab(page, "race")
    page.wait_for_function("document.getElementById('lab-race').dataset.frame === '300'", timeout=30_000)
    page.evaluate(DELAY_NEXT_RACE)
    page.select_option("#lab-race-surface", "quadratic")
    page.fill("#lab-race-steps", "40")
    page.click('#lab-race button:has-text("Race")')
    page.wait_for_function("document.getElementById('lab-race').dataset.frame === '40'", timeout=30_000)
    page.wait_for_timeout(2500)
    assert page.get_attribute("#lab-race", "data-frame") == "40"
    assert page.get_attribute("#lab-race", "data-state") == "ready"
    steps = page.locator("#lab-race .lab-table tr").nth(1).locator("td").nth(2).inner_text()
    assert steps == "40"
    assert all(trace["x"] == 41 for trace in plot(page, "lab-race-loss"))


def test_init_explorer_shows_collapse_and_saturation(page):
    open_lab(page, "init")
    stats = plot(page, "lab-init-stats")
    assert [t["name"] for t in stats] == ["std", "mean"] and stats[0]["y"] == 10
    assert plot(page, "lab-init-hist")[0]["type"] == "heatmap"
    assert plot(page, "lab-init-grads")[0]["y"] == 10

    page.select_option("#lab-init-initializer", "N(0, 0.01)")
    page.wait_for_function(
        "document.getElementById('lab-init-stats').data[0].y.at(-1) < 1e-6",
        timeout=30_000,
    )
    page.select_option("#lab-init-initializer", "N(0, 1)")
    summary = "document.querySelector('#lab-init .lab-summary').textContent"
    page.wait_for_function(f"{summary}.includes('saturated: 8')", timeout=30_000)


def test_loss_landscape_of_a_run_with_its_training_path(page):
    response = page.request.post("/api/runs", data=SMALL_RUN)
    assert response.status == 201
    run_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while page.request.get(f"/api/runs/{run_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the run did not complete"
        time.sleep(0.2)
    open_lab(page, "landscape")
    page.select_option("#lab-landscape-run", run_id)
    page.click('#lab-landscape button:has-text("Compute")')
    page.wait_for_function(
        "document.querySelector('#lab-landscape .lab-status').textContent.includes('recorded epochs')",
        timeout=60_000,
    )
    contour = plot(page, "lab-landscape-contour")
    assert contour[0]["type"] == "contour" and contour[0]["z"] == 21
    path = next(t for t in contour if t["name"] == "training path")
    assert path["x"] == 5
    on, off = (next(t for t in contour if t["name"] == name) for name in ("on the plane", "off the plane"))
    assert on["x"] + off["x"] == 5
    surface = plot(page, "lab-landscape-surface")
    assert surface[0]["type"] == "surface" and surface[0]["z"] == 21
    assert surface[1]["type"] == "scatter3d"
    along = plot(page, "lab-landscape-path")
    assert [t["name"] for t in along] == ["the path's own loss", "loss where it lands on the plane"]
    assert all(t["x"] == 5 for t in along)
    captured = float(page.get_attribute("#lab-landscape-path", "data-captured"))
    assert 0.9 < captured <= 1
    title = page.evaluate("document.getElementById('lab-landscape-path').layout.title.text")
    assert f"holds {100 * captured:.0f}% of the path" in title
    assert "PCA directions" in page.inner_text("#lab-landscape .lab-status")
    for element_id in ("lab-landscape-contour", "lab-landscape-path"):
        assert_no_overlap(page, element_id)

    page.select_option("#lab-landscape-basis", "random")
    page.click('#lab-landscape button:has-text("Compute")')
    page.wait_for_function(
        "document.querySelector('#lab-landscape .lab-status').textContent.includes('random directions')",
        timeout=60_000,
    )
    assert float(page.get_attribute("#lab-landscape-path", "data-captured")) < captured


def assert_no_overlap(page, element_id, drawn=(".gtitle", ".legend", ".xtitle")):
    """The plot's `drawn` parts are there and no two of its title, legend and axis titles intersect."""
    boxes = page.evaluate(
        """(id) => ['.gtitle', '.legend', '.xtitle', '.ytitle'].map((selector) => {
            const node = document.getElementById(id).querySelector(selector);
            if (!node) return null;
            const r = node.getBoundingClientRect();
            return [selector, r.left, r.top, r.right, r.bottom];
        }).filter((box) => box && box[3] > box[1])""",
        element_id,
    )
    assert {box[0] for box in boxes} >= set(drawn), boxes
    for i, (name, left, top, right, bottom) in enumerate(boxes):
        for other, left2, top2, right2, bottom2 in boxes[i + 1 :]:
            apart = right <= left2 or right2 <= left or bottom <= top2 or bottom2 <= top
            assert apart, f"{element_id}: {name} overlaps {other}"


def test_experiments_run_their_check_and_load_into_the_playground(page):
    open_lab(page, "experiments")
    cards = page.locator(".lab-experiment")
    assert cards.count() == len(page.request.get("/api/lab/experiments").json()) >= 14
    card = page.locator('[data-name="step_cannot_learn"]')
    card.locator('button:has-text("Run the check")').click()
    page.wait_for_selector('[data-name="step_cannot_learn"] .lab-verdict.passed', timeout=60_000)
    assert "with a sigmoid" in card.locator(".lab-verdict").inner_text()
    traces = plot(page, "lab-experiment-step_cannot_learn")
    assert len(traces) == 4 and all(t["x"] == 60 for t in traces)
    assert "dotted: test loss" in card.locator(".lab-caption").inner_text()
    assert_no_overlap(page, "lab-experiment-step_cannot_learn", drawn=(".legend", ".xtitle", ".ytitle"))
    adagrad = page.locator('[data-name="adagrad_vs_rmsprop"]')
    assert "1e-10" in adagrad.inner_text()
    adagrad.locator('input[aria-label="adagrad_vs_rmsprop seed"]').fill("3")
    with page.expect_request(lambda r: r.url.endswith("/adagrad_vs_rmsprop/run")) as sent:
        adagrad.locator('button:has-text("Run the check")').click()
    assert sent.value.post_data_json == {"seed": 3}
    page.wait_for_selector('[data-name="adagrad_vs_rmsprop"] .lab-verdict.passed', timeout=60_000)

    card.locator('button:has-text("Load “sigmoid”")').click()
    page.wait_for_function("document.getElementById('tab-play-btn').getAttribute('aria-selected') === 'true'")
    page.wait_for_function("window.nnplay.state.config.model.layers[0]?.activation === 'sigmoid'")
    assert page.evaluate("window.nnplay.state.config.optimizer.name") == "adam"
    assert "sigmoid" in page.evaluate("location.hash")


def test_exploding_gradients_experiment_draws_both_arms_without_overlap(page):
    open_lab(page, "experiments")
    card = page.locator('[data-name="exploding_gradients"]')
    assert "clip_grad_norm_" in card.inner_text()
    card.locator('button:has-text("Run the check")').click()
    page.wait_for_selector('[data-name="exploding_gradients"] .lab-verdict.passed', timeout=120_000)
    assert "diverged at epoch" in card.locator(".lab-verdict").inner_text()
    traces = plot(page, "lab-experiment-exploding_gradients")
    assert [t["name"] for t in traces] == ["no clipping", "clipped at 1"]
    assert traces[0]["x"] < 10 and traces[1]["x"] == 400
    axis = "document.getElementById('lab-experiment-exploding_gradients').layout.yaxis.type"
    assert page.evaluate(axis) == "log"
    assert_no_overlap(page, "lab-experiment-exploding_gradients", drawn=(".legend", ".xtitle", ".ytitle"))
