import re

import numpy as np
import pytest

from engine import experiments
from engine.config import RunConfig


@pytest.fixture(scope="module")
def results():
    cache = {}

    def run(name):
        if name not in cache:
            cache[name] = experiments.run_experiment(name)
        return cache[name]

    return run


def values(results, name):
    result = results(name)
    assert result["verdict"]["passed"], result["verdict"]["summary"]
    return result["verdict"]["values"]


@pytest.mark.parametrize("name", list(experiments.EXPERIMENTS))
def test_every_experiment_is_valid_and_explained_in_two_sentences(name):
    experiment = experiments.get(name)
    assert set(experiment) >= {"title", "claim", "configs", "check"}
    assert len(re.findall(r"\.(?:\s|$)", experiment["claim"])) == 2
    assert len(experiment["configs"]) >= 2
    for config in experiment["configs"].values():
        RunConfig.model_validate(config)


def test_unknown_experiments_list_the_valid_ones():
    with pytest.raises(ValueError, match="vanishing_gradients"):
        experiments.get("nope")


def test_deep_sigmoid_gradients_vanish_and_relu_he_keeps_them(results):
    v = values(results, "vanishing_gradients")
    assert v["sigmoid_first_over_last"] <= 1 / 100
    assert 1 / 10 <= v["relu_first_over_last"] <= 10


def test_high_learning_rate_kills_most_relus_but_no_leaky_ones(results):
    v = values(results, "dead_relu")
    assert v["relu_dead"] > 0.5 and v["leaky_dead"] == 0


def test_constant_init_keeps_every_unit_identical(results):
    v = values(results, "symmetric_init")
    assert v["constant_spread"] == 0 and v["random_spread"] > 0.1
    weights = results("symmetric_init")["runs"]["constant"].records[-1].weights
    first_layer = np.asarray(weights["0"]["weight"])
    assert first_layer.shape == (8, 2) and np.all(first_layer == first_layer[0])
    assert not np.all(first_layer == 0.5)


def test_step_activation_stays_at_chance(results):
    v = values(results, "step_cannot_learn")
    assert v["step_hidden_grad_norm"] == 0 and v["step_hidden_weight_change"] == 0
    assert v["step_test_accuracy"] <= 0.65 and v["sigmoid_test_accuracy"] >= 0.9


def test_xor_needs_a_hidden_layer_or_the_product_feature(results):
    v = values(results, "xor")
    assert v["no_hidden_accuracy"] <= 0.7
    assert v["hidden_accuracy"] >= 0.95 and v["x1x2_accuracy"] >= 0.95


def test_adagrad_effective_lr_decays_and_rmsprop_does_not(results):
    v = values(results, "adagrad_vs_rmsprop")
    assert v["adagrad_ratio"] <= 0.6 and v["rmsprop_ratio"] >= 0.8
    probes = results("adagrad_vs_rmsprop")["runs"]["adagrad"].probes
    lrs = [p["effective_lr"] for p in probes]
    assert len(lrs) == 100 and lrs[-1] < lrs[9] < lrs[0]


def test_batchnorm_trains_where_the_plain_net_blows_up(results):
    v = values(results, "batchnorm")
    assert v["plain_loss"] > np.log(2) and v["batchnorm_loss"] < 0.1
    assert np.isfinite(v["batchnorm_loss"])


def test_each_regularizer_shrinks_the_generalization_gap(results):
    v = values(results, "overfitting")
    base = v["no_regularization_gap"]
    assert base > 1
    for key in ("l2_gap", "dropout_gap", "early_stopping_gap"):
        assert v[key] < 0.5 * base
    early = results("overfitting")["runs"]["early stopping"].records
    assert len(early) < 300 and "early stopping" in early[-1].message


def test_decaying_schedules_settle_the_loss(results):
    v = values(results, "lr_schedules")
    for label in ("step", "exponential", "cosine"):
        assert v[f"{label}_jitter"] <= 0.5 * v["constant_jitter"]
    runs = results("lr_schedules")["runs"]
    assert runs["constant"].records[-1].lr == pytest.approx(0.03)
    assert runs["step"].records[-1].lr == pytest.approx(0.03 * 0.5**2)
    assert runs["cosine"].records[-1].lr < 1e-3


def test_history_is_json_ready(results):
    history = experiments.history(results("adagrad_vs_rmsprop")["runs"]["rmsprop"])
    assert history["status"] == "completed"
    assert len(history["series"]["effective_lr"]) == len(history["series"]["train_loss"]) == 100


def test_epochs_override():
    result = experiments.run_experiment("xor", epochs=2)
    assert all(len(run.records) == 2 for run in result["runs"].values())
