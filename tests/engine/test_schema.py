"""One declaration per component: the schema beside the class is what its constructor enforces."""

import inspect
import math
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from engine import activations, initializers, layers, losses, optimizers, schedules
from engine.config import RunConfig
from engine.schema import Shared, Strict, validated

FAMILIES_BY_KEY = [
    ("type", layers.LAYERS),
    ("name", optimizers.OPTIMIZERS),
    ("name", schedules.SCHEDULES),
    ("name", activations.ACTIVATIONS),
    ("name", initializers.INITIALIZERS),
    ("name", losses.LOSSES),
]
ENTRIES = [(key, name, entry) for key, registry in FAMILIES_BY_KEY for name, entry in registry.items()]


def _numeric_bounds(schema: type[BaseModel]) -> list[tuple[str, dict]]:
    """(field, JSON schema) of every number or integer field that has a bound."""
    fields = []
    for field, prop in schema.model_json_schema()["properties"].items():
        option = next((o for o in prop.get("anyOf", [prop]) if o.get("type") in ("number", "integer")), None)
        if option and {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & set(option):
            fields.append((field, option))
    return fields


def _outside_and_at(bounds: dict) -> list[tuple[float, bool]]:
    """Values just outside each bound (False) and on each inclusive bound (True)."""
    step = 1 if bounds["type"] == "integer" else 0.5
    values = []
    if "minimum" in bounds:
        values += [(bounds["minimum"] - step, False), (bounds["minimum"], True)]
    if "exclusiveMinimum" in bounds:
        values.append((bounds["exclusiveMinimum"], False))
    if "maximum" in bounds:
        values += [(bounds["maximum"] + step, False), (bounds["maximum"], True)]
    if "exclusiveMaximum" in bounds:
        values.append((bounds["exclusiveMaximum"], False))
    return values


def _defaults(entry) -> dict:
    """The schema's defaults for the constructor's parameters (so required ones, e.g. units, are given)."""
    accepted = inspect.signature(entry).parameters
    return {key: value for key, value in entry.Config().model_dump().items() if key in accepted}


@pytest.mark.parametrize("key, name, entry", ENTRIES, ids=[f"{key}={name}" for key, name, _ in ENTRIES])
def test_every_registry_name_is_its_schemas_tag(key, name, entry):
    assert issubclass(entry.Config, Strict)
    assert entry.Config.model_fields[key].default == name


@pytest.mark.parametrize("key, name, entry", ENTRIES, ids=[f"{key}={name}" for key, name, _ in ENTRIES])
def test_constructors_enforce_their_schemas_bounds(key, name, entry):
    for field, bounds in _numeric_bounds(entry.Config):
        for value, allowed in _outside_and_at(bounds):
            arguments = {**_defaults(entry), field: value}
            if allowed:
                try:
                    assert getattr(entry(**arguments), field) in (value, (value, value))
                except ValueError as error:
                    assert not str(error).startswith(f"{field}:"), "a rule between fields may refuse it"
                continue
            with pytest.raises(ValueError, match=f"^{field}: Input should be"):
                entry(**arguments)


@pytest.mark.parametrize(
    "entry, arguments, message",
    [
        (activations.Hardtanh, {"min_val": 1.0, "max_val": 1.0}, "max_val must be greater than min_val"),
        (activations.RReLU, {"lower": 0.5, "upper": 0.25}, "upper must be at least lower"),
        (initializers.Uniform, {"a": 2.0, "b": 1.0}, "b must be at least a"),
        (activations.GELU, {"approximate": "erf"}, "approximate: Input should be 'none' or 'tanh'"),
        (initializers.HeNormal, {"mode": "fan_avg"}, "mode: Input should be 'fan_in' or 'fan_out'"),
        (initializers.XavierUniform, {"gain": "softmax"}, "gain: Input should be 'linear', "),
        (initializers.XavierUniform, {"gain": 11}, "gain: Input should be less than or equal to 10, got 11$"),
        (losses.Huber, {"delta": 0}, "delta: Input should be greater than 0, got 0$"),
    ],
)
def test_constructors_enforce_their_schemas_rules_between_fields_and_choices(entry, arguments, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        entry(**arguments)
    with pytest.raises(ValueError) as caught:
        entry.Config.model_validate(arguments)
    assert message.split(":")[0] in str(caught.value)


def test_specs_in_a_run_config_are_checked_by_the_named_entrys_schema_with_the_field_in_loc():
    dense = {"type": "dense", "units": 4}
    cases = [
        (
            {**dense, "activation": {"name": "leaky_relu", "negative_slope": 2}},
            ("model", "layers", 0, "dense", "activation", "negative_slope"),
        ),
        (
            {**dense, "weight_init": {"name": "normal", "std": -1}},
            ("model", "layers", 0, "dense", "weight_init", "std"),
        ),
        (
            {**dense, "bias_init": {"name": "uniform", "a": 1, "b": 0}},
            ("model", "layers", 0, "dense", "bias_init"),
        ),
        (
            {"type": "activation", "name": "softplus", "params": {"beta": 0}},
            ("model", "layers", 0, "activation", "params", "beta"),
        ),
        (
            {"type": "activation", "name": "softplus", "params": {"bta": 1}},
            ("model", "layers", 0, "activation", "params", "bta"),
        ),
        ({"type": "activation", "name": "softplusx"}, ("model", "layers", 0, "activation", "name")),
    ]
    for layer, loc in cases:
        with pytest.raises(ValueError) as caught:
            RunConfig.model_validate({"model": {"layers": [layer]}})
        assert [problem["loc"] for problem in caught.value.errors()] == [loc]
    with pytest.raises(ValueError) as caught:
        RunConfig.model_validate({"model": {"output_init": {"name": "xavier_normal", "gain": -1}}})
    assert [problem["loc"] for problem in caught.value.errors()] == [("model", "output_init", "gain")]


def test_every_bounded_field_is_found():
    assert [field for field, _ in _numeric_bounds(activations.Softplus.Config)] == ["beta", "threshold"]
    assert [field for field, _ in _numeric_bounds(initializers.XavierNormal.Config)] == ["gain"]
    assert [field for field, _ in _numeric_bounds(losses.Huber.Config)] == ["delta"]
    assert [field for field, _ in _numeric_bounds(optimizers.SGD.Config)] == [
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
    ]
    assert [field for field, _ in _numeric_bounds(layers.MaxPool2d.Config)] == ["kernel_size", "stride"]
    assert (2, False) in _outside_and_at({"type": "integer", "minimum": 3})
    assert (1.0, False) in _outside_and_at({"type": "number", "exclusiveMaximum": 1.0})


def test_validated_names_the_field_and_the_value():
    with pytest.raises(ValueError, match=r"^lr: Input should be a finite number, got nan$"):
        validated(optimizers.SGD.Config, lr=math.nan)
    with pytest.raises(ValueError, match="^nesterov needs momentum > 0 and dampening = 0$"):
        validated(optimizers.SGD.Config, nesterov=True)


def test_an_entry_whose_schema_has_another_tag_is_refused(monkeypatch):
    class Renamed(schedules.Step):
        """Step under another registry name: its Config still says "step"."""

    monkeypatch.setitem(schedules.SCHEDULES, "renamed", Renamed)
    with pytest.raises(ValueError, match="registered as 'renamed' but its Config's name is 'step'"):
        RunConfig.model_validate({"schedule": {"name": "step"}})


def test_shared_takes_the_tightest_bounds_of_every_registered_schema_and_converts_nothing(monkeypatch):
    lr = Shared(optimizers.OPTIMIZERS, "lr")
    assert lr.validate(10) == 10.0
    assert lr.schema() == {"type": "float", "allow_inf_nan": False, "strict": True, "gt": 0.0, "le": 10.0}
    for value in (0, 10.5, math.inf, True, "0.5"):
        with pytest.raises(ValueError):
            lr.validate(value)

    class SlowSGD(optimizers.SGD):
        class Config(optimizers.SGD.Config):
            name: Literal["slow_sgd"] = "slow_sgd"
            lr: float = Field(0.01, ge=0.001, lt=1)

    monkeypatch.setitem(optimizers.OPTIMIZERS, "slow_sgd", SlowSGD)
    assert lr.schema()["ge"] == 0.001 and lr.schema()["lt"] == 1
    with pytest.raises(ValueError):
        lr.validate(1)
