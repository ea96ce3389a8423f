"""The control API's live lr takes its bounds from the optimizers' schemas, as they are registered."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, ValidationError

from engine import optimizers
from engine.optimizers import SGD, SGDConfig
from server.schemas import ControlRequest, LiveOptimizer

BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


class CautiousSGDConfig(SGDConfig):
    """SGD whose lr never exceeds 1 (an optimizer registered by this test)."""

    name: Literal["cautious_sgd"] = "cautious_sgd"
    lr: float = Field(0.03, gt=0, le=1)


class CautiousSGD(SGD):
    Config = CautiousSGDConfig


def lr_errors(body: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        ControlRequest.model_validate(body)
    return [(problem["loc"], problem["type"]) for problem in caught.value.errors()]


def test_the_live_lr_has_the_optimizers_lr_bounds():
    live = LiveOptimizer.model_json_schema()["properties"]["lr"]
    for entry in optimizers.OPTIMIZERS.values():
        lr = entry.Config.model_json_schema()["properties"]["lr"]
        assert {key: lr[key] for key in BOUNDS if key in lr} == {
            key: live[key] for key in BOUNDS if key in live
        }
    assert {key: live[key] for key in BOUNDS if key in live} == {"exclusiveMinimum": 0, "maximum": 10}
    assert ControlRequest.model_validate({"action": "set", "optimizer": {"lr": 10}}).payload() == {
        "optimizer": {"lr": 10.0}
    }
    assert lr_errors({"action": "set", "optimizer": {"lr": 0}}) == [(("optimizer", "lr"), "greater_than")]
    assert lr_errors({"action": "set", "lr": 10.5}) == [(("lr",), "less_than_equal")]
    assert lr_errors({"action": "set", "lr": float("inf")}) == [(("lr",), "finite_number")]


def test_an_optimizer_registered_later_narrows_the_live_lr_to_what_every_optimizer_accepts(monkeypatch):
    assert ControlRequest.model_validate({"action": "set", "lr": 5}).lr == 5.0
    monkeypatch.setitem(optimizers.OPTIMIZERS, "cautious_sgd", CautiousSGD)
    assert lr_errors({"action": "set", "lr": 5}) == [(("lr",), "less_than_equal")]
    assert lr_errors({"action": "set", "optimizer": {"lr": 1.5}}) == [
        (("optimizer", "lr"), "less_than_equal")
    ]
    assert ControlRequest.model_validate(
        {"action": "set", "optimizer": {"lr": 1}}
    ).optimizer == LiveOptimizer(lr=1.0)
    assert LiveOptimizer.model_json_schema()["properties"]["lr"]["maximum"] == 1.0


def test_the_server_answers_422_naming_the_live_lr(client, monkeypatch):
    monkeypatch.setitem(optimizers.OPTIMIZERS, "cautious_sgd", CautiousSGD)
    response = client.post("/api/runs/no-such-run/control", json={"action": "set", "optimizer": {"lr": 2}})
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [["body", "optimizer", "lr"]]
