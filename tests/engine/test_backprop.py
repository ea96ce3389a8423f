from typing import Literal

import numpy as np
import pytest
import torch

from engine import activations, backprop, losses
from engine.plan import PlanError
from engine.schema import Strict

TOLERANCE = 1e-12


def net(*layers, dataset="circle", **extra):
    return {
        "data": {"dataset": dataset, "n_samples": 60, **extra.pop("data", {})},
        "model": {"layers": list(layers)},
        **extra,
    }


def dense(units, activation="tanh"):
    return {"type": "dense", "units": units, "activation": activation}


def gradients(result):
    return {key: np.asarray(value) for key, value in result["gradients"].items()}


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_every_activation_gives_the_engines_gradients(name):
    result = backprop.backprop(net(dense(5, name), dense(3, name)), example=7)
    assert result["engine_difference"] <= TOLERANCE
    assert result["forward_mode_difference"] <= TOLERANCE
    assert name in result["derivatives"]


@pytest.mark.parametrize(
    "dataset, loss",
    [
        ("plane", "mse"),
        ("plane", "mae"),
        ("plane", "smooth_l1"),
        ("plane", "huber"),
        ("circle", "bce"),
        ("circle", "bce_with_logits"),
        ("spiral", "cross_entropy"),
    ],
)
def test_three_hidden_layers_of_eight_with_every_loss(dataset, loss):
    config = net(
        dense(8, "sigmoid"),
        dense(8, "relu"),
        dense(8, "elu"),
        dataset=dataset,
        loss=loss,
        data={"classes": 3} if loss == "cross_entropy" else {},
        seed=3,
    )
    result = backprop.backprop(config, example=11)
    assert result["loss"]["name"] == loss
    assert result["engine_difference"] <= TOLERANCE
    assert any(np.any(g != 0) for g in gradients(result).values())


def test_gradients_equal_torch_autograd():
    config = net(dense(4, "tanh"), dense(3, "softplus"), seed=5)
    result = backprop.backprop(config, example=2)
    trainer = backprop._trainer(config, None)
    modules = [
        torch.nn.Linear(2, 4),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 3),
        torch.nn.Softplus(),
        torch.nn.Linear(3, 1),
    ]
    model = torch.nn.Sequential(*modules).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    x = torch.tensor([result["input"]], dtype=torch.float64)
    target = torch.tensor([[float(result["target"][0])]], dtype=torch.float64)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
    loss.backward()
    assert result["loss"]["value"] == pytest.approx(loss.item(), abs=TOLERANCE)
    for key, parameter in model.named_parameters():
        np.testing.assert_allclose(gradients(result)[key], parameter.grad.numpy(), rtol=0, atol=TOLERANCE)


def test_a_wrong_local_derivative_breaks_the_equality(monkeypatch):
    config = net(dense(4, "tanh"), dense(2, "tanh"))
    assert backprop.backprop(config, example=3)["engine_difference"] <= TOLERANCE

    def tanh_derivative_without_the_square(layer, z, a):
        return np.diag(1 - a)

    monkeypatch.setattr(backprop, "local_jacobian", tanh_derivative_without_the_square)
    assert backprop.backprop(config, example=3)["engine_difference"] > 1e-3


def test_every_node_is_the_chain_rule_sum_of_its_children():
    result = backprop.backprop(net(dense(3, "sigmoid"), dense(2, "softmax")), example=4)
    nodes = {node["id"]: node for node in result["nodes"]}
    assert nodes["L"]["grad"] == 1
    for node in result["nodes"][:-1]:
        assert node["grad"] == pytest.approx(sum(term["product"] for term in node["chain"]), abs=TOLERANCE)
        for term in node["chain"]:
            assert term["upstream"] == nodes[term["to"]]["grad"]
    softmax = [node for node in result["nodes"] if node["op"] == "softmax"]
    assert len(softmax) == 2 and all(len(node["inputs"]) == 2 for node in softmax)
    z = nodes["z0.1"]
    assert z["value"] == pytest.approx(
        sum(t["local"] * nodes[t["from"]]["value"] for t in z["inputs"]) + z["params"][-1]["value"]
    )
    weight_grads = {p["param"]: p["grad"] for p in z["params"]}
    assert weight_grads["0.weight[1, 0]"] == pytest.approx(gradients(result)["0.weight"][1, 0], abs=0)


def test_steps_go_forward_through_every_node_then_back():
    result = backprop.backprop(backprop.PRESETS["XOR, 2-2-1 sigmoid"])
    ids = [node["id"] for node in result["nodes"]]
    assert ids == ["x0", "x1", "z0.0", "z0.1", "a1.0", "a1.1", "z2.0", "L"]
    assert [s["node"] for s in result["steps"]] == ids + ids[::-1]
    assert {s["phase"] for s in result["steps"][: len(ids)]} == {"forward"}
    assert [node["label"] for node in result["nodes"][:5]] == ["x1", "x2", "z¹₁", "z¹₂", "a¹₁"]
    assert result["columns"] == ["input", "0: dense", "1: sigmoid", "2: dense", "loss"]


def test_forward_mode_needs_a_pass_per_parameter_and_costs_more():
    cost = backprop.backprop(backprop.PRESETS["XOR, 2-2-1 sigmoid"])["cost"]
    # 2-2-1: 9 parameters; forward pass 4 + 2 weight products; backward: 9 edges and 9 parameter products;
    # tangents: 4 per first-layer weight or bias (z, a, output, L), 2 per output weight or bias.
    assert cost["parameters"] == 9 and cost["forward_pass"] == 6
    assert cost["reverse"] == {"passes": 2, "multiply_adds": 6 + 18, "backward_pass": 18}
    assert cost["forward"] == {"passes": 9, "multiply_adds": 9 * 6 + 6 * 4 + 3 * 2, "tangents": 30}
    deep = backprop.backprop(net(dense(8), dense(8), dense(8)))["cost"]
    assert deep["forward"]["multiply_adds"] / deep["reverse"]["multiply_adds"] > 50


def test_given_weights_are_used():
    config = backprop.PRESETS["XOR, 2-2-1 sigmoid"]
    state = backprop._trainer(config, None).model.state_dict()
    state["0.weight"] = state["0.weight"] * 3
    result = backprop.backprop(config, example=1, weights=state)
    np.testing.assert_allclose(result["nodes"][2]["inputs"][0]["local"], state["0.weight"][0, 0])
    assert result["engine_difference"] <= TOLERANCE


@pytest.mark.parametrize(
    "config, example, field",
    [
        (net({"type": "dropout"}), 0, ("model", "layers", 0)),
        (net(dense(4), dense(9)), 0, ("model", "layers", 1, "units")),
        (net(dense(2), dense(2), dense(2), dense(2)), 0, ("model", "layers")),
        (net(dense(2), dataset="digits", data={"images": False}), 0, ("data", "features")),
        (net(dense(2)), 30, ("example",)),
    ],
)
def test_what_cannot_be_drawn_names_its_field(config, example, field):
    with pytest.raises(PlanError) as error:
        backprop.backprop(config, example=example)
    assert error.value.field == field


def test_a_layer_that_cannot_be_stepped_is_named():
    with pytest.raises(PlanError, match="layer 1 is dropout"):
        backprop.backprop(net(dense(2), {"type": "dropout"}), example=0)


class QuarticLoss(Strict):
    """L = mean((pred - target)^4)."""

    name: Literal["quartic"] = "quartic"


class Quartic(losses.Loss):
    """Mean fourth power of the error, registered by this test alone: L = mean((pred - target)^4)."""

    Config = QuarticLoss

    def forward(self, pred, target):
        d = self._diff(pred, target)
        return float(np.mean(d**4))

    def backward(self):
        return 4 * self.diff**3 / self.diff.size


@pytest.mark.parametrize("spec", ["quartic", {"name": "quartic"}])
def test_a_registered_loss_without_a_formula_is_refused_naming_the_field(monkeypatch, spec):
    monkeypatch.setitem(losses.LOSSES, "quartic", Quartic)
    steps = "mse, mae, smooth_l1, huber, bce, bce_with_logits, cross_entropy"
    message = f"^loss 'quartic' has no formula in backprop; it steps {steps}$"
    with pytest.raises(PlanError, match=message) as error:
        backprop.backprop(net(dense(2), dataset="plane", loss=spec), example=0)
    assert error.value.field == ("loss",)


class HalfConfig(Strict):
    """y = x / 2."""

    name: Literal["half"] = "half"


class Half(activations.Activation):
    """Half the input, registered by this test alone: y = x / 2."""

    Config = HalfConfig

    def f(self, x):
        return x / 2

    def df(self, x, y):
        return np.full_like(x, 0.5)


@pytest.mark.parametrize(
    "layer, field",
    [
        (dense(2, "half"), ("model", "layers", 0, "activation")),
        ({"type": "activation", "name": "half"}, ("model", "layers", 0, "name")),
    ],
)
def test_a_registered_activation_without_a_formula_is_refused_naming_the_field(monkeypatch, layer, field):
    monkeypatch.setitem(activations.ACTIVATIONS, "half", Half)
    message = "^activation 'half' has no derivative formula in backprop; it steps identity, step, sigmoid, "
    with pytest.raises(PlanError, match=message) as error:
        backprop.backprop(net(layer), example=0)
    assert error.value.field == field


def test_every_activation_and_loss_has_its_formula():
    assert set(backprop.DERIVATIVES) == set(activations.ACTIVATIONS)
    assert set(backprop.LOSSES) == set(losses.LOSSES)


@pytest.mark.parametrize(
    "config",
    [
        {
            "model": {
                "layers": [
                    {"type": "dense", "units": 3, "bias": False, "activation": "prelu"},
                    {"type": "activation", "name": "elu", "params": {"alpha": 0.5}},
                ]
            }
        },
        {"model": {"layers": [dense(3), dense(1, "sigmoid")], "output": False}, "loss": "bce"},
    ],
)
def test_no_bias_a_learnable_slope_an_activation_layer_and_no_output_layer(config):
    result = backprop.backprop(config, example=3)
    assert result["engine_difference"] <= TOLERANCE
    assert result["forward_mode_difference"] <= TOLERANCE
    prelu = gradients(result).get("1.weight")
    assert prelu is None or prelu.shape == (1,) and prelu[0] != 0
