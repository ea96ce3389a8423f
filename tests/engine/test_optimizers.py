import math

import numpy as np
import pytest

from engine import config, optimizers
from engine.model import Model

SHAPES = [(3, 2), (3,), (1, 3), (1,), (65, 64)]


def _problem(seed=0):
    """f(p) = sum(a p^2 / 2 + b p) per parameter, so grad = a p + b."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s) for s in SHAPES]
    coefs = [(rng.uniform(0.1, 2, s), rng.normal(size=s)) for s in SHAPES]
    return params, coefs


def _grads(params, coefs):
    return [a * p + b for p, (a, b) in zip(params, coefs, strict=True)]


def sgd_ref(p, g, s, t, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum:
        s["b"] = g.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def adagrad_ref(p, g, s, t, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    g = g + weight_decay * p
    s["sum"] = s.get("sum", np.full_like(p, initial_accumulator_value)) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["sum"]) + eps)


def rmsprop_ref(p, g, s, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    g = g + weight_decay * p
    s["v"] = alpha * s.get("v", 0) + (1 - alpha) * g * g
    v = s["v"]
    if centered:
        s["m"] = alpha * s.get("m", 0) + (1 - alpha) * g
        v = v - s["m"] ** 2
    step = g / (np.sqrt(v) + eps)
    if momentum:
        s["b"] = momentum * s.get("b", 0) + step
        step = s["b"]
    return p - lr * step


def adam_ref(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    b1, b2 = betas
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    v = s["v"]
    if amsgrad:
        s["vmax"] = v = np.maximum(s.get("vmax", 0), v)
    m_hat = s["m"] / (1 - b1**t)
    return p - lr * m_hat / (np.sqrt(v) / math.sqrt(1 - b2**t) + eps)


def adamw_ref(p, g, s, t, lr, weight_decay=0.01, **hyper):
    return adam_ref(p, g, s, t, lr, weight_decay=weight_decay, decoupled=True, **hyper)


REFERENCES = {
    "sgd": sgd_ref,
    "adagrad": adagrad_ref,
    "rmsprop": rmsprop_ref,
    "adam": adam_ref,
    "adamw": adamw_ref,
}
CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}),
    ("sgd", {"momentum": 0.7, "nesterov": True, "weight_decay": 0.01}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.05}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.1, "alpha": 0.9}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "weight_decay": 0.1, "betas": (0.8, 0.9)}),
    ("adamw", {}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.3}),
]


@pytest.mark.parametrize("name, hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_fifty_steps_match_the_update_formulas(name, hyper):
    params, coefs = _problem()
    expected = [p.copy() for p in params]
    states = [{} for _ in params]
    optimizer = optimizers.get({"name": name, "lr": 0.02, **hyper})
    for t in range(1, 51):
        lr = 0.02 if t <= 30 else 0.005
        optimizer.lr = lr
        optimizer.step(params, _grads(params, coefs))
        grads = _grads(expected, coefs)
        expected = [
            REFERENCES[name](p, g, s, t, lr, **hyper) for p, g, s in zip(expected, grads, states, strict=True)
        ]
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-12)


def test_sgd_golden_values_on_a_constant_gradient():
    p = [np.array([1.0, -2.0])]
    g = [np.array([0.5, -1.0])]
    opt = optimizers.get({"name": "sgd", "lr": 0.1, "momentum": 0.5})
    for _ in range(3):
        opt.step(p, g)
    np.testing.assert_allclose(p[0], [1.0 - 0.1 * 0.5 * (1 + 1.5 + 1.75), -2.0 + 0.1 * (1 + 1.5 + 1.75)])


def test_adam_first_step_moves_each_weight_by_lr():
    p = [np.array([1.0, 2.0, 3.0])]
    optimizers.get({"name": "adam", "lr": 0.01, "eps": 1e-300}).step(p, [np.array([3.0, -0.001, 100.0])])
    np.testing.assert_allclose(p[0], [0.99, 2.01, 2.99], rtol=1e-12)


def test_adagrad_first_step_is_lr_times_sign():
    p = [np.array([0.0, 0.0])]
    optimizers.get({"name": "adagrad", "lr": 0.5, "eps": 1e-300}).step(p, [np.array([4.0, -0.25])])
    np.testing.assert_allclose(p[0], [-0.5, 0.5], rtol=1e-12)


@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_float32_stays_float32_in_place(name):
    params64, coefs = _problem()
    params = [p.astype(np.float32) for p in params64]
    ids = [id(p) for p in params]
    view = params[0][0]
    opt64, opt32 = optimizers.get(name), optimizers.get(name)
    for _ in range(20):
        grads = [g.astype(np.float32) for g in _grads(params, coefs)]
        opt32.step(params, grads)
        opt64.step(params64, _grads(params64, coefs))
    assert [id(p) for p in params] == ids
    assert all(p.dtype == np.float32 for p in params)
    assert all(v.dtype == np.float32 for state in opt32.state for v in state.values())
    np.testing.assert_array_equal(view, params[0][0])
    for p32, p64 in zip(params, params64, strict=True):
        np.testing.assert_allclose(p32, p64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, hyper", [("sgd", {"weight_decay": 0.1}), ("adam", {"weight_decay": 0.1})])
def test_gradients_are_not_modified(name, hyper):
    params, coefs = _problem()
    grads = _grads(params, coefs)
    before = [g.copy() for g in grads]
    optimizers.get({"name": name, **hyper}).step(params, grads)
    for g, b in zip(grads, before, strict=True):
        np.testing.assert_array_equal(g, b)


def test_state_is_per_position_in_the_params_dtype():
    params = [np.zeros((4, 3)), np.zeros(3, np.float32), np.zeros((80, 60), np.float32)]
    opt = optimizers.get({"name": "adam", "amsgrad": True})
    opt.step(params, [np.ones_like(p) for p in params])
    assert [set(s) for s in opt.state] == [{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}] * 3
    for p, s in zip(params, opt.state, strict=True):
        assert all(v.shape == p.shape and v.dtype == p.dtype for v in s.values())
    np.testing.assert_allclose(opt.state[2]["exp_avg"], 0.1, rtol=1e-6)
    with pytest.raises(ValueError, match="3 parameters, got 2"):
        opt.step(params[:2], [np.ones_like(p) for p in params[:2]])


def test_a_gradient_list_shorter_than_the_params_is_a_clear_error_on_every_path():
    model = Model.from_specs([{"type": "dense", "units": 3}], (2,)).build(np.random.default_rng(0))
    params, grads = model.parameters(), model.gradients()
    opt = optimizers.get("sgd")
    for _ in range(2):
        with pytest.raises(ValueError, match="2 parameters and 1 gradients"):
            opt.step(params, grads[:1])
        opt.step(params, grads)


def test_lr_is_mutable_and_checked():
    p = [np.ones(3)]
    opt = optimizers.get("sgd")
    opt.lr = 0.0
    opt.step(p, [np.ones(3)])
    np.testing.assert_array_equal(p[0], 1.0)
    opt.lr = 0.5
    opt.step(p, [np.ones(3)])
    np.testing.assert_array_equal(p[0], 0.5)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1


def test_get_accepts_name_dict_config_and_instance():
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    opt = optimizers.get({"name": "sgd", "lr": 0.3, "momentum": 0.9, "nesterov": True})
    assert (opt.lr, opt.momentum, opt.nesterov) == (0.3, 0.9, True)
    adam = optimizers.get(config.Adam(lr=0.01, betas=(0.5, 0.6), amsgrad=True))
    assert (adam.lr, adam.betas, adam.amsgrad) == (0.01, (0.5, 0.6), True)
    assert optimizers.get(config.AdamW()).weight_decay == 0.01
    assert optimizers.get(adam) is adam


def test_defaults_follow_torch():
    sgd = optimizers.get("sgd")
    assert (sgd.lr, sgd.momentum, sgd.dampening, sgd.nesterov) == (0.01, 0.0, 0.0, False)
    assert (optimizers.get("adagrad").eps, optimizers.get("rmsprop").alpha) == (1e-10, 0.99)
    assert optimizers.get("adam").betas == (0.9, 0.999)
    assert (optimizers.get("adam").weight_decay, optimizers.get("adamw").weight_decay) == (0.0, 0.01)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nadam", "unknown optimizer 'nadam'; valid: sgd, adagrad, rmsprop, adam, adamw"),
        ({"lr": 0.1}, "unknown optimizer None"),
        (3, "must be a name, a dict"),
        ({"name": "sgd", "beta": 0.9}, "unknown parameter 'beta'"),
        ({"name": "sgd", "lr": -0.1}, "^lr: Input should be greater than 0, got -0.1$"),
        ({"name": "sgd", "lr": 11}, "^lr: Input should be less than or equal to 10, got 11$"),
        ({"name": "sgd", "momentum": -0.5}, "^momentum: Input should be greater than or equal to 0"),
        ({"name": "sgd", "momentum": 1.0}, "^momentum: Input should be less than 1, got 1.0$"),
        ({"name": "rmsprop", "momentum": 1.5}, "^momentum: "),
        ({"name": "sgd", "weight_decay": 2.0}, "^weight_decay: "),
        ({"name": "sgd", "dampening": 2}, "^dampening: "),
        ({"name": "sgd", "nesterov": True}, "^nesterov needs momentum > 0 and dampening = 0$"),
        ({"name": "sgd", "nesterov": 1}, "^nesterov: Input should be a valid boolean"),
        ({"name": "adagrad", "lr_decay": "fast"}, "^lr_decay: Input should be a valid number, got 'fast'$"),
        ({"name": "adagrad", "eps": 0.0}, "^eps: Input should be greater than 0"),
        ({"name": "rmsprop", "eps": -1e-8}, "^eps: "),
        ({"name": "rmsprop", "alpha": 1.0}, "^alpha: Input should be less than 1"),
        ({"name": "adam", "betas": (1.0, 0.9)}, "^betas.0: Input should be less than 1, got 1.0$"),
        ({"name": "adam", "betas": 0.9}, "^betas: Input should be a valid tuple"),
        ({"name": "adamw", "weight_decay": -0.01}, "^weight_decay: "),
    ],
)
def test_bad_specs_raise_value_errors_naming_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        optimizers.get(spec)


def _tiled(arrays):
    """Copies of arrays as views tiling one contiguous vector, as a built Model keeps its params."""
    flat = np.concatenate([a.ravel() for a in arrays])
    bounds = np.cumsum([0, *(a.size for a in arrays)])
    return [flat[lo:hi].reshape(a.shape) for lo, hi, a in zip(bounds, bounds[1:], arrays, strict=False)]


@pytest.mark.parametrize("name, hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_params_tiling_one_vector_update_as_that_vector_with_the_same_bits(name, hyper):
    params, coefs = _problem()
    tiled = _tiled(params)
    grads = _tiled(_grads(tiled, coefs))
    separate, flat = optimizers.get({"name": name, **hyper}), optimizers.get({"name": name, **hyper})
    for t in range(10):
        for g, new in zip(grads, _grads(tiled, coefs), strict=True):
            g[...] = new
        if t == 5:
            grads[1] = grads[1].copy()
        flat.step(tiled, grads)
        separate.step(params, _grads(params, coefs))
    assert [group.flat_params is not None for group in flat._groups] == [True]
    for p, q in zip(tiled, params, strict=True):
        np.testing.assert_array_equal(p, q)
    for a, b in zip(flat.state, separate.state, strict=True):
        for key in b:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("name, hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_a_param_put_in_place_of_a_tiled_view_is_updated_itself(name, hyper):
    params, coefs = _problem()
    tiled = _tiled(params)
    grads = _tiled(_grads(tiled, coefs))
    separate, flat = optimizers.get({"name": name, **hyper}), optimizers.get({"name": name, **hyper})
    for t in range(6):
        for g, new in zip(grads, _grads(tiled, coefs), strict=True):
            g[...] = new
        if t == 3:
            tiled[2] = tiled[2].copy()
        flat.step(tiled, grads)
        separate.step(params, _grads(params, coefs))
    for p, q in zip(tiled, params, strict=True):
        np.testing.assert_array_equal(p, q)
