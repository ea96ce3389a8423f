"""A loss registered by this test alone, and a built-in loss with its parameters, set from a RunConfig.

The loss is one class with its schema beside it, put in `LOSSES` after the app was built: RunConfig and
`/api/plan` accept it (and reject its bad parameters naming the field), `/api/catalog` lists it, the plan's
PyTorch code uses its torch equivalent with its parameters, and the Trainer trains with it to torch's numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from pydantic import Field

from engine import Trainer, losses
from engine.config import RunConfig
from engine.losses import Loss
from engine.plan import run_torch
from engine.schema import Strict, validated

torch = pytest.importorskip("torch")
BUILT_IN = ["mse", "mae", "smooth_l1", "huber", "bce", "bce_with_logits", "cross_entropy"]


class PoissonNLLConfig(Strict):
    """L = mean(exp(x) - t x) on log rates x; full adds t log t - t + 0.5 log(2 pi t) where t > 1."""

    name: Literal["poisson_nll"] = "poisson_nll"
    full: bool = Field(False, description="add Stirling's approximation of log(t!) where t > 1")


class PoissonNLL(Loss):
    """Poisson negative log likelihood on log rates x (torch PoissonNLLLoss, log_input=True)."""

    Config = PoissonNLLConfig
    torch_class = "PoissonNLLLoss"

    def __init__(self, full=False):
        self.full = validated(self.Config, full=full).full

    def forward(self, pred, target):
        self.pred = pred
        t = self.target = np.asarray(target, dtype=pred.dtype).reshape(pred.shape)
        values = np.exp(pred) - t * pred
        if self.full:
            big = np.where(t > 1, t, 1)
            values = values + np.where(t > 1, big * np.log(big) - big + 0.5 * np.log(2 * np.pi * big), 0)
        return float(np.mean(values))

    def backward(self):
        return (np.exp(self.pred) - self.target) / self.pred.size


RUN = {
    "data": {"dataset": "plane", "n_samples": 80, "noise": 10},
    "model": {"layers": [{"type": "dense", "units": 5, "activation": "tanh"}]},
    "loss": {"name": "poisson_nll", "full": True},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.5},
    "training": {"epochs": 5, "batch_size": "full"},
    "telemetry": {"histograms": False, "activations": False, "boundary": False, "neurons": False},
    "dtype": "float64",
}
HUBER_RUN = {**RUN, "loss": {"name": "huber", "delta": 0.5}, "optimizer": {"name": "sgd", "lr": 0.3}}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(losses.LOSSES, "poisson_nll", PoissonNLL)


def loss_errors(loss) -> list[tuple]:
    with pytest.raises(ValueError) as error:
        RunConfig.model_validate({**RUN, "loss": loss})
    return [problem["loc"] for problem in error.value.errors()]


def test_an_unregistered_loss_is_rejected_naming_the_field_and_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown loss 'poisson_nll'; valid: auto, mse, mae, ") as error:
        RunConfig.model_validate(RUN)
    assert [problem["loc"] for problem in error.value.errors()] == [("loss",)]


def test_a_registered_loss_is_validated_with_its_own_schema(registered):
    config = RunConfig.model_validate(RUN)
    assert config.loss == {"name": "poisson_nll", "full": True}
    assert RunConfig.model_validate(config.model_dump(mode="json")) == config
    assert RunConfig.model_validate({**RUN, "loss": "poisson_nll"}).loss == "poisson_nll"
    assert loss_errors({"name": "poisson_nll", "full": "yes"}) == [("loss", "full")]
    assert loss_errors({"name": "poisson_nll", "eps": 1e-8}) == [("loss", "eps")]
    with pytest.raises(ValueError, match=r"^poisson_nll: full: Input should be a valid boolean, got 'yes'$"):
        losses.get({"name": "poisson_nll", "full": "yes"})
    schema = RunConfig.model_json_schema()
    names, specs = schema["properties"]["loss"]["anyOf"]
    assert names["enum"] == ["auto", *BUILT_IN, "poisson_nll"]
    assert specs["discriminator"]["mapping"]["poisson_nll"] == "#/$defs/PoissonNLLConfig"


def test_a_built_in_losss_parameters_are_checked_with_the_field_in_loc():
    assert RunConfig.model_validate(HUBER_RUN).loss == {"name": "huber", "delta": 0.5}
    assert loss_errors({"name": "huber", "delta": 0}) == [("loss", "delta")]
    assert loss_errors({"name": "smooth_l1", "beta": 101}) == [("loss", "beta")]
    assert loss_errors({"name": "mse", "delta": 1}) == [("loss", "delta")]
    assert loss_errors({"name": "auto"}) == [("loss",)]
    with pytest.raises(ValueError, match=r"a loss object needs a name, one of: auto, mse, "):
        RunConfig.model_validate({"loss": {"delta": 0.5}})
    assert loss_errors(["huber"]) == [("loss",)]


def test_the_server_plans_it_and_answers_422_naming_the_parameter(client, registered):
    for loss, loc in [
        ({"name": "poisson_nll", "full": 1}, ["body", "loss", "full"]),
        ({"name": "huber", "delta": -1}, ["body", "loss", "delta"]),
        ({"name": "hinge"}, ["body", "loss"]),
    ]:
        bad = client.post("/api/plan", json={**RUN, "loss": loss})
        assert bad.status_code == 422, bad.text
        assert [problem["loc"] for problem in bad.json()["detail"]] == [loc]
    planned = client.post("/api/plan", json=RUN)
    assert planned.status_code == 200, planned.text
    assert (planned.json()["loss"], planned.json()["loss_options"]) == ("poisson_nll", {"full": True})
    assert "loss_fn = nn.PoissonNLLLoss(full=True)\n" in planned.json()["torch"]
    huber = client.post("/api/plan", json=HUBER_RUN).json()
    assert (huber["loss"], huber["loss_options"]) == ("huber", {"delta": 0.5})
    assert "loss_fn = nn.HuberLoss(delta=0.5)\n" in huber["torch"]
    assert client.post("/api/plan", json={**RUN, "loss": "auto"}).json()["loss_options"] == {}


def test_the_catalog_lists_it_with_its_parameters(client, registered):
    assert client.get("/api/catalog").json()["losses"]["poisson_nll"] == {
        "doc": "Poisson negative log likelihood on log rates x (torch PoissonNLLLoss, log_input=True).",
        "task": "regression",
        "params": {
            "full": {
                "type": "boolean",
                "default": False,
                "description": "add Stirling's approximation of log(t!) where t > 1",
            }
        },
    }


def torch_losses(trainer: Trainer, loss_fn) -> list[float]:
    """Full-batch torch training from the trainer's initial weights: the loss after each epoch."""
    side = run_torch(trainer.plan.torch)
    net, optimizer = side["model"], side["optimizer"]
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    x, y = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    values = []
    for _ in range(trainer.config.training.epochs):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
        with torch.no_grad():
            values.append(loss_fn(net(x), y).item())
    return values


def test_the_trainer_trains_with_it_to_torchs_numbers(registered):
    trainer = Trainer(RUN)
    assert isinstance(trainer.loss, PoissonNLL) and trainer.loss.full
    expected = torch_losses(trainer, run_torch(trainer.plan.torch)["loss_fn"])
    assert np.any(trainer.y_train > 1), "full=True must make a difference on this data"
    records = list(trainer.epochs())
    np.testing.assert_allclose([r.train_loss for r in records], expected, rtol=1e-12)


def test_huber_with_delta_half_trains_to_torchs_huber_loss_with_delta_half():
    trainer = Trainer(HUBER_RUN)
    assert trainer.loss.delta == 0.5
    expected = torch_losses(trainer, torch.nn.HuberLoss(delta=0.5))
    records = list(trainer.epochs())
    np.testing.assert_allclose([r.train_loss for r in records], expected, rtol=1e-12)
    default = [record.train_loss for record in Trainer({**HUBER_RUN, "loss": "huber"}).epochs()]
    assert not np.allclose(default, expected, rtol=1e-3)


def test_openapi_names_the_losses_a_run_takes(client):
    schema = client.get("/openapi.json").json()
    loss = schema["components"]["schemas"]["RunCreate"]["properties"]["loss"]
    by_name, by_spec = loss["anyOf"]
    assert by_name["type"] == "string" and by_name["enum"][:8] == ["auto", *BUILT_IN]
    assert by_spec["discriminator"]["mapping"]["huber"] == "#/components/schemas/HuberLoss"
    assert schema["components"]["schemas"]["HuberLoss"]["properties"]["delta"]["exclusiveMinimum"] == 0


class MultiMarginConfig(Strict):
    """L = mean over rows of sum_{k != t} max(0, margin - x_t + x_k) / classes, on scores x."""

    name: Literal["multi_margin"] = "multi_margin"
    margin: float = Field(1.0, gt=0, description="the score gap the true class must keep")


class MultiMargin(Loss):
    """Multi-class hinge on scores x (batch, classes) and class indices t (torch MultiMarginLoss, p=1)."""

    Config = MultiMarginConfig
    torch_class = "MultiMarginLoss"
    targets = "indices"

    def __init__(self, margin=1.0):
        self.margin = validated(self.Config, margin=margin).margin

    def forward(self, pred, target):
        rows = np.arange(len(pred))
        self.target = np.asarray(target)
        hinge = self.margin - pred[rows, self.target][:, None] + pred
        hinge[rows, self.target] = 0
        self.active = (hinge > 0).astype(pred.dtype)
        return float(np.sum(np.maximum(hinge, 0)) / pred.size)

    def backward(self):
        grad = self.active.copy()
        rows = np.arange(len(grad))
        grad[rows, self.target] = -self.active.sum(1)
        return grad / grad.size


MARGIN_RUN = {
    **RUN,
    "data": {"dataset": "blobs", "classes": 3, "n_samples": 90, "noise": 20},
    "loss": {"name": "multi_margin", "margin": 0.5},
}


def test_a_registered_multi_class_loss_declares_its_targets_and_gets_one_output_per_class(monkeypatch):
    monkeypatch.setitem(losses.LOSSES, "multi_margin", MultiMargin)
    trainer = Trainer(MARGIN_RUN)
    assert trainer.plan.task == "classification" and trainer.plan.output_units == 3
    assert trainer.loss.margin == 0.5 and trainer.y_train.dtype == np.int64
    two_classes = {**MARGIN_RUN, "data": {**MARGIN_RUN["data"], "classes": 2}}
    assert Trainer(two_classes).plan.output_units == 2
    expected = torch_losses(trainer, torch.nn.MultiMarginLoss(margin=0.5))
    records = list(trainer.epochs())
    np.testing.assert_allclose([r.train_loss for r in records], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="is for classification; this dataset is a regression task"):
        Trainer({**RUN, "loss": "multi_margin"})


def test_a_loss_on_probabilities_gets_its_declared_output_activation(monkeypatch):
    class SigmoidBCE(losses.BCE):
        output_activation = "hardsigmoid"

    monkeypatch.setitem(losses.LOSSES, "bce", SigmoidBCE)
    plan = Trainer({**RUN, "data": {"dataset": "circle", "n_samples": 40}, "loss": "bce"}).plan
    assert [layer.inserted for layer in plan.layers][-2:] == ["output", "output activation for bce"]
    assert (plan.layers[-1].spec["type"], plan.layers[-1].spec["name"]) == ("activation", "hardsigmoid")
