"""engine.plan: shapes, parameters, inserted layers, loss, torch code and memory, against the built run."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from engine import Trainer, plan
from engine.activations import ACTIVATIONS
from engine.plan import PlanError, run_torch

LIGHT = {"probe_size": 8, "grid_size": 10, "bins": 5, "neuron_grid_size": 4}
CIRCLE = {"dataset": "circle", "n_samples": 60}
DIGITS = {"dataset": "digits", "n_samples": 120}
CONV = [
    {"type": "conv2d", "filters": 3, "padding": 1, "activation": "relu"},
    {"type": "batchnorm"},
    {"type": "maxpool2d"},
    {"type": "conv2d", "filters": 4, "kernel_size": 2, "stride": 2, "bias": False},
    {"type": "avgpool2d", "kernel_size": 1},
    {"type": "flatten"},
    {"type": "dropout", "p": 0.3},
    {"type": "maxout", "units": 5, "pieces": 3},
]
HUGE_CONV = {
    "data": {"dataset": "digits"},
    "dtype": "float64",
    "model": {
        "layers": [{"type": "conv2d", "filters": 128, "padding": 5}] * 3
        + [{"type": "flatten"}, {"type": "dense", "units": 1024}]
    },
}
STRING_CLASSES_CSV = "a,b,kind\n" + "".join(
    f"{i % 7 * 0.5},{i % 5 - 2.0},{('cat', 'dog', 'eel')[i % 3]}\n" for i in range(60)
)


def run(data=CIRCLE, layers=(), dtype="float64", **extra) -> dict:
    return {
        "data": data,
        "model": {"layers": list(layers)},
        "training": {"epochs": 2, "batch_size": 16},
        "telemetry": LIGHT,
        "dtype": dtype,
        **extra,
    }


CONFIGS = {
    "dense stack": run(
        layers=[
            {"type": "dense", "units": 6, "activation": "tanh"},
            {"type": "dense", "units": 3, "bias": False},
        ]
    ),
    **{
        f"activation {name}": run(layers=[{"type": "dense", "units": 5, "activation": name}])
        for name in ACTIVATIONS
    },
    "activation layers with params": run(
        layers=[
            {"type": "dense", "units": 5},
            {"type": "activation", "name": "leaky_relu", "params": {"negative_slope": 0.2}},
            {"type": "dense", "units": 5, "activation": {"name": "swish", "beta": 2.0}},
            {"type": "activation", "name": "gelu", "params": {"approximate": "tanh"}},
            {
                "type": "dense",
                "units": 4,
                "activation": {"name": "hardtanh", "min_val": -0.5, "max_val": 2.0},
            },
            {"type": "activation", "name": "softplus", "params": {"beta": 2.0, "threshold": 5.0}},
        ]
    ),
    "dropout and batchnorm": run(
        layers=[
            {"type": "dense", "units": 6},
            {"type": "batchnorm", "momentum": 0.2},
            {"type": "activation", "name": "prelu"},
            {"type": "dropout", "p": 0.2},
            {"type": "maxout", "units": 3},
        ]
    ),
    "conv, pools, flatten, maxout on digits": run(DIGITS, CONV),
    "conv without flatten (inserted)": run(DIGITS, [{"type": "conv2d", "filters": 2, "activation": "elu"}]),
    "digits flat": run({**DIGITS, "images": False}, [{"type": "dense", "units": 8, "activation": "relu"}]),
    "regression": run({"dataset": "plane", "n_samples": 60}, [{"type": "dense", "units": 4}], loss="huber"),
    "bce adds a sigmoid": run(layers=[{"type": "dense", "units": 3}], loss="bce"),
    "validation split": run(
        {**CIRCLE, "validation": 0.3}, [{"type": "dense", "units": 4}, {"type": "batchnorm"}]
    ),
    "regression with validation": run(
        {"dataset": "plane", "n_samples": 61, "validation": 0.25}, [{"type": "dense", "units": 4}]
    ),
    "3 spiral classes, float32": run({"dataset": "spiral", "n_samples": 60, "classes": 3}, dtype="float32"),
}


def expected_keys(planned) -> dict[str, tuple]:
    return {
        f"{layer.index}.{key}": shape
        for layer in planned.layers
        for key, shape in (*layer.parameters.items(), *layer.buffers.items())
    }


def check_against_trainer(config: dict, csv_text: str | None = None):
    planned = plan(config, csv_text=csv_text)
    trainer = Trainer(config, csv_text=csv_text)
    model = trainer.model
    state = model.state_dict()
    assert {key: value.shape for key, value in state.items()} == expected_keys(planned)
    assert [layer.output_shape for layer in planned.layers] == model.output_shapes
    assert [layer.class_name for layer in planned.layers] == [type(layer).__name__ for layer in model.layers]
    assert planned.num_parameters == trainer.num_parameters == model.num_parameters
    assert (planned.train_samples, planned.validation_samples, planned.test_samples) == (
        len(trainer.x_train),
        len(trainer.x_val),
        len(trainer.x_test),
    )
    assert planned.summary() == model.summary()
    assert (planned.loss, planned.output_units) == (trainer.loss_name, trainer.output_units)
    return planned, trainer


def torch_outputs(planned, trainer) -> tuple[np.ndarray, np.ndarray]:
    net = run_torch(planned.torch)["model"]
    net.load_state_dict(
        {key: torch.from_numpy(np.asarray(value)) for key, value in trainer.model.state_dict().items()}
    )
    net.eval()
    x = trainer.x_test[:20]
    with torch.no_grad():
        return trainer.model.predict(x), net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", CONFIGS)
def test_the_plan_has_the_built_models_shapes_and_its_torch_code_gives_its_outputs(name):
    planned, trainer = check_against_trainer(CONFIGS[name])
    last = list(trainer.epochs())[-1]
    assert [row["label"] for row in last.layers] == [layer.label for layer in planned.layers]
    ours, theirs = torch_outputs(planned, trainer)
    tolerance = 1e-12 if planned.dtype == "float64" else 1e-5
    np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance)


def test_a_csv_with_three_string_classes_plans_three_outputs_and_cross_entropy():
    config = run({"dataset": "csv", "csv_id": "x", "n_samples": None}, [{"type": "dense", "units": 4}])
    planned, trainer = check_against_trainer(config, STRING_CLASSES_CSV)
    assert planned.task == "classification" and planned.num_classes == 3
    assert planned.class_names == ["cat", "dog", "eel"]
    assert (planned.loss, planned.output_units) == ("cross_entropy", 3)
    assert planned.layers[-1].parameters == {"weight": (3, 4), "bias": (3,)}
    assert "nn.Linear(4, 3),  # 1" in planned.torch
    ours, theirs = torch_outputs(planned, trainer)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_each_layer_has_one_index_its_source_and_why_the_engine_inserted_it():
    planned = plan(
        run(DIGITS, [{"type": "conv2d", "filters": 2, "activation": "relu"}], loss="cross_entropy")
    )
    rows = [(layer.index, layer.type, layer.name, layer.source, layer.inserted) for layer in planned.layers]
    assert rows == [
        (0, "conv2d", None, 0, None),
        (1, "activation", "relu", 0, None),
        (2, "flatten", None, None, "flatten before the output"),
        (3, "dense", None, None, "output"),
    ]
    assert [layer.label for layer in planned.layers] == [
        "0 conv2d 2x6x6",
        "1 relu 2x6x6",
        "2 flatten 72",
        "3 dense 10",
    ]
    bce = plan(run(layers=[{"type": "dense", "units": 3}], loss="bce"))
    assert [(layer.name, layer.inserted) for layer in bce.layers[-2:]] == [
        (None, "output"),
        ("sigmoid", "output activation for bce"),
    ]
    assert bce.output_units == 1 and "nn.Sigmoid()" in bce.torch


def test_options_are_resolved_with_defaults():
    planned = plan(run(layers=[{"type": "dense", "units": 3, "activation": "leaky_relu"}]))
    dense, leaky = planned.layers[:2]
    assert dense.options == {"weight_init": "default", "bias_init": "default", "bias": True, "units": 3}
    assert leaky.options == {"negative_slope": 0.01} and leaky.torch == "nn.LeakyReLU(negative_slope=0.01)"


def test_the_torch_code_sets_up_training_from_each_components_declaration():
    config = run(
        layers=[
            {"type": "dense", "units": 3, "weight_init": {"name": "he_normal", "nonlinearity": "relu"}},
            {"type": "dense", "units": 2, "bias_init": {"name": "constant", "value": 0.5}},
        ]
    )
    config.update(
        optimizer={"name": "rmsprop", "lr": 0.02, "momentum": 0.5},
        schedule={"name": "cosine", "t_max": 30, "eta_min": 0.001},
        loss="mse",
    )
    code = plan(config).torch
    assert "nn.init.kaiming_normal_(model[0].weight, a=0.0, mode='fan_in', nonlinearity='relu')" in code
    assert "nn.init.constant_(model[1].bias, val=0.5)" in code and "model[2]" not in code
    assert "loss_fn = nn.MSELoss()\n" in code
    assert "optimizer = torch.optim.RMSprop(model.parameters(), lr=0.02, alpha=0.99, eps=1e-08" in code
    assert "lr_scheduler.CosineAnnealingLR(optimizer, T_max=30, eta_min=0.001)" in code
    side = run_torch(code)
    assert torch.all(side["model"][1].bias == 0.5)
    assert side["optimizer"].defaults["momentum"] == 0.5 and side["scheduler"].T_max == 30


def test_to_dict_is_json_ready():
    data = plan(CONFIGS["dropout and batchnorm"]).to_dict()
    batchnorm = data["layers"][1]
    assert batchnorm["buffers"] == {"running_mean": [6], "running_var": [6], "num_batches_tracked": []}
    assert "spec" not in batchnorm and data["input_shape"] == [2]
    assert data["memory"]["bytes"] > 0 and data["torch"].startswith("import torch")


@pytest.mark.parametrize(
    "config, field, message",
    [
        (run(layers=[{"type": "conv2d"}]), ("model", "layers", 0), "conv2d needs input"),
        (run(DIGITS, [{"type": "dense", "units": 3}]), ("model", "layers", 0), "add a flatten"),
        (run(DIGITS, [{"type": "conv2d", "kernel_size": 9}]), ("model", "layers", 0), "larger than"),
        (run({"dataset": "spiral", "classes": 3}, loss="bce"), ("loss",), "needs 2 classes"),
        (run({"dataset": "plane"}, loss="cross_entropy"), ("loss",), "regression"),
        (
            run(model={"layers": [{"type": "dense", "units": 3}], "output": False}),
            ("model", "layers"),
            "(3,)",
        ),
        (
            {**run(layers=[{"type": "batchnorm"}]), "training": {"batch_size": 1}},
            ("training", "batch_size"),
            "batchnorm",
        ),
    ],
)
def test_configs_that_cannot_run_raise_naming_the_field(config, field, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        plan(config)
    assert error.value.field == field


def test_planning_a_huge_network_allocates_nothing_big():
    plan(HUGE_CONV)
    tracemalloc.start()
    planned = plan(HUGE_CONV)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert planned.num_parameters == 1280 + 2 * 147_584 + 131_072 * 1024 + 1024 + 1024 * 10 + 10
    assert peak < 5 * 2**20
    assert planned.memory["parts"]["model"] > 6 * 2**30
    with pytest.raises(ValueError, match="134,525,450 parameters; the limit is 2,000,000"):
        Trainer(HUGE_CONV)


def measured_peak(config: dict) -> int:
    tracemalloc.start()
    trainer = Trainer(config)
    for _ in trainer.epochs():
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    "config",
    [
        {**run(DIGITS, CONV[:3]), "training": {"epochs": 2, "batch_size": "full"}},
        {**run(DIGITS, CONV[:3]), "training": {"epochs": 2, "batch_size": 8}},
        {
            **run(
                {"dataset": "spiral", "n_samples": 400},
                [{"type": "dense", "units": 32, "activation": "relu"}],
            )
        },
        {
            **run({"dataset": "circle", "n_samples": 400}, [{"type": "dense", "units": 16}]),
            "telemetry": {"grid_size": 150},
            "optimizer": {"name": "adam", "amsgrad": True},
        },
    ],
)
def test_the_memory_estimate_bounds_the_measured_peak(config):
    estimate = plan(config).memory["bytes"]
    peak = measured_peak(config)
    assert 0.5 * peak <= estimate <= 3 * peak, (estimate, peak)


def test_memory_counts_optimizer_state_and_names_the_field_that_dominates():
    layers = [{"type": "dense", "units": 64}]
    sizes = {
        name: plan(run(layers=layers, optimizer=optimizer)).memory["parts"]["model"]
        for name, optimizer in {
            "sgd": {"name": "sgd"},
            "momentum": {"name": "sgd", "momentum": 0.9},
            "adam": {"name": "adam"},
            "amsgrad": {"name": "adam", "amsgrad": True},
        }.items()
    }
    copy = sizes["momentum"] - sizes["sgd"]
    assert copy == plan(run(layers=layers)).num_parameters * 8
    assert sizes["adam"] - sizes["sgd"] == 2 * copy and sizes["amsgrad"] - sizes["sgd"] == 3 * copy
    full_batch_conv = {**run(DIGITS, CONV[:3]), "training": {"batch_size": "full"}}
    assert plan(full_batch_conv).memory["field"] == ["training", "batch_size"]
    assert plan(HUGE_CONV).memory["parts"]["model"] > plan(HUGE_CONV).memory["parts"]["training_batch"]
    wide = run(layers=[{"type": "dense", "units": 1024}, {"type": "dense", "units": 1024}])
    assert plan(wide).memory["field"] == ["model", "layers"]
    assert plan(run(layers=layers, telemetry={"grid_size": 200})).memory["field"] == [
        "telemetry",
        "grid_size",
    ]
