"""Datasets: TF-Playground's 2-D generators, multi-class spiral and blobs, moons, digits and CSV uploads.

2-D generators take `noise` as TF-Playground does internally, a fraction 0..0.5 (the config's percent / 100),
draw only from the rng they are given, and return (points (n, 2), labels): class indices (n,) int64
(TF-Playground's +1 -> 1, -1 -> 0) or regression targets (n,) float. Points lie in [-6, 6]^2 (Gaussian
clusters: all but their tails).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from engine.config import MAX_SAMPLES, DataConfig

if TYPE_CHECKING:
    from _csv import Reader

RADIUS = 6.0
DOMAIN = (-RADIUS, RADIUS, -RADIUS, RADIUS)
AUTO_CLASSES = 20
MAX_CLASSES = 100
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
TASKS = ("classification", "regression")

Labelled = tuple[np.ndarray, np.ndarray]
Seed = int | np.random.Generator | None


def _array(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        array = array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar")
    if len(array) == 0:
        raise ValueError(f"{name} is empty: train and test sets both need at least one sample")
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite values (first at row {int(np.argmax(bad))})")
    return array


def _is_class_indices(y: np.ndarray) -> bool:
    return (y.ndim == 1 or y.shape[1:] == (1,)) and bool(np.all(y == np.round(y))) and y.min() >= 0


@dataclass
class ArrayDataset:
    """Train and test arrays: x (n, *input_shape) float64; y int64 class indices (n,) or float targets (n, k).

    task/num_classes are inferred when None (y of class indices 0..k-1 with k <= AUTO_CLASSES distinct values
    is classification). 2-D datasets keep their raw points (n, 2) and the domain (x1min, x1max, x2min, x2max);
    CSV datasets keep class_names and `scaling` (x_mean, x_std, y_mean, y_std of the standardisation).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str | None = None
    num_classes: int | None = None
    feature_names: list[str] | None = None
    domain: tuple[float, float, float, float] | None = None
    points_train: np.ndarray | None = None
    points_test: np.ndarray | None = None
    class_names: list[str] | None = None
    scaling: dict[str, list[float]] | None = None

    def __post_init__(self) -> None:
        x_train, x_test = (
            _array(k, getattr(self, k)).astype(np.float64, copy=False) for k in ("x_train", "x_test")
        )
        self.x_train, self.x_test = (x.reshape(-1, 1) if x.ndim == 1 else x for x in (x_train, x_test))
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train samples have shape {self.x_train.shape[1:]}, x_test samples {self.x_test.shape[1:]}"
            )
        y_train, y_test = _array("y_train", self.y_train), _array("y_test", self.y_test)
        for split, x, y in (("train", self.x_train, y_train), ("test", self.x_test, y_test)):
            if len(x) != len(y):
                raise ValueError(f"x_{split} and y_{split} lengths differ: {len(x)} vs {len(y)}")
        if self.task is None:
            both = np.concatenate([y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)])
            classes = _is_class_indices(both) and len(np.unique(both)) <= AUTO_CLASSES
            self.task = "classification" if classes else "regression"
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.task == "classification":
            self._class_targets(y_train, y_test)
        else:
            self.y_train, self.y_test = (y.astype(np.float64).reshape(len(y), -1) for y in (y_train, y_test))
            self.num_classes = None
        for name in ("points_train", "points_test"):
            points = getattr(self, name)
            if points is not None:
                points = np.asarray(points, dtype=np.float64)
                expected = len(self.x_train if name == "points_train" else self.x_test)
                if points.shape != (expected, 2):
                    raise ValueError(f"{name} must have shape ({expected}, 2), got {points.shape}")
                setattr(self, name, points)
        if self.domain is not None:
            domain = tuple(float(v) for v in self.domain)
            if len(domain) != 4:
                raise ValueError(f"domain must be (x1min, x1max, x2min, x2max), got {domain}")
            x1min, x1max, x2min, x2max = domain
            self.domain = (x1min, x1max, x2min, x2max)

    def _class_targets(self, y_train: np.ndarray, y_test: np.ndarray) -> None:
        for name, y in (("y_train", y_train), ("y_test", y_test)):
            if not _is_class_indices(y):
                raise ValueError(f"{name} must hold class indices 0..k-1 of shape (n,) for classification")
        self.y_train, self.y_test = (y.reshape(len(y)).astype(np.int64) for y in (y_train, y_test))
        largest = int(max(self.y_train.max(), self.y_test.max()))
        if self.num_classes is None:
            self.num_classes = max(largest + 1, 2)
        elif largest >= self.num_classes:
            raise ValueError(f"class index {largest} is out of range for num_classes={self.num_classes}")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names for {self.num_classes} classes")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.x_train.shape[1:]


FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1^2": lambda p: p[:, 0] * p[:, 0],
    "x2^2": lambda p: p[:, 1] * p[:, 1],
    "x1x2": lambda p: p[:, 0] * p[:, 1],
    "sin_x1": lambda p: np.sin(p[:, 0]),
    "sin_x2": lambda p: np.sin(p[:, 1]),
}


def expand_features(points: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Raw 2-D points (n, 2) -> network inputs (n, len(names)), one FEATURES column per name."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    unknown = [name for name in names if name not in FEATURES]
    if unknown or not names:
        raise ValueError(f"unknown feature {unknown[0] if unknown else None!r}; valid: {', '.join(FEATURES)}")
    return np.column_stack([FEATURES[name](points) for name in names])


def _halves(n: int) -> np.ndarray:
    """Labels (n,): the first ceil(n / 2) are 1, the rest 0."""
    return (np.arange(n) < n - n // 2).astype(np.int64)


def circle(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """TF-Playground circle: class 1 at radius < 2.5, class 0 at 3.5..5, labels at noise-shifted points."""
    radius = 5.0
    y = _halves(n)
    r = rng.uniform(np.where(y == 1, 0, radius * 0.7), np.where(y == 1, radius * 0.5, radius))
    angle = rng.uniform(0, 2 * math.pi, n)
    points = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    shifted = points + rng.uniform(-radius, radius, (n, 2)) * noise
    return points, (np.hypot(shifted[:, 0], shifted[:, 1]) < radius * 0.5).astype(np.int64)


def xor(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """TF-Playground XOR: uniform in [-5, 5]^2 pushed 0.3 off the axes; class 1 where x1 * x2 >= 0."""
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, 0.3, -0.3)
    shifted = points + rng.uniform(-5, 5, (n, 2)) * noise
    return points, (shifted[:, 0] * shifted[:, 1] >= 0).astype(np.int64)


def _gauss_std(noise: float) -> float:
    return math.sqrt(0.5 + noise * (4 - 0.5) / 0.5)


def gauss(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """TF-Playground two Gaussians: class 1 around (2, 2), class 0 around (-2, -2); variance 0.5 + 7 noise."""
    y = _halves(n)
    center = np.where(y == 1, 2.0, -2.0)[:, None]
    return center + _gauss_std(noise) * rng.standard_normal((n, 2)), y


def _arms(n: int, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class of each of n points split as evenly as possible, index within its class, and class sizes."""
    sizes = np.array([n // classes + (k < n % classes) for k in range(classes)])
    label = np.repeat(np.arange(classes), sizes)
    index = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return label, index, sizes[label]


def spiral(n: int, noise: float, rng: np.random.Generator, classes: int = 2) -> Labelled:
    """TF-Playground spiral with `classes` arms: r = 5 i / m, t = 3.5 pi i / m + pi (1 + 2 k / classes).

    For 2 classes the arms are TF-Playground's (class 1 at phase 0, class 0 at phase pi).
    """
    label, i, m = _arms(n, classes)
    r = i / m * 5
    t = 1.75 * i / m * 2 * math.pi + math.pi * (1 + 2 * label / classes)
    points = np.column_stack([r * np.sin(t), r * np.cos(t)]) + rng.uniform(-1, 1, (n, 2)) * noise
    return points, label.astype(np.int64)


def blobs(n: int, noise: float, rng: np.random.Generator, classes: int = 3) -> Labelled:
    """`classes` Gaussian clusters centred on a circle of radius 4; variance 0.5 + 7 noise as in gauss."""
    label, _, _ = _arms(n, classes)
    angle = 2 * math.pi * label / classes
    centers = 4 * np.column_stack([np.sin(angle), np.cos(angle)])
    return centers + _gauss_std(noise) * rng.standard_normal((n, 2)), label.astype(np.int64)


def moons(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """scikit-learn's two moons (noise = Gaussian std in moon units) scaled by 3.5 around (0.5, 0.25)."""
    n_out = n // 2
    t_out, t_in = np.linspace(0, math.pi, n_out), np.linspace(0, math.pi, n - n_out)
    points = np.column_stack(
        [
            np.concatenate([np.cos(t_out), 1 - np.cos(t_in)]),
            np.concatenate([np.sin(t_out), 0.5 - np.sin(t_in)]),
        ]
    )
    points += rng.normal(0, noise, (n, 2))
    return 3.5 * (points - [0.5, 0.25]), (np.arange(n) >= n_out).astype(np.int64)


def _noisy_uniform(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    return points, points + rng.uniform(-RADIUS, RADIUS, (n, 2)) * noise


def plane(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """TF-Playground plane regression: y = (x1 + x2) / 10 at the noise-shifted point."""
    points, shifted = _noisy_uniform(n, noise, rng)
    return points, shifted.sum(axis=1) / 10


_GAUSSIANS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def multi_gauss(n: int, noise: float, rng: np.random.Generator) -> Labelled:
    """TF-Playground multi-Gaussian regression: the largest |sign * clip(1 - d / 2, 0, 1)| of six bumps."""
    points, shifted = _noisy_uniform(n, noise, rng)
    distance = np.hypot(shifted[:, 0, None] - _GAUSSIANS[:, 0], shifted[:, 1, None] - _GAUSSIANS[:, 1])
    values = _GAUSSIANS[:, 2] * np.clip(1 - distance / 2, 0, 1)
    return points, values[np.arange(n), np.argmax(np.abs(values), axis=1)]


def _n_train(n: int, ratio: float) -> int:
    return min(max(round(n * ratio), 1), n - 1)


def _split(n: int, ratio: float, rng: np.random.Generator, labels: np.ndarray | None = None) -> Labelled:
    """Shuffled train/test indices; with labels, each class is split by ratio (if neither split is empty)."""
    order = rng.permutation(n)
    if labels is not None:
        ranked = labels[order]
        parts = [order[ranked == c] for c in np.unique(labels)]
        train = np.concatenate([part[: round(len(part) * ratio)] for part in parts])
        test = np.concatenate([part[round(len(part) * ratio) :] for part in parts])
        if len(train) and len(test):
            return rng.permutation(train), rng.permutation(test)
    k = _n_train(n, ratio)
    return order[:k], order[k:]


def validation_split(
    n: int, fraction: float, rng: np.random.Generator, labels: np.ndarray | None = None
) -> Labelled:
    """(kept, held out) indices of n training samples, the held-out part a fraction of them (per class)."""
    return _split(n, 1 - fraction, rng, labels)


def _subsample(n: int, n_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    if n_samples is None or n_samples >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, n_samples, replace=False))


def _make_planar(
    generate: Callable[..., Labelled],
    task: str,
    multiclass: bool,
    data: DataConfig,
    rng: np.random.Generator,
    csv_text: str | None = None,
) -> ArrayDataset:
    n = data.n_samples or _default_samples(task)
    noise = data.noise / 100
    points, y = generate(n, noise, rng, data.classes) if multiclass else generate(n, noise, rng)
    train, test = _split(n, data.train_ratio, rng)
    x = expand_features(points, data.features)
    return ArrayDataset(
        x[train],
        y[train],
        x[test],
        y[test],
        task=task,
        num_classes=(data.classes if multiclass else 2) if task == "classification" else None,
        feature_names=list(data.features),
        domain=DOMAIN,
        points_train=points[train],
        points_test=points[test],
    )


@cache
def _digits() -> Labelled:
    """scikit-learn's bundled digits as (1797, 64) in [0, 1] and labels, read from its data file directly."""
    sklearn = importlib.util.find_spec("sklearn")
    if sklearn is None or not sklearn.submodule_search_locations:
        raise ValueError("the digits dataset needs scikit-learn installed")
    package = sklearn.submodule_search_locations[0]
    path = Path(package, "datasets", "data", "digits.csv.gz")
    if path.exists():
        table = np.loadtxt(path, delimiter=",")
        x, y = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    x, y = x / 16.0, y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _make_digits(data: DataConfig, rng: np.random.Generator, csv_text: str | None = None) -> ArrayDataset:
    x, y = _digits()
    keep = _subsample(len(x), data.n_samples, rng)
    x, y = x[keep], y[keep]
    train, test = _split(len(y), data.train_ratio, rng, labels=y)
    shape = (-1, 1, 8, 8) if data.images else (-1, 64)
    return ArrayDataset(
        x[train].reshape(shape),
        y[train],
        x[test].reshape(shape),
        y[test],
        task="classification",
        num_classes=10,
        class_names=[str(d) for d in range(10)],
    )


def _number(column: str, cell: str, line: int) -> float:
    if cell.lower() in MISSING:
        raise ValueError(f"missing value in column {column!r} at line {line}")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"column {column!r} has a non-numeric value {cell!r} at line {line}") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column!r} has an infinite value {cell!r} at line {line}")
    return value


def _number_column(name: str, cells: list[str], lines: list[int]) -> np.ndarray:
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        return values
    return np.array([_number(name, cell, line) for cell, line in zip(cells, lines, strict=True)])


def _class_name(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class TooManyColumns(ValueError):
    """The CSV's header row has more columns than the caller's max_columns."""


def _reader(text: str) -> Reader:
    """A csv reader over text (BOM dropped, delimiter sniffed): CR, LF and CRLF all end a line."""
    text = text.lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def _rows(text: str, max_columns: int | None) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the non-blank data rows (cells stripped) and their line numbers, checked as read."""
    reader = _reader(text)
    header: list[str] | None = None
    body: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                if max_columns is not None and len(row) > max_columns:
                    raise TooManyColumns(
                        f"the header row (line {reader.line_num}) has {len(row)} columns; "
                        f"the limit is {max_columns}"
                    )
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"line {reader.line_num} has {len(row)} values but the header has {len(header)} columns"
                )
            if len(body) == MAX_SAMPLES:
                raise ValueError(f"the CSV has more than {MAX_SAMPLES} data rows; the limit is {MAX_SAMPLES}")
            body.append([cell.strip() for cell in row])
            lines.append(reader.line_num)
    except csv.Error as error:
        problem = str(error)
        if "field limit" in problem:
            problem = f"a value is longer than {csv.field_size_limit()} characters"
        raise ValueError(f"line {reader.line_num} cannot be read: {problem}") from None
    if header is None:
        raise ValueError("the CSV file is empty")
    return header, body, lines


def csv_head(text: str, rows: int) -> list[list[str]]:
    """The first `rows` data rows after the header, read as load_csv reads them (for previews)."""
    reader = _reader(text)
    head = []
    for row in reader:
        if any(cell.strip() for cell in row):
            head.append([cell.strip() for cell in row])
        if len(head) > rows:
            break
    return head[1:]


def load_csv(
    text: str, target: str | None = None, task: str = "auto", max_columns: int | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Parse CSV text with a header row: x (n, features) float64, y and info (columns, target, task, classes).

    Linear in the text's size. Lines end with CR, LF or CRLF; a quoted value may span lines. Feature columns
    must be numeric. target (default: the last column) gives int64 class indices (n,) in sorted label order
    for classification, or float (n, 1) for regression; "auto" picks classification for non-numeric labels
    or integer labels with at most AUTO_CLASSES distinct values. More than max_columns columns raises
    TooManyColumns (a ValueError) before the rest is read.
    """
    if task not in ("auto", *TASKS):
        raise ValueError(f"task must be auto, classification or regression, got {task!r}")
    header, body, lines = _rows(text, max_columns)
    if all(_is_number(cell) for cell in header):
        raise ValueError("the CSV needs a header row naming the columns; its first row is all numbers")
    if len(header) < 2:
        raise ValueError(f"the CSV needs at least 2 columns (features and a target), found {len(header)}")
    seen: set[str] = set()
    for j, name in enumerate(header):
        if not name:
            raise ValueError(f"column {j + 1} has no name in the header row")
        if name in seen:
            raise ValueError(f"column name {name!r} appears twice in the header row")
        seen.add(name)
    if len(body) < 2:
        raise ValueError(f"the CSV needs at least 2 data rows, found {len(body)}")
    target = header[-1] if target is None else target
    if target not in seen:
        raise ValueError(f"unknown target column {target!r}; columns: {', '.join(header)}")
    features = [name for name in header if name != target]
    columns = {name: [row[j] for row in body] for j, name in enumerate(header)}
    x = np.column_stack([_number_column(name, columns[name], lines) for name in features])
    y, info = _target(target, columns[target], lines, task)
    return x, y, {"columns": header, "features": features, "target": target, "rows": len(body), **info}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target(name: str, cells: list[str], lines: list[int], task: str) -> tuple[np.ndarray, dict[str, Any]]:
    for cell, line in zip(cells, lines, strict=True):
        if cell.lower() in MISSING:
            raise ValueError(f"missing value in target column {name!r} at line {line}")
    numeric = all(_is_number(cell) for cell in cells)
    if numeric:
        values = _number_column(name, cells, lines)
        labels = np.unique(values)
        if task == "auto":
            integral = bool(np.all(labels == np.round(labels)))
            task = "classification" if integral and len(labels) <= AUTO_CLASSES else "regression"
        if task == "regression":
            return values.reshape(-1, 1), {"task": task, "num_classes": None, "class_names": None}
        names = [_class_name(float(v)) for v in labels]
    elif task == "regression":
        cell, line = next(
            (cell, line) for cell, line in zip(cells, lines, strict=True) if not _is_number(cell)
        )
        raise ValueError(
            f"target column {name!r} value {cell!r} at line {line} is not a number (regression needs numbers)"
        )
    else:
        values = np.array(cells, dtype=object)
        labels = np.array(sorted(set(cells)), dtype=object)
        names = list(labels)
    if len(labels) < 2:
        raise ValueError(
            f"target column {name!r} has a single class ({names[0]}); classification needs at least 2"
        )
    if len(labels) > MAX_CLASSES:
        raise ValueError(
            f"target column {name!r} has {len(labels)} distinct values; classification allows at most"
            f" {MAX_CLASSES} classes (use task 'regression' for a continuous target)"
        )
    y = np.searchsorted(labels, values).astype(np.int64)
    return y, {"task": "classification", "num_classes": len(labels), "class_names": names}


def _make_csv(data: DataConfig, rng: np.random.Generator, csv_text: str | None = None) -> ArrayDataset:
    if csv_text is None:
        raise ValueError("dataset 'csv' needs the uploaded CSV text (csv_text)")
    x, y, info = load_csv(csv_text, data.target, data.task)
    keep = _subsample(len(x), data.n_samples, rng)
    x, y = x[keep], y[keep]
    classification = info["task"] == "classification"
    train, test = _split(len(x), data.train_ratio, rng, labels=y if classification else None)
    x_train, x_test, y_train, y_test = x[train], x[test], y[train], y[test]
    scaling = None
    if data.standardize:
        x_mean, x_std = _moments(x_train)
        x_train, x_test = (x_train - x_mean) / x_std, (x_test - x_mean) / x_std
        scaling = {"x_mean": x_mean.tolist(), "x_std": x_std.tolist()}
        if not classification:
            y_mean, y_std = _moments(y_train)
            y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std
            scaling |= {"y_mean": y_mean.tolist(), "y_std": y_std.tolist()}
    return ArrayDataset(
        x_train,
        y_train,
        x_test,
        y_test,
        task=info["task"],
        num_classes=info["num_classes"],
        feature_names=info["features"],
        class_names=info["class_names"],
        scaling=scaling,
    )


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population std (std 1 for constant columns), as scikit-learn's StandardScaler."""
    std = a.std(axis=0)
    return a.mean(axis=0), np.where(std > 0, std, 1.0)


def _default_samples(task: str) -> int:
    return 500 if task == "classification" else 1200


def _planar(
    doc: str, generate: Callable[..., Labelled], task: str = "classification", multiclass: bool = False
) -> dict[str, Any]:
    return {
        "doc": doc,
        "task": task,
        "input": "2d",
        "default_samples": _default_samples(task),
        "multiclass": multiclass,
        "make": partial(_make_planar, generate, task, multiclass),
    }


DATASETS: dict[str, dict[str, Any]] = {
    "circle": _planar("A disc of one class inside a ring of the other (TF-Playground).", circle),
    "xor": _planar("Four quadrants, class by the sign of x1 * x2 (TF-Playground).", xor),
    "gauss": _planar("Two Gaussian clusters (TF-Playground).", gauss),
    "spiral": _planar(
        "Interleaved spiral arms, one per class (TF-Playground's for 2).", spiral, multiclass=True
    ),
    "plane": _planar(
        "Regression on a tilted plane, y = (x1 + x2) / 10 (TF-Playground).", plane, "regression"
    ),
    "multi_gauss": _planar(
        "Regression on six Gaussian bumps of both signs (TF-Playground).", multi_gauss, "regression"
    ),
    "blobs": _planar("One Gaussian cluster per class around a circle.", blobs, multiclass=True),
    "moons": _planar("Two interleaving half circles (scikit-learn's moons).", moons),
    "digits": {
        "doc": "8x8 images of handwritten digits 0-9 (scikit-learn's bundled set), for CNNs.",
        "task": "classification",
        "input": "image",
        "default_samples": 1797,
        "multiclass": False,
        "make": _make_digits,
    },
    "csv": {
        "doc": "Your own CSV: numeric feature columns and a target column.",
        "task": "auto",
        "input": "table",
        "default_samples": None,
        "multiclass": False,
        "make": _make_csv,
    },
}


def make_dataset(
    data: DataConfig | Mapping[str, Any], rng: Seed, csv_text: str | None = None
) -> ArrayDataset:
    """The ArrayDataset `data` describes, deterministic given rng; csv_text is the stored CSV for "csv"."""
    if isinstance(data, Mapping):
        data = DataConfig.model_validate(data)
    return DATASETS[data.dataset]["make"](data, np.random.default_rng(rng), csv_text)
