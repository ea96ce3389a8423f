"""An optimizer, a schedule, a layer type, an activation and an initializer registered by this test alone.

Each is one class with its schema beside it, put in its registry after the app was built: RunConfig and the
server's routes accept it, reject its out-of-range values naming the field, `/api/catalog` lists it with its
bounds, the plan's PyTorch code uses its torch equivalent, and that code trains to the engine's numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from pydantic import Field, model_validator

from engine import Trainer, activations, catalog, initializers, layers, optimizers, schedules
from engine.activations import Activation
from engine.config import RunConfig
from engine.initializers import Initializer
from engine.layers import Layer
from engine.optimizers import Beta, Optimizer, OptimizerSchema
from engine.plan import run_torch
from engine.schedules import Schedule
from engine.schema import MAX_EPOCHS, Strict, validated

torch = pytest.importorskip("torch")


class AdamaxConfig(OptimizerSchema):
    """Adamax: Adam with the infinity norm of the gradients in place of their second moment."""

    name: Literal["adamax"] = "adamax"
    lr: float = Field(0.002, gt=0, le=10)
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), strict=False, description="two numbers (a JSON array)")
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)


class Adamax(Optimizer):
    """Adamax: m = lerp(m, g, 1 - b1), u = max(b2 u, |g| + eps); p -= lr / (1 - b1^t) * m / u."""

    Config = AdamaxConfig

    def __init__(self, lr=0.002, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        config = validated(self.Config, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(config.lr, config.weight_decay)
        self.betas, self.eps = config.betas, config.eps

    def slots(self):
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    def update(self, grad, state, step, scratch):
        beta1, beta2 = self.betas
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg += np.multiply(np.subtract(grad, exp_avg, out=step), 1 - beta1, out=step)
        exp_inf *= beta2
        np.maximum(exp_inf, np.add(np.abs(grad, out=scratch), self.eps, out=scratch), out=exp_inf)
        np.multiply(np.divide(exp_avg, exp_inf, out=step), self._lr / (1 - beta1**self.t), out=step)


class LinearLR(Strict):
    """lr = base * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)."""

    name: Literal["linear"] = "linear"
    start_factor: float = Field(1 / 3, gt=0, le=1)
    end_factor: float = Field(1.0, ge=0, le=1)
    total_iters: int = Field(5, ge=1, le=MAX_EPOCHS)


class Linear(Schedule):
    """LinearLR: the lr factor moves linearly from start_factor to end_factor over total_iters epochs."""

    Config = LinearLR
    torch_class = "LinearLR"

    def __init__(self, start_factor=1 / 3, end_factor=1.0, total_iters=5):
        config = validated(
            self.Config, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters
        )
        self.start_factor, self.end_factor, self.total_iters = (
            config.start_factor,
            config.end_factor,
            config.total_iters,
        )

    def lr_at(self, epoch, base_lr):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class ScaleLayer(Strict):
    """A learnable scale per feature: y = x * weight."""

    type: Literal["scale"] = "scale"
    init: float = Field(1.0, gt=0, le=10, description="every weight's initial value")


class Scale(Layer):
    """Scale: y = x * weight, (batch, n) -> (batch, n), weight (n,) starting at `init`."""

    Config = ScaleLayer
    torch_definition = """class Scale(nn.Module):
    def __init__(self, features, init):
        super().__init__()
        self.weight = nn.Parameter(torch.full((features,), init))

    def forward(self, x):
        return x * self.weight
"""

    def __init__(self, init=1.0):
        super().__init__()
        self.init = validated(self.Config, init=init).init

    def build(self, input_shape, rng, dtype):
        self.params = {"weight": np.full(self.output_shape(input_shape), self.init, dtype)}
        self.grads = {"weight": np.zeros_like(self.params["weight"])}
        return tuple(input_shape)

    def output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"scale needs input (features,), got {tuple(input_shape)}")
        return tuple(input_shape)

    def parameter_shapes(self, input_shape):
        return {"weight": tuple(input_shape)}

    def torch(self, input_shape):
        return f"Scale({input_shape[0]}, init={self.init!r})"

    def forward(self, x, training):
        self.x = x
        return x * self.params["weight"]

    def backward(self, grad):
        (grad * self.x).sum(0, out=self.grads["weight"])
        return grad * self.params["weight"]


class CELUConfig(Strict):
    """y = x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    name: Literal["celu"] = "celu"
    alpha: float = Field(1.0, gt=0, le=10, description="the scale of the negative part (x is divided by it)")


class CELU(Activation):
    """Continuously differentiable ELU: y = x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    Config = CELUConfig

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = validated(self.Config, alpha=alpha).alpha

    def f(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0) / self.alpha))

    def df(self, x, y):
        return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / self.alpha))


class TruncNormalInit(Strict):
    """w ~ N(mean, std^2), redrawn until it falls in [a, b]."""

    name: Literal["trunc_normal"] = "trunc_normal"
    mean: float = Field(0.0, ge=-10, le=10)
    std: float = Field(1.0, gt=0, le=10)
    a: float = Field(-2.0, ge=-10, le=10)
    b: float = Field(2.0, ge=-10, le=10)

    @model_validator(mode="after")
    def _b_above_a(self):
        if self.b <= self.a:
            raise ValueError("b must be greater than a")
        return self


class TruncNormal(Initializer):
    """Truncated normal: w ~ N(mean, std^2) restricted to [a, b]."""

    Config = TruncNormalInit
    torch_function = "trunc_normal_"

    def __init__(self, mean=0.0, std=1.0, a=-2.0, b=2.0):
        config = validated(self.Config, mean=mean, std=std, a=a, b=b)
        self.mean, self.std, self.a, self.b = config.mean, config.std, config.a, config.b

    def __call__(self, shape, rng):
        weights = rng.normal(self.mean, self.std, shape)
        outside = (weights < self.a) | (weights > self.b)
        while outside.any():
            weights[outside] = rng.normal(self.mean, self.std, int(outside.sum()))
            outside = (weights < self.a) | (weights > self.b)
        return weights


RUN = {
    "data": {"dataset": "circle", "n_samples": 80, "noise": 10},
    "model": {
        "layers": [{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "scale", "init": 0.5}]
    },
    "optimizer": {"name": "adamax", "lr": 0.05, "betas": [0.8, 0.99], "weight_decay": 0.001},
    "schedule": {"name": "linear", "start_factor": 0.25, "total_iters": 4},
    "training": {"epochs": 6, "batch_size": "full"},
    "telemetry": {"histograms": False, "activations": False, "boundary": False, "neurons": False},
    "dtype": "float64",
}


CELU_LAYER = {
    "type": "dense",
    "units": 5,
    "activation": {"name": "celu", "alpha": 0.5},
    "weight_init": {"name": "trunc_normal", "std": 0.5},
}
ACTIVATION_RUN = {**RUN, "model": {"layers": [CELU_LAYER]}, "optimizer": {"name": "sgd", "lr": 0.1}}
ACTIVATION_RUN.pop("schedule")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(optimizers.OPTIMIZERS, "adamax", Adamax)
    monkeypatch.setitem(schedules.SCHEDULES, "linear", Linear)
    monkeypatch.setitem(layers.LAYERS, "scale", Scale)
    monkeypatch.setitem(activations.ACTIVATIONS, "celu", CELU)
    monkeypatch.setitem(initializers.INITIALIZERS, "trunc_normal", TruncNormal)


def test_unregistered_names_are_rejected_naming_the_field():
    with pytest.raises(ValueError, match="'adamax' found using 'name' does not match") as error:
        RunConfig.model_validate(RUN)
    assert [problem["loc"] for problem in error.value.errors()] == [
        ("model", "layers", 1),
        ("optimizer",),
        ("schedule",),
    ]


def test_run_config_validates_them_with_their_own_bounds(registered):
    config = RunConfig.model_validate(RUN)
    assert isinstance(config.optimizer, AdamaxConfig) and config.optimizer.betas == (0.8, 0.99)
    assert isinstance(config.schedule, LinearLR) and config.schedule.end_factor == 1.0
    assert isinstance(config.model.layers[1], ScaleLayer) and config.model.layers[1].init == 0.5
    assert RunConfig.model_validate(config.model_dump(mode="json")) == config
    for field, value, loc in [
        ("optimizer", {"name": "adamax", "betas": [0.9, 1.0]}, ("optimizer", "adamax", "betas", 1)),
        ("optimizer", {"name": "adamax", "eps": 0}, ("optimizer", "adamax", "eps")),
        ("schedule", {"name": "linear", "total_iters": 0}, ("schedule", "linear", "total_iters")),
        ("schedule", {"name": "linear", "start_factor": 1.5}, ("schedule", "linear", "start_factor")),
        ("model", {"layers": [{"type": "scale", "init": 0}]}, ("model", "layers", 0, "scale", "init")),
    ]:
        with pytest.raises(ValueError) as error:
            RunConfig.model_validate({**RUN, field: value})
        assert [problem["loc"] for problem in error.value.errors()] == [loc]


def test_direct_construction_checks_the_same_schema(registered):
    with pytest.raises(ValueError, match=r"^betas.1: Input should be less than 1, got 1.0$"):
        optimizers.get({"name": "adamax", "betas": (0.9, 1.0)})
    with pytest.raises(ValueError, match=r"^total_iters: Input should be greater than or equal to 1, got 0$"):
        Linear(total_iters=0)
    with pytest.raises(ValueError, match=r"^scale: init: Input should be less than or equal to 10, got 11$"):
        layers.get({"type": "scale", "init": 11})


def test_the_server_accepts_them_and_answers_422_naming_the_field(client, registered):
    bad = client.post("/api/plan", json={**RUN, "schedule": {"name": "linear", "end_factor": -1}})
    assert bad.status_code == 422
    assert [problem["loc"] for problem in bad.json()["detail"]] == [
        ["body", "schedule", "linear", "end_factor"]
    ]
    planned = client.post("/api/plan", json=RUN)
    assert planned.status_code == 200, planned.text
    code = planned.json()["torch"]
    scale = planned.json()["layers"][2]
    assert (scale["index"], scale["type"], scale["class_name"], scale["torch"]) == (
        2,
        "scale",
        "Scale",
        "Scale(5, init=0.5)",
    )
    assert scale["parameters"] == {"weight": [5]} and "class Scale(nn.Module):" in code
    assert (
        "optimizer = torch.optim.Adamax(model.parameters(), lr=0.05, betas=(0.8, 0.99), eps=1e-08, " in code
    )
    assert (
        "torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, end_factor=1.0, total_iters=4)"
        in code
    )


def test_the_catalog_lists_them_with_their_bounds(client, registered):
    entries = client.get("/api/catalog").json()
    adamax, linear = entries["optimizers"]["adamax"], entries["schedules"]["linear"]
    assert (
        adamax["doc"]
        == "Adamax: Adam with the infinity norm of the gradients in place of their second moment."
    )
    assert adamax["params"]["lr"] == {
        "type": "number",
        "default": 0.002,
        "exclusiveMinimum": 0.0,
        "maximum": 10.0,
    }
    assert linear["params"]["total_iters"] == {
        "type": "integer",
        "default": 5,
        "minimum": 1,
        "maximum": 10000,
    }
    assert entries["layers"]["scale"] == {
        "doc": "A learnable scale per feature: y = x * weight.",
        "params": {
            "init": {
                "type": "number",
                "default": 1.0,
                "exclusiveMinimum": 0.0,
                "maximum": 10.0,
                "description": "every weight's initial value",
            }
        },
    }
    assert "adamax" in catalog.catalog()["optimizers"]


def test_the_plans_torch_code_trains_to_the_engines_numbers(registered):
    trainer = Trainer(RUN)
    side = run_torch(trainer.plan.torch)
    net, loss_fn, optimizer, scheduler = (side[k] for k in ("model", "loss_fn", "optimizer", "scheduler"))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    x, y = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    lrs, losses = [], []
    for _ in range(6):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            losses.append(loss_fn(net(x), y).item())
    records = list(trainer.epochs())
    np.testing.assert_allclose([r.lr for r in records], lrs, rtol=1e-12)
    assert [round(lr / 0.05, 12) for lr in lrs] == [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0]
    np.testing.assert_allclose([r.train_loss for r in records], losses, rtol=1e-12)
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(trainer.model.state_dict()[key], value.numpy(), rtol=1e-11, atol=1e-14)


def celu_layer_errors(**changes) -> list[tuple]:
    with pytest.raises(ValueError) as error:
        RunConfig.model_validate({**ACTIVATION_RUN, "model": {"layers": [{**CELU_LAYER, **changes}]}})
    return [problem["loc"] for problem in error.value.errors()]


def test_an_unregistered_activation_or_initializer_is_rejected_naming_the_field():
    where = ("model", "layers", 0, "dense")
    assert celu_layer_errors() == [(*where, "weight_init"), (*where, "activation")]
    assert celu_layer_errors(activation="tanh") == [(*where, "weight_init")]


def test_a_registered_activation_and_initializer_are_validated_with_their_own_schemas(registered):
    config = RunConfig.model_validate(ACTIVATION_RUN)
    assert config.model.layers[0].activation == {"name": "celu", "alpha": 0.5}
    where = ("model", "layers", 0, "dense")
    assert celu_layer_errors(activation={"name": "celu", "alpha": 0}) == [(*where, "activation", "alpha")]
    assert celu_layer_errors(weight_init={"name": "trunc_normal", "std": 0}) == [
        (*where, "weight_init", "std")
    ]
    assert celu_layer_errors(bias_init={"name": "trunc_normal", "a": 1, "b": 0}) == [(*where, "bias_init")]
    with pytest.raises(ValueError, match=r"^celu: alpha: Input should be greater than 0, got 0$"):
        activations.get({"name": "celu", "alpha": 0})
    with pytest.raises(ValueError, match=r"^trunc_normal: b must be greater than a$"):
        initializers.get({"name": "trunc_normal", "a": 1.0, "b": -1.0})


def test_the_json_schema_of_a_layer_names_the_registered_activations_and_initializers(registered):
    schema = RunConfig.model_json_schema()
    dense = schema["$defs"]["DenseLayer"]["properties"]
    for field, registry in [
        (dense["activation"], activations.ACTIVATIONS),
        (dense["weight_init"], initializers.INITIALIZERS),
        (dense["bias_init"], initializers.INITIALIZERS),
    ]:
        by_name, by_spec = field["anyOf"][:2]
        assert by_name == {"enum": list(registry), "type": "string"}
        assert sorted(by_spec["discriminator"]["mapping"]) == sorted(registry)
    assert dense["activation"]["anyOf"][2] == {"type": "null"}
    assert "celu" in dense["activation"]["anyOf"][0]["enum"]
    assert "trunc_normal" in dense["bias_init"]["anyOf"][0]["enum"]
    assert schema["$defs"]["CELUConfig"]["properties"]["alpha"]["exclusiveMinimum"] == 0


def test_the_server_plans_them_and_answers_422_naming_their_fields(client, registered):
    layer = {**CELU_LAYER, "activation": {"name": "celu", "alpha": 11}}
    bad = client.post("/api/plan", json={**ACTIVATION_RUN, "model": {"layers": [layer]}})
    assert bad.status_code == 422
    assert [problem["loc"] for problem in bad.json()["detail"]] == [
        ["body", "model", "layers", 0, "dense", "activation", "alpha"]
    ]
    planned = client.post("/api/plan", json=ACTIVATION_RUN)
    assert planned.status_code == 200, planned.text
    celu = planned.json()["layers"][1]
    assert (celu["index"], celu["name"], celu["class_name"], celu["options"], celu["torch"]) == (
        1,
        "celu",
        "CELU",
        {"alpha": 0.5},
        "nn.CELU(alpha=0.5)",
    )
    assert (
        "nn.init.trunc_normal_(model[0].weight, mean=0.0, std=0.5, a=-2.0, b=2.0)" in planned.json()["torch"]
    )
    entries = client.get("/api/catalog").json()
    assert entries["activations"]["celu"] == {
        "doc": "Continuously differentiable ELU: y = x if x > 0 else alpha * (exp(x / alpha) - 1).",
        "kind": "smooth",
        "params": {
            "alpha": {
                "type": "number",
                "default": 1.0,
                "exclusiveMinimum": 0.0,
                "maximum": 10.0,
                "description": "the scale of the negative part (x is divided by it)",
            }
        },
    }
    assert entries["initializers"]["trunc_normal"]["params"]["std"] == {
        "type": "number",
        "default": 1.0,
        "exclusiveMinimum": 0.0,
        "maximum": 10.0,
    }


def test_the_plans_torch_code_with_them_runs_and_trains_to_the_engines_numbers(registered):
    trainer = Trainer(ACTIVATION_RUN)
    weight = trainer.model.state_dict()["0.weight"]
    assert weight.std() > 0 and -2 <= weight.min() and weight.max() <= 2
    side = run_torch(trainer.plan.torch)
    net, loss_fn, optimizer = (side[k] for k in ("model", "loss_fn", "optimizer"))
    assert isinstance(net[1], torch.nn.CELU) and net[1].alpha == 0.5
    drawn = net[0].weight.detach()
    assert drawn.std() > 0 and -2 <= drawn.min() and drawn.max() <= 2
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    x, y = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    with torch.no_grad():
        np.testing.assert_allclose(
            trainer.model.predict(trainer.x_train), net(x).numpy(), rtol=1e-12, atol=1e-14
        )
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
        with torch.no_grad():
            losses.append(loss_fn(net(x), y).item())
    records = list(trainer.epochs())
    np.testing.assert_allclose([r.train_loss for r in records], losses, rtol=1e-12)
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(trainer.model.state_dict()[key], value.numpy(), rtol=1e-11, atol=1e-14)
