import json
import math

import pytest
from pydantic import ValidationError

from engine.config import RunConfig
from engine.initializers import INITIALIZERS
from engine.layers import LAYERS
from engine.losses import LOSSES
from engine.optimizers import OPTIMIZERS
from engine.schedules import SCHEDULES


def errors_of(payload: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        RunConfig.model_validate(payload)
    return str(caught.value)


def test_dataset_alone_is_a_valid_run_like_tf_playground():
    config = RunConfig.model_validate({"data": {"dataset": "circle"}})
    hidden = [(layer.type, layer.units, layer.activation) for layer in config.model.layers]
    assert hidden == [("dense", 4, "tanh"), ("dense", 2, "tanh")]
    assert config.model.output is True
    assert config.optimizer.name == "sgd" and config.training.batch_size == 10
    assert config.dtype == "float32" and config.seed == 0


def test_unknown_fields_are_rejected_by_name():
    assert "learning_rate" in errors_of({"optimizer": {"name": "sgd", "learning_rate": 0.1}})
    assert "colour" in errors_of({"colour": "red"})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(value):
    assert "lr" in errors_of({"optimizer": {"name": "adam", "lr": value}})


def test_bounds_are_enforced_with_the_field_named():
    assert "units" in errors_of({"model": {"layers": [{"type": "dense", "units": 0}]}})
    assert "epochs" in errors_of({"training": {"epochs": 10**9}})
    assert "p" in errors_of({"model": {"layers": [{"type": "dropout", "p": 1.0}]}})
    assert "layers" in errors_of({"model": {"layers": [{"type": "dense"}] * 100}})


def test_unknown_names_list_the_valid_ones():
    message = errors_of({"model": {"layers": [{"type": "dense", "activation": "relux"}]}})
    assert "relux" in message and "leaky_relu" in message
    assert "softmaxx" in errors_of({"model": {"layers": [{"type": "activation", "name": "softmaxx"}]}})
    assert "kaiming" in errors_of({"model": {"layers": [{"type": "dense", "weight_init": "kaiming"}]}})
    assert "optimizer" in errors_of({"optimizer": {"name": "lbfgs"}})


def test_activation_parameters_are_checked():
    RunConfig.model_validate(
        {
            "model": {
                "layers": [{"type": "activation", "name": "leaky_relu", "params": {"negative_slope": 0.2}}]
            }
        }
    )
    assert "slope" in errors_of(
        {"model": {"layers": [{"type": "activation", "name": "leaky_relu", "params": {"slope": 0.2}}]}}
    )


def test_schedule_and_optimizer_rules():
    assert "milestones" in errors_of({"schedule": {"name": "multistep", "milestones": [5, 3]}})
    assert "nesterov" in errors_of({"optimizer": {"name": "sgd", "nesterov": True}})
    config = RunConfig.model_validate(
        {"optimizer": {"name": "adamw"}, "schedule": {"name": "cosine", "t_max": 5}}
    )
    assert config.optimizer.weight_decay == 0.01 and config.schedule.t_max == 5


def test_csv_dataset_needs_an_upload_id():
    assert "csv_id" in errors_of({"data": {"dataset": "csv"}})


def test_batch_size_is_full_or_a_positive_count():
    assert RunConfig.model_validate({"training": {"batch_size": "full"}}).training.batch_size == "full"
    assert "batch_size" in errors_of({"training": {"batch_size": 0}})
    assert "batch_size" in errors_of({"training": {"batch_size": "half"}})


def test_round_trip_through_json():
    config = RunConfig.model_validate(
        {"model": {"layers": [{"type": "conv2d", "filters": 4}, {"type": "maxpool2d"}, {"type": "flatten"}]}}
    )
    assert RunConfig.model_validate_json(config.model_dump_json()) == config


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"model": {"layers": [{"type": "dense", "units": True}]}}, "units"),
        ({"model": {"layers": [{"type": "dense", "units": "8"}]}}, "units"),
        ({"model": {"layers": [{"type": "dense", "units": 8.0}]}}, "units"),
        ({"model": {"layers": [{"type": "conv2d", "filters": "4"}]}}, "filters"),
        ({"training": {"epochs": "10"}}, "epochs"),
        ({"training": {"batch_size": "10"}}, "batch_size"),
        ({"training": {"batch_size": True}}, "batch_size"),
        ({"seed": False}, "seed"),
        ({"schedule": {"name": "multistep", "milestones": [5, "10"]}}, "milestones"),
        ({"optimizer": {"name": "sgd", "lr": "0.1"}}, "lr"),
        ({"optimizer": {"name": "sgd", "lr": True}}, "lr"),
        ({"optimizer": {"name": "adam", "betas": ["0.9", 0.99]}}, "betas"),
        ({"training": {"shuffle": "yes"}}, "shuffle"),
        ({"training": {"shuffle": 1}}, "shuffle"),
    ],
)
def test_numbers_and_booleans_are_not_converted_from_other_types(payload, field):
    assert field in errors_of(payload)
    with pytest.raises(ValidationError, match=field):
        RunConfig.model_validate_json(json.dumps(payload))


def test_integers_are_floats_where_floats_go_and_betas_come_as_lists():
    config = RunConfig.model_validate({"optimizer": {"name": "adam", "lr": 1, "betas": [0, 0.5]}})
    assert config.optimizer.lr == 1.0 and isinstance(config.optimizer.lr, float)
    assert config.optimizer.betas == (0.0, 0.5)
    stored = json.loads(config.model_dump_json())
    assert RunConfig.model_validate(stored) == config == RunConfig.model_validate_json(json.dumps(stored))


def test_errors_in_registered_fields_name_the_member_and_the_field():
    with pytest.raises(ValidationError) as caught:
        RunConfig.model_validate(
            {
                "model": {"layers": [{"type": "dense", "units": 0}]},
                "optimizer": {"name": "sgd", "momentum": 1},
                "schedule": {"name": "step", "gamma": 0},
            }
        )
    assert [error["loc"] for error in caught.value.errors()] == [
        ("model", "layers", 0, "dense", "units"),
        ("optimizer", "sgd", "momentum"),
        ("schedule", "step", "gamma"),
    ]


def test_the_json_schema_lists_each_registry_by_its_tags():
    schema = RunConfig.model_json_schema()
    properties = schema["properties"]
    layers = schema["$defs"]["ModelConfig"]["properties"]["layers"]["items"]
    for field, registry in [(properties["optimizer"], OPTIMIZERS), (properties["schedule"], SCHEDULES)]:
        assert sorted(field["discriminator"]["mapping"]) == sorted(registry)
        assert len(field["oneOf"]) == len(registry)
    assert sorted(layers["discriminator"]["mapping"]) == sorted(LAYERS)
    assert schema["$defs"]["SGDConfig"]["title"] == "SGD"
    assert schema["$defs"]["StepLR"]["properties"]["gamma"] == {
        "default": 0.1,
        "exclusiveMinimum": 0,
        "maximum": 1,
        "title": "Gamma",
        "type": "number",
    }


def test_the_json_schema_names_the_registered_losses_and_initializers():
    schema = RunConfig.model_json_schema()
    for field, also, registry in [
        (schema["properties"]["loss"], ["auto"], LOSSES),
        (schema["$defs"]["ModelConfig"]["properties"]["output_init"], [], INITIALIZERS),
    ]:
        by_name, by_spec = field["anyOf"]
        assert by_name == {"enum": [*also, *registry], "type": "string"}
        assert sorted(by_spec["discriminator"]["mapping"]) == sorted(registry)
    assert schema["$defs"]["HuberLoss"]["properties"]["delta"] == {
        "default": 1.0,
        "exclusiveMinimum": 0,
        "maximum": 100,
        "title": "Delta",
        "type": "number",
    }
