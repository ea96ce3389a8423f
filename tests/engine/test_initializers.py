import inspect
import math

import numpy as np
import pytest

from engine import initializers
from engine.initializers import INITIALIZERS, calculate_gain, fans, get
from engine.plan import run_torch

SHAPE = (400, 300)
CONV = (64, 16, 5, 5)


def sample(spec, shape=SHAPE, seed=0):
    return get(spec)(shape, np.random.default_rng(seed))


def test_fans_as_torch():
    assert fans((10, 3)) == (3, 10)
    assert fans(CONV) == (16 * 25, 64 * 25)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fans((5,))


@pytest.mark.parametrize(
    ("name", "param", "gain"),
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("conv2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5 / 3),
        ("relu", None, math.sqrt(2)),
        ("selu", None, 0.75),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
        ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
    ],
)
def test_calculate_gain(name, param, gain):
    assert calculate_gain(name, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="valid: linear"):
        calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope"):
        calculate_gain("leaky_relu", "0.2")


def he_std(gain, fan):
    return gain / math.sqrt(fan)


@pytest.mark.parametrize(
    ("spec", "shape", "std", "uniform"),
    [
        ("xavier_uniform", SHAPE, math.sqrt(2 / 700), True),
        ("xavier_normal", SHAPE, math.sqrt(2 / 700), False),
        ({"name": "xavier_uniform", "gain": "tanh"}, SHAPE, 5 / 3 * math.sqrt(2 / 700), True),
        ({"name": "xavier_normal", "gain": 0.5}, CONV, 0.5 * math.sqrt(2 / (80 * 25)), False),
        ("he_uniform", SHAPE, he_std(math.sqrt(2), 300), True),
        ({"name": "he_normal", "nonlinearity": "relu"}, SHAPE, he_std(math.sqrt(2), 300), False),
        (
            {"name": "he_normal", "mode": "fan_out", "nonlinearity": "relu"},
            CONV,
            he_std(math.sqrt(2), 1600),
            False,
        ),
        ({"name": "he_uniform", "a": 0.2, "mode": "fan_out"}, SHAPE, he_std(math.sqrt(2 / 1.04), 400), True),
        ("lecun_normal", CONV, 1 / math.sqrt(400), False),
        ("default", SHAPE, 1 / math.sqrt(3 * 300), True),
        ("default", CONV, 1 / math.sqrt(3 * 400), True),
    ],
)
def test_variance_scaling_statistics(spec, shape, std, uniform):
    w = sample(spec, shape)
    assert w.shape == shape and w.dtype == np.float64
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.01)
    if uniform:
        bound = math.sqrt(3) * std
        assert bound * 0.999 < np.abs(w).max() <= bound
    else:
        assert np.abs(w).max() > 3.5 * std


def test_default_is_torch_linear_default():
    w = sample("default", (20, 100))
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.09


def test_simple_initializers():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(get("zeros")((2, 3), rng), np.zeros((2, 3)))
    np.testing.assert_array_equal(get("ones")((4,), rng), np.ones(4))
    np.testing.assert_array_equal(get({"name": "constant", "value": 0.1})((2, 2), rng), np.full((2, 2), 0.1))
    np.testing.assert_array_equal(get("identity")((2, 3), rng), np.eye(2, 3))
    w = sample({"name": "normal", "mean": 1.0, "std": 0.5})
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.01)
    w = sample({"name": "uniform", "a": -2.0, "b": 1.0})
    assert -2.0 <= w.min() < -1.99 and 0.99 < w.max() <= 1.0
    assert w.mean() == pytest.approx(-0.5, abs=0.01)
    assert (sample("normal").mean(), sample("uniform").mean()) == pytest.approx((0.0, 0.5), abs=0.01)


def test_identity_needs_a_2d_weight():
    with pytest.raises(ValueError, match="2-D"):
        get("identity")(CONV, np.random.default_rng(0))


def test_same_seed_same_weights_and_no_global_rng():
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(sample("he_normal", seed=3), sample("he_normal", seed=3))
    assert not np.array_equal(sample("he_normal", seed=3), sample("he_normal", seed=4))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("name", INITIALIZERS)
def test_every_parameter_is_a_field_of_its_config_with_the_same_default(name):
    cls = INITIALIZERS[name]
    assert cls.Config.model_fields["name"].default == name
    fields = {key: field.default for key, field in cls.Config.model_fields.items() if key != "name"}
    signature = {key: param.default for key, param in inspect.signature(cls).parameters.items()}
    assert signature == fields
    assert get(name).options() == fields
    assert repr(get(name)).startswith(cls.__name__)


def test_get_accepts_name_dict_and_instance():
    assert isinstance(get("he_normal"), initializers.HeNormal)
    init = get({"name": "he_uniform", "a": 0.1, "mode": "fan_out", "nonlinearity": "leaky_relu"})
    assert (init.a, init.mode, init.nonlinearity) == (0.1, "fan_out", "leaky_relu")
    assert get(init) is init
    assert get({"name": "xavier_normal", "gain": "relu"}).gain == "relu"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("glorot", "valid: zeros, ones"),
        ([], "must be a name"),
        ({"name": "normal", "std": -1.0}, "std"),
        ({"name": "normal", "sd": 1.0}, "sd"),
        ({"name": "uniform", "a": 1.0, "b": 0.0}, "^uniform: b must be at least a$"),
        ({"name": "he_normal", "mode": "fan_avg"}, "mode"),
        ({"name": "he_normal", "nonlinearity": "gelu"}, "nonlinearity"),
        ({"name": "he_normal", "a": "0.1"}, "^he_normal: a: Input should be a valid number, got '0.1'$"),
        ({"name": "xavier_uniform", "gain": "softmax"}, "gain"),
        ({"name": "xavier_uniform", "gain": -1.0}, "gain"),
        ({"name": "constant", "value": None}, "value"),
    ],
)
def test_get_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        get(spec)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_gains_and_fans_match_torch(torch):
    for name in initializers.GAINS:
        if name != "identity":
            assert calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in (None, 0.0, 0.2, math.sqrt(5)):
        assert calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope)
        )
    for shape in [(3, 7), CONV, (2, 3, 4)]:
        assert fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_default_bound_matches_torch_linear_and_conv2d(torch):
    torch.manual_seed(0)
    for module, shape in [(torch.nn.Linear(300, 40), (40, 300)), (torch.nn.Conv2d(16, 64, 5), CONV)]:
        ours = np.abs(sample("default", shape)).max()
        theirs = module.weight.detach().abs().max().item()
        assert ours == pytest.approx(theirs, rel=0.01)


TORCH_SPECS = [
    *INITIALIZERS,
    {"name": "constant", "value": -0.7},
    {"name": "normal", "mean": 1.5, "std": 0.2},
    {"name": "uniform", "a": -3.0, "b": 0.5},
    {"name": "xavier_uniform", "gain": "tanh"},
    {"name": "xavier_normal", "gain": 2.5},
    {"name": "he_uniform", "a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
    {"name": "he_normal", "mode": "fan_in", "nonlinearity": "relu"},
]


@pytest.mark.parametrize("spec", TORCH_SPECS, ids=lambda spec: str(spec))
@pytest.mark.parametrize("shape", [SHAPE, CONV])
def test_the_declared_torch_initializer_draws_the_same_distribution(torch, spec, shape):
    """Exact for the deterministic ones; else mean, std (and a uniform's ends) agree to sampling error."""
    if spec == "identity" and len(shape) != 2:
        return
    initializer = get(spec)
    tensor = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    run_torch(initializer.torch("tensor"), tensor=tensor)
    theirs, ours = tensor.numpy(), sample(spec, shape)
    spread = max(float(ours.std()), 1e-12)
    assert abs(ours.mean() - theirs.mean()) <= 5 * spread / math.sqrt(ours.size) + 1e-12
    assert ours.std() == pytest.approx(theirs.std(), rel=0.02, abs=1e-12)
    if spec in ("zeros", "ones", "identity") or isinstance(spec, dict) and spec["name"] == "constant":
        np.testing.assert_array_equal(ours, theirs)
    elif "uniform" in str(spec) or spec == "default":
        width = ours.max() - ours.min()
        assert (ours.min(), ours.max()) == pytest.approx((theirs.min(), theirs.max()), abs=0.01 * width)
