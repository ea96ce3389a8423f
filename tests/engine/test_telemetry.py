import numpy as np
import pytest

from engine import activations
from engine.telemetry import PERCENTILES, display, grid_points, l2_norm, stats, unit_fractions


@pytest.mark.parametrize("shape", [(1,), (7, 3), (1000,)])
def test_stats_match_numpy(shape):
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    result = stats(values, bins=30)
    wide = values.astype(np.float64)
    counts, edges = np.histogram(
        wide, bins=30, range=(wide.min() - 0.5, wide.max() + 0.5) if wide.size == 1 else None
    )
    assert [c for _, _, c in result["histogram"]] == counts.tolist()
    np.testing.assert_allclose([left for left, _, _ in result["histogram"]], edges[:-1], rtol=1e-12)
    np.testing.assert_allclose(result["percentiles"], np.percentile(wide, PERCENTILES), rtol=1e-6)
    assert result["mean"] == pytest.approx(wide.mean()) and result["std"] == pytest.approx(
        wide.std(), rel=1e-5
    )
    assert (result["min"], result["max"]) == (wide.min(), wide.max())


def test_stats_of_constant_and_empty_arrays():
    assert sum(c for _, _, c in stats(np.zeros(5))["histogram"]) == 5
    assert stats(np.zeros(0))["histogram"] == []


def test_l2_norm_spans_arrays():
    assert l2_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0


def test_dead_and_saturated_fractions():
    relu = activations.get("relu")
    x = np.array([[-1.0, 2.0, -3.0], [-2.0, -1.0, -1.0]])
    assert unit_fractions(relu, x, relu.f(x)) == (2 / 3, None)
    tanh = activations.get("tanh")
    x = np.array([[0.0, 5.0], [-5.0, 0.1]])
    assert unit_fractions(tanh, x, tanh.f(x)) == (None, 0.5)
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
