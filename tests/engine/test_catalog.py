import json
from typing import Literal

from engine import activations, layers, losses, schedules
from engine.catalog import catalog
from engine.config import RunConfig
from engine.schema import Strict


def test_every_registry_is_listed():
    c = catalog()
    assert set(c["layers"]) == set(layers.LAYERS)
    assert set(c["activations"]) == set(activations.ACTIVATIONS)
    assert set(c["losses"]) == set(losses.LOSSES)
    assert set(c["optimizers"]) == {"sgd", "adagrad", "rmsprop", "adam", "adamw"}
    assert set(c["schedules"]) == {"constant", "step", "multistep", "exponential", "cosine"}
    assert {"circle", "xor", "gauss", "spiral", "plane", "multi_gauss", "digits"} <= set(c["datasets"])
    assert c["features"] == ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]


def test_parameters_carry_types_bounds_and_defaults_from_the_engine():
    c = catalog()
    assert c["layers"]["dense"]["params"]["units"] == {
        "type": "integer",
        "default": 8,
        "minimum": 1,
        "maximum": 1024,
    }
    assert c["layers"]["dense"]["params"]["activation"]["type"] == "activation"
    assert c["activations"]["leaky_relu"]["params"]["negative_slope"]["default"] == 0.01
    assert c["activations"]["gelu"]["params"]["approximate"]["choices"] == ["none", "tanh"]
    assert c["activations"]["relu"]["kind"] == "relu" and c["activations"]["tanh"]["kind"] == "saturating"
    assert c["optimizers"]["rmsprop"]["params"]["alpha"]["default"] == 0.99
    assert c["optimizers"]["adagrad"]["params"]["eps"]["default"] == 1e-10
    assert c["losses"]["cross_entropy"]["task"] == "classification"
    assert c["sections"]["training"]["batch_size"]["choices"] == ["full"]


def test_defaults_are_a_valid_run_and_the_catalog_is_json():
    c = catalog()
    assert RunConfig.model_validate(c["defaults"]) == RunConfig()
    assert json.loads(json.dumps(c)) == c


def test_a_component_registered_later_is_in_the_next_catalog(monkeypatch):
    before = catalog()
    assert "warm" not in before["schedules"]

    class WarmLR(Strict):
        """lr stays at its base value (a schedule registered by this test)."""

        name: Literal["warm"] = "warm"

    class Warm(schedules.Constant):
        Config = WarmLR

    monkeypatch.setitem(schedules.SCHEDULES, "warm", Warm)
    assert catalog()["schedules"]["warm"] == {"doc": WarmLR.__doc__, "params": {}}
    monkeypatch.delitem(schedules.SCHEDULES, "warm")
    assert catalog() == before
