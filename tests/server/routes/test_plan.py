"""POST /api/plan, and run creation refusing what the plan says is too big, without allocating it."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import small_config
from tests.server.test_limits import CONV_49K, HUGE_CONV

pytestmark = pytest.mark.timeout(60)

CSV_HEADERS = {"content-type": "text/csv", "x-requested-with": "nnplay"}
STRING_CLASSES_CSV = "a,b,kind\n" + "".join(
    f"{i % 7 * 0.5},{i % 5 - 2.0},{('cat', 'dog', 'eel')[i % 3]}\n" for i in range(60)
)


def rss_bytes(pid: str | int = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_plan_answers_layers_loss_memory_and_torch_code(client):
    response = client.post("/api/plan", json=small_config())
    assert response.status_code == 200, response.text
    planned = response.json()
    assert [(layer["index"], layer["type"], layer["name"]) for layer in planned["layers"]] == [
        (0, "dense", None),
        (1, "activation", "tanh"),
        (2, "dense", None),
    ]
    assert planned["layers"][2]["inserted"] == "output" and planned["layers"][0]["parameters"] == {
        "weight": [3, 2],
        "bias": [3],
    }
    assert planned["loss"] == "bce_with_logits" and planned["output_units"] == 1
    assert planned["num_parameters"] == 3 * 2 + 3 + 3 + 1
    assert planned["memory"]["bytes"] > 0 and "nn.Linear(2, 3),  # 0" in planned["torch"]
    assert planned["limits"]["problem"] is None and planned["limits"]["max_run_memory_mb"] == 1024


def test_plan_of_an_uploaded_csv_with_three_string_classes(client):
    upload = client.post(
        "/api/datasets", params={"name": "pets"}, content=STRING_CLASSES_CSV, headers=CSV_HEADERS
    )
    assert upload.status_code == 201, upload.text
    config = small_config(data={"dataset": "csv", "csv_id": upload.json()["id"], "n_samples": None})
    planned = client.post("/api/plan", json=config).json()
    assert planned["class_names"] == ["cat", "dog", "eel"] and planned["num_classes"] == 3
    assert planned["loss"] == "cross_entropy" and planned["output_units"] == 3
    assert planned["layers"][-1]["parameters"] == {"weight": [3, 3], "bias": [3]}


@pytest.mark.parametrize(
    "config, loc",
    [
        (small_config(model={"layers": [{"type": "conv2d"}]}), ["body", "model", "layers", 0]),
        (small_config(loss="cross_entropy", data={"dataset": "plane"}), ["body", "loss"]),
        (small_config(data={"dataset": "csv", "csv_id": "nope"}), ["body", "data", "csv_id"]),
        (
            small_config(model={"layers": [{"type": "dense", "units": 0}]}),
            ["body", "model", "layers", 0, "dense", "units"],
        ),
        (small_config(trainig={}), ["body", "trainig"]),
    ],
)
def test_plan_of_a_config_that_cannot_run_is_422_naming_the_field(client, config, loc):
    response = client.post("/api/plan", json=config)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_plan_of_a_too_big_run_is_answered_with_the_limit_it_breaks(client):
    planned = client.post("/api/plan", json=HUGE_CONV)
    assert planned.status_code == 200
    problem = planned.json()["limits"]["problem"]
    assert problem["loc"] == ["body", "model", "layers"] and "NNPLAY_MAX_PARAMETERS" in problem["msg"]


def test_the_huge_conv_run_is_refused_quickly_without_the_server_growing(client):
    client.post("/api/plan", json=HUGE_CONV)
    before = rss_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    response = client.post("/api/runs", json=HUGE_CONV)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert response.status_code == 422 and "NNPLAY_MAX_PARAMETERS" in response.json()["message"]
    assert response.json()["detail"][0]["loc"] == ["body", "model", "layers"]
    assert elapsed < 2 and peak < 10 * 2**20
    assert rss_bytes() - before < 50 * 2**20


def test_a_full_batch_conv_run_is_refused_naming_the_batch_size(client):
    config = {
        "data": {"dataset": "digits"},
        "dtype": "float64",
        "model": {"layers": CONV_49K},
        "training": {"epochs": 20, "batch_size": "full"},
    }
    response = client.post("/api/runs", json=config)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "training", "batch_size"]
    assert "NNPLAY_MAX_RUN_MEMORY_MB" in response.json()["message"]


def test_the_real_server_refuses_the_huge_conv_without_growing(live_server):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/api/plan", json=HUGE_CONV)
        before = rss_bytes(server.process.pid)
        started = time.perf_counter()
        for path in ("/api/runs", "/api/plan", "/api/runs"):
            response = client.post(path, json=HUGE_CONV)
            assert response.status_code in (200, 422) and "NNPLAY_MAX_PARAMETERS" in response.text
        elapsed = time.perf_counter() - started
        grown = rss_bytes(server.process.pid) - before
    assert elapsed < 5 and grown < 50 * 2**20, (elapsed, grown)
