import inspect
import math

import numpy as np
import pytest
from scipy.special import expit

from engine import losses
from engine.catalog import catalog
from engine.gradcheck import check_loss_gradients
from engine.losses import LOSSES, get
from engine.plan import run_torch

SPECS = [
    *LOSSES,
    {"name": "smooth_l1", "beta": 0.5},
    {"name": "smooth_l1", "beta": 0.0},
    {"name": "huber", "delta": 2.0},
]


def spec_id(spec):
    return spec if isinstance(spec, str) else "-".join(f"{v}" for v in spec.values())


def name_of(spec):
    return spec if isinstance(spec, str) else spec["name"]


def batch(spec, seed=0, n=6, k=3):
    """A (pred, target) pair for the loss; pred - target stays 0.05 away from the kinks at 0, ±0.5, ±1, ±2."""
    rng = np.random.default_rng(seed)
    name = name_of(spec)
    if name == "cross_entropy":
        return rng.normal(0, 3, (n, k)), rng.integers(0, k, n)
    if name == "bce":
        return rng.uniform(0.02, 0.98, (n, 1)), rng.integers(0, 2, (n, 1)).astype(float)
    if name == "bce_with_logits":
        return rng.normal(0, 3, (n, 1)), rng.uniform(0, 1, (n, 1))
    target = rng.normal(size=(n, k))
    d = rng.uniform(-3, 3, (n, k))
    near = np.min(np.abs(np.abs(d[..., None]) - np.array([0.0, 0.5, 1.0, 2.0])), axis=-1) < 0.05
    return target + np.where(near, d + 0.1, d), target


def term(name, x, t, beta=1.0, delta=1.0):
    """One element of the textbook loss, in Python floats."""
    d = x - t
    if name == "mse":
        return d * d
    if name == "mae" or (name == "smooth_l1" and beta == 0):
        return abs(d)
    if name == "smooth_l1":
        return 0.5 * d * d / beta if abs(d) < beta else abs(d) - beta / 2
    if name == "huber":
        return 0.5 * d * d if abs(d) < delta else delta * (abs(d) - delta / 2)
    p = x if name == "bce" else 1 / (1 + math.exp(-x))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def reference(spec, pred, target):
    """The mean of the textbook loss over the batch."""
    name = name_of(spec)
    if name == "cross_entropy":
        rows = [
            math.log(sum(math.exp(v) for v in row)) - row[t]
            for row, t in zip(pred.tolist(), target, strict=True)
        ]
        return sum(rows) / len(rows)
    params = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
    terms = [
        term(name, x, t, **params)
        for x, t in zip(pred.ravel().tolist(), np.ravel(target).tolist(), strict=True)
    ]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_gradients_match_central_differences(spec):
    pred, target = batch(spec)
    assert check_loss_gradients(get(spec), pred, target) < 1e-7


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_forward_matches_reference(spec):
    pred, target = batch(spec, seed=1)
    assert get(spec).forward(pred, target) == pytest.approx(reference(spec, pred, target), rel=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_float32_stays_float32(spec):
    pred, target = batch(spec)
    loss = get(spec)
    value = loss.forward(pred.astype(np.float32), target)
    assert isinstance(value, float)
    assert loss.backward().dtype == np.float32
    assert loss.output(pred.astype(np.float32)).dtype == np.float32


def test_task_and_output():
    logits = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    assert {n for n in LOSSES if get(n).task == "classification"} == {
        "bce",
        "bce_with_logits",
        "cross_entropy",
    }
    probs = get("cross_entropy").output(logits)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(get("bce_with_logits").output(logits), expit(logits))
    for name in ("mse", "mae", "smooth_l1", "huber", "bce"):
        np.testing.assert_array_equal(get(name).output(logits), logits)


def test_smooth_l1_beta_zero_is_mae_and_huber_is_beta_times_smooth_l1():
    pred, target = batch("mse")
    mae, smooth = get("mae"), get({"name": "smooth_l1", "beta": 0})
    assert smooth.forward(pred, target) == mae.forward(pred, target)
    np.testing.assert_array_equal(smooth.backward(), mae.backward())
    huber, smooth = get({"name": "huber", "delta": 0.7}), get({"name": "smooth_l1", "beta": 0.7})
    assert huber.forward(pred, target) == pytest.approx(0.7 * smooth.forward(pred, target), rel=1e-12)
    np.testing.assert_allclose(huber.backward(), 0.7 * smooth.backward(), rtol=1e-12)


def test_targets_of_shape_n_and_integer_dtype_are_accepted():
    pred = np.array([[0.2], [0.9], [0.6]], dtype=np.float32)
    loss = get("bce")
    assert loss.forward(pred, np.array([0, 1, 1])) == pytest.approx(
        loss.forward(pred, np.array([[0.0], [1.0], [1.0]]))
    )
    assert loss.backward().shape == (3, 1) and loss.backward().dtype == np.float32
    mse = get("mse")
    assert mse.forward(pred, np.array([0, 1, 1])) == pytest.approx((0.04 + 0.01 + 0.16) / 3)


def test_stable_for_extreme_inputs():
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    ce = get("cross_entropy")
    assert ce.forward(logits, np.array([0, 0])) == pytest.approx(1000.0)
    np.testing.assert_allclose(ce.backward(), [[0, 0], [-0.5, 0.5]])
    bwl = get("bce_with_logits")
    assert bwl.forward(np.array([[1000.0], [-1000.0]]), np.array([[0.0], [0.0]])) == pytest.approx(500.0)
    np.testing.assert_allclose(bwl.backward(), [[0.5], [0.0]])
    bce = get("bce")
    assert bce.forward(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])) == pytest.approx(50.0)
    assert np.all(np.isfinite(bce.backward()))


def test_cross_entropy_rejects_bad_targets():
    with pytest.raises(ValueError, match="class indices"):
        get("cross_entropy").forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="class indices"):
        get("cross_entropy").forward(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("name", LOSSES)
def test_every_parameter_is_a_field_of_its_config_listed_in_the_catalog(name):
    cls = LOSSES[name]
    assert cls.Config.model_fields["name"].default == name
    fields = {key: field.default for key, field in cls.Config.model_fields.items() if key != "name"}
    assert {key: param.default for key, param in inspect.signature(cls).parameters.items()} == fields
    assert get(name).options() == fields
    listed = catalog()["losses"][name]
    assert {key: param["default"] for key, param in listed["params"].items()} == fields
    assert listed["task"] == cls.task


def test_the_catalog_gives_the_bounds_torch_needs():
    params = catalog()["losses"]
    assert params["huber"]["params"]["delta"] == {
        "type": "number",
        "default": 1.0,
        "exclusiveMinimum": 0,
        "maximum": 100,
    }
    assert params["smooth_l1"]["params"]["beta"] == {
        "type": "number",
        "default": 1.0,
        "minimum": 0,
        "maximum": 100,
    }
    with pytest.raises(ValueError, match=r"^huber: delta: Input should be greater than 0, got 0$"):
        get({"name": "huber", "delta": 0})


def test_get_accepts_name_dict_and_instance():
    assert isinstance(get("huber"), losses.Huber)
    loss = get({"name": "smooth_l1", "beta": 0.25})
    assert loss.beta == 0.25 and get(loss) is loss
    assert (get("smooth_l1").beta, get("huber").delta) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("hinge", "valid: mse, mae"),
        (None, "must be a name"),
        ({"name": "huber", "delta": -1.0}, "delta"),
        ({"name": "huber", "delta": "1"}, "delta"),
        ({"name": "mse", "reduction": "sum"}, "reduction"),
    ],
)
def test_get_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        get(spec)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_forward_and_backward_match_torch(torch, spec):
    """To 1e-12, but torch's bce backward clamps p (1 - p) to the float32 constant 1e-12 even for float64."""
    pred, target = batch(spec, seed=2, n=20)
    if name_of(spec) == "bce":
        pred[:3, 0] = [0.0, 1.0, 1e-50]
    loss = get(spec)
    value = loss.forward(pred, target)
    grad = loss.backward()

    tp = torch.tensor(pred, requires_grad=True)
    loss_fn = run_torch(f"loss_fn = {loss.torch()}")["loss_fn"]
    expected = loss_fn(tp, torch.tensor(target))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-12)
    rtol = 1e-8 if spec == "bce" else 1e-12
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_training_gradient_reuses_one_buffer_with_the_bits_of_backward(dtype):
    rng = np.random.default_rng(5)
    loss = get("bce_with_logits")
    pred, target = rng.standard_normal((10, 1)).astype(dtype), (rng.random((10, 1)) > 0.5).astype(dtype)
    first = loss.gradient(pred, target)
    assert first.dtype == dtype
    loss.forward(pred, target)
    np.testing.assert_array_equal(first, loss.backward())
    np.testing.assert_array_equal(first, ((expit(pred) - target) / 10).astype(dtype))
    assert loss.gradient(2 * pred, target) is first
    other = loss.gradient(pred[:4], target[:4].ravel())
    assert other is not first and other.shape == (4, 1)
    np.testing.assert_array_equal(other, ((expit(pred[:4]) - target[:4]) / 4).astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_training_gradient_reuses_its_buffers_with_the_bits_of_backward(dtype):
    rng = np.random.default_rng(6)
    loss = get("cross_entropy")
    pred, target = (4 * rng.standard_normal((12, 5))).astype(dtype), rng.integers(0, 5, 12)
    first = loss.gradient(pred, target)
    assert first.dtype == dtype
    loss.forward(pred, target)
    np.testing.assert_array_equal(first, loss.backward())
    assert loss.gradient(pred, target) is first
    other = loss.gradient(pred[:4], target[:4])
    assert other is not first and other.shape == (4, 5)
    loss.forward(pred[:4], target[:4])
    np.testing.assert_array_equal(other, loss.backward())
    with pytest.raises(ValueError, match="class indices"):
        loss.gradient(pred[:2], np.array([0, -1]))
