"""data.seed fixes the sampled data while the run's seed draws the weights."""

import numpy as np
import pytest
from pydantic import ValidationError

from engine import RunConfig, Trainer

BASE = {"data": {"dataset": "spiral", "noise": 10}, "training": {"epochs": 1}}


def build(seed: int, data_seed: int | None) -> Trainer:
    return Trainer({**BASE, "data": {**BASE["data"], "seed": data_seed}, "seed": seed})


def test_data_seed_keeps_the_data_and_the_run_seed_draws_new_weights():
    first, second = build(seed=1, data_seed=7), build(seed=2, data_seed=7)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert not np.array_equal(first.model.state_dict()["0.weight"], second.model.state_dict()["0.weight"])


def test_without_a_data_seed_the_data_follows_the_run_seed():
    np.testing.assert_array_equal(build(seed=7, data_seed=None).x_train, build(seed=3, data_seed=7).x_train)
    assert not np.array_equal(build(seed=1, data_seed=None).x_train, build(seed=2, data_seed=None).x_train)


def test_a_negative_data_seed_is_refused_by_name():
    with pytest.raises(ValidationError, match="data.seed"):
        RunConfig.model_validate({"data": {"seed": -1}})
