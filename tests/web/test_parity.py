"""TF-Playground parity and look (issue 15): epoch-0 pictures, weight popup, dataset thumbnails, ∞ epochs,
TensorBoard histograms, a colour-blind-safe class palette, links by keyboard."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest

from tests.web.conftest import open_app
from tests.web.test_playground import config, type_into, wait_status, wait_text

OLD_CLASS_COLORS = ["#f59322", "#0877bd", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                    "#bcbd22", "#17becf"]
MIN_CONTRAST = 3.0
MIN_DELTA_E = 20.0
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
WHITE_XYZ = np.array([0.95047, 1.0, 1.08883])


def linear_rgb(hex_colors: list[str]) -> np.ndarray:
    """sRGB hex colours as linear RGB in [0, 1], (n, 3)."""
    srgb = np.array([[int(color[i : i + 2], 16) for i in (1, 3, 5)] for color in hex_colors]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def contrast_with_white(hex_colors: list[str]) -> np.ndarray:
    """WCAG contrast ratio (1.05) / (L + 0.05) of each colour against white."""
    return 1.05 / (linear_rgb(hex_colors) @ SRGB_TO_XYZ[1] + 0.05)


def cie_lab(linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of linear RGB rows."""
    xyz = np.clip(linear, 0, 1) @ SRGB_TO_XYZ.T / WHITE_XYZ
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def closest_pairs(hex_colors: list[str]) -> dict[str, tuple[float, str, str]]:
    """The closest pair (CIE76 ΔE) for normal vision and Machado et al. (2009) protanopia, deuteranopia."""
    linear = linear_rgb(hex_colors)
    closest = {}
    for vision, matrix in (("normal", np.eye(3)), ("protanopia", PROTANOPIA), ("deuteranopia", DEUTERANOPIA)):
        lab = cie_lab(linear @ matrix.T)
        closest[vision] = min(
            (float(np.linalg.norm(lab[i] - lab[j])), hex_colors[i], hex_colors[j])
            for i, j in itertools.combinations(range(len(hex_colors)), 2)
        )
    return closest


def palette_problems(hex_colors: list[str]) -> list[str]:
    problems = [
        f"{color} is {ratio:.2f}:1 on white"
        for color, ratio in zip(hex_colors, contrast_with_white(hex_colors), strict=True)
        if ratio < MIN_CONTRAST
    ]
    problems += [
        f"{a} and {b} are ΔE {distance:.1f} apart for {vision}"
        for vision, (distance, a, b) in closest_pairs(hex_colors).items()
        if distance < MIN_DELTA_E
    ]
    return problems


def test_the_palette_check_catches_the_old_palette():
    problems = palette_problems(OLD_CLASS_COLORS)
    assert "#f59322 is 2.31:1 on white" in problems
    assert any("protanopia" in problem for problem in problems)
    assert any("deuteranopia" in problem for problem in problems)


def test_class_colours_are_colour_blind_safe_with_contrast(page):
    open_app(page)
    colors = page.evaluate("import('/charts.js').then((charts) => charts.CLASS_COLORS)")
    assert len(colors) == 10
    assert palette_problems(colors) == []


HIST_TRACES = """() => document.getElementById('hist-chart').data.map((t) => ({fill: t.fill ?? null,
    fillcolor: t.fillcolor ?? null, points: t.x.length}))"""


def test_histograms_are_shaded_ridgelines_and_percentile_bands(page):
    open_app(page, "#training.epochs=600")
    page.click("#play-btn")
    wait_status(page, "completed", timeout=60_000)
    page.locator("#hist-chart").scroll_into_view_if_needed()
    page.wait_for_function("(document.getElementById('hist-chart').data?.length ?? 0) >= 4")
    ridges = page.evaluate(HIST_TRACES)
    assert all(trace["fill"] == "toself" for trace in ridges)
    fills = [trace["fillcolor"] for trace in ridges]
    assert len(set(fills)) == len(fills), "each epoch's ridge is shaded by its age"
    assert not any(fill.replace(" ", "").startswith("rgba(255,255,255") for fill in fills)

    page.select_option("#hist-view", "overlay")
    page.wait_for_function("document.getElementById('hist-chart').layout.shapes?.length === 5")
    shapes = page.evaluate("document.getElementById('hist-chart').layout.shapes")
    widths = [shape["x1"] - shape["x0"] for shape in shapes[:4]]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0, "0-100, 7-93, 16-84, 31-69 % bands"
    assert shapes[4]["x0"] == shapes[4]["x1"], "the median"
    overlay = page.evaluate(HIST_TRACES)
    assert overlay[-1]["fill"] == "tozeroy"


BOUNDARY_IMAGE = "document.getElementById('boundary-chart').layout?.images?.[0]?.source ?? null"
NEURON_PAINTED = """() => [...document.querySelectorAll('.net-node.hidden canvas')].every((canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return new Set(data).size > 4;
})"""
SERVER_PREVIEW = """(config) => fetch('/api/preview', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(config)}).then((r) => r.json())"""
MIDDLE = "(el) => { const b = el.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; }"
FOCUSED = "document.activeElement.getAttribute('aria-label')"


def wait_initial(page) -> None:
    page.wait_for_function("document.body.dataset.initial === 'shown' && window.nnplay.heavy?.epoch === 0"
                           " && document.querySelector('.net-links .link.editable')?.style.stroke")


def test_the_untrained_network_is_drawn_before_play_and_follows_the_setup(page):
    open_app(page, "#seed=3")
    wait_initial(page)
    assert page.evaluate("window.nnplay.run") is None
    assert page.text_content("#epoch-counter") == "0"
    page.wait_for_function(BOUNDARY_IMAGE)
    first = page.evaluate(BOUNDARY_IMAGE)
    page.wait_for_function(NEURON_PAINTED)
    shown = page.evaluate("window.nnplay.heavy.weights['0'].weight")
    server = page.evaluate(SERVER_PREVIEW, config(page))
    assert server["epoch"] == 0
    assert np.allclose(shown, decode_weight(server["weights"]["0"]["weight"]), atol=0)

    type_into(page, "seed", 4)
    page.wait_for_function(f"(first) => ({BOUNDARY_IMAGE}) && ({BOUNDARY_IMAGE}) !== first", arg=first)
    assert page.evaluate("window.nnplay.heavy.weights['0'].weight") != shown


def decode_weight(encoded: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded["data"]), "<f4").reshape(encoded["shape"])


def test_a_link_opens_the_weight_popup_and_the_edit_reaches_the_run(page):
    open_app(page)
    wait_initial(page)
    link = page.locator(".net-links .link.editable").first
    assert link.get_attribute("aria-label") == "Weight from x1 to 0 dense unit 1"
    before = page.evaluate("window.nnplay.heavy.weights['0'].weight[0][0]")
    box = link.evaluate(MIDDLE)
    page.mouse.click(*box)
    popup = page.locator(".weight-popup")
    popup.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "weight-input"
    assert float(page.input_value("#weight-input")) == pytest.approx(before, abs=1e-4)
    page.fill("#weight-input", "5000")
    page.keyboard.press("Enter")
    wait_text(page, "weight-error", "Weight must be ≤ 1000")
    assert page.evaluate("window.nnplay.run") is None

    page.fill("#weight-input", "2.5")
    page.keyboard.press("Enter")
    popup.wait_for(state="hidden")
    wait_status(page, "paused")
    run_id = page.evaluate("window.nnplay.run.id")
    model = page.evaluate("(id) => fetch(`/api/runs/${id}/model`).then((r) => r.json())", run_id)
    assert model["state_dict"]["0.weight"]["values"][0][0] == 2.5
    assert page.evaluate("window.nnplay.heavy.weights['0'].weight[0][0]") == 2.5
    assert page.evaluate(FOCUSED) == "Weight from x1 to 0 dense unit 1"
    assert "2.5000" in page.text_content(".net-tooltip")

    page.click("#step-btn")
    page.wait_for_function("window.nnplay.lastEpoch === 1 && window.nnplay.heavy?.epoch === 1")
    stepped = page.evaluate("window.nnplay.heavy.weights['0'].weight[0][0]")
    assert stepped != before and abs(stepped - 2.5) < 0.5


def test_links_are_reachable_by_keyboard_with_names(page):
    open_app(page)
    wait_initial(page)
    names = page.evaluate("""[...document.querySelectorAll('.net-links .link.editable')].map((link) =>
        [link.getAttribute('tabindex'), link.getAttribute('role'), link.getAttribute('aria-label')])""")
    assert len(names) == 2 * 4 + 4 * 2 + 2 * 1
    assert all(tab == "0" and role == "button" for tab, role, _ in names)
    assert all(label.startswith("Weight from ") for _, _, label in names)
    assert len({label for _, _, label in names}) == len(names)
    page.focus(".net-links .link.editable >> nth=0")
    assert page.is_visible(".net-tooltip") and "click or Enter to edit" in page.text_content(".net-tooltip")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED) == "Weight from x1 to 0 dense unit 2"
    page.keyboard.press("Enter")
    page.locator(".weight-popup").wait_for(state="visible")
    assert "x1 → 0 dense unit 2" in page.text_content(".weight-popup")
    page.keyboard.press("Escape")
    page.locator(".weight-popup").wait_for(state="hidden")
    assert page.evaluate(FOCUSED) == "Weight from x1 to 0 dense unit 2"
    assert page.evaluate("window.nnplay.run") is None


THUMBS = """[...document.querySelectorAll('.dataset-thumbs [role="radio"]')].map((thumb) => ({
    name: thumb.dataset.name, label: thumb.getAttribute('aria-label'),
    checked: thumb.getAttribute('aria-checked'), tabindex: thumb.getAttribute('tabindex')}))"""


def test_datasets_are_picked_from_thumbnails_by_mouse_or_keyboard(page):
    open_app(page)
    page.wait_for_function("document.querySelectorAll('.dataset-thumbs canvas[data-painted]').length === 8")
    thumbs = page.evaluate(THUMBS)
    assert [thumb["name"] for thumb in thumbs] == ["circle", "xor", "gauss", "spiral", "plane", "multi_gauss",
                                                   "blobs", "moons"]
    assert thumbs[0]["label"] == "Circle" and thumbs[3]["label"] == "Spiral"
    assert [thumb["checked"] for thumb in thumbs] == ["true"] + ["false"] * 7
    assert [thumb["tabindex"] for thumb in thumbs] == ["0"] + ["-1"] * 7
    assert page.get_attribute(".dataset-thumbs", "role") == "radiogroup"

    page.click('.dataset-thumb[data-name="spiral"]')
    page.wait_for_function("window.nnplay.state.config.data.dataset === 'spiral'")
    page.focus('.dataset-thumb[aria-checked="true"]')
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.nnplay.state.config.data.dataset === 'plane'")
    assert page.evaluate("document.activeElement.dataset.name") == "plane"
    assert page.evaluate("document.activeElement.getAttribute('aria-checked')") == "true"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("window.nnplay.state.config.data.dataset === 'gauss'")
    assert page.input_value('.field[data-path="data.dataset"] select') == "gauss"
    assert "data.dataset=" in page.url


STOP_RUN = """(id) => fetch(`/api/runs/${id}/control`, {method: 'POST', headers: {'Content-Type':
    'application/json'}, body: JSON.stringify({action: 'stop'})}).then((response) => response.status)"""


def test_endless_training_goes_past_the_epochs_until_paused_or_stopped(page):
    page.expected_errors.append("status of 409")
    open_app(page, "#training.epochs=20")
    toggle = page.locator("#endless-btn")
    assert toggle.get_attribute("aria-pressed") == "false" and toggle.text_content() == "∞"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and "ui.endless=true" in page.url
    assert page.is_visible("#endless-hint")
    page.click("#play-btn")
    page.wait_for_function("window.nnplay.run !== null")
    run_id = page.evaluate("window.nnplay.run.id")
    page.wait_for_function("window.nnplay.lastEpoch >= 45", timeout=60_000)
    assert page.evaluate("window.nnplay.run.id") == run_id

    page.click("#play-btn")
    wait_status(page, "paused", "completed")
    paused_at = page.evaluate("window.nnplay.lastEpoch")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.nnplay.lastEpoch") == paused_at
    page.click("#play-btn")
    page.wait_for_function("(at) => window.nnplay.lastEpoch > at + 5", arg=paused_at, timeout=60_000)
    assert page.evaluate("window.nnplay.run.id") == run_id

    while page.evaluate(STOP_RUN, run_id) == 409:
        page.wait_for_timeout(100)
    wait_status(page, "stopped")
    stopped_at = page.evaluate("window.nnplay.lastEpoch")
    page.wait_for_timeout(1500)
    run = page.evaluate("(id) => fetch(`/api/runs/${id}`).then((r) => r.json())", run_id)
    assert run["status"] == "stopped" and run["epochs"] == stopped_at
    assert page.text_content("#run-status") == "stopped"
