"""Every activation against the torch module it declares (`torch` and `torch_definition`), in float64."""

import numpy as np
import pytest

from tests.engine.test_activations import EDGES, SPECS, built, spec_id
from tests.engine.test_layers_torch import declared_module

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("spec", [s for s in SPECS if s != "step"], ids=spec_id)
def test_forward_and_backward_match_torch(spec):
    """To 1e-12, but torch's hardsigmoid backward uses the float32 constant 1/6 even for float64."""
    x = np.concatenate([np.random.default_rng(2).uniform(-6, 6, 48), EDGES]).reshape(6, 10)
    upstream = np.random.default_rng(3).standard_normal(x.shape)
    layer = built(spec)
    y = layer.forward(x, training=False)
    dx = layer.backward(upstream)

    module = declared_module(layer, x.shape[1:]).eval()
    tx = torch.tensor(x, requires_grad=True)
    ty = module(tx)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    rtol = 1e-7 if spec == "hardsigmoid" else 1e-12
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=1e-12)
    for key, grad in layer.grads.items():
        np.testing.assert_allclose(grad, getattr(module, key).grad.numpy(), rtol=1e-12, atol=1e-12)


def test_step_is_declared_as_a_module_of_its_own():
    layer = built("step")
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(
        declared_module(layer, (3,))(torch.from_numpy(x)).numpy(), layer.forward(x, False)
    )
