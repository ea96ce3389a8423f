"""The training experiments (L1 vs L2, batch sizes, averages and Adam, batch norm): figures and mechanisms.

Every experiment's 20-seed test and its config mutations run in tests/engine/test_experiments.py's pool, which
merges MUTATIONS from here; the mutations that swap code rather than configs run in this file.
"""

import copy
import json

import numpy as np
import pytest

from engine import experiments
from engine import experiments_training as training
from engine.layers import BatchNorm
from engine.optimizers import Adam

NAMES = ["l1_vs_l2", "batch_sizes", "ema_and_bias_correction", "batchnorm_init", "batchnorm_modes"]


def configs(name):
    return copy.deepcopy(experiments.get(name)["configs"])


def l2_in_the_l1_arm():
    arms = configs("l1_vs_l2")
    arms["l1"] = copy.deepcopy(arms["l2"])
    return arms


def no_penalty_in_the_l2_arm():
    arms = configs("l1_vs_l2")
    arms["l2"] = copy.deepcopy(arms["none"])
    return arms


def full_batch_everywhere():
    arms = configs("batch_sizes")
    for config in arms.values():
        config["training"]["batch_size"] = "full"
    return arms


def batch_gd_with_few_updates():
    arms = configs("batch_sizes")
    arms[training.GD_LONG]["training"]["epochs"] = training.GD_EPOCHS
    return arms


def _replace_variant(old: str, new: str) -> dict:
    arms = configs("batchnorm_init")
    for std in training.INIT_STDS:
        arms[training._init_label(old, std)] = copy.deepcopy(arms[training._init_label(new, std)])
    return arms


def no_batchnorm_before_tanh():
    return _replace_variant("batch norm before tanh", "plain")


def batchnorm_after_tanh_in_the_before_arms():
    return _replace_variant("batch norm before tanh", "batch norm after tanh")


def batch_10_in_the_batch_2_arm():
    arms = configs("batchnorm_modes")
    arms[training.BN2]["training"]["batch_size"] = 10
    return arms


def no_batchnorm_at_batch_2():
    arms = configs("batchnorm_modes")
    arms[training.BN2] = copy.deepcopy(arms[training.PLAIN2])
    return arms


MUTATIONS = {
    "L2 in the L1 arm": ("l1_vs_l2", l2_in_the_l1_arm),
    "no penalty in the L2 arm": ("l1_vs_l2", no_penalty_in_the_l2_arm),
    "full batch in every arm": ("batch_sizes", full_batch_everywhere),
    "batch GD without the extra epochs": ("batch_sizes", batch_gd_with_few_updates),
    "no batch norm in the 'before' arms": ("batchnorm_init", no_batchnorm_before_tanh),
    "batch norm after tanh in the 'before' arms": ("batchnorm_init", batchnorm_after_tanh_in_the_before_arms),
    "batch 10 in the batch-2 arm": ("batchnorm_modes", batch_10_in_the_batch_2_arm),
    "no batch norm at batch 2": ("batchnorm_modes", no_batchnorm_at_batch_2),
}


@pytest.fixture(scope="module")
def results():
    cache = {}

    def run(name):
        if name not in cache:
            cache[name] = experiments.run_experiment(name, seed=1)
        return cache[name]

    return run


def test_the_experiments_are_registered_with_the_others():
    assert set(NAMES) <= set(experiments.EXPERIMENTS)


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_json_ready_and_named(results, name):
    figures = results(name)["figures"]
    assert figures and len({figure["id"] for figure in figures}) == len(figures)
    for figure in figures:
        assert figure["title"] and figure["x_title"] and figure["y_title"]
        assert figure["traces"] and all(len(t["x"]) == len(t["y"]) > 0 for t in figure["traces"])
    json.dumps(figures, allow_nan=False)


def test_l1_zeroes_weights_l2_only_shrinks_them(results):
    values = results("l1_vs_l2")["verdict"]["values"]
    assert values["l1_near_zero"] >= 0.4 and values["l2_near_zero"] <= 0.1
    assert values["l1_exactly_zero"] == 0
    assert values["l2_norm"] < values["none_norm"]
    histogram = results("l1_vs_l2")["figures"][0]
    assert [t["name"] for t in histogram["traces"]] == ["none", "l1", "l2"]
    assert all(sum(t["y"]) == sum(histogram["traces"][0]["y"]) for t in histogram["traces"])


def test_updates_per_epoch_are_counted_from_the_optimizer(results):
    result = results("batch_sizes")
    runs = result["runs"]
    assert [runs[label].probes[0]["updates"] for label in training.GD_ARMS] == [100, 10, 1]
    assert (
        runs[training.GD_LONG].probes[-1]["updates"] == runs["mini-batch (10)"].probes[-1]["updates"] == 300
    )
    time = next(f for f in result["figures"] if f["id"] == "time")
    assert all(np.all(np.diff(t["x"]) > 0) for t in time["traces"])


def test_ema_matches_its_formula_and_lags_by_its_time_constant():
    values = np.array([4.0, 8.0, 6.0])
    np.testing.assert_allclose(training.ema(values, 0.9), [0.4, 0.36 + 0.8, 0.9 * 1.16 + 0.6])
    np.testing.assert_allclose(training.ema(values, 0.9, corrected=True)[0], 4.0)
    ramp = np.arange(200.0)
    assert training.lag(training.ema(ramp, 0.9, corrected=True), ramp) == 9
    assert training.lag(training.ema(ramp, 0.1, corrected=True), ramp) == 0


def test_uncorrected_adam_is_torch_adam_without_the_two_corrections():
    grads = [np.random.default_rng(0).standard_normal(5) * scale for scale in (1, 0.1, 3, 1)]
    corrected, uncorrected = np.zeros(5), np.zeros(5)
    adam, plain = Adam(lr=0.1), training.UncorrectedAdam(lr=0.1)
    for g in grads:
        adam.step([corrected], [g])
        plain.step([uncorrected], [g])
    moments = list(enumerate(_moments(grads), start=1))
    expected = -sum(0.1 * m / (np.sqrt(v) + 1e-8) for _, (m, v) in moments)
    np.testing.assert_allclose(uncorrected, expected, rtol=1e-12)
    expected = -sum(0.1 * m / (1 - 0.9**t) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8) for t, (m, v) in moments)
    np.testing.assert_allclose(corrected, expected, rtol=1e-12)


def _moments(grads):
    m = v = 0.0
    for g in grads:
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        yield m, v


def test_the_adam_arms_differ_only_in_the_correction(results):
    runs = results("ema_and_bias_correction")["runs"]
    assert runs["adam"].config == runs[training.UNCORRECTED].config
    np.testing.assert_array_equal(
        runs["adam"].initial["0.weight"], runs[training.UNCORRECTED].initial["0.weight"]
    )
    first = runs["adam"].probes[0]["step_over_lr"], runs[training.UNCORRECTED].probes[0]["step_over_lr"]
    assert first[0] == pytest.approx(1, abs=1e-4) and first[1] == pytest.approx(
        0.1 / np.sqrt(0.001), rel=1e-3
    )


def test_ema_check_fails_without_a_second_beta(monkeypatch):
    monkeypatch.setattr(training, "EMA_BETAS", (0.9, 0.9))
    assert not experiments.run_experiment("ema_and_bias_correction", seed=0)["verdict"]["passed"]


def test_ema_check_fails_without_bias_correction(monkeypatch):
    ema = training.ema
    monkeypatch.setattr(training, "ema", lambda values, beta, corrected=False: ema(values, beta))
    assert not experiments.run_experiment("ema_and_bias_correction", seed=0)["verdict"]["passed"]


def test_adam_check_fails_when_both_arms_correct(monkeypatch):
    monkeypatch.setattr(training, "UncorrectedAdam", Adam)
    assert not experiments.run_experiment("ema_and_bias_correction", seed=0)["verdict"]["passed"]


def test_modes_check_fails_when_eval_mode_uses_the_batch(monkeypatch):
    forward = BatchNorm.forward

    def batch_statistics_always(self, x, training):
        if not training and len(x) < 2:
            return forward(self, x, False)
        saved = {key: value.copy() for key, value in self.buffers.items()}
        y = forward(self, x, True)
        if not training:
            for key, value in saved.items():
                self.buffers[key][...] = value
        return y

    monkeypatch.setattr(BatchNorm, "forward", batch_statistics_always)
    result = experiments.run_experiment("batchnorm_modes", seed=0)
    assert not result["verdict"]["passed"]
    assert result["verdict"]["values"]["eval_batchmates_change"] > 1e-3


def test_eval_mode_reads_the_running_statistics(results):
    probe = results("batchnorm_modes")["runs"][training.BN10].probes[-1]
    assert probe["eval_batchmates_change"] <= 1e-5 and probe["eval_alone_change"] <= 1e-5
    assert probe["train_vs_eval"] > 0 and probe["running_mean_error"] < 0.5
    assert 0.5 < probe["running_var_ratio_low"] <= probe["running_var_ratio_high"] < 2


def test_batchnorm_placement_is_the_only_difference(results):
    arms = configs("batchnorm_init")
    before, after = (arms[training._init_label(v, 10.0)]["model"]["layers"] for v in training.BN_VARIANTS[1:])
    assert [layer["type"] for layer in before[:3]] == ["dense", "batchnorm", "activation"]
    assert [layer["type"] for layer in after[:3]] == ["dense", "activation", "batchnorm"]
    assert sorted(map(json.dumps, before)) == sorted(map(json.dumps, after))


def test_lab_only_arms_are_marked():
    assert experiments.get("ema_and_bias_correction")["lab_only"] == [training.UNCORRECTED]
