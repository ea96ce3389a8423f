"""The Lab's training experiments in Chromium: each check runs; figures keep titles and legends apart."""

from __future__ import annotations

import pytest

from tests.web.conftest import VIEWPORT
from tests.web.test_lab import open_lab

pytestmark = pytest.mark.timeout(240)

FIGURES = {
    "l1_vs_l2": ["histogram", "sparsity"],
    "batch_sizes": ["epochs", "updates", "time"],
    "ema_and_bias_correction": ["ema", "adam"],
    "batchnorm_init": ["init", "saturation"],
    "batchnorm_modes": ["loss", "modes"],
}
PARTS = (".gtitle", ".legend", ".xtitle", ".ytitle")


def boxes(page, element_id):
    """The bounding boxes of a plot's title, legend and axis titles, and of the plot itself."""
    return page.evaluate(
        """([id, parts]) => {
            const root = document.getElementById(id);
            const box = (node) => {
                const r = node.getBoundingClientRect();
                return [r.left, r.top, r.right, r.bottom];
            };
            const found = {};
            for (const part of parts) {
                const node = root.querySelector(part);
                if (node && node.getBoundingClientRect().height > 0) found[part] = box(node);
            }
            found.plot = box(root);
            return found;
        }""",
        [element_id, list(PARTS)],
    )


def assert_apart(page, element_id):
    found = boxes(page, element_id)
    assert set(found) >= {*PARTS, "plot"}, (element_id, found)
    left, top, right, bottom = found.pop("plot")
    names = list(found)
    for i, name in enumerate(names):
        a = found[name]
        inside = left - 1 <= a[0] and a[2] <= right + 1 and top - 1 <= a[1] and a[3] <= bottom + 1
        assert inside, f"{element_id}: {name} {a} is outside the plot {[left, top, right, bottom]}"
        for other in names[i + 1 :]:
            b = found[other]
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{element_id}: {name} {a} overlaps {other} {b}"


def run_check(page, name):
    card = page.locator(f'[data-name="{name}"]')
    card.locator('button:has-text("Run the check")').click()
    page.wait_for_selector(f'[data-name="{name}"] .lab-verdict.passed', timeout=120_000)
    page.wait_for_function(
        "([name, n]) => document.querySelectorAll(`#lab-figures-${name} .lab-figure .main-svg`).length >= n",
        arg=[name, len(FIGURES[name])],
    )
    return card


@pytest.mark.parametrize("width", [VIEWPORT["width"], 800])
def test_training_experiments_draw_their_figures_apart(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    open_lab(page, "experiments")
    for name, ids in FIGURES.items():
        card = run_check(page, name)
        assert card.locator(".lab-plot-experiment.drawn").count() == 0
        for figure_id in ids:
            element_id = f"lab-figure-{name}-{figure_id}"
            assert_apart(page, element_id)
            traces = page.evaluate("(id) => document.getElementById(id).data.length", element_id)
            assert traces >= 2


def test_figures_show_the_measured_numbers(page):
    open_lab(page, "experiments")
    card = run_check(page, "l1_vs_l2")
    assert "|w| < 0.001: L1" in card.locator(".lab-verdict").inner_text()
    assert "(λ/2)Σw²" in card.inner_text()
    sparsity = page.evaluate("document.getElementById('lab-figure-l1_vs_l2-sparsity').data[0]")
    assert sparsity["x"] == ["none", "l1", "l2"] and sparsity["y"][1] >= 0.4 > sparsity["y"][2]
    averages = run_check(page, "ema_and_bias_correction")
    assert "1−β1ᵗ" in averages.inner_text()
    assert averages.locator("button", has_text="Load").all_inner_texts() == ["Load “adam”"]
    adam = page.evaluate("document.getElementById('lab-figure-ema_and_bias_correction-adam').data")
    assert adam[0]["y"][0] == pytest.approx(1, abs=1e-3) and adam[1]["y"][0] == pytest.approx(3.16, abs=0.01)
    modes = run_check(page, "batchnorm_modes")
    assert "momentum = 0.1" in modes.inner_text()
    bars = page.evaluate("document.getElementById('lab-figure-batchnorm_modes-modes').data.map((t) => t.y)")
    bars = [y[0] for y in bars]
    assert bars[0] != bars[1] and len(bars) == 3
