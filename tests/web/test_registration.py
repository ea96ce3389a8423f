"""An activation registered by this test alone reaches the catalog, the plan, the export and the builder.

The server runs in this process (uvicorn in a thread) so that it sees the registration; catalog and plan
answer from the server process, so no worker needs to know the new class.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Literal

import numpy as np
import pytest
import uvicorn
from pydantic import Field

from engine import Trainer, activations, catalog
from engine.activations import Activation
from engine.plan import run_torch
from engine.schema import Strict, validated
from server.app import create_app
from server.local import free_port
from server.settings import Settings
from tests.web.conftest import VIEWPORT, open_app
from tests.web.test_playground import config, field

torch = pytest.importorskip("torch")

NAME = "bent_identity"
LAYERS = [
    {"type": "dense", "units": 5, "activation": {"name": NAME, "scale": 0.8}},
    {"type": "dense", "units": 3},
]


class BentIdentityConfig(Strict):
    """y = x + scale * (sqrt(x^2 + 1) - 1)."""

    name: Literal["bent_identity"] = "bent_identity"
    scale: float = Field(0.5, ge=0, le=2)


class BentIdentity(Activation):
    """Bent identity: y = x + scale * (sqrt(x^2 + 1) - 1)."""

    Config = BentIdentityConfig
    torch_definition = """class BentIdentity(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x + self.scale * (torch.sqrt(x * x + 1) - 1)
"""

    def __init__(self, scale=0.5):
        super().__init__()
        self.scale = validated(self.Config, scale=scale).scale

    def torch(self, input_shape):
        return f"BentIdentity(scale={self.scale!r})"

    def f(self, x):
        return x + self.scale * (np.sqrt(x * x + 1) - 1)

    def df(self, x, y):
        return 1 + self.scale * x / np.sqrt(x * x + 1)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(activations.ACTIVATIONS, NAME, BentIdentity)
    catalog.catalog.cache_clear()
    yield
    catalog.catalog.cache_clear()


@pytest.fixture
def in_process_url(registered, tmp_path):
    """The app served by uvicorn in a thread of this process, which holds the registration."""
    settings = Settings(data_dir=tmp_path, max_runs=1)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the in-process server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def get(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_a_new_activation_is_in_the_catalog_the_plan_the_export_and_the_builder(in_process_url, browser):
    entry = get(f"{in_process_url}/api/catalog")["activations"][NAME]
    assert entry["doc"] == "Bent identity: y = x + scale * (sqrt(x^2 + 1) - 1)."
    assert entry["params"] == {"scale": {"type": "number", "default": 0.5, "minimum": 0.0, "maximum": 2.0}}

    run = {"data": {"dataset": "circle"}, "model": {"layers": LAYERS}, "dtype": "float64"}
    run["training"] = {"epochs": 3}
    planned = post(f"{in_process_url}/api/plan", run)
    bent = planned["layers"][1]
    assert (bent["index"], bent["type"], bent["name"], bent["class_name"]) == (
        1,
        "activation",
        NAME,
        "BentIdentity",
    )
    assert bent["options"] == {"scale": 0.8} and bent["torch"] == "BentIdentity(scale=0.8)"
    assert "class BentIdentity(nn.Module):" in planned["torch"]

    trainer = Trainer(run)
    list(trainer.epochs())
    exported = run_torch(planned["torch"])["model"]
    exported.load_state_dict(
        {key: torch.from_numpy(value) for key, value in trainer.model.state_dict().items()}
    )
    x = trainer.x_test[:50]
    with torch.no_grad():
        theirs = exported.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(trainer.model.predict(x), theirs, rtol=1e-12, atol=1e-12)

    context = browser.new_context(viewport=VIEWPORT, base_url=in_process_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_app(page)
        page.select_option("#add-layer-type", "activation")
        page.click("#add-layer-btn")
        names = page.locator('.field[data-path="model.layers.2.name"] select option')
        assert NAME in names.evaluate_all("(options) => options.map((o) => o.value)")
        page.select_option('.field[data-path="model.layers.2.name"] select', NAME)
        assert field(page, "model.layers.2.name.scale").locator(".control").input_value() == "0.5"
        assert config(page)["model"]["layers"][2] == {"type": "activation", "name": NAME, "params": {}}
        page.wait_for_function(
            f"document.getElementById('model-summary').textContent.includes('4 {NAME}')", timeout=30_000
        )
        page.click("#tab-runs-btn")
        page.wait_for_function(
            "document.getElementById('torch-snippet').textContent.includes('BentIdentity(scale=0.5)')"
        )
        assert "class BentIdentity(nn.Module):" in page.text_content("#torch-snippet")
    finally:
        context.close()
    assert errors == []
