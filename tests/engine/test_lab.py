import numpy as np
import pytest

from engine import activations, lab, losses
from engine.layers import Dense
from engine.model import Model

X = np.linspace(-6, 6, 241)


def curve(spec, **kwargs):
    return lab.activation_curves([spec], **kwargs)["curves"][0]


@pytest.mark.parametrize("name", [n for n in activations.ACTIVATIONS if n not in ("step", "softmax")])
def test_activation_derivative_matches_central_differences(name):
    x = np.linspace(-5.05, 4.95, 101)
    c = lab.activation_curve(name, x)
    h = 1e-6
    above, below = (np.asarray(lab.activation_curve(name, x + s)["y"]) for s in (h, -h))
    numeric = (above - below) / (2 * h)
    np.testing.assert_allclose(c["dy"], numeric, atol=1e-5)


def test_sigmoid_saturates_in_both_tails_and_relu_has_a_zero_gradient_region():
    sigmoid = curve("sigmoid")
    (left, right) = sigmoid["saturating"]
    assert left[0] == -6 and -4.5 < left[1] < -4.2 and 4.2 < right[0] < 4.5 and right[1] == 6
    assert sigmoid["zero_gradient"] == []
    relu = curve("relu")
    assert relu["zero_gradient"] == [[-6.0, 0.0]] and relu["saturating"] == []
    assert curve("step")["zero_gradient"] == [[-6.0, 6.0]]


def test_hard_versions_sit_beside_sigmoid_and_tanh():
    result = lab.activation_curves(lab.ACTIVATION_GROUPS["hard vs smooth"], n=241)
    hardtanh = result["curves"][3]
    assert hardtanh["zero_gradient"] == [[-6.0, -1.0], [1.0, 6.0]]
    assert np.max(hardtanh["dy"]) == 1
    hardsigmoid = result["curves"][1]
    assert hardsigmoid["zero_gradient"] == [[-6.0, -3.0], [3.0, 6.0]]
    assert result["curves"][1]["max_deviation"] < 0.1


def test_gelu_approximations_stay_close():
    group = lab.ACTIVATION_GROUPS["gelu and its approximations"]
    gelu, tanh_form, sigmoid_form = lab.activation_curves(group)["curves"]
    assert gelu["max_deviation"] == 0
    assert 0 < tanh_form["max_deviation"] < 1e-3
    assert 1e-3 < sigmoid_form["max_deviation"] < 0.03


def test_parameters_change_the_curve():
    leaky = curve({"name": "leaky_relu", "negative_slope": 0.2})
    assert leaky["dy"][0] == pytest.approx(0.2) and leaky["label"] == "leaky_relu (negative_slope=0.2)"
    elu = curve({"name": "elu", "alpha": 2.0})
    assert elu["y"][0] == pytest.approx(2 * np.expm1(-6))


def test_maxout_is_the_max_of_its_pieces_and_softmax_a_sigmoid():
    slopes, intercepts = [-1.0, 0.5, 2.0], [0.0, 1.0, -2.0]
    c = lab.activation_curve({"name": "maxout", "slopes": slopes, "intercepts": intercepts}, X)
    pieces = np.outer(X, slopes) + intercepts
    np.testing.assert_allclose(c["y"], pieces.max(1))
    np.testing.assert_allclose(c["dy"], np.asarray(slopes)[pieces.argmax(1)])
    softmax = lab.activation_curve("softmax", X)
    np.testing.assert_allclose(softmax["y"], 1 / (1 + np.exp(-X)))


def test_bad_activation_specs_raise():
    with pytest.raises(ValueError, match="valid"):
        curve("nope")
    with pytest.raises(ValueError, match="negative_slope"):
        curve({"name": "leaky_relu", "negative_slope": 5})
    with pytest.raises(ValueError, match="slopes"):
        curve({"name": "maxout", "slopes": [1.0], "intercepts": [0.0]})


@pytest.mark.parametrize("name", list(lab.SURFACES))
def test_surface_gradients_match_central_differences(name):
    s = lab.get_surface(name)
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = s.box
    h = 1e-6
    for x, y in zip(rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20), strict=True):
        gx, gy = s.grad(x, y)
        scale = max(1.0, abs(gx), abs(gy))
        assert gx == pytest.approx((s.f(x + h, y) - s.f(x - h, y)) / (2 * h), abs=1e-5 * scale)
        assert gy == pytest.approx((s.f(x, y + h) - s.f(x, y - h)) / (2 * h), abs=1e-5 * scale)


def test_rosenbrock_gradient_is_zero_at_its_minimum():
    assert lab.get_surface("rosenbrock").grad(1.0, 1.0) == (0.0, 0.0)


def test_first_race_steps_equal_the_update_rules():
    s = lab.get_surface("rosenbrock")
    start = np.array([-1.2, 1.0])
    g = np.array(s.grad(*start))
    lr = 0.001
    expected = {
        "sgd": start - lr * g,
        "momentum": start - lr * g,
        "adagrad": start - lr * g / (np.sqrt(g * g) + 1e-10),
        "rmsprop": start - lr * g / (np.sqrt(0.01 * g * g) + 1e-8),
        "adam": start - lr * g / (np.sqrt(g * g) + 1e-8),
    }
    racers = {k: {**lab.RACERS[k], "lr": lr} for k in expected}
    result = lab.race("rosenbrock", racers, steps=1)
    for run in result["runs"]:
        np.testing.assert_allclose([run["x"][1], run["y"][1]], expected[run["label"]], rtol=1e-12)
        assert run["x"][0] == -1.2 and run["loss"][0] == pytest.approx(s.f(-1.2, 1.0))


def test_default_racers_reach_the_quadratic_minimum_and_a_schedule_sets_each_lr():
    result = lab.race("quadratic", steps=200)
    assert [r["label"] for r in result["runs"]] == list(lab.RACERS)
    assert all(r["status"] == "completed" and r["loss"][-1] < 1e-6 for r in result["runs"])
    schedule = {"name": "step", "step_size": 2}
    stepped = lab.race("quadratic", [{"name": "sgd", "lr": 0.5}], steps=6, schedule=schedule)
    assert stepped["runs"][0]["lr"] == pytest.approx([0.5, 0.5, 0.05, 0.05, 0.005, 0.005])
    assert stepped["runs"][0]["label"] == "sgd (lr=0.5)"


def test_too_high_a_learning_rate_leaves_the_surface():
    run = lab.race("beale", {"sgd": {"name": "sgd", "lr": 0.5}}, steps=200)["runs"][0]
    assert run["status"] in ("diverged", "escaped") and len(run["x"]) < 201


def test_surface_grid_holds_the_minimum():
    grid = lab.surface_grid("quadratic", n=21)
    z = np.array(grid["z"])
    assert z.shape == (21, 21) and z.min() == 0 and z[10, 10] == 0
    assert grid["minima"] == [[0.0, 0.0]] and grid["start"] == [-7.0, 2.0]
    with pytest.raises(ValueError, match="rosenbrock"):
        lab.surface_grid("nope")


def stds(result):
    return np.array([layer["std"] for layer in result["layers"]])


def test_init_normal_one_saturates_tanh():
    result = lab.init_stats(activation="tanh", initializer="N(0, 1)", width=128)
    assert all(layer["saturated_fraction"] > 0.7 for layer in result["layers"])
    assert np.all(stds(result) > 0.9)


def test_init_small_normal_collapses_to_zero():
    s = stds(lab.init_stats(activation="tanh", initializer="N(0, 0.01)", width=128))
    assert s[0] < 0.2 and s[-1] < 1e-8 and np.all(np.diff(np.log(s)) < -1)


def test_xavier_keeps_tanh_std_in_a_band():
    s = stds(lab.init_stats(activation="tanh", initializer="xavier (tanh gain)", width=128))
    assert s.max() / s.min() < 1.5 and s.min() > 0.4


def test_he_keeps_relu_std_and_xavier_does_not():
    he = stds(lab.init_stats(activation="relu", initializer="he", width=128))
    assert he.max() / he.min() < 1.5 and he.min() > 0.5
    xavier = stds(lab.init_stats(activation="relu", initializer="xavier", width=128))
    assert xavier[-1] < 0.1 * xavier[0]


def test_zeros_make_every_unit_identical():
    result = lab.init_stats(activation="sigmoid", initializer="zeros", width=64)
    assert all(layer["distinct_units"] == 1 for layer in result["layers"])
    assert all(layer["std"] == 0 and layer["mean"] == 0.5 for layer in result["layers"])
    assert lab.init_stats(activation="tanh", initializer="he", width=64)["layers"][-1]["distinct_units"] == 64


def test_deep_sigmoid_gradients_vanish_towards_the_input():
    result = lab.init_stats(activation="sigmoid", initializer="default", width=128)
    norms = [layer["grad_norm"] for layer in result["layers"]]
    assert norms[0] < 1e-4 * norms[-1]
    counts = np.array([layer["histogram"] for layer in result["layers"]])
    assert counts.shape == (10, 30) and np.all(counts.sum(1) == 128 * 256)
    assert len(result["edges"]) == 31


def small_model():
    model = Model([Dense(6), activations.get("tanh"), Dense(3), activations.get("relu"), Dense(1)], (2,))
    model.build(np.random.default_rng(1), np.float64)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 2))
    return model, x, np.sin(x[:, :1]) + x[:, 1:] ** 2


def test_filter_normalized_directions_match_each_row_norm_and_skip_biases():
    model, _, _ = small_model()
    params = model.parameters()
    direction = lab.filter_normalized_direction(params, np.random.default_rng(0))
    for w, d in zip(params, direction, strict=True):
        if w.ndim == 1:
            assert not d.any()
        else:
            np.testing.assert_allclose(np.linalg.norm(d, axis=1), np.linalg.norm(w, axis=1))


def test_landscape_centre_is_the_model_loss_and_weights_are_restored():
    model, x, y = small_model()
    mse = losses.get("mse")
    before = model.state_dict()
    loss = mse.forward(model.forward(x), y)
    result = lab.loss_landscape(model, (x, y), mse, n=11, span=0.5)
    z = np.array(result["z"])
    assert z.shape == (11, 11) and len(result["x"]) == 11 and result["y"] == result["x"]
    assert z[5, 5] == pytest.approx(loss) and result["center"] == pytest.approx(loss)
    assert z.max() > loss
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    line = lab.loss_landscape(model, (x, y), mse, directions=1, n=11)
    assert line["y"] is None and len(line["z"]) == 11 and line["z"][5] == pytest.approx(loss)


def test_a_path_projects_onto_the_two_directions():
    model, x, y = small_model()
    mse = losses.get("mse")
    params = model.parameters()
    theta = np.concatenate([p.ravel() for p in params])
    rng = np.random.default_rng(3)
    d1, d2 = (
        np.concatenate([d.ravel() for d in lab.filter_normalized_direction(params, rng)]) for _ in range(2)
    )
    path = [theta + 0.3 * d1 - 0.2 * d2, theta]
    result = lab.loss_landscape(model, (x, y), mse, n=5, seed=3, path=path)
    np.testing.assert_allclose(result["path"]["x"], [0.3, 0.0], atol=1e-9)
    np.testing.assert_allclose(result["path"]["y"], [-0.2, 0.0], atol=1e-9)
    assert result["path"]["loss"][1] == pytest.approx(result["center"])


def test_hard_logistic_is_the_notes_tangent_line_and_hardsigmoid_is_torch():
    result = lab.activation_curves(lab.ACTIVATION_GROUPS["hard vs smooth"], n=241)
    hard_logistic = next(c for c in result["curves"] if c["name"] == "hard_logistic")
    assert hard_logistic["zero_gradient"] == [[-6.0, -2.0], [2.0, 6.0]] and max(hard_logistic["dy"]) == 0.25
    note = lab.NOTES_VS_TORCH["hard_logistic"]
    assert "0.25x + 0.5" in note and "x/6" in note
    assert set(lab.NOTES_VS_TORCH) == {"hard_logistic", "l2", "momentum", "adagrad", "adam", "batchnorm"}


def test_captured_fraction_of_a_path_in_and_off_the_plane():
    basis = np.eye(4)[:, :2] * 3.0
    inside = np.array([[1.0, 2.0, 0, 0], [0.5, 0.0, 0, 0], [0, 0, 0, 0]])
    fraction, off = lab.captured_fraction(basis, inside)
    assert fraction == pytest.approx(1.0) and np.allclose(off, 0)
    outside = np.array([[0, 0, 1.0, 0], [1.0, 0, 1.0, 0]])
    fraction, off = lab.captured_fraction(basis, outside)
    assert fraction == pytest.approx(1 / 3) and off == pytest.approx([1.0, np.sqrt(0.5)])


def trained_path(seed=0):
    from engine.trainer import Trainer

    config = {
        "data": {"dataset": "spiral", "n_samples": 200},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "tanh"}] * 2},
        "optimizer": {"name": "adam", "lr": 0.02},
        "training": {"epochs": 40},
        "telemetry": {"every": 10_000},
        "seed": seed,
    }
    trainer = Trainer(config)
    path = [lab._flat(trainer.model.parameters())]
    for _ in trainer.epochs():
        path.append(lab._flat(trainer.model.parameters()))
    return trainer, path


def test_the_paths_principal_plane_holds_its_motion_and_a_random_plane_does_not():
    trainer, path = trained_path()
    pca = lab.loss_landscape(trainer, n=5, path=path, basis="pca")
    random = lab.loss_landscape(trainer, n=5, path=path, basis="random")
    assert pca["basis"] == "pca" and pca["path"]["captured"] > 0.9
    assert random["path"]["captured"] < 0.5 * pca["path"]["captured"]
    own, plane = np.array(pca["path"]["loss"]), np.array(pca["path"]["plane_loss"])
    assert own[-1] == pytest.approx(pca["center"]) and plane[-1] == pytest.approx(pca["center"])
    assert pca["path"]["off_plane"][-1] == 0 and len(pca["path"]["off_plane"]) == len(path)
    assert np.max(random["path"]["off_plane"]) > 0.9
    weights = np.sqrt(sum(np.sum(w**2) for w in trainer.model.parameters() if w.ndim == 2))
    params = trainer.model.parameters()
    d1 = lab.pca_directions(params, np.array(path), lab._flat(params))[0]
    assert np.linalg.norm(d1) == pytest.approx(weights)


def test_a_model_needs_its_data_and_loss():
    model, x, y = small_model()
    with pytest.raises(ValueError, match=r"a Model needs data = \(x, y\) and a loss"):
        lab.loss_landscape(model, loss=losses.get("mse"))
    with pytest.raises(ValueError, match="a Model needs data"):
        lab.loss_landscape(model, (x, y))


def test_pca_needs_a_moving_path_and_basis_is_checked():
    trainer, path = trained_path()
    with pytest.raises(ValueError, match="basis 'pca' needs a training path"):
        lab.loss_landscape(trainer, n=5, basis="pca")
    with pytest.raises(ValueError, match="must move"):
        lab.loss_landscape(trainer, n=5, basis="pca", path=[path[-1], path[-1]])
    with pytest.raises(ValueError, match="basis"):
        lab.loss_landscape(trainer, n=5, basis="eigen")


def test_saddle_escape_takes_sgd_314_steps_and_momentum_65_at_equal_lr():
    values = lab.saddle_escape()["verdict"]["values"]
    assert (values["sgd_steps"], values["momentum_steps"]) == (314, 65)
    assert values["ratio"] == pytest.approx(314 / 65)
    assert values["expected_ratio"] == pytest.approx(5.13, abs=0.01)
    assert sum(lab.saddle_escape(seed)["verdict"]["passed"] for seed in range(20)) >= 19


def test_saddle_check_fails_without_momentum():
    result = lab.saddle_escape(momentum=0.0)
    assert not result["verdict"]["passed"] and result["verdict"]["values"]["ratio"] == 1


def test_two_valleys_sgd_stays_in_the_worse_minimum_and_momentum_crosses():
    s = lab.get_surface("two_valleys")
    better, worse = s.minima
    for minimum in (better, worse):
        assert s.grad(*minimum) == pytest.approx((0, 0), abs=1e-5)
    assert s.f(*better) < s.f(*worse)
    runs = {run["label"]: run for run in lab.race("two_valleys", steps=600)["runs"]}
    assert runs["sgd"]["minimum"] == 1 and runs["momentum"]["minimum"] == 0
    verdicts = [lab.valley_escape(seed)["verdict"] for seed in range(20)]
    assert sum(v["passed"] for v in verdicts) >= 19
    assert all(v["values"]["sgd_better"] == 0 for v in verdicts)


def test_two_valleys_check_fails_without_momentum():
    for seed in range(3):
        verdict = lab.valley_escape(seed, momentum=0.0)["verdict"]
        assert not verdict["passed"] and verdict["values"]["momentum_better"] == 0
