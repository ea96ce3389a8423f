"""Limits checked before a run is queued, read from the engine's plan (nothing built or allocated)."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest

from engine.config import RunConfig
from server.errors import ApiError
from server.limits import check_config, preflight
from server.settings import Settings
from tests.engine.test_plan import HUGE_CONV

CONV_49K = [
    {"type": "conv2d", "filters": 64, "padding": 2, "activation": "relu"},
    {"type": "conv2d", "filters": 64, "padding": 2, "activation": "relu"},
    {"type": "maxpool2d"},
    {"type": "conv2d", "filters": 16, "activation": "relu"},
    {"type": "flatten"},
]


def config(*layers, **extra):
    return RunConfig.model_validate({"model": {"layers": list(layers)}, **extra})


def conv_run(batch_size, dtype="float64") -> RunConfig:
    return config(
        *CONV_49K, data={"dataset": "digits"}, dtype=dtype, training={"epochs": 20, "batch_size": batch_size}
    )


def test_check_config_names_the_setting(tmp_path):
    settings = Settings(data_dir=tmp_path, max_layers=2, max_units=8)
    with pytest.raises(ApiError, match="NNPLAY_MAX_LAYERS"):
        check_config(config(*[{"type": "dense", "units": 2}] * 3), settings)
    with pytest.raises(ApiError, match="NNPLAY_MAX_UNITS") as error:
        check_config(config({"type": "dense", "units": 9}), settings)
    assert error.value.details[0]["loc"] == ["body", "model", "layers", 0, "units"]


def test_preflight_counts_parameters_from_the_plan_and_checks_the_budget(tmp_path):
    small = config({"type": "dense", "units": 4}, data={"n_samples": 100}, training={"epochs": 10})
    info = preflight(small, None, Settings(data_dir=tmp_path))
    assert info["num_parameters"] == 4 * 2 + 4 + 4 + 1 and info["train_samples"] == 50
    assert [row["type"] for row in info["summary"]] == ["Dense", "Dense"]
    with pytest.raises(ApiError, match="NNPLAY_COMPUTE_BUDGET") as error:
        preflight(small, None, Settings(data_dir=tmp_path, compute_budget=10 * 50 * 17 - 1))
    assert error.value.status == 422
    with pytest.raises(ApiError, match="parameters: 17; the limit is 16 .NNPLAY_MAX_PARAMETERS") as error:
        preflight(small, None, Settings(data_dir=tmp_path, max_parameters=16))
    assert error.value.details[0]["loc"] == ["body", "model", "layers"]


def test_preflight_turns_plan_errors_into_422_naming_the_field(tmp_path):
    with pytest.raises(ApiError, match="cannot be built.*conv2d needs input") as error:
        preflight(config({"type": "conv2d"}), None, Settings(data_dir=tmp_path))
    assert error.value.status == 422 and error.value.details[0]["loc"] == ["body", "model", "layers", 0]
    with pytest.raises(ApiError, match="needs 2 classes") as error:
        preflight(
            config(data={"dataset": "blobs", "classes": 3}, loss="bce"), None, Settings(data_dir=tmp_path)
        )
    assert error.value.details[0]["loc"] == ["body", "loss"]


def test_the_huge_conv_is_refused_from_shapes_without_allocating(tmp_path):
    settings = Settings(data_dir=tmp_path)
    preflight(config(), None, settings)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ApiError, match="134,525,450; the limit is 1,000,000") as error:
        preflight(RunConfig.model_validate(HUGE_CONV), None, settings)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert error.value.details[0]["loc"] == ["body", "model", "layers"]
    assert elapsed < 2 and peak < 5 * 2**20


def test_the_memory_limit_refuses_a_full_batch_conv_naming_the_batch_size(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.max_run_memory_mb == 1024
    with pytest.raises(ApiError, match="NNPLAY_MAX_RUN_MEMORY_MB") as error:
        preflight(conv_run("full"), None, settings)
    assert error.value.details[0]["loc"] == ["body", "training", "batch_size"]
    message = error.value.msg
    assert re.search(r"the run needs about 3,\d{3} MB of memory \(training batch 1,\d{3} MB\)", message)
    assert "the limit is 1,024 MB" in message and "use a smaller batch_size" in message
    with pytest.raises(ApiError, match="training batch") as error:
        preflight(conv_run("full", "float32"), None, settings)
    assert error.value.details[0]["loc"] == ["body", "training", "batch_size"]
    info = preflight(conv_run(32, "float32"), None, settings)
    assert 40_000 < info["num_parameters"] < 55_000 and info["memory_bytes"] < 1024 * 2**20


def test_the_memory_limit_names_the_part_to_change(tmp_path, monkeypatch):
    monkeypatch.setenv("NNPLAY_MAX_RUN_MEMORY_MB", "4")
    settings = Settings(data_dir=tmp_path)
    assert settings.max_run_memory_mb == 4
    wide = config(
        {"type": "dense", "units": 512},
        {"type": "dense", "units": 512},
        telemetry={"weights": False, "boundary": False, "neurons": False},
    )
    with pytest.raises(ApiError, match="use fewer or smaller layers") as error:
        preflight(wide, None, settings)
    assert error.value.details[0]["loc"] == ["body", "model", "layers"]
    fine_grid = config({"type": "dense", "units": 64}, telemetry={"grid_size": 200})
    with pytest.raises(ApiError, match="grid_size") as error:
        preflight(fine_grid, None, settings)
    assert error.value.details[0]["loc"] == ["body", "telemetry", "grid_size"]
    preflight(config({"type": "dense", "units": 8}, telemetry={"grid_size": 20}), None, settings)
