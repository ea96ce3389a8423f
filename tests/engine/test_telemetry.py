import itertools
import json

import numpy as np
import pytest

from engine import activations
from engine.telemetry import (
    PERCENTILES,
    decode,
    display,
    encode,
    grid_points,
    l2_norm,
    quantize,
    quantize_each,
    saturation_peak,
    stats,
    stats_many,
    unit_fractions,
)


@pytest.mark.parametrize("shape", [(1,), (7, 3), (1000,)])
def test_stats_match_numpy(shape):
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    result = stats(values, bins=30)
    wide = values.astype(np.float64)
    counts, edges = np.histogram(
        wide, bins=30, range=(wide.min() - 0.5, wide.max() + 0.5) if wide.size == 1 else None
    )
    histogram = result["histogram"]
    assert decode(histogram["counts"]).tolist() == counts.tolist()
    assert (histogram["low"], histogram["high"]) == (edges[0], edges[-1])
    np.testing.assert_allclose(decode(result["percentiles"]), np.percentile(wide, PERCENTILES), rtol=1e-6)
    assert result["mean"] == pytest.approx(wide.mean()) and result["std"] == pytest.approx(
        wide.std(), rel=1e-5
    )
    assert (result["min"], result["max"]) == (wide.min(), wide.max())


def test_stats_of_constant_and_empty_arrays():
    assert decode(stats(np.zeros(5))["histogram"]["counts"]).sum() == 5
    assert decode(stats(np.zeros(0))["histogram"]["counts"]).size == 0


@pytest.mark.parametrize("bins", [10, 30])
def test_histogram_counts_match_numpy_for_values_on_the_bin_edges(bins):
    values = np.arange(-30, 31) / 10
    counts, edges = np.histogram(values, bins)
    histogram = stats(values, bins)["histogram"]
    assert decode(histogram["counts"]).tolist() == counts.tolist()
    assert (histogram["low"], histogram["high"]) == (edges[0], edges[-1])


def test_stats_many_gives_what_stats_gives_for_each_array():
    rng = np.random.default_rng(3)
    arrays = [
        rng.standard_normal((8, 2)).astype(np.float32),
        np.full(5, 0.3, dtype=np.float32),
        np.zeros(0, dtype=np.float32),
        rng.standard_normal(2048).astype(np.float32),
        np.ones(1, dtype=np.float32),
        rng.standard_normal(20_000).astype(np.float32),
        rng.standard_normal(9).astype(np.float32),
    ]
    assert stats_many(arrays, 30) == [stats(values, 30) for values in arrays]
    mixed = [arrays[0], arrays[3].astype(np.float64), arrays[2]]
    assert stats_many(mixed, 7) == [stats(values, 7) for values in mixed]
    first, second = stats_many([arrays[2], arrays[2]])
    assert first == second and first is not second and first["histogram"] is not second["histogram"]


def test_l2_norm_spans_arrays():
    assert l2_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0


def test_dead_and_saturated_fractions():
    relu = activations.get("relu")
    x = np.array([[-1.0, 2.0, -3.0], [-2.0, -1.0, -1.0]])
    assert unit_fractions(relu, x, relu.f(x)) == (2 / 3, None)
    tanh = activations.get("tanh")
    x = np.array([[0.0, 5.0], [-5.0, 0.1]])
    assert unit_fractions(tanh, x, tanh.f(x)) == (None, 0.5)
    sigmoid = activations.get("sigmoid")
    assert saturation_peak(sigmoid, x.dtype) == 0.25 and saturation_peak(relu, x.dtype) is None
    assert unit_fractions(sigmoid, x, sigmoid.f(x), 0.25) == unit_fractions(sigmoid, x, sigmoid.f(x))
    step = activations.get("step")
    assert unit_fractions(step, x, step.f(x)) == (None, 1.0)
    softplus = activations.get("softplus")
    assert unit_fractions(softplus, x, softplus.f(x)) == (None, None)


def test_grid_points_rows_run_over_y():
    xs, ys, points = grid_points((-1, 1, 0, 2), 3)
    assert xs.tolist() == [-1, 0, 1] and ys.tolist() == [0, 1, 2]
    assert points[:3].tolist() == [[-1, 0], [0, 0], [1, 0]] and points[3].tolist() == [-1, 1]


def test_display_rounds_to_short_float_lists():
    values = np.array([[0.123456789, -2.5e-7]], dtype=np.float32)
    assert display(values) == [[0.1235, -0.0]]
    assert type(display(values)[0][0]) is float


def test_the_record_declares_every_heavy_field_it_fills():
    from engine.trainer import EpochRecord, Trainer

    conv = {
        "data": {"dataset": "digits", "n_samples": 100},
        "model": {"layers": [{"type": "conv2d", "filters": 2, "activation": "relu"}]},
        "training": {"epochs": 1, "batch_size": 50},
    }
    filled = set()
    for config in (conv, {"data": {"dataset": "circle"}, "training": {"epochs": 1}}):
        record = next(Trainer(config).epochs())
        filled |= {key for key, value in record if value is not None}
        assert not EpochRecord.HEAVY_FIELDS & record.scalars().keys()
    scalar_fields = set(EpochRecord.model_fields) - EpochRecord.HEAVY_FIELDS
    assert filled - scalar_fields == EpochRecord.HEAVY_FIELDS


def _dropout_run(dtype, **telemetry):
    from engine.trainer import Trainer

    return Trainer(
        {
            "data": {"dataset": "spiral", "n_samples": 120},
            "model": {
                "layers": [
                    {"type": "dense", "units": 6, "activation": "relu"},
                    {"type": "dropout", "p": 0.3},
                    {"type": "batchnorm"},
                    {"type": "dense", "units": 4, "activation": "tanh"},
                ]
            },
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": 12, "batch_size": 16},
            "telemetry": telemetry,
            "dtype": dtype,
            "seed": 3,
        }
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_heavy_telemetry_never_changes_the_training_numbers(dtype):
    every, never = _dropout_run(dtype), _dropout_run(dtype, every=10_000)
    with_heavy = list(every.epochs(heavy=lambda epoch: True))
    paused_and_asked = []
    for record in never.epochs(heavy=lambda epoch: False):
        paused_and_asked.append(record)
        if record.epoch in (4, 7):
            assert never.heavy_record().heavy
    assert all(record.heavy for record in with_heavy)
    assert [r.heavy for r in paused_and_asked] == [True] + [False] * 10 + [True]
    scalars = ("train_loss", "test_loss", "train_metric", "test_metric", "penalty")
    for a, b in zip(with_heavy, paused_and_asked, strict=True):
        assert [getattr(a, key) for key in scalars] == [getattr(b, key) for key in scalars]
    for key, value in every.model.state_dict().items():
        np.testing.assert_array_equal(value, never.model.state_dict()[key])


def test_heavy_records_follow_a_schedule_of_about_200_per_run():
    from engine.trainer import Trainer

    def heavy_epochs(epochs, **telemetry):
        config = {"data": {"dataset": "xor", "n_samples": 40}, "training": {"epochs": epochs}}
        trainer = Trainer({**config, "telemetry": {"bins": 5, "grid_size": 10, **telemetry}})
        return [record.epoch for record in trainer.epochs() if record.heavy]

    assert heavy_epochs(1000) == [1, *range(5, 1001, 5)]
    assert heavy_epochs(7) == list(range(1, 8))
    assert heavy_epochs(450) == [1, *range(2, 451, 2)]
    assert heavy_epochs(10, every=4) == [1, 4, 8, 10]


def test_python_asks_for_heavy_fields_on_any_epoch():
    from engine.trainer import Trainer

    config = {"data": {"dataset": "xor", "n_samples": 40}, "training": {"epochs": 10}}
    config["telemetry"] = {"every": 100}
    trainer = Trainer(config)
    records = []
    for record in trainer.epochs(heavy=lambda epoch: epoch == 3):
        records.append(record)
        if record.epoch == 5:
            trainer.request_heavy()
    assert [r.epoch for r in records if r.heavy] == [1, 3, 6, 10]
    assert records[2].layers and records[2].boundary and records[3].layers is None
    late = Trainer(config)
    assert late.heavy_record() is None
    first_two = list(itertools.islice(late.epochs(), 2))
    asked = late.heavy_record()
    assert asked.epoch == 2 and asked.heavy and asked.boundary and first_two[1].heavy is False
    assert asked.train_loss == first_two[1].train_loss and late.heavy_record() is asked


def test_arrays_travel_as_base64_float32_or_quantised_uint8_with_their_shape():
    values = np.random.default_rng(1).standard_normal((3, 4, 5))
    encoded = encode(values)
    assert (encoded["dtype"], encoded["shape"]) == ("float32", [3, 4, 5])
    assert len(encoded["data"]) == 4 * 60 * 4 // 3
    np.testing.assert_array_equal(decode(encoded), values.astype(np.float32))
    assert decode(json.loads(json.dumps(encoded))).dtype == np.float32
    grid = np.linspace(-2, 3, 100).reshape(10, 10)
    levels = quantize(grid)
    assert (levels["dtype"], levels["shape"], levels["low"], levels["high"]) == ("uint8", [10, 10], -2.0, 3.0)
    assert len(levels["data"]) == 136
    np.testing.assert_allclose(decode(levels), grid, atol=5 / 255 / 2 + 1e-6)
    assert decode(quantize(np.full((2, 2), 7.0))).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert decode(quantize([np.nan, 1.0])).tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(decode([[1, 2]]), [[1, 2]])


def test_quantize_each_gives_what_quantize_gives_for_each_part():
    rng = np.random.default_rng(2)
    parts = rng.standard_normal((6, 10, 10)).astype(np.float32) * np.arange(1, 7)[:, None, None]
    parts[2] = 0.25
    parts[4, 3, 3] = 1e-30
    assert quantize_each(parts) == [quantize(part) for part in parts]
    columns = parts.reshape(6, 100).T.copy().T.reshape(6, 10, 10)
    assert quantize_each(columns) == [quantize(part) for part in parts]
    parts[5, 0, 0] = np.nan
    parts[1, 1, 1] = -np.inf
    assert quantize_each(parts) == [quantize(part) for part in parts]


def test_a_record_refuses_a_field_that_is_neither_a_scalar_nor_declared_heavy():
    from engine.trainer import EpochRecord, Trainer

    scalars = next(Trainer({"training": {"epochs": 1}, "telemetry": {"every": 1}}).epochs()).scalars()
    assert EpochRecord.model_validate({**scalars, "boundary": None}).boundary is None
    with pytest.raises(ValueError, match="EpochRecord has no field 'boundry', 'zz'"):
        EpochRecord.model_validate({**scalars, "boundry": None, "zz": 1})
