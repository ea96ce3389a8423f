"""Limits checked before a run is queued."""

from __future__ import annotations

import pytest

from engine.config import RunConfig
from server.errors import ApiError
from server.limits import check_config, parameters_lower_bound, preflight
from server.settings import Settings


def config(*layers, **extra):
    return RunConfig.model_validate({"model": {"layers": list(layers)}, **extra})


def test_lower_bound_counts_known_widths_only():
    dense = {"type": "dense", "units": 10}
    assert parameters_lower_bound(config(dense, {"type": "activation"}, dense)) == 100
    assert parameters_lower_bound(config(dense, {"type": "maxout", "units": 4, "pieces": 3})) == 120
    assert parameters_lower_bound(config(dense, {"type": "flatten"}, dense)) == 0


def test_check_config_names_the_setting(tmp_path):
    settings = Settings(data_dir=tmp_path, max_layers=2, max_units=8, max_parameters=50)
    with pytest.raises(ApiError, match="NNPLAY_MAX_LAYERS"):
        check_config(config(*[{"type": "dense", "units": 2}] * 3), settings)
    with pytest.raises(ApiError, match="NNPLAY_MAX_UNITS") as error:
        check_config(config({"type": "dense", "units": 9}), settings)
    assert error.value.details[0]["loc"] == ["body", "model", "layers", 0, "units"]
    with pytest.raises(ApiError, match="NNPLAY_MAX_PARAMETERS"):
        check_config(config({"type": "dense", "units": 8}, {"type": "dense", "units": 8}), settings)


def test_preflight_counts_parameters_and_checks_the_budget(tmp_path):
    small = config({"type": "dense", "units": 4}, data={"n_samples": 100}, training={"epochs": 10})
    info = preflight(small, None, Settings(data_dir=tmp_path))
    assert info["num_parameters"] == 4 * 2 + 4 + 4 + 1 and info["train_samples"] == 50
    with pytest.raises(ApiError, match="NNPLAY_COMPUTE_BUDGET") as error:
        preflight(small, None, Settings(data_dir=tmp_path, compute_budget=10 * 50 * 17 - 1))
    assert error.value.status == 422


def test_preflight_turns_build_errors_into_422(tmp_path):
    conv_on_points = config({"type": "conv2d"})
    with pytest.raises(ApiError, match="cannot be built") as error:
        preflight(conv_on_points, None, Settings(data_dir=tmp_path))
    assert error.value.status == 422
