"""The browser draws from the engine's plan: outputs, loss, export, histogram kinds, one layer numbering."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from tests.web.conftest import open_app
from tests.web.test_playground import train_to_end, wait_status, wait_text

SPECIES = ("red", "green", "blue")
PLANNED = "document.body.dataset.plan === 'ready'"
OUTPUT_NODES = "document.querySelectorAll('#network .net-node.output').length"
OPTION_VALUES = "(options) => options.map((o) => o.value)"
TEXTS = "(elements) => elements.map((e) => e.textContent)"
TELEMETRY_LAYERS = "window.nnplay.heavy.layers.map((layer) => [layer.index, layer.type, layer.label])"
PRINT_OUTPUTS = """
with torch.no_grad():
    print("OUTPUTS", json.dumps(model(prepare(json.load(open("inputs.json")))).double().tolist()))
"""


def layers_hash(layers: list[dict]) -> str:
    return "#model.layers=" + json.dumps(layers).replace(" ", "")


def three_species_csv() -> bytes:
    rows = ["a,b,species"]
    for i in range(90):
        species = i % 3
        rows.append(f"{species * 2 + (i % 5) * 0.1},{(i * 7) % 11 * 0.2 - species},{SPECIES[species]}")
    return "\n".join(rows).encode()


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def step_once(page) -> None:
    page.click("#step-btn")
    page.wait_for_function("window.nnplay.lastEpoch === 1 && window.nnplay.heavy?.layers")
    wait_status(page, "paused")


def test_three_string_classes_get_three_outputs_and_an_export_that_runs(page, server_url, tmp_path):
    open_app(page, layers_hash([{"type": "dense", "units": 5, "activation": "tanh"}]))
    page.locator(".csv-file").set_input_files(
        {"name": "species.csv", "mimeType": "text/csv", "buffer": three_species_csv()}
    )
    wait_text(page, "csv-message", "Loaded species.csv")
    page.wait_for_function(f"{PLANNED} && {OUTPUT_NODES} === 3")
    assert "loss cross_entropy" in page.text_content("#model-summary tfoot")
    loss_choice = page.locator('.field[data-path="loss"] option[value="auto"]').text_content()
    assert loss_choice == "auto (cross_entropy)"

    train_to_end(page, 5)
    run_id = page.evaluate("window.nnplay.run.id")
    page.click("#tab-runs-btn")
    page.wait_for_function(
        "document.getElementById('download-json').getAttribute('href')?.includes('/model')"
    )
    snippet = page.text_content("#torch-snippet")
    with urllib.request.urlopen(f"{server_url}/api/runs/{run_id}/model") as response:
        (tmp_path / "model.json").write_bytes(response.read())
    inputs = [[0.5, -0.2], [2.1, 0.4], [4.3, -1.8], [-1.0, 1.0]]
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    (tmp_path / "rebuild.py").write_text(snippet + PRINT_OUTPUTS)
    result = subprocess.run(
        [sys.executable, "rebuild.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    printed = next(line for line in result.stdout.splitlines() if line.startswith("OUTPUTS "))
    outputs = json.loads(printed.removeprefix("OUTPUTS "))
    expected = post(f"{server_url}/api/runs/{run_id}/predict", {"inputs": inputs})["outputs"]
    assert len(outputs[0]) == 3
    for row, want in zip(outputs, expected, strict=True):
        for value, wanted in zip(row, want, strict=True):
            assert abs(value - wanted) <= 1e-5 * max(1.0, abs(wanted))


def _keys(value) -> tuple:
    return tuple(value) if isinstance(value, dict) else ()


def recorded_histograms(server_url: str, run_id: str) -> list[str]:
    with urllib.request.urlopen(f"{server_url}/api/runs/{run_id}/epochs?full=1") as response:
        layers = json.loads(response.read())[-1]["layers"]
    fields = [key for layer in layers for key, value in layer.items() if "histogram" in _keys(value)]
    return list(dict.fromkeys(fields))


def test_histogram_view_offers_only_what_the_engine_records(page, server_url):
    open_app(page)
    assert "bias" not in page.eval_on_selector_all("#hist-kind option", OPTION_VALUES)
    step_once(page)
    page.wait_for_function("document.querySelectorAll('#hist-kind option').length > 0")
    offered = page.eval_on_selector_all("#hist-kind option", OPTION_VALUES)
    assert offered == recorded_histograms(server_url, page.evaluate("window.nnplay.run.id"))
    assert "weight" in offered and "bias" not in offered
    assert "biases" not in page.text_content("#hist-kind")


def test_cards_diagram_and_telemetry_share_one_numbering(page):
    open_app(
        page,
        layers_hash(
            [
                {"type": "dense", "units": 4, "activation": "tanh"},
                {"type": "dropout", "p": 0.2},
                {"type": "dense", "units": 3, "activation": None},
                {"type": "activation", "name": "relu", "params": {}},
            ]
        ),
    )
    page.wait_for_function(PLANNED)
    step_once(page)
    telemetry = page.evaluate(TELEMETRY_LAYERS)
    labels = {index: label for index, _, label in telemetry}
    assert [(index, kind) for index, kind, _ in telemetry] == [
        (0, "dense"),
        (1, "tanh"),
        (2, "dropout"),
        (3, "dense"),
        (4, "relu"),
        (5, "dense"),
    ]
    assert all(label.startswith(f"{index} ") for index, label in labels.items())

    cards = page.eval_on_selector_all(".layer-card .layer-number", TEXTS)
    assert cards == ["0–1", "2", "3", "4"]
    page.wait_for_function("document.querySelectorAll('#network .net-title').length > 0")
    titles = page.eval_on_selector_all("#network .net-title", TEXTS)
    headers = [title for title in titles if title[0].isdigit()]
    assert headers == ["0 dense", "3 dense", "5 output"]
    for header in headers:
        assert int(header.split()[0]) in labels
    summary = page.eval_on_selector_all("#model-summary tbody tr:not(.input-row) td:first-child", TEXTS)
    assert [cell.split()[0] for cell in summary] == [str(index) for index in labels]


def test_a_broken_server_limit_warns_on_the_field_it_names(page):
    layers = [{"type": "dense", "units": 400, "activation": "relu"}, {"type": "dense", "units": 400}]
    open_app(page, layers_hash(layers) + "&data.n_samples=2000&training.epochs=5000")
    warning = page.locator(".sidebar .plan-warning")
    warning.wait_for()
    problem = page.evaluate("window.nnplay.planProblem")
    assert warning.text_content() == problem["msg"]
    path = warning.evaluate("(w) => w.closest('.field').dataset.path")
    assert path == ".".join(str(part) for part in problem["loc"] if part != "body")
    assert page.locator("#model-errors").text_content() == problem["msg"]
