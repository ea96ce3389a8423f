"""Telemetry: TensorBoard-style histograms and distributions, dead and saturated units, boundary grids."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)
SATURATION_LEVEL = 0.05
ENCODED_VALUE = 16
QUANTIZED_VALUE = 4
SUMMARY_BATCH_VALUES = 16_384


def stats(values: np.ndarray, bins: int = 30) -> dict[str, Any]:
    """Mean, std, min, max, counts in `bins` buckets over [low, high], TensorBoard's percentiles."""
    return stats_many([values], bins)[0]


def stats_many(arrays: Sequence[np.ndarray], bins: int = 30) -> list[dict[str, Any]]:
    """`stats` of each array, the arrays sorted one by one and summarised in batches of a few numpy calls.

    Counts follow np.histogram (bins of equal width, the last one closed on the right; [x - 0.5, x + 0.5]
    for a constant x); percentiles interpolate linearly in the arrays' dtype; the mean sums in float64.
    A batch holds arrays of one dtype and at most SUMMARY_BATCH_VALUES values (or one larger array).
    """
    summaries: list[dict[str, Any]] = []
    batch: list[np.ndarray] = []
    for values in arrays:
        if not values.size:
            continue
        total = sum(part.size for part in batch) + values.size
        if batch and (total > SUMMARY_BATCH_VALUES or values.dtype != batch[0].dtype):
            summaries += _summaries(batch, bins)
            batch = []
        batch.append(np.sort(values, axis=None))
    if batch:
        summaries += _summaries(batch, bins)
    filled = iter(summaries)
    return [next(filled) if values.size else _empty_stats() for values in arrays]


def _empty_stats() -> dict[str, Any]:
    histogram = {"low": 0.0, "high": 0.0, "counts": encode([])}
    zero = {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    return {**zero, "histogram": histogram, "percentiles": encode([])}


def _summaries(ordered: list[np.ndarray], bins: int) -> list[dict[str, Any]]:
    sizes, starts, lower, upper, fraction = _layout(tuple(values.size for values in ordered))
    flat = ordered[0] if len(ordered) == 1 else np.concatenate(ordered)
    low, high = flat[starts].astype(np.float64), flat[starts + sizes - 1].astype(np.float64)
    constant = low == high
    left = np.where(constant, low - 0.5, low)
    right = np.where(constant, high + 0.5, high)
    edges = _linspace_rows(left, right, bins + 1)
    percentiles = flat.take(lower)
    percentiles += (flat.take(upper) - percentiles) * fraction
    below = np.empty((len(ordered), bins + 1), dtype=np.intp)
    means, stds = [], []
    for row, values, row_edges in zip(below, ordered, edges, strict=True):
        row[:] = values.searchsorted(row_edges)
        mean = values.sum(dtype=np.float64).item() / values.size
        centered = values - values.dtype.type(mean)
        means.append(mean)
        stds.append((np.dot(centered, centered).item() / values.size) ** 0.5)
    below[:, -1] = sizes
    counts = _rows_base64(np.diff(below, axis=1))
    quantiles = _rows_base64(percentiles)
    return [
        {
            "mean": mean,
            "std": std,
            "min": lo,
            "max": hi,
            "histogram": {"low": le, "high": ri, "counts": _envelope32(count, [bins])},
            "percentiles": _envelope32(quantile, [len(PERCENTILES)]),
        }
        for mean, std, lo, hi, le, ri, count, quantile in zip(
            means,
            stds,
            low.tolist(),
            high.tolist(),
            left.tolist(),
            right.tolist(),
            counts,
            quantiles,
            strict=True,
        )
    ]


@functools.lru_cache(maxsize=64)
def _layout(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For arrays of `sizes` laid end to end: sizes, starts, each one's percentile positions and weights."""
    counts = np.array(sizes, dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    position = (counts[:, None] - 1) * np.array(PERCENTILES) / 100
    lower = position.astype(np.intp)
    upper = np.minimum(lower + 1, counts[:, None] - 1)
    return counts, starts, starts[:, None] + lower, starts[:, None] + upper, position - lower


def _linspace_rows(start: np.ndarray, stop: np.ndarray, num: int) -> np.ndarray:
    """Row i is np.linspace(start[i], stop[i], num), bit for bit (np.histogram's bin edges)."""
    delta = stop - start
    step = delta / (num - 1)
    rows: np.ndarray = np.arange(num, dtype=np.float64) * step[:, None]
    tiny = step == 0
    if tiny.any():
        rows[tiny] = np.arange(num, dtype=np.float64) / (num - 1) * delta[tiny, None]
    rows += start[:, None]
    rows[:, -1] = stop
    return rows


def _rows_base64(rows: np.ndarray) -> list[str]:
    """Each row of a 2-D array as base64 of its little-endian float32 bytes."""
    data = np.ascontiguousarray(rows, dtype="<f4").tobytes()
    size = rows.shape[1] * 4
    return [_base64(data[i : i + size]) for i in range(0, len(data), size)]


def _envelope32(data: str, shape: list[int]) -> dict[str, Any]:
    return {"dtype": "float32", "shape": shape, "data": data}


def display(values: np.ndarray, decimals: int = 4) -> list[Any]:
    """Nested lists of values rounded for drawing: short JSON, and float64 lists build fastest."""
    rounded: list[Any] = np.round(np.asarray(values, dtype=np.float64), decimals).tolist()
    return rounded


def encode(values: Any, lists: bool = False) -> dict[str, Any]:
    """A float32 array as {"dtype", "shape", "data"}: data is base64 of its little-endian bytes.

    An envelope costs about ENCODED_VALUE bytes a value (array, base64 text, and again in a record's JSON).
    `lists` asks the browser for plain nested arrays instead of rows of typed arrays.
    """
    array = np.ascontiguousarray(values, dtype="<f4")
    data = base64.b64encode(array.data).decode()
    return _envelope({"dtype": "float32", "shape": list(array.shape), "data": data}, lists)


def _envelope(encoded: dict[str, Any], lists: bool) -> dict[str, Any]:
    if lists:
        encoded["lists"] = True
    return encoded


def quantize(values: Any, lists: bool = False) -> dict[str, Any]:
    """A uint8 array of levels q between low and high: value = low + (high - low) * q / 255.

    About QUANTIZED_VALUE bytes a value; `lists` as in `encode`.
    """
    array = np.asarray(values, dtype=np.float64)
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if not np.isfinite(high - low):
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        array = np.nan_to_num(array, nan=low, posinf=high, neginf=low)
    scale = 255 / (high - low) if high > low else 0.0
    data = _base64(_levels(array - low, scale).tobytes())
    return _envelope(
        {"dtype": "uint8", "shape": list(array.shape), "data": data, "low": low, "high": high}, lists
    )


def quantize_each(values: Any, lists: bool = False) -> list[dict[str, Any]]:
    """`quantize` of every values[i], in a few whole-array numpy calls when all values are finite."""
    array = np.asarray(values, dtype=np.float64, order="C")
    flat = array.reshape(len(array), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    span = high - low
    if not np.isfinite(span).all():
        return [quantize(part, lists) for part in array]
    scale = np.divide(255, span, out=np.zeros_like(span), where=span > 0)
    data = _levels(flat - low[:, None], scale[:, None]).tobytes()
    size = flat.shape[1]
    texts = [_base64(data[i : i + size]) for i in range(0, len(data), size)]
    shape = array.shape[1:]
    return [
        _envelope({"dtype": "uint8", "shape": list(shape), "data": text, "low": lo, "high": hi}, lists)
        for text, lo, hi in zip(texts, low.tolist(), high.tolist(), strict=True)
    ]


def _levels(offsets: np.ndarray, scale: float | np.ndarray) -> np.ndarray:
    """rint(offsets * scale) as uint8, computed in place in `offsets`."""
    offsets = np.asarray(offsets)
    offsets *= scale
    levels: np.ndarray = np.rint(offsets, out=offsets).astype(np.uint8)
    return levels


def _base64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def decode(encoded: Any) -> np.ndarray:
    """The array an `encode` or `quantize` dict holds (float32 values); anything else as an array."""
    if not (isinstance(encoded, dict) and "data" in encoded):
        return np.asarray(encoded)
    raw = base64.b64decode(encoded["data"])
    if encoded["dtype"] == "uint8":
        low, high = encoded["low"], encoded["high"]
        values: np.ndarray = low + (high - low) * np.frombuffer(raw, np.uint8).astype(np.float32) / 255
        return values.astype(np.float32).reshape(encoded["shape"])
    return np.frombuffer(raw, "<f4").reshape(encoded["shape"])


def l2_norm(arrays: Iterable[np.ndarray]) -> float:
    """sqrt(sum of squares) over several arrays."""
    return float(np.sqrt(sum(float(np.vdot(a, a)) for a in arrays)))


def unit_fractions(
    layer: Any, x: np.ndarray, y: np.ndarray, peak: float | None = None
) -> tuple[float | None, float | None]:
    """(dead, saturated) for an activation layer on a probe batch.

    dead: fraction of units (features) whose derivative is 0 on every sample (ReLU family);
    saturated: fraction of values where |f'| <= 5% of f'(0) (sigmoid/tanh family); `peak` is
    `saturation_peak(layer, x.dtype)` when the caller keeps it.
    """
    kind = getattr(layer, "kind", None)
    if kind not in ("relu", "saturating") or not hasattr(layer, "df"):
        return None, None
    derivative = np.abs(layer.df(x, y)).reshape(len(x), -1)
    if kind == "relu":
        return np.count_nonzero(np.all(derivative == 0, axis=0)) / derivative.shape[1], None
    if peak is None:
        peak = _peak(layer, x.dtype)
    return None, np.count_nonzero(derivative <= SATURATION_LEVEL * peak) / derivative.size


def saturation_peak(layer: Any, dtype: np.dtype) -> float | None:
    """|f'(0)| of a saturating activation layer, in `dtype` (None for other layers)."""
    if getattr(layer, "kind", None) != "saturating" or not hasattr(layer, "df"):
        return None
    return _peak(layer, dtype)


def _peak(layer: Any, dtype: np.dtype) -> float:
    zero = np.zeros(1, dtype=dtype)
    return float(np.abs(layer.df(zero, layer.f(zero)))[0])


def grid_points(domain: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n grid over domain (x1min, x1max, x2min, x2max): xs, ys and points (n*n, 2), rows over y."""
    x1min, x1max, x2min, x2max = domain
    xs, ys = np.linspace(x1min, x1max, n), np.linspace(x2min, x2max, n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])
