"""Trainer.set_weight (the weight popup) and Trainer.initial_record (pictures before training)."""

import re

import numpy as np
import pytest

from engine import RunConfig, Trainer
from engine.telemetry import decode

CONFIG = {"data": {"dataset": "xor"}, "training": {"epochs": 3}, "seed": 4}


def weights(record) -> dict:
    return {index: decode(params["weight"]) for index, params in record.weights.items()}


def test_set_weight_changes_one_weight_and_the_next_epoch():
    edited, plain = Trainer(CONFIG), Trainer(CONFIG)
    before = edited.model.state_dict()
    edited.set_weight(layer=2, from_unit=3, to_unit=1, value=2.5)
    after = edited.model.state_dict()
    assert after["2.weight"][1, 3] == np.float32(2.5)
    changed = {key for key in before if not np.array_equal(before[key], after[key])}
    assert changed == {"2.weight"}
    assert np.count_nonzero(before["2.weight"] != after["2.weight"]) == 1
    first_edited, first_plain = next(edited.epochs()), next(plain.epochs())
    assert first_edited.train_loss != first_plain.train_loss


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer": 1}, "weight.layer: 1 is not a dense layer; the dense layers are [0, 2, 4]"),
        ({"layer": 9}, "weight.layer: 9 is not a dense layer"),
        ({"to_unit": 2}, "weight.to_unit: 2 is not a unit of layer 2 (0-1)"),
        ({"from_unit": 4}, "weight.from_unit: 4 is no input of layer 2 (0-3)"),
        ({"from_unit": -1}, "weight.from_unit: -1 is no input"),
        ({"value": float("nan")}, "weight.value must be a number within ±1000"),
        ({"value": 1e4}, "weight.value must be a number within ±1000"),
    ],
)
def test_set_weight_names_the_bad_field(change, message):
    trainer = Trainer(CONFIG)
    before = trainer.model.state_dict()
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.set_weight(**{"layer": 2, "from_unit": 0, "to_unit": 0, "value": 1.0, **change})
    after = trainer.model.state_dict()
    assert all(np.array_equal(before[key], after[key]) for key in before)


def test_the_initial_record_shows_the_untrained_model_and_changes_no_later_number():
    looked, plain = Trainer(CONFIG), Trainer(CONFIG)
    record = looked.initial_record()
    assert record.epoch == 0 and record.heavy
    assert record.boundary["kind"] == "probability" and record.neurons
    state = plain.model.state_dict()
    for index, weight in weights(record).items():
        np.testing.assert_array_equal(weight, state[f"{index}.weight"])
    loss, _ = plain.evaluate(plain.x_train, plain.y_train)
    assert record.train_loss == pytest.approx(loss)
    ours = [r.scalars() | {"wall_time": 0, "elapsed": 0, "t_end": 0} for r in looked.epochs()]
    theirs = [r.scalars() | {"wall_time": 0, "elapsed": 0, "t_end": 0} for r in plain.epochs()]
    assert ours == theirs


def test_the_initial_record_of_a_config_is_the_same_every_time():
    config = RunConfig.model_validate(CONFIG)
    first, second = Trainer(config).initial_record(), Trainer(config).initial_record()
    assert first.boundary["z"] == second.boundary["z"]
    assert [n["z"] for n in first.neurons] == [n["z"] for n in second.neurons]
