from typing import Literal

import numpy as np
import pytest
from pydantic import Field

from engine import ArrayDataset, RunConfig, Trainer, optimizers
from engine.plan import run_torch
from engine.telemetry import decode

QUIET = {"every": 10_000}
TANH_8 = {"type": "dense", "units": 8, "activation": "tanh"}


def train(config: dict, data=None) -> tuple[Trainer, list]:
    trainer = Trainer(config, data=data)
    return trainer, list(trainer.epochs())


def scalars(record) -> dict:
    return record.model_dump(exclude={"wall_time", "elapsed", "t_end"})


@pytest.mark.parametrize("dataset", ["circle", "xor"])
def test_default_net_learns_tf_playground_datasets(dataset):
    trainer, records = train({"data": {"dataset": dataset}, "telemetry": QUIET})
    assert [layer.params["weight"].shape for layer in trainer.model.layers if layer.params] == [
        (4, 2),
        (2, 4),
        (1, 2),
    ]
    assert records[-1].status == "completed" and records[-1].epoch == 200
    assert records[-1].test_metric >= 0.95


def test_spiral_is_learned_by_a_2_8_8_8_1_net():
    _, records = train(
        {
            "data": {"dataset": "spiral"},
            "model": {"layers": [TANH_8] * 3},
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": 300},
            "telemetry": QUIET,
        }
    )
    assert records[-1].test_metric >= 0.95


def test_digits_with_a_small_conv_net():
    trainer, records = train(
        {
            "data": {"dataset": "digits"},
            "model": {
                "layers": [
                    {"type": "conv2d", "filters": 8, "padding": 1, "activation": "relu"},
                    {"type": "maxpool2d"},
                    {"type": "flatten"},
                ]
            },
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": 10, "batch_size": 32},
            "telemetry": QUIET,
        }
    )
    assert trainer.model.state_dict()["0.weight"].shape == (8, 1, 3, 3)
    assert records[-1].test_metric >= 0.9


def test_regression_reports_r2():
    _, records = train(
        {
            "data": {"dataset": "plane"},
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": 30},
            "telemetry": QUIET,
        }
    )
    assert records[-1].metric == "r2" and records[-1].test_metric > 0.95


def test_deep_sigmoid_nets_show_vanishing_gradients():
    sigmoid = {"type": "dense", "units": 16, "activation": "sigmoid"}
    trainer, records = train(
        {"data": {"dataset": "circle"}, "model": {"layers": [sigmoid] * 6}, "training": {"epochs": 1}}
    )
    norms = [row["grad_norm"] for row in records[-1].layers if row.get("grad_norm") is not None]
    assert norms[0] < norms[-1] / 100


def test_same_config_and_seed_give_identical_records_and_weights():
    config = {
        "data": {"dataset": "gauss", "noise": 20},
        "model": {"layers": [TANH_8, {"type": "dropout", "p": 0.2}]},
        "training": {"epochs": 5},
        "telemetry": {"every": 2},
    }
    first, records_a = train(config)
    second, records_b = train(config)
    assert [scalars(r) for r in records_a] == [scalars(r) for r in records_b]
    for key, value in first.model.state_dict().items():
        np.testing.assert_array_equal(value, second.model.state_dict()[key])
    _, records_c = train({**config, "seed": 1})
    assert scalars(records_c[-1]) != scalars(records_a[-1])


def test_a_huge_learning_rate_diverges_with_a_clear_message():
    relu = {"type": "dense", "units": 8, "activation": "relu"}
    _, records = train(
        {
            "data": {"dataset": "plane"},
            "model": {"layers": [relu, relu]},
            "optimizer": {"name": "sgd", "lr": 10, "momentum": 0.9},
            "training": {"epochs": 50},
        }
    )
    last = records[-1]
    assert last.status == "diverged" and len(records) < 50
    assert f"epoch {last.epoch}" in last.message and "learning rate" in last.message
    assert "layer" in last.message or "loss" in last.message


def test_early_stopping_ends_the_run_and_can_restore_the_best_weights():
    config = {
        "data": {"dataset": "gauss", "noise": 50, "n_samples": 60},
        "model": {"layers": [{"type": "dense", "units": 64, "activation": "relu"}] * 2},
        "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": 500, "early_stopping": {"patience": 5, "restore_best": True}},
        "telemetry": QUIET,
    }
    trainer, records = train(config)
    assert len(records) < 500 and records[-1].status == "completed"
    assert "early stopping" in records[-1].message
    best = min(r.test_loss for r in records)
    assert trainer.evaluate(trainer.x_test, trainer.y_test)[0] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("batch_size, steps", [("full", 1), (1, 250), (32, 8)])
def test_batch_sizes_set_the_number_of_updates_per_epoch(batch_size, steps):
    trainer = Trainer({"data": {"dataset": "circle"}, "training": {"epochs": 1, "batch_size": batch_size}})
    calls = []
    step = trainer.optimizer.step
    trainer.optimizer.step = lambda params, grads: (calls.append(1), step(params, grads))
    list(trainer.epochs())
    assert len(calls) == steps


def test_shuffling_changes_with_the_seed_and_each_epoch():
    orders = []
    trainer = Trainer({"data": {"dataset": "circle"}, "training": {"epochs": 2, "batch_size": "full"}})
    forward = trainer.model.forward
    trainer.model.forward = lambda x, training=False: (
        (orders.append(x.copy()) if training else None) or forward(x, training)
    )
    list(trainer.epochs())
    assert not np.array_equal(orders[0], orders[1])
    assert sorted(map(tuple, orders[0])) == sorted(map(tuple, orders[1]))


def test_lr_schedule_and_mid_run_changes():
    trainer = Trainer(
        {
            "data": {"dataset": "circle"},
            "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
            "training": {"epochs": 6},
            "telemetry": QUIET,
        }
    )
    lrs = []
    for record in trainer.epochs():
        lrs.append(record.lr)
        if record.epoch == 4:
            trainer.set_lr(1.0)
            trainer.set_regularization_rate(0.1)
    assert lrs == pytest.approx([0.03, 0.03, 0.015, 0.015, 0.25, 0.25])
    with pytest.raises(ValueError, match="lr"):
        trainer.set_lr(float("nan"))


def test_set_lr_takes_the_bounds_every_registered_optimizer_gives_its_lr(monkeypatch):
    class CappedSGDConfig(optimizers.SGD.Config):
        name: Literal["capped_sgd"] = "capped_sgd"
        lr: float = Field(0.01, gt=0, le=2)

    class CappedSGD(optimizers.SGD):
        Config = CappedSGDConfig

    trainer = Trainer({"data": {"dataset": "circle"}, "training": {"epochs": 1}, "telemetry": QUIET})
    trainer.set_lr(5)
    assert trainer.base_lr == 5.0
    for bad, message in [
        (0, "greater than 0"),
        (10.5, "less than or equal to 10"),
        (float("inf"), "a finite number"),
        (True, "a valid number"),
        ("0.5", "a valid number"),
    ]:
        with pytest.raises(ValueError, match=f"^lr: Input should be {message}, got "):
            trainer.set_lr(bad)
    monkeypatch.setitem(optimizers.OPTIMIZERS, "capped_sgd", CappedSGD)
    with pytest.raises(ValueError, match=r"^lr: Input should be less than or equal to 2, got 5$"):
        trainer.set_lr(5)
    assert trainer.base_lr == 5.0


def test_stop_ends_the_run_between_epochs():
    trainer = Trainer({"data": {"dataset": "circle"}, "telemetry": QUIET})
    records = []
    for record in trainer.epochs():
        records.append(record)
        if record.epoch == 3:
            trainer.stop("enough")
    assert len(records) == 3 and trainer.status == "stopped" and trainer.message == "enough"


def test_l2_penalty_is_reported_apart_and_shrinks_weights():
    base = {
        "data": {"dataset": "circle"},
        "model": {"layers": [TANH_8]},
        "training": {"epochs": 30},
        "telemetry": QUIET,
    }
    plain, plain_records = train(base)
    l2, l2_records = train({**base, "regularization": {"penalty": "l2", "rate": 0.05}})
    assert plain_records[-1].penalty == 0
    weights = [layer.params["weight"] for layer in l2.model.layers if layer.params]
    expected = 0.05 / 2 * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights)
    assert l2_records[-1].penalty == pytest.approx(expected, rel=1e-5)

    def norm(t):
        return sum(float(np.sum(layer.params["weight"] ** 2)) for layer in t.model.layers if layer.params)  # noqa: E731

    assert norm(l2) < norm(plain)


def test_telemetry_carries_histograms_fractions_boundary_neurons_and_weights():
    relu = {"type": "dense", "units": 6, "activation": "relu"}
    trainer, records = train(
        {
            "data": {"dataset": "xor"},
            "model": {"layers": [relu, TANH_8]},
            "training": {"epochs": 3},
            "telemetry": {"every": 2},
        }
    )
    assert [r.heavy for r in records] == [True, True, True]
    light = Trainer({"data": {"dataset": "xor"}, "training": {"epochs": 3}, "telemetry": {"every": 5}})
    assert [r.heavy for r in light.epochs()] == [True, False, True]
    record = records[-1]
    dense = record.layers[0]
    counts = decode(dense["weight"]["histogram"]["counts"])
    assert len(counts) == 30 and counts.sum() == 12
    assert decode(dense["grad"]["histogram"]["counts"]).sum() == 12
    assert len(decode(dense["weight"]["percentiles"])) == 9
    assert dense["grad_norm"] > 0 and dense["update_ratio"] > 0
    relu_row, tanh_row = record.layers[1], record.layers[3]
    assert 0 <= relu_row["dead_fraction"] <= 1 and relu_row["saturated_fraction"] is None
    assert 0 <= tanh_row["saturated_fraction"] <= 1 and tanh_row["dead_fraction"] is None
    activations = decode(relu_row["activation"]["histogram"]["counts"])
    assert activations.sum() == min(256, len(trainer.x_train)) * 6
    boundary = record.boundary
    z = decode(boundary["z"])
    assert len(decode(boundary["x"])) == 50 and z.shape == (50, 50) and boundary["kind"] == "probability"
    assert np.all((z >= 0) & (z <= 1.000001))
    units = [(n["layer"], n["unit"]) for n in record.neurons]
    assert units == [(-1, 0), (-1, 1)] + [(0, j) for j in range(6)] + [(2, j) for j in range(8)] + [(4, 0)]
    assert decode(record.neurons[0]["z"]).shape == (10, 10)
    weight = decode(record.weights["0"]["weight"])
    np.testing.assert_array_equal(weight, trainer.model.layers[0].params["weight"])


def test_dead_fraction_counts_units_that_never_fire():
    trainer = Trainer(
        {
            "data": {"dataset": "circle"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"}]},
            "training": {"epochs": 1},
        }
    )
    dense = trainer.model.layers[0]
    dense.params["bias"][:2] = -1000
    dense.params["bias"][2:] = 1000
    rows = trainer.recorder.fields(None)["layers"]
    assert rows[1]["dead_fraction"] == 0.5


def test_custom_arrays_and_loss_choices():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    data = ArrayDataset(x[:150], y[:150], x[150:], y[150:])
    trainer, records = train(
        {"training": {"epochs": 40}, "optimizer": {"name": "adam", "lr": 0.02}, "telemetry": QUIET}, data=data
    )
    assert trainer.loss_name == "cross_entropy" and trainer.model.output_shape == (3,)
    assert records[-1].test_metric > 0.85 and records[-1].boundary is None
    mse = Trainer({"loss": "mse", "training": {"epochs": 1}}, data=data)
    assert mse.y_train.shape == (150, 3)
    with pytest.raises(ValueError, match="2 classes"):
        Trainer({"loss": "bce"}, data=data)
    with pytest.raises(ValueError, match="regression"):
        Trainer({"data": {"dataset": "plane"}, "loss": "cross_entropy"})


def test_configs_that_cannot_be_built_raise_value_errors():
    with pytest.raises(ValueError, match="layer 0"):
        Trainer({"data": {"dataset": "circle"}, "model": {"layers": [{"type": "conv2d"}]}})
    with pytest.raises(ValueError, match="batch"):
        Trainer({"model": {"layers": [{"type": "batchnorm"}]}, "training": {"batch_size": 1}})


def test_records_are_json_safe():
    _, records = train({"data": {"dataset": "circle"}, "training": {"epochs": 2}})
    text = records[-1].model_dump_json()
    assert '"boundary"' in text and "NaN" not in text


def test_float64_runs_match_the_plans_pytorch_code():
    """The plan's torch code (network, loss, optimizer, lr scheduler) trains to the engine's numbers."""
    torch = pytest.importorskip("torch")
    config = RunConfig.model_validate(
        {
            "data": {"dataset": "circle", "noise": 10},
            "model": {"layers": [TANH_8, {"type": "dense", "units": 4, "activation": "relu"}]},
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
            "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
            "regularization": {"penalty": "l2", "rate": 0.01},
            "training": {"epochs": 5, "batch_size": "full"},
            "dtype": "float64",
            "telemetry": QUIET,
        }
    )
    trainer = Trainer(config)
    side = run_torch(trainer.plan.torch)
    net, loss_fn, optimizer, scheduler = (side[k] for k in ("model", "loss_fn", "optimizer", "scheduler"))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    x, y = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        penalty = 0.01 / 2 * sum((m.weight**2).sum() for m in net if isinstance(m, torch.nn.Linear))
        (loss_fn(net(x), y) + penalty).backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            losses.append(loss_fn(net(x), y).item())
    records = list(trainer.epochs())
    assert [r.lr for r in records] == [0.1, 0.1, 0.05, 0.05, 0.025]
    np.testing.assert_allclose([r.train_loss for r in records], losses, rtol=1e-12)
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(trainer.model.state_dict()[key], value.numpy(), rtol=1e-11, atol=1e-14)


def test_conv_nets_send_feature_maps_of_one_sample():
    trainer = Trainer(
        {
            "data": {"dataset": "digits", "n_samples": 200},
            "model": {
                "layers": [{"type": "conv2d", "filters": 4, "activation": "relu"}, {"type": "maxpool2d"}]
            },
            "training": {"epochs": 1, "batch_size": 50},
        }
    )
    maps = next(trainer.epochs()).feature_maps
    assert decode(maps["input"]).shape == (1, 8, 8) and maps["label"] == trainer.y_train[0]
    assert [(m["layer"], m["type"], decode(m["maps"]).shape) for m in maps["layers"]] == [
        (0, "conv2d", (4, 6, 6)),
        (1, "relu", (4, 6, 6)),
        (2, "maxpool2d", (4, 3, 3)),
    ]
    conv, relu = (decode(m["maps"]) for m in maps["layers"][:2])
    np.testing.assert_allclose(relu, np.maximum(conv, 0))
    flat = Trainer({"data": {"dataset": "circle"}, "training": {"epochs": 1}})
    assert next(flat.epochs()).feature_maps is None


def test_validation_is_held_out_of_the_training_set_per_class():
    config = {"data": {"dataset": "circle", "n_samples": 200, "validation": 0.25}, "training": {"epochs": 2}}
    trainer, records = train({**config, "telemetry": QUIET})
    whole = Trainer({**config, "data": {**config["data"], "validation": 0.0}})
    assert len(trainer.x_val) == 25 and len(trainer.x_train) == 75
    held = {tuple(row) for row in trainer.x_val}
    assert held.isdisjoint(map(tuple, trainer.x_train))
    assert held | set(map(tuple, trainer.x_train)) == set(map(tuple, whole.x_train))
    assert np.sum(trainer.y_val[:, 0]) in (12, 13)
    assert records[-1].val_loss == pytest.approx(trainer.evaluate(trainer.x_val, trainer.y_val)[0])
    assert whole.x_val.shape == (0, 2) and list(whole.epochs())[-1].val_loss is None


def test_early_stopping_on_the_validation_loss_reports_the_restored_model():
    early = {"patience": 10, "monitor": "val_loss", "restore_best": True}
    config = {
        "data": {"dataset": "gauss", "noise": 50, "n_samples": 80, "validation": 0.3},
        "model": {"layers": [{"type": "dense", "units": 64, "activation": "relu"}] * 2},
        "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": 500, "early_stopping": early},
        "telemetry": QUIET,
    }
    trainer, records = train(config)
    last = records[-1]
    best = min(records[:-1], key=lambda r: r.val_loss)
    assert len(records) < 500 and f"restored the weights of epoch {best.epoch}" in last.message
    assert "val_loss" in last.message
    assert last.val_loss == pytest.approx(best.val_loss, rel=1e-5)
    assert last.test_loss == pytest.approx(best.test_loss, rel=1e-5)
    assert last.train_loss == pytest.approx(trainer.evaluate(trainer.x_train, trainer.y_train)[0])


def test_monitoring_the_validation_loss_needs_a_validation_set():
    with pytest.raises(ValueError, match="data.validation"):
        RunConfig.model_validate({"training": {"early_stopping": {"monitor": "val_loss"}}})


def test_inputs_beyond_float32_are_refused_naming_the_array():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 2))
    x[3, 1] = 1e39
    data = ArrayDataset(x, (x[:, 0] > 0).astype(int), x[:5] / 1e39, np.zeros(5, int))
    with pytest.raises(ValueError, match="data.x_train"):
        Trainer({"training": {"epochs": 1}}, data=data)
    Trainer({"training": {"epochs": 1}, "dtype": "float64"}, data=data)


def test_a_heavy_epoch_reads_the_probe_activations_from_the_evaluation_pass(monkeypatch):
    from engine import telemetry
    from engine.model import Model

    config = {
        "data": {"dataset": "digits", "n_samples": 200},
        "model": {"layers": [{"type": "conv2d", "filters": 4, "activation": "relu"}, {"type": "maxpool2d"}]},
        "training": {"epochs": 3, "batch_size": 50},
        "telemetry": {"probe_size": 64},
    }
    traced = []
    trace = Model.trace
    monkeypatch.setattr(Model, "trace", lambda model, x: traced.append(len(x)) or trace(model, x))
    trainer = Trainer(config)
    record = next(trainer.epochs())
    assert traced == [64]
    outputs = trace(trainer.model, trainer.x_train[:64])
    relu = record.layers[1]
    assert relu["activation"] == telemetry.stats(outputs[2], trainer.config.telemetry.bins)
    np.testing.assert_array_equal(decode(record.feature_maps["layers"][2]["maps"]), outputs[3][0])
