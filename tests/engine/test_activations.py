import inspect
import math

import numpy as np
import pytest

from engine import activations
from engine.activations import ACTIVATIONS, get
from engine.gradcheck import check_layer_gradients
from engine.layers import Layer

SPECS = [
    *ACTIVATIONS,
    {"name": "hardtanh", "min_val": -0.5, "max_val": 2.0},
    {"name": "leaky_relu", "negative_slope": 0.2},
    {"name": "prelu", "init": 0.6},
    {"name": "rrelu", "lower": 0.1, "upper": 0.9},
    {"name": "elu", "alpha": 0.5},
    {"name": "gelu", "approximate": "tanh"},
    {"name": "swish", "beta": 1.7},
    {"name": "softplus", "beta": 2.0, "threshold": 5.0},
]
KINKS = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 1.0, 2.0, 2.5, 3.0])
EDGES = np.array([0.0, -1.0, 1.0, -3.0, 3.0, -0.5, 2.0, 2.5, 20.0, -20.0, 25.0, -30.0])


def split(spec):
    if isinstance(spec, str):
        return spec, {}
    return spec["name"], {k: v for k, v in spec.items() if k != "name"}


def spec_id(spec):
    if isinstance(spec, str):
        return spec
    return "-".join(f"{v}" for v in spec.values())


def built(spec, dtype=np.float64, seed=1):
    layer = get(spec)
    layer.build((5,), np.random.default_rng(seed), dtype)
    return layer


def away_from_kinks(shape, seed=0):
    """Uniform in [-4, 4], moved 0.1 off any point where an activation has a kink."""
    x = np.random.default_rng(seed).uniform(-4, 4, shape)
    near = np.min(np.abs(x[..., None] - KINKS), axis=-1) < 0.05
    return np.where(near, x + 0.1, x)


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def reference(spec, x):
    """The scalar textbook formula of each activation, element by element in Python floats."""
    name, p = split(spec)
    formulas = {
        "identity": lambda v: v,
        "step": lambda v: float(v > 0),
        "sigmoid": sigmoid,
        "hardsigmoid": lambda v: min(max(v + 3, 0), 6) / 6,
        "hard_logistic": lambda v: min(max(0.25 * v + 0.5, 0), 1),
        "tanh": math.tanh,
        "hardtanh": lambda v: min(max(v, p.get("min_val", -1.0)), p.get("max_val", 1.0)),
        "relu": lambda v: max(v, 0.0),
        "leaky_relu": lambda v: v if v > 0 else p.get("negative_slope", 0.01) * v,
        "prelu": lambda v: v if v > 0 else p.get("init", 0.25) * v,
        "rrelu": lambda v: v if v > 0 else (p.get("lower", 1 / 8) + p.get("upper", 1 / 3)) / 2 * v,
        "elu": lambda v: v if v > 0 else p.get("alpha", 1.0) * (math.exp(v) - 1),
        "selu": lambda v: 1.0507009873554805 * (v if v > 0 else 1.6732632423543772 * (math.exp(v) - 1)),
        "gelu": (
            (lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))))
            if p.get("approximate") == "tanh"
            else (lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
        ),
        "silu": lambda v: v * sigmoid(v),
        "swish": lambda v: v * sigmoid(p.get("beta", 1.0) * v),
        "softplus": lambda v: (
            v
            if p.get("beta", 1.0) * v > p.get("threshold", 20.0)
            else math.log1p(math.exp(p.get("beta", 1.0) * v)) / p.get("beta", 1.0)
        ),
        "softsign": lambda v: v / (1 + abs(v)),
    }
    return np.vectorize(formulas[name])(x)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_gradients_match_central_differences(spec):
    layer = built(spec)
    error = check_layer_gradients(layer, away_from_kinks((4, 5)), training=split(spec)[0] != "rrelu")
    assert error < 1e-7


def test_prelu_weight_gradient_is_summed_over_the_batch():
    layer = built("prelu")
    x = np.array([[-1.0, 2.0, -3.0], [4.0, -0.5, 0.0]])
    grad = np.array([[1.0, 1.0, 2.0], [1.0, -2.0, 5.0]])
    layer.forward(x, training=True)
    dx = layer.backward(grad)
    np.testing.assert_allclose(layer.grads["weight"], [-1.0 - 6.0 + 1.0])
    np.testing.assert_allclose(dx, [[0.25, 1.0, 0.5], [1.0, -0.5, 1.25]])
    assert layer.params["weight"].shape == (1,) and layer.params["weight"][0] == 0.25


def test_step_derivative_is_zero_everywhere():
    layer = built("step")
    x = away_from_kinks((3, 5))
    np.testing.assert_array_equal(layer.forward(x, training=True), (x > 0).astype(float))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))
    assert check_layer_gradients(layer, x) == 0.0


def test_rrelu_draws_a_slope_per_element_in_training():
    layer = built({"name": "rrelu", "lower": 0.1, "upper": 0.3})
    x = -np.ones((50, 5))
    y1, y2 = layer.forward(x, training=True), layer.forward(x, training=True)
    assert np.all((-y1 >= 0.1) & (-y1 <= 0.3)) and not np.array_equal(y1, y2)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), -y2)
    np.testing.assert_array_equal(layer.forward(-x, training=True), -x)
    np.testing.assert_allclose(layer.forward(x, training=False), -0.2)
    again = built({"name": "rrelu", "lower": 0.1, "upper": 0.3})
    np.testing.assert_array_equal(again.forward(x, training=True), y1)


def test_rrelu_training_needs_build():
    with pytest.raises(RuntimeError, match="build"):
        get("rrelu").forward(np.ones((2, 2)), training=True)


@pytest.mark.parametrize("spec", [s for s in SPECS if s != "softmax"], ids=spec_id)
def test_forward_matches_reference_formula(spec):
    x = np.concatenate([away_from_kinks((40,)), EDGES]).reshape(4, -1)
    np.testing.assert_allclose(
        built(spec).forward(x, training=False), reference(spec, x), rtol=1e-12, atol=1e-15
    )


def test_softmax_rows_are_probabilities_and_stable():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
    y = built("softmax").forward(x, training=True)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(y[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(get("softmax").df(x, y), y * (1 - y))


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("training", [True, False])
def test_float32_stays_float32(spec, training):
    layer = built(spec, dtype=np.float32)
    x = away_from_kinks((4, 5)).astype(np.float32)
    assert layer.forward(x, training).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("relu", "relu"),
        ("leaky_relu", "relu"),
        ("prelu", "relu"),
        ("rrelu", "relu"),
        ("sigmoid", "saturating"),
    ]
    + [
        ("tanh", "saturating"),
        ("hardsigmoid", "saturating"),
        ("hard_logistic", "saturating"),
        ("hardtanh", "saturating"),
        ("step", "saturating"),
    ]
    + [("gelu", "smooth"), ("elu", "smooth"), ("softplus", "smooth"), ("identity", "smooth")],
)
def test_kind(name, kind):
    assert get(name).kind == kind


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_parameter_is_a_field_of_its_config_with_the_same_default(name):
    cls = ACTIVATIONS[name]
    assert issubclass(cls, Layer) and cls.Config.model_fields["name"].default == name
    fields = {key: field.default for key, field in cls.Config.model_fields.items() if key != "name"}
    signature = {key: param.default for key, param in inspect.signature(cls).parameters.items()}
    assert signature == fields
    assert get(name).options() == fields
    assert repr(get(name)).startswith(cls.__name__)


def test_torch_defaults():
    assert get("leaky_relu").negative_slope == 0.01
    assert (get("rrelu").lower, get("rrelu").upper) == (1 / 8, 1 / 3)
    assert (get("softplus").beta, get("softplus").threshold) == (1.0, 20.0)
    assert (get("hardtanh").min_val, get("hardtanh").max_val) == (-1.0, 1.0)
    assert get("gelu").approximate == "none" and get("elu").alpha == 1.0 and get("prelu").init == 0.25


def test_get_accepts_name_dict_and_instance():
    assert isinstance(get("relu"), activations.ReLU)
    layer = get({"name": "leaky_relu", "negative_slope": 0.3})
    assert layer.negative_slope == 0.3
    assert get(layer) is layer


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("swishy", "valid: identity, step"),
        ({"negative_slope": 0.1}, "unknown activation None"),
        (42, "must be a name"),
        ({"name": "leaky_relu", "negative_slope": 2.0}, "negative_slope"),
        ({"name": "leaky_relu", "negative_slope": "0.1"}, "negative_slope"),
        ({"name": "elu", "alpha": True}, "alpha"),
        ({"name": "elu", "alpha": float("nan")}, "alpha"),
        ({"name": "relu", "inplace": True}, "inplace"),
        ({"name": "gelu", "approximate": "erf"}, "approximate"),
        ({"name": "hardtanh", "min_val": 1.0, "max_val": 0.0}, "max_val"),
        ({"name": "rrelu", "lower": 0.5, "upper": 0.2}, "upper"),
        ({"name": "softplus", "beta": 0}, "beta"),
    ],
)
def test_get_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        get(spec)
