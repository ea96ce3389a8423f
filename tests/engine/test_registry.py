import pytest
from pydantic import BaseModel

from engine.registry import lookup, real


class Thing:
    def __init__(self, size, colour="red"):
        if size > 10:
            raise ValueError("size is too big")
        self.size, self.colour = size, colour


REGISTRY = {"thing": Thing}


class ThingConfig(BaseModel):
    name: str = "thing"
    size: int = 3


def test_lookup_takes_names_dicts_models_and_instances():
    thing = lookup("thing", REGISTRY, Thing, {"name": "thing", "size": 2})
    assert (thing.size, thing.colour) == (2, "red")
    assert lookup("thing", REGISTRY, Thing, thing) is thing
    assert lookup("thing", REGISTRY, Thing, ThingConfig()).size == 3
    assert lookup("thing", REGISTRY, Thing, {"type": "thing", "size": 1}, key="type").size == 1


@pytest.mark.parametrize(
    "spec, message",
    [
        ("gizmo", "unknown thing 'gizmo'; valid: thing"),
        ({"name": ["thing"]}, "unknown thing"),
        (42, "thing must be a name, a dict or a Thing"),
        (
            {"name": "thing", "size": 1, "weight": 2},
            "unknown parameter 'weight'; valid parameters: size, colour",
        ),
        ("thing", "missing required parameter 'size'"),
    ],
)
def test_lookup_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        lookup("thing", REGISTRY, Thing, spec)


def test_lookup_can_prefix_the_factory_errors_with_the_name():
    with pytest.raises(ValueError, match="^size is too big"):
        lookup("thing", REGISTRY, Thing, {"name": "thing", "size": 11})
    with pytest.raises(ValueError, match="^thing: size is too big"):
        lookup("thing", REGISTRY, Thing, {"name": "thing", "size": 11}, prefix_errors=True)


def test_number_checks():
    assert real("p", 0.0, 0, 1, "[)") == 0.0
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\)"):
        real("p", 1, 0, 1, "[)")
    with pytest.raises(ValueError, match=r"eps must be a number in \(0, 1\]"):
        real("eps", 0, 0, 1, "(]")
    for value in (True, "0.5", float("nan")):
        with pytest.raises(ValueError, match="lr must be a number"):
            real("lr", value, 0)
