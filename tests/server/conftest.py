"""Fixtures for the server tests: small run configs, an in-process TestClient and real uvicorn servers."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.local import LocalServer
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
IN_FLIGHT = ("queued", "running", "paused")
CLIENT_HEADERS = {"X-Requested-With": "nnplay"}

SMALL: dict[str, Any] = {
    "data": {"dataset": "circle", "n_samples": 60},
    "model": {"layers": [{"type": "dense", "units": 3, "activation": "tanh"}]},
    "training": {"epochs": 5, "batch_size": "full"},
    "telemetry": {"every": 1, "bins": 5, "probe_size": 8, "grid_size": 10, "neuron_grid_size": 5},
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def small_config(epochs: int = 5, **extra: Any) -> dict[str, Any]:
    """A run of a few milliseconds per epoch: 60 points, 3 hidden units, light telemetry."""
    return merge(SMALL, {"training": {"epochs": epochs}, **extra})


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for TestClient, whose requests name the host `testserver`."""
    overrides = {"allowed_hosts": ["testserver"], **overrides}
    return Settings(data_dir=data_dir, web_dir=data_dir / "web", max_runs=2, **overrides)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


def wait_status(client: Any, run_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in statuses else None

    return wait_for(reached, timeout)


def receive_until(websocket: Any, *kinds: str) -> list[dict[str, Any]]:
    """Messages up to and including the first of one of the types `kinds`."""
    messages = []
    while True:
        message = websocket.receive_json()
        messages.append(message)
        if message["type"] in kinds:
            return messages


def epoch_records(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the live `epoch` and `epochs` messages, in order."""
    records = []
    for message in messages:
        if message["type"] == "epoch":
            records.append(message["record"])
        elif message["type"] == "epochs":
            records += message["records"]
    return records


def stop_all(client: Any) -> None:
    for run in client.get("/api/runs", params={"limit": 500}).json()["data"]:
        if run["status"] in IN_FLIGHT:
            client.post(f"/api/runs/{run['id']}/control", json={"action": "stop"})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per test module, two workers; runs left in flight are stopped after each test."""
    app = create_app(make_settings(tmp_path_factory.mktemp("data")))
    with TestClient(app, headers=CLIENT_HEADERS) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _stop_runs(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "client" in request.fixturenames:
        stop_all(request.getfixturevalue("client"))


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LocalServer]]:
    """A factory: live_server(env={...}, data_dir=...) starts a server; all are stopped at the end."""
    servers: list[LocalServer] = []

    def start(env: dict[str, str] | None = None, data_dir: Path | None = None) -> LocalServer:
        server = LocalServer(data_dir or tmp_path / "data", {"NNPLAY_MAX_RUNS": "2", **(env or {})})
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
