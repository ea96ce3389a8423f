"""One declaration per component: the schema beside the class is what its constructor enforces."""

import inspect
import math

import pytest
from pydantic import BaseModel

from engine import layers, optimizers, schedules
from engine.config import RunConfig
from engine.schema import Strict, validated

FAMILIES_BY_KEY = [("type", layers.LAYERS), ("name", optimizers.OPTIMIZERS), ("name", schedules.SCHEDULES)]
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
                assert getattr(entry(**arguments), field) in (value, (value, value))
                continue
            with pytest.raises(ValueError, match=f"^{field}: Input should be"):
                entry(**arguments)


def test_every_bounded_field_is_found():
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
