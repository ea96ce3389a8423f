import numpy as np
import pytest

from engine.activations import PReLU, Tanh, get
from engine.gradcheck import check_layer_gradients, check_loss_gradients, numeric_grad, relative_error
from engine.losses import MSE


class WrongTanh(Tanh):
    """tanh with the derivative of the wrong sign: -(1 - y^2)."""

    def df(self, x, y):
        return y * y - 1


class WrongPReLU(PReLU):
    """PReLU whose weight gradient is twice too large."""

    def backward(self, grad):
        dx = super().backward(grad)
        self.grads["weight"] = 2 * self.grads["weight"]
        return dx


class WrongMSE(MSE):
    """MSE whose gradient forgets the factor 2."""

    def backward(self):
        return super().backward() / 2


def built(layer):
    layer.build((4,), np.random.default_rng(0), np.float64)
    return layer


def test_numeric_grad_of_a_known_function():
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(numeric_grad(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-8)


def test_numeric_grad_restores_x_and_sees_it_through_another_name():
    w = np.array([1.0, -2.0, 3.0])
    before = w.copy()
    held = {"weight": w}
    grad = numeric_grad(lambda _: float(np.sum(held["weight"] ** 2)), w)
    np.testing.assert_allclose(grad, 2 * before, rtol=1e-8)
    np.testing.assert_array_equal(w, before)


def test_numeric_grad_needs_float64():
    with pytest.raises(ValueError, match="float64"):
        numeric_grad(np.sum, np.ones(3, dtype=np.float32))


def test_relative_error():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 2.2)


def test_correct_gradients_pass():
    x = np.random.default_rng(1).normal(size=(5, 4))
    assert check_layer_gradients(built(Tanh()), x) < 1e-8
    assert check_layer_gradients(built(PReLU()), x) < 1e-8
    assert check_loss_gradients(MSE(), x, np.zeros_like(x)) < 1e-8


def test_catches_a_wrong_input_gradient():
    x = np.random.default_rng(1).normal(size=(5, 4))
    assert check_layer_gradients(built(WrongTanh()), x) > 0.5


def test_catches_a_wrong_param_gradient():
    x = np.random.default_rng(1).normal(size=(5, 4))
    assert check_layer_gradients(built(WrongPReLU()), x) > 0.3


def test_catches_a_wrong_loss_gradient():
    pred = np.random.default_rng(1).normal(size=(5, 2))
    assert check_loss_gradients(WrongMSE(), pred, np.zeros_like(pred)) > 0.3


def test_needs_a_float64_layer():
    layer = get("prelu")
    layer.build((4,), np.random.default_rng(0), np.float32)
    with pytest.raises(ValueError, match="float64"):
        check_layer_gradients(layer, np.ones((2, 4)))
