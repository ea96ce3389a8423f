"""REST runs: create, list, read, control, epochs, model, predict, delete, limits."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.config import RunConfig
from server.app import create_app
from server.store import Store
from tests.server.conftest import (
    epoch_records,
    make_settings,
    receive_until,
    small_config,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.timeout(90)


def create(client, **config):
    response = client.post("/api/runs", json=config)
    assert response.status_code == 201, response.text
    return response.json()


def epochs(client, run_id):
    return client.get(f"/api/runs/{run_id}/epochs").json()


def control(client, run_id, action, **values):
    response = client.post(f"/api/runs/{run_id}/control", json={"action": action, **values})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_returns_the_run(client):
    run = create(client, **small_config(epochs=3, name="first"))
    assert run["status"] == "queued" and run["name"] == "first"
    assert len(run["id"]) >= 20
    assert run["num_parameters"] == 3 * 2 + 3 + 3 + 1
    assert run["config"]["training"]["epochs"] == 3 and "paused" not in run["config"]
    done = wait_status(client, run["id"], "completed")
    assert done["started_at"] and done["finished_at"] and done["epochs"] == 3


def test_pause_step_resume_stop(client):
    run_id = create(client, **small_config(epochs=5000))["id"]
    wait_for(lambda: len(epochs(client, run_id)) >= 2)
    control(client, run_id, "pause")
    wait_status(client, run_id, "paused")
    count = len(epochs(client, run_id))
    time.sleep(0.3)
    assert len(epochs(client, run_id)) == count
    control(client, run_id, "step")
    wait_for(lambda: len(epochs(client, run_id)) == count + 1)
    wait_status(client, run_id, "paused")
    time.sleep(0.2)
    assert len(epochs(client, run_id)) == count + 1
    control(client, run_id, "resume")
    wait_for(lambda: len(epochs(client, run_id)) > count + 5)
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
    control(client, run_id, "stop")
    run = wait_status(client, run_id, "stopped")
    assert run["message"] == "stopped by the user"
    history = epochs(client, run_id)
    assert [e["epoch"] for e in history] == list(range(1, len(history) + 1))


def test_created_paused_waits_for_step(client):
    run_id = create(client, paused=True, **small_config(epochs=10))["id"]
    wait_status(client, run_id, "paused")
    time.sleep(0.2)
    assert epochs(client, run_id) == []
    control(client, run_id, "set", lr=0.2)
    control(client, run_id, "step")
    wait_for(lambda: len(epochs(client, run_id)) == 1)
    assert epochs(client, run_id)[0]["lr"] == 0.2
    control(client, run_id, "resume")
    assert wait_status(client, run_id, "completed")["epochs"] == 10


def test_queued_runs_wait_for_a_worker(client):
    blockers = [create(client, paused=True, **small_config(epochs=10))["id"] for _ in range(2)]
    for run_id in blockers:
        wait_status(client, run_id, "paused")
    queued, dropped = (create(client, **small_config(epochs=3))["id"] for _ in range(2))
    time.sleep(0.3)
    assert client.get(f"/api/runs/{queued}").json()["status"] == "queued"
    assert client.get("/api/health").json()["queued_runs"] == 2
    control(client, queued, "set", lr=0.3)
    control(client, dropped, "stop")
    assert wait_status(client, dropped, "stopped")["epochs"] == 0
    control(client, blockers[0], "stop")
    assert wait_status(client, queued, "completed")["last"]["lr"] == 0.3


def test_list_is_newest_first_and_paged(client):
    ids = [create(client, **small_config(epochs=1))["id"] for _ in range(3)]
    page = client.get("/api/runs", params={"limit": 2}).json()
    assert [run["id"] for run in page["data"]] == ids[::-1][:2]
    assert page["count"] >= 3
    second = client.get("/api/runs", params={"limit": 1, "offset": 2}).json()
    assert second["data"][0]["id"] == ids[0]
    assert client.get("/api/runs", params={"limit": 0}).status_code == 422


def test_epochs_full_has_the_telemetry(client):
    run_id = create(client, **small_config(epochs=4, telemetry={"every": 2}))["id"]
    wait_status(client, run_id, "completed")
    scalars = epochs(client, run_id)
    assert [e["epoch"] for e in scalars] == [1, 2, 3, 4]
    assert all("layers" not in e for e in scalars)
    full = client.get(f"/api/runs/{run_id}/epochs", params={"full": 1}).json()
    assert [bool(e.get("layers")) for e in full] == [True, True, False, True]
    assert full[-1]["boundary"]["kind"] == "probability"
    assert client.get("/api/runs/missing/epochs").status_code == 404


def test_model_as_json_and_npz(client):
    run_id = create(client, **small_config(epochs=2))["id"]
    wait_status(client, run_id, "completed")
    model = client.get(f"/api/runs/{run_id}/model").json()
    assert model["config"]["training"]["epochs"] == 2
    assert {k: v["shape"] for k, v in model["state_dict"].items()} == {
        "0.weight": [3, 2],
        "0.bias": [3],
        "2.weight": [1, 3],
        "2.bias": [1],
    }
    response = client.get(f"/api/runs/{run_id}/model", params={"format": "npz"})
    assert response.headers["content-type"] == "application/octet-stream"
    assert "attachment" in response.headers["content-disposition"]
    with np.load(io.BytesIO(response.content)) as archive:
        assert np.allclose(archive["0.weight"], model["state_dict"]["0.weight"]["values"])


def test_model_of_a_paused_run_is_its_current_weights(client):
    run_id = create(client, paused=True, **small_config(epochs=10))["id"]
    wait_status(client, run_id, "paused")
    first = client.get(f"/api/runs/{run_id}/model").json()["state_dict"]["0.weight"]["values"]
    control(client, run_id, "step")
    wait_for(lambda: len(epochs(client, run_id)) == 1)
    second = client.get(f"/api/runs/{run_id}/model").json()["state_dict"]["0.weight"]["values"]
    assert first != second


def test_predict_with_shape_checks(client):
    run_id = create(client, **small_config(epochs=3, data={"features": ["x1", "x2", "x1^2"]}))["id"]
    wait_status(client, run_id, "completed")
    result = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0, 0], [4, -4]]}).json()
    assert result["task"] == "classification"
    assert len(result["outputs"]) == 2 and len(result["probabilities"][0]) == 2
    assert result["predictions"] in ([0, 0], [0, 1], [1, 0], [1, 1])
    bad = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0, 0, 0]]})
    assert bad.status_code == 422 and "2-D points" in bad.json()["message"]
    ragged = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0, 0], [1]]})
    assert ragged.status_code == 422 and ragged.json()["detail"][0]["loc"] == ["body", "inputs"]
    nan = client.post(
        f"/api/runs/{run_id}/predict",
        content='{"inputs": [[NaN, 0]]}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 422
    assert client.post("/api/runs/nope/predict", json={"inputs": [[0, 0]]}).status_code == 404


def test_predict_digits_rows_are_flattened_images(client):
    config = small_config(
        epochs=1,
        data={"dataset": "digits", "n_samples": 100},
        model={"layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}]},
    )
    run_id = create(client, **config)["id"]
    wait_status(client, run_id, "completed")
    result = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0.5] * 64]}).json()
    assert len(result["probabilities"][0]) == 10 and 0 <= result["predictions"][0] < 10
    wrong = client.post(f"/api/runs/{run_id}/predict", json={"inputs": [[0.5] * 63]})
    assert wrong.status_code == 422 and "64 values" in wrong.json()["message"]


def test_delete_stops_and_removes(client):
    run_id = create(client, **small_config(epochs=5000))["id"]
    wait_status(client, run_id, "running")
    assert client.delete(f"/api/runs/{run_id}").status_code == 204
    assert client.get(f"/api/runs/{run_id}").status_code == 404
    finished = create(client, **small_config(epochs=1))["id"]
    wait_status(client, finished, "completed")
    assert client.delete(f"/api/runs/{finished}").status_code == 204
    assert client.get(f"/api/runs/{finished}/epochs").status_code == 404
    assert client.delete(f"/api/runs/{finished}").status_code == 404
    wait_for(lambda: client.get("/api/health").json()["active_runs"] == 0)


def test_control_errors(client):
    assert client.post("/api/runs/nope/control", json={"action": "pause"}).status_code == 404
    run_id = create(client, **small_config(epochs=1))["id"]
    wait_status(client, run_id, "completed")
    ended = client.post(f"/api/runs/{run_id}/control", json={"action": "pause"})
    assert ended.status_code == 409 and "completed" in ended.json()["detail"]
    bad = client.post(f"/api/runs/{run_id}/control", json={"action": "set"})
    assert bad.status_code == 422 and "lr" in bad.json()["message"]


def test_unknown_names_are_422_naming_the_valid_ones(client):
    response = client.post(
        "/api/runs", json=small_config(model={"layers": [{"type": "dense", "activation": "relux"}]})
    )
    assert response.status_code == 422
    message = response.json()["message"]
    assert "relux" in message and "leaky_relu" in message
    assert response.json()["detail"][0]["loc"][:3] == ["body", "model", "layers"]
    response = client.post("/api/runs", json=small_config(data={"dataset": "cirlce"}))
    assert response.status_code == 422 and "'circle'" in response.json()["message"]
    response = client.post("/api/runs", json={"optimizer": {"name": "adamm"}})
    assert response.status_code == 422 and "adamw" in response.json()["message"]
    response = client.post("/api/runs", json={"trainig": {}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "trainig"]


def test_nan_and_infinite_values_are_422(client):
    for body in ('{"optimizer": {"name": "sgd", "lr": NaN}}', '{"data": {"noise": Infinity}}'):
        response = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][1] in ("optimizer", "data")


def test_huge_networks_are_422_naming_the_limit(client):
    wide = [{"type": "dense", "units": 1024}] * 32
    response = client.post("/api/runs", json=small_config(model={"layers": wide}))
    assert response.status_code == 422 and "NNPLAY_MAX_PARAMETERS" in response.json()["message"]
    too_wide = client.post(
        "/api/runs", json=small_config(model={"layers": [{"type": "dense", "units": 5000}]})
    )
    assert too_wide.status_code == 422
    conv = {"layers": [{"type": "conv2d", "filters": 4}]}
    response = client.post("/api/runs", json=small_config(model=conv))
    assert response.status_code == 422 and "cannot be built" in response.json()["message"]


def test_compute_budget_is_checked_at_creation(client):
    config = small_config(
        epochs=10_000,
        data={"dataset": "digits", "images": False, "n_samples": None},
        model={"layers": [{"type": "dense", "units": 512}, {"type": "dense", "units": 512}]},
    )
    response = client.post("/api/runs", json=config)
    assert response.status_code == 422
    body = response.json()
    assert "NNPLAY_COMPUTE_BUDGET" in body["message"] and body["detail"][0]["loc"] == [
        "body",
        "training",
        "epochs",
    ]


def test_oversized_body_is_413(client):
    huge = {"name": "x" * 3_000_000}
    assert client.post("/api/runs", json=huge).status_code == 413

    def chunks():
        for _ in range(40):
            yield b" " * 100_000

    response = client.post("/api/runs", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "NNPLAY_MAX_REQUEST_BYTES" in response.json()["detail"]


def test_malformed_json_is_422(client):
    response = client.post("/api/runs", content="{", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def test_epochs_every_and_heavy_thin_the_history(client):
    run_id = create(client, **small_config(epochs=10, telemetry={"every": 3}))["id"]
    wait_status(client, run_id, "completed")

    def read(**params):
        response = client.get(f"/api/runs/{run_id}/epochs", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    heavy = [1, 3, 6, 9, 10]
    assert [e["epoch"] for e in read(full=1) if e.get("layers")] == heavy
    assert [e["epoch"] for e in read(every=4)] == [1, 5, 9, 10]
    assert [e["epoch"] for e in read(every=100)] == [1, 10]
    only = read(heavy=1)
    assert [e["epoch"] for e in only] == heavy and all(e["layers"] and e["boundary"] for e in only)
    assert [e["epoch"] for e in read(heavy=1, every=2)] == [1, 6, 10]
    scalars = read(full=1, heavy=0)
    assert [e["epoch"] for e in scalars] == list(range(1, 11)) and not any("layers" in e for e in scalars)
    assert scalars == read()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"every": 0}, "every"),
        ({"every": "x"}, "every"),
        ({"heavy": 2}, "heavy"),
        ({"heavy": "yes"}, "heavy"),
    ],
)
def test_epochs_params_are_422_naming_the_parameter(client, params, name):
    run_id = create(client, **small_config(epochs=1))["id"]
    response = client.get(f"/api/runs/{run_id}/epochs", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_epochs_are_gzipped_when_the_client_accepts_it(client):
    run_id = create(client, **small_config(epochs=30))["id"]
    wait_status(client, run_id, "completed")
    url = f"/api/runs/{run_id}/epochs"
    zipped = client.get(url, params={"full": 1}, headers={"accept-encoding": "gzip"})
    plain = client.get(url, params={"full": 1}, headers={"accept-encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.json() == plain.json() and len(plain.json()) == 30
    assert int(zipped.num_bytes_downloaded) < len(plain.content) / 3


def test_storage_quotas_thin_heavy_records_and_say_which_setting(tmp_path):
    settings = make_settings(tmp_path, max_run_storage_mb=0.4, write_interval=0.05)
    telemetry = {"every": 1, "grid_size": 40, "neuron_grid_size": 20}
    with TestClient(create_app(settings), headers={"x-requested-with": "nnplay"}) as client:
        run_id = create(client, paused=True, **small_config(epochs=300, telemetry=telemetry))["id"]
        wait_status(client, run_id, "paused")
        with client.websocket_connect(f"/api/runs/{run_id}/stream") as websocket:
            control(client, run_id, "resume")
            early = wait_for(lambda: first_heavy(client, run_id, 5))
            messages = receive_until(websocket, "done")
        run = wait_status(client, run_id, "completed", timeout=60)
        assert any(
            "NNPLAY_MAX_RUN_STORAGE_MB" in (m.get("message") or "") for m in messages if m["type"] == "status"
        )
        live = [e["epoch"] for e in epoch_records(messages) if e.get("boundary")]
        assert "NNPLAY_MAX_RUN_STORAGE_MB" in run["message"] and "storage" in run["message"]
        records = read_full(client, run_id)
        assert [e["epoch"] for e in records] == list(range(1, 301))
        kept = [e for e in records if e.get("boundary")]
        assert 10 < len(kept) < 150 and kept[:5] == early
        gaps = [b["epoch"] - a["epoch"] for a, b in zip(kept, kept[1:], strict=False)]
        assert gaps[0] == 1 and gaps[-1] >= 4
        assert max(live) > kept[-1]["epoch"] + 10, "the websocket keeps streaming heavy records"
        assert [e["epoch"] for e in kept[:5]] == [1, 2, 3, 4, 5]

    settings = make_settings(tmp_path / "total", max_storage_mb=0.3, write_interval=0.05)
    with TestClient(create_app(settings), headers={"x-requested-with": "nnplay"}) as client:
        run_id = create(client, **small_config(epochs=300, telemetry=telemetry))["id"]
        run = wait_status(client, run_id, "completed", timeout=60)
        assert "NNPLAY_MAX_STORAGE_MB" in run["message"]
        records = read_full(client, run_id)
        kept = [e["epoch"] for e in records if e.get("boundary")]
        assert len(records) == 300 and kept == list(range(1, len(kept) + 1)) and len(kept) < 150


def read_full(client, run_id):
    return client.get(f"/api/runs/{run_id}/epochs", params={"full": 1}).json()


def first_heavy(client, run_id, count):
    kept = [e for e in read_full(client, run_id) if e.get("boundary")]
    return kept[:count] if len(kept) >= count else None


def memory_kb(pid, field):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":")))


def big_record(epoch, numbers):
    """A heavy record of about 3 MB of numbers (a 20-epoch run is about 60 MB of JSON)."""
    return json.dumps({"epoch": epoch, "train_loss": 1.0 / epoch, "boundary": {"z": f"{epoch}:{numbers}"}})


@pytest.mark.timeout(240)
def test_streaming_full_epochs_of_a_big_run_keeps_the_server_memory_bounded(live_server, tmp_path):
    data_dir = tmp_path / "data"
    numbers = ",".join(f"{v:.5f}" for v in np.random.default_rng(0).random(400_000))
    store = Store(data_dir / "nnplay.sqlite3")
    store.open()
    config = RunConfig.model_validate(small_config(epochs=20)).model_dump(mode="json")
    store.insert_run({"id": "big", "name": None, "status": "completed", "config": config, "created_at": 1.0})
    for epoch in range(1, 21):
        store.add_epoch("big", epoch, json.dumps({"epoch": epoch}), big_record(epoch, numbers))
    store.close()
    server = live_server(data_dir=data_dir)
    pid = server.process.pid
    url = f"{server.url}/api/runs/big/epochs?full=1"
    for encoding in ("identity", "gzip"):
        before = memory_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
        body = bytearray()
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers.get("Content-Encoding", "identity") == encoding
            inflate = zlib.decompressobj(wbits=31).decompress if encoding == "gzip" else bytes
            body += inflate(response.read(1024 * 1024))
            with urllib.request.urlopen(f"{server.url}/api/health", timeout=5) as health:
                assert health.status == 200
            while piece := response.read(1024 * 1024):
                body += inflate(piece)
        grown_mb = (memory_kb(pid, "VmHWM") - before) / 1024
        records = json.loads(bytes(body))
        assert [r["epoch"] for r in records] == list(range(1, 21))
        assert [r["boundary"]["z"] for r in records] == [f"{epoch}:{numbers}" for epoch in range(1, 21)]
        assert grown_mb < 50, f"streaming grew the server by {grown_mb:.0f} MB ({encoding})"
