import numpy as np
import pytest

from tests.engine.test_model import CONV_SPECS, SPECS, build

torch = pytest.importorskip("torch")


TWINS = {
    "Dense": lambda layer: torch.nn.Linear(*layer.params["weight"].shape[::-1]),
    "Conv2d": lambda layer: torch.nn.Conv2d(
        layer.params["weight"].shape[1], layer.params["weight"].shape[0], 3, padding=1
    ),
    "ReLU": lambda layer: torch.nn.ReLU(),
    "LeakyReLU": lambda layer: torch.nn.LeakyReLU(0.1),
    "BatchNorm": lambda layer: torch.nn.BatchNorm1d(layer.params["weight"].shape[0]),
    "Dropout": lambda layer: torch.nn.Dropout(0.2),
    "MaxPool2d": lambda layer: torch.nn.MaxPool2d(2),
    "Flatten": lambda layer: torch.nn.Flatten(),
}


@pytest.mark.parametrize("specs, input_shape", [(SPECS, (4,)), (CONV_SPECS, (1, 8, 8))])
def test_a_trained_state_dict_loads_into_torch_and_gives_the_same_outputs(specs, input_shape):
    model = build(specs, input_shape=input_shape)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal((16, *input_shape))
        model.forward(x, training=True)
    net = torch.nn.Sequential(*[TWINS[type(layer).__name__](layer) for layer in model.layers]).double()
    net.load_state_dict(
        {key: torch.from_numpy(np.asarray(value)) for key, value in model.state_dict().items()}
    )
    net.eval()
    x = rng.standard_normal((5, *input_shape))
    expected = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12, atol=1e-12)
