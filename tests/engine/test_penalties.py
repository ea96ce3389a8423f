import numpy as np
import pytest

from engine import penalties
from engine.gradcheck import numeric_grad, relative_error
from engine.penalties import PENALTIES, get


def weights(seed=0):
    """Two weight arrays with every entry at least 0.05 away from the kink of |w| at 0."""
    rng = np.random.default_rng(seed)
    return [rng.choice([-1, 1], shape) * rng.uniform(0.05, 2, shape) for shape in [(3, 4), (2, 3, 2, 2)]]


def test_values():
    ws = [np.array([[1.0, -2.0]]), np.array([3.0, 0.0, -0.5])]
    assert get("none").value(ws, 0.1) == 0.0
    assert get("l1").value(ws, 0.1) == pytest.approx(0.1 * 6.5)
    assert get("l2").value(ws, 0.1) == pytest.approx(0.05 * 14.25)
    assert get("l2").value([], 0.1) == 0.0


@pytest.mark.parametrize("name", PENALTIES)
def test_gradients_match_central_differences(name):
    penalty = get(name)
    for w in weights():
        numeric = numeric_grad(lambda v, penalty=penalty: penalty.value([v], 0.3), w.copy())
        assert relative_error(penalty.grad(w, 0.3), numeric) < 1e-8


def test_l1_gradient_is_rate_times_sign_with_zero_at_zero():
    np.testing.assert_array_equal(get("l1").grad(np.array([-2.0, 0.0, 0.5]), 0.1), [-0.1, 0.0, 0.1])


@pytest.mark.parametrize("name", PENALTIES)
def test_float32_stays_float32_even_with_a_numpy_rate(name):
    w = weights()[0].astype(np.float32)
    assert get(name).grad(w, np.float64(0.01)).dtype == np.float32
    assert isinstance(get(name).value([w], np.float64(0.01)), float)


def test_get():
    assert isinstance(get("l1"), penalties.L1) and isinstance(get({"name": "none"}), penalties.NoPenalty)
    l2 = get("l2")
    assert get(l2) is l2
    with pytest.raises(ValueError, match="valid: none, l1, l2"):
        get("elastic")
    with pytest.raises(ValueError, match="rate"):
        get({"name": "l2", "rate": 0.1})
    with pytest.raises(ValueError, match="must be a name"):
        get(0.1)
