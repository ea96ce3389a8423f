import numpy as np
import pytest

from engine.model import Model

SPECS = [
    {"type": "dense", "units": 5, "activation": "relu"},
    {"type": "batchnorm"},
    {"type": "dropout", "p": 0.2},
    {"type": "dense", "units": 3, "activation": {"name": "leaky_relu", "negative_slope": 0.1}},
    {"type": "dense", "units": 2},
]
CONV_SPECS = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d"},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
]


def build(specs=SPECS, input_shape=(4,), dtype="float64", seed=0) -> Model:
    return Model.from_specs(specs, input_shape).build(np.random.default_rng(seed), dtype)


def test_a_layer_activation_becomes_its_own_indexed_layer():
    model = build()
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense",
        "ReLU",
        "BatchNorm",
        "Dropout",
        "Dense",
        "LeakyReLU",
        "Dense",
    ]


def test_state_dict_keys_and_shapes_are_those_of_torch_sequential():
    state = build().state_dict()
    assert {key: value.shape for key, value in state.items()} == {
        "0.weight": (5, 4),
        "0.bias": (5,),
        "2.weight": (5,),
        "2.bias": (5,),
        "2.running_mean": (5,),
        "2.running_var": (5,),
        "2.num_batches_tracked": (),
        "4.weight": (3, 5),
        "4.bias": (3,),
        "6.weight": (2, 3),
        "6.bias": (2,),
    }
    conv = build(CONV_SPECS, input_shape=(1, 8, 8)).state_dict()
    assert conv["0.weight"].shape == (4, 1, 3, 3) and conv["4.weight"].shape == (10, 64)


def test_state_dict_round_trip_restores_outputs():
    source, target = build(seed=0), build(seed=1)
    x = np.random.default_rng(2).standard_normal((6, 4))
    assert not np.allclose(source.predict(x), target.predict(x))
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source.predict(x), target.predict(x))


def test_state_dict_returns_copies():
    model = build()
    state = model.state_dict()
    state["0.weight"][:] = 0
    assert np.any(model.state_dict()["0.weight"] != 0)


def test_load_state_dict_rejects_wrong_keys_shapes_and_values():
    model = build()
    state = model.state_dict()
    with pytest.raises(ValueError, match="missing.*0.bias"):
        model.load_state_dict({k: v for k, v in state.items() if k != "0.bias"})
    with pytest.raises(ValueError, match="0.weight.*shape"):
        model.load_state_dict({**state, "0.weight": np.zeros((4, 5))})
    with pytest.raises(ValueError, match="non-finite"):
        model.load_state_dict({**state, "0.bias": np.full(5, np.nan)})


def test_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="layer 0"):
        build([{"type": "conv2d", "filters": 2}], input_shape=(2,))
    with pytest.raises(ValueError, match="layer 2"):
        build(
            [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}, {"type": "maxpool2d"}],
            input_shape=(1, 8, 8),
        )


def test_parameter_limit_is_a_clear_error():
    with pytest.raises(ValueError, match="parameters; the limit"):
        build([{"type": "dense", "units": 1024}] * 3, input_shape=(1024,))


def test_summary_lists_shapes_and_parameter_counts():
    rows = build(CONV_SPECS, input_shape=(1, 8, 8)).summary()
    assert [(row["type"], row["output_shape"], row["params"]) for row in rows] == [
        ("Conv2d", [4, 8, 8], 4 * 9 + 4),
        ("ReLU", [4, 8, 8], 0),
        ("MaxPool2d", [4, 4, 4], 0),
        ("Flatten", [64], 0),
        ("Dense", [10], 64 * 10 + 10),
    ]


def test_predict_checks_its_inputs_and_batches():
    model = build(dtype="float32")
    x = np.random.default_rng(0).standard_normal((10_000, 4))
    out = model.predict(x)
    assert out.shape == (10_000, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[:7], model.predict(x[:7]), rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="finite"):
        model.predict(np.full((1, 4), np.inf))


def test_parameters_and_gradients_line_up():
    model = build()
    x = np.random.default_rng(0).standard_normal((8, 4))
    model.backward(np.ones_like(model.forward(x, training=True)))
    assert [p.shape for p in model.parameters()] == [g.shape for g in model.gradients()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_params_and_grads_are_views_tiling_one_vector_per_dtype(dtype):
    model = build(CONV_SPECS, input_shape=(1, 8, 8), dtype=dtype)
    for arrays in (model.parameters(), model.gradients()):
        base = arrays[0].base
        assert base.shape == (model.num_parameters,) and base.dtype == dtype
        offsets = [(a.ctypes.data - base.ctypes.data) // base.itemsize for a in arrays]
        assert offsets == np.cumsum([0, *(a.size for a in arrays[:-1])]).tolist()
        assert all(a.base is base and a.flags.c_contiguous for a in arrays)
    dense = model.layers[-1]
    assert dense.weight is dense.params["weight"] and dense.bias is dense.params["bias"]


def test_an_optimizer_trains_a_model_as_one_vector():
    from engine import optimizers

    model = build()
    optimizer = optimizers.get({"name": "adam", "lr": 0.01})
    x = np.random.default_rng(1).standard_normal((8, 4))
    before = model.predict(x)
    for _ in range(3):
        model.backward(model.forward(x, True))
        optimizer.step(model.parameters(), model.gradients())
    assert len(optimizer._groups) == 1 and optimizer._groups[0].flat_params.base is model.parameters()[0].base
    assert not np.allclose(model.predict(x), before)


def test_parameters_finite_checks_the_flat_vectors_and_a_parameter_put_in_their_place():
    model = build()
    assert model.parameters_finite()
    model.layers[4].params["weight"][1, 2] = np.inf
    assert not model.parameters_finite()
    model.layers[4].params["weight"][1, 2] = 0.5
    model.layers[0].params["bias"] = np.full(5, np.nan)
    assert not model.parameters_finite()


def test_a_prelu_slope_gradient_stays_a_view_of_the_flat_gradient_vector():
    model = build([{"type": "dense", "units": 3, "activation": "prelu"}, {"type": "dense", "units": 1}])
    grads = model.gradients()
    model.forward(np.random.default_rng(0).standard_normal((4, 4)), True)
    model.backward(np.ones((4, 1)))
    assert all(a is b for a, b in zip(model.gradients(), grads, strict=True))
    assert grads[2][0] != 0
