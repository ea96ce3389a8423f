"""Telemetry: TensorBoard-style histograms and distributions, dead and saturated units, boundary grids."""

from __future__ import annotations

import base64
import functools
from typing import Any

import numpy as np

PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)
SATURATION_LEVEL = 0.05
ENCODED_VALUE = 16
QUANTIZED_VALUE = 4


def stats(values: np.ndarray, bins: int = 30) -> dict:
    """Mean, std, min, max, counts in `bins` buckets over [low, high], TensorBoard's percentiles."""
    ordered = np.sort(values, axis=None)
    n = ordered.size
    if n == 0:
        histogram = {"low": 0.0, "high": 0.0, "counts": encode([])}
        zero = {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
        return {**zero, "histogram": histogram, "percentiles": encode([])}
    low, high = ordered[0].item(), ordered[-1].item()
    left, right = (low - 0.5, high + 0.5) if low == high else (low, high)
    below = ordered.searchsorted(left + (right - left) * _unit_edges(bins))
    below[-1] = n
    lower, upper, fraction = _quantile_positions(n)
    percentiles = ordered.take(lower)
    percentiles += (ordered.take(upper) - percentiles) * fraction
    mean = ordered.sum(dtype=np.float64).item() / n
    centered = ordered - ordered.dtype.type(mean)
    return {
        "mean": mean,
        "std": (np.dot(centered, centered).item() / n) ** 0.5,
        "min": low,
        "max": high,
        "histogram": {"low": left, "high": right, "counts": encode(below[1:] - below[:-1])},
        "percentiles": encode(percentiles),
    }


@functools.cache
def _unit_edges(bins: int) -> np.ndarray:
    return np.arange(bins + 1) / bins


@functools.cache
def _quantile_positions(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    position = (n - 1) * np.array(PERCENTILES) / 100
    lower = position.astype(np.intp)
    return lower, np.minimum(lower + 1, n - 1), position - lower


def display(values: np.ndarray, decimals: int = 4) -> list:
    """Nested lists of values rounded for drawing: short JSON, and float64 lists build fastest."""
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


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
    if array.size and np.isfinite(array).all():
        low, high = float(array.min()), float(array.max())
    else:
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        array = np.nan_to_num(array, nan=low, posinf=high, neginf=low)
    scale = 255 / (high - low) if high > low else 0.0
    levels = np.rint((array - low) * scale).astype(np.uint8)
    data = base64.b64encode(np.ascontiguousarray(levels).data).decode()
    return _envelope(
        {"dtype": "uint8", "shape": list(array.shape), "data": data, "low": low, "high": high}, lists
    )


def quantize_each(values: Any, lists: bool = False) -> list[dict[str, Any]]:
    """`quantize` of every values[i], in a few whole-array numpy calls when all values are finite."""
    array = np.asarray(values, dtype=np.float64, order="C")
    flat = array.reshape(len(array), -1)
    if not np.isfinite(flat).all():
        return [quantize(part, lists) for part in array]
    low, high = flat.min(axis=1), flat.max(axis=1)
    span = high - low
    scale = np.divide(255, span, out=np.zeros_like(span), where=span > 0)
    levels = np.rint((flat - low[:, None]) * scale[:, None]).astype(np.uint8)
    shape = list(array.shape[1:])
    return [
        _envelope({"dtype": "uint8", "shape": shape, "data": _base64(row), "low": lo, "high": hi}, lists)
        for row, lo, hi in zip(levels, low.tolist(), high.tolist(), strict=True)
    ]


def _base64(array: np.ndarray) -> str:
    return base64.b64encode(array.data).decode()


def decode(encoded: Any) -> np.ndarray:
    """The array an `encode` or `quantize` dict holds (float32 values); anything else as an array."""
    if not (isinstance(encoded, dict) and "data" in encoded):
        return np.asarray(encoded)
    raw = base64.b64decode(encoded["data"])
    if encoded["dtype"] == "uint8":
        low, high = encoded["low"], encoded["high"]
        values = low + (high - low) * np.frombuffer(raw, np.uint8).astype(np.float32) / 255
        return values.astype(np.float32).reshape(encoded["shape"])
    return np.frombuffer(raw, "<f4").reshape(encoded["shape"])


def l2_norm(arrays) -> float:
    """sqrt(sum of squares) over several arrays."""
    return float(np.sqrt(sum(float(np.vdot(a, a)) for a in arrays)))


def unit_fractions(layer, x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """(dead, saturated) for an activation layer on a probe batch.

    dead: fraction of units (features) whose derivative is 0 on every sample (ReLU family);
    saturated: fraction of values where |f'| <= 5% of f'(0) (sigmoid/tanh family).
    """
    kind = getattr(layer, "kind", None)
    if kind not in ("relu", "saturating") or not hasattr(layer, "df"):
        return None, None
    derivative = np.abs(layer.df(x, y)).reshape(len(x), -1)
    if kind == "relu":
        return np.count_nonzero(np.all(derivative == 0, axis=0)) / derivative.shape[1], None
    zero = np.zeros(1, dtype=x.dtype)
    peak = float(np.abs(layer.df(zero, layer.f(zero)))[0])
    return None, np.count_nonzero(derivative <= SATURATION_LEVEL * peak) / derivative.size


def grid_points(domain, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n grid over domain (x1min, x1max, x2min, x2max): xs, ys and points (n*n, 2), rows over y."""
    x1min, x1max, x2min, x2max = domain
    xs, ys = np.linspace(x1min, x1max, n), np.linspace(x2min, x2max, n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])
