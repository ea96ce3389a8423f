import numpy as np
import pytest

from tests.engine.test_layers_torch import declared_module
from tests.engine.test_model import CONV_SPECS, SPECS, build

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("specs, input_shape", [(SPECS, (4,)), (CONV_SPECS, (1, 8, 8))])
def test_a_trained_state_dict_loads_into_torch_and_gives_the_same_outputs(specs, input_shape):
    model = build(specs, input_shape=input_shape)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal((16, *input_shape))
        model.forward(x, training=True)
    shapes = [tuple(input_shape), *model.output_shapes]
    net = torch.nn.Sequential(*[declared_module(layer, shapes[i]) for i, layer in enumerate(model.layers)])
    net.load_state_dict(
        {key: torch.from_numpy(np.asarray(value)) for key, value in model.state_dict().items()}
    )
    net.eval()
    x = rng.standard_normal((5, *input_shape))
    expected = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12, atol=1e-12)
