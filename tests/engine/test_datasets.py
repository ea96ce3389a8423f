import time
import typing

import numpy as np
import pytest

from engine import config
from engine.datasets import (
    DATASETS,
    DOMAIN,
    FEATURES,
    ArrayDataset,
    TooManyColumns,
    circle,
    csv_head,
    expand_features,
    gauss,
    load_csv,
    make_dataset,
    multi_gauss,
    plane,
    spiral,
    xor,
)

PLANAR = [name for name, entry in DATASETS.items() if entry["input"] == "2d"]


def _data(**fields) -> config.DataConfig:
    return config.DataConfig(**fields)


def _all(ds: ArrayDataset, field: str) -> np.ndarray:
    return np.concatenate([getattr(ds, f"{field}_train"), getattr(ds, f"{field}_test")])


def test_registry_covers_every_config_dataset_with_catalog_fields():
    assert list(DATASETS) == list(typing.get_args(config.DatasetName))
    for name, entry in DATASETS.items():
        assert isinstance(entry["doc"], str) and entry["doc"].endswith("."), name
        assert entry["task"] in ("classification", "regression", "auto")
        assert entry["input"] in ("2d", "image", "table")
        assert entry["default_samples"] is None or isinstance(entry["default_samples"], int)
        assert callable(entry["make"])
    assert list(FEATURES) == list(typing.get_args(config.FeatureName))


@pytest.mark.parametrize("name", PLANAR)
def test_planar_datasets_shapes_ranges_and_defaults(name):
    entry = DATASETS[name]
    ds = make_dataset(_data(dataset=name, classes=3), np.random.default_rng(0))
    n = entry["default_samples"]
    assert n == (500 if entry["task"] == "classification" else 1200)
    assert (len(ds.x_train), len(ds.x_test)) == (n // 2, n - n // 2)
    assert ds.x_train.shape[1:] == (2,) and ds.x_train.dtype == np.float64
    assert ds.task == entry["task"] and ds.domain == DOMAIN == (-6, 6, -6, 6)
    assert ds.feature_names == ["x1", "x2"]
    np.testing.assert_array_equal(ds.x_train, ds.points_train)
    inside = np.abs(_all(ds, "points")).max(axis=1) <= 6
    assert inside.all() if name not in ("gauss", "blobs") else inside.mean() > 0.99
    if ds.task == "classification":
        assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (n // 2,)
        assert ds.num_classes == (3 if entry["multiclass"] else 2)
        assert set(np.unique(_all(ds, "y"))) == set(range(ds.num_classes))
    else:
        assert ds.y_train.dtype == np.float64 and ds.y_train.shape == (n // 2, 1)
        assert ds.num_classes is None


@pytest.mark.parametrize("name", [*PLANAR, "digits"])
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    data = _data(dataset=name, noise=20, n_samples=200)
    a, b, c = (make_dataset(data, np.random.default_rng(seed)) for seed in (1, 1, 2))
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", ["circle", "gauss", "spiral", "moons"])
def test_binary_datasets_are_balanced_without_noise(name):
    ds = make_dataset(_data(dataset=name, n_samples=301), np.random.default_rng(0))
    assert sorted(np.bincount(_all(ds, "y")).tolist()) == [150, 151]


@pytest.mark.parametrize("name, classes", [("spiral", 5), ("blobs", 7)])
def test_multiclass_datasets_have_one_balanced_group_per_class(name, classes):
    ds = make_dataset(_data(dataset=name, classes=classes, n_samples=703), np.random.default_rng(0))
    counts = np.bincount(_all(ds, "y"))
    assert ds.num_classes == classes and counts.max() - counts.min() <= 1 and counts.sum() == 703


def test_circle_follows_tf_playground():
    rng = np.random.default_rng(0)
    points, y = circle(400, 0.0, rng)
    r = np.hypot(points[:, 0], points[:, 1])
    assert np.all(r[y == 1] < 2.5) and np.all((r[y == 0] >= 3.5) & (r[y == 0] <= 5))
    points, y = circle(2000, 0.5, rng)
    r = np.hypot(points[:, 0], points[:, 1])
    flipped = np.mean((r < 2.5) != (y == 1))
    assert 0.05 < flipped < 0.5


def test_xor_follows_tf_playground():
    points, y = xor(1000, 0.0, np.random.default_rng(0))
    assert np.all(np.abs(points) >= 0.3) and np.all(np.abs(points) <= 5.3)
    np.testing.assert_array_equal(y, points[:, 0] * points[:, 1] >= 0)
    points, y = xor(1000, 0.3, np.random.default_rng(0))
    assert np.mean(y != (points[:, 0] * points[:, 1] >= 0)) > 0.05


def test_gauss_spread_grows_with_noise():
    quiet_points, quiet_y = gauss(4000, 0.0, np.random.default_rng(0))
    noisy_points, noisy_y = gauss(4000, 0.5, np.random.default_rng(0))
    for points, y, variance in ((quiet_points, quiet_y, 0.5), (noisy_points, noisy_y, 4.0)):
        centered = points - np.where(y == 1, 2.0, -2.0)[:, None]
        assert centered.var() == pytest.approx(variance, rel=0.1)


def test_spiral_without_noise_lies_on_tf_playground_arms():
    points, y = spiral(200, 0.0, np.random.default_rng(0))
    i = np.arange(100)
    r, t = i / 100 * 5, 1.75 * i / 100 * 2 * np.pi
    np.testing.assert_allclose(points[y == 1], np.column_stack([r * np.sin(t), r * np.cos(t)]), atol=1e-12)
    np.testing.assert_allclose(points[y == 0], -points[y == 1], atol=1e-12)


def test_plane_and_multi_gauss_labels():
    points, y = plane(500, 0.0, np.random.default_rng(0))
    np.testing.assert_allclose(y, points.sum(axis=1) / 10)
    points, noisy = plane(500, 0.2, np.random.default_rng(0))
    assert np.abs(noisy - points.sum(axis=1) / 10).max() > 0.05
    points, y = multi_gauss(300, 0.0, np.random.default_rng(0))
    centers = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    for (px, py), value in zip(points, y, strict=True):
        label = 0.0
        for cx, cy, sign in centers:
            candidate = sign * min(max(1 - np.hypot(px - cx, py - cy) / 2, 0.0), 1.0)
            if abs(candidate) > abs(label):
                label = candidate
        assert value == pytest.approx(label)
    assert -1 <= y.min() < 0 < y.max() <= 1


def test_odd_sample_counts_and_split_ratio():
    ds = make_dataset(_data(dataset="xor", n_samples=101, train_ratio=0.7), np.random.default_rng(0))
    assert (len(ds.x_train), len(ds.x_test)) == (71, 30)


def test_feature_expansion_values_and_order():
    points = np.array([[1.0, 2.0], [-0.5, 3.0]])
    x = expand_features(points, list(FEATURES))
    x1, x2 = points.T
    expected = np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)])
    np.testing.assert_allclose(x, expected)
    np.testing.assert_allclose(expand_features(points, ["sin_x2", "x1"]), expected[:, [6, 0]])
    with pytest.raises(ValueError, match="unknown feature 'x3'; valid: x1, x2"):
        expand_features(points, ["x1", "x3"])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        expand_features(np.zeros((3, 3)), ["x1"])


def test_make_dataset_expands_the_configured_features():
    data = _data(dataset="spiral", features=["x1^2", "x1x2", "sin_x1"], noise=10)
    ds = make_dataset(data, np.random.default_rng(3))
    assert ds.feature_names == ["x1^2", "x1x2", "sin_x1"] and ds.x_train.shape[1] == 3
    np.testing.assert_allclose(ds.x_test, expand_features(ds.points_test, data.features))


@pytest.mark.parametrize("images, shape", [(True, (1, 8, 8)), (False, (64,))])
def test_digits(images, shape):
    ds = make_dataset(_data(dataset="digits", images=images, train_ratio=0.8), np.random.default_rng(0))
    assert len(ds.x_train) + len(ds.x_test) == 1797 and ds.x_train.shape[1:] == shape
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1
    assert np.all(np.round(_all(ds, "x") * 16) == _all(ds, "x") * 16)
    assert np.bincount(_all(ds, "y")).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert ds.num_classes == 10 and ds.class_names == [str(d) for d in range(10)] and ds.domain is None
    train_share = np.bincount(ds.y_train, minlength=10) / np.bincount(_all(ds, "y"), minlength=10)
    np.testing.assert_allclose(train_share, 0.8, atol=0.01)
    small = make_dataset(_data(dataset="digits", n_samples=100), np.random.default_rng(0))
    assert len(small.x_train) + len(small.x_test) == 100


def test_array_dataset_infers_task_and_reshapes():
    x = np.zeros((6, 2))
    ds = ArrayDataset(x, [0, 1, 2, 1, 0, 2], x[:3], np.array([[1.0], [2.0], [0.0]]))
    assert (ds.task, ds.num_classes, ds.y_test.dtype, ds.y_test.shape) == (
        "classification",
        3,
        np.int64,
        (3,),
    )
    ds = ArrayDataset(np.arange(6.0), np.linspace(0, 1, 6), np.arange(2.0), [0.5, 0.25])
    assert (ds.task, ds.num_classes, ds.x_train.shape, ds.y_train.shape) == (
        "regression",
        None,
        (6, 1),
        (6, 1),
    )
    ds = ArrayDataset(x.astype(np.float32), [0, 1] * 3, x[:2], [1, 1], task="classification", num_classes=4)
    assert ds.x_train.dtype == np.float64 and ds.num_classes == 4 and ds.input_shape == (2,)


@pytest.mark.parametrize(
    "arrays, kwargs, message",
    [
        (
            (np.zeros((5, 2)), np.zeros(4), np.zeros((2, 2)), np.zeros(2)),
            {},
            "x_train and y_train lengths differ: 5 vs 4",
        ),
        (
            (np.zeros((5, 2)), np.zeros(5), np.zeros((2, 2)), np.zeros(3)),
            {},
            "x_test and y_test lengths differ",
        ),
        ((np.zeros((5, 2)), np.zeros(5), np.zeros((0, 2)), np.zeros(0)), {}, "x_test is empty"),
        ((np.full((3, 2), np.nan), np.zeros(3), np.zeros((2, 2)), np.zeros(2)), {}, "x_train contains NaN"),
        (
            (np.zeros((3, 2)), [0, np.inf, 1], np.zeros((2, 2)), np.zeros(2)),
            {},
            r"y_train contains NaN .*row 1",
        ),
        (
            (np.zeros((3, 2)), np.zeros(3), np.zeros((2, 3)), np.zeros(2)),
            {},
            r"x_train samples have shape \(2,\)",
        ),
        ((np.array([["a", "b"]]), [0], np.zeros((1, 2)), [1]), {}, "x_train must hold numbers"),
        (
            (np.zeros((3, 2)), [0, -1, 1], np.zeros((2, 2)), [0, 1]),
            {"task": "classification"},
            "class indices",
        ),
        (
            (np.zeros((3, 2)), [0, 3, 1], np.zeros((2, 2)), [0, 1]),
            {"num_classes": 3},
            "class index 3 is out of range",
        ),
        (
            (np.zeros((3, 2)), [0, 1, 1], np.zeros((2, 2)), [0, 1]),
            {"task": "clustering"},
            "task must be one of",
        ),
    ],
)
def test_array_dataset_validation(arrays, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArrayDataset(*arrays, **kwargs)


CSV = (
    "sepal,petal,width,species\n5.1,1.4,0.2,setosa\n7.0,4.7,1.4,versicolor\n"
    "\n6.3,6.0,2.5,virginica\n4.9,1.5,0.1,setosa\n"
)


def test_load_csv_happy_paths():
    x, y, info = load_csv(CSV)
    assert x.shape == (4, 3) and x[1].tolist() == [7.0, 4.7, 1.4]
    assert y.tolist() == [0, 1, 2, 0] and y.dtype == np.int64
    assert info["class_names"] == ["setosa", "versicolor", "virginica"] and info["task"] == "classification"
    assert (
        info["features"] == ["sepal", "petal", "width"] and info["target"] == "species" and info["rows"] == 4
    )
    x, y, info = load_csv("a,label,b\n1,10,2\n3,2,4\n5,-1,6\n7,2,8\n", target="label")
    assert x.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert y.tolist() == [2, 1, 0, 1] and info["class_names"] == ["-1", "2", "10"]
    x, y, info = load_csv("a;b;price\n1;2;0.5\n3;4;1.25\n5;6;3\n")
    assert info["task"] == "regression" and y.shape == (3, 1) and y[:, 0].tolist() == [0.5, 1.25, 3]
    _, y, info = load_csv("\ufeffa,b\n1,0\n2,1\n3,0\n", task="regression")
    assert info["task"] == "regression" and y.dtype == np.float64


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "the CSV file is empty"),
        ("\n  \n", {}, "the CSV file is empty"),
        ("1,2,3\n4,5,6\n", {}, "needs a header row"),
        ("a,b\n1,0\nx,1\n", {}, "column 'a' has a non-numeric value 'x' at line 3"),
        ("a,b,c\n1,2,0\n3,,1\n", {}, "missing value in column 'b' at line 3"),
        ("a,b,c\n1,NaN,0\n3,4,1\n", {}, "missing value in column 'b' at line 2"),
        ("a,b,c\n1,inf,0\n3,4,1\n", {}, "column 'b' has an infinite value 'inf' at line 2"),
        ("a,b\n1,0\n2,\n", {}, "missing value in target column 'b' at line 3"),
        ("a\n1\n2\n", {}, "at least 2 columns"),
        ("a,b\n1,0\n2,1\n", {"target": "c"}, "unknown target column 'c'; columns: a, b"),
        ("a,b\n1,0\n2,0\n3,0\n", {}, "target column 'b' has a single class"),
        ("a,b\n1,0\n2,1,5\n", {}, "line 3 has 3 values but the header has 2 columns"),
        ("a,a\n1,0\n2,1\n", {}, "column name 'a' appears twice"),
        ("a,,c\n1,0,1\n2,1,0\n", {}, "column 2 has no name"),
        ("a,b\n1,0\n", {}, "at least 2 data rows"),
        ("a,b\n1,cat\n2,dog\n", {"task": "regression"}, "value 'cat' at line 2 is not a number"),
        ("a,b\n" + "".join(f"{i},{i}.5\n" for i in range(150)), {"task": "classification"}, "at most 100"),
        ("a,b\n1,0\n", {"task": "cluster"}, "task must be auto, classification or regression"),
    ],
)
def test_load_csv_errors_name_the_problem(text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_csv(text, **kwargs)


def test_load_csv_row_limit():
    text = "a,b\n" + "1,0\n2,1\n" * (config.MAX_SAMPLES // 2) + "3,1\n"
    with pytest.raises(
        ValueError, match=f"more than {config.MAX_SAMPLES} data rows; the limit is {config.MAX_SAMPLES}"
    ):
        load_csv(text)


def _wide_csv(columns: int) -> str:
    header = ",".join(f"c{j}" for j in range(columns))
    return header + "\n" + "".join(",".join(["1"] * (columns - 1) + [str(k % 2)]) + "\n" for k in range(3))


def test_load_csv_reads_20k_columns_in_linear_time():
    text = _wide_csv(20_000)
    start = time.perf_counter()
    x, y, info = load_csv(text, max_columns=20_000)
    assert time.perf_counter() - start < 5
    assert x.shape == (3, 19_999) and len(info["columns"]) == 20_000


def test_load_csv_column_limit_stops_before_the_rest():
    text = _wide_csv(100_000)
    start = time.perf_counter()
    with pytest.raises(TooManyColumns, match="has 100000 columns; the limit is 1000"):
        load_csv(text, max_columns=1000)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(TooManyColumns, match="has 3 columns; the limit is 2"):
        load_csv("a,b,c\n1,2,0\n3,4,1\n", max_columns=2)
    assert load_csv("a,b,c\n1,2,0\n3,4,1\n", max_columns=3)[0].shape == (2, 2)


def test_load_csv_line_endings_cr_lf_and_crlf_read_alike():
    lf = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n"
    expected = load_csv(lf)
    for ending in ("\r", "\r\n"):
        x, y, info = load_csv(lf.replace("\n", ending))
        assert x.tolist() == expected[0].tolist() and y.tolist() == expected[1].tolist()
        assert info == expected[2]
    with pytest.raises(ValueError, match="non-numeric value 'q' at line 3"):
        load_csv("a,b\r1,0\rq,1\r")


def test_load_csv_bare_cr_ends_a_line_unless_quoted():
    with pytest.raises(ValueError, match="line 3 has 2 values but the header has 3 columns"):
        load_csv("a,b,label\n1,2,0\n3,4\r,1\n5,6,0\n")
    _, y, info = load_csv('a,label\n1,"x\ry"\n2,z\n3,"x\ry"\n')
    assert info["class_names"] == ["x\ry", "z"] and y.tolist() == [0, 1, 0]


def test_load_csv_oversized_value_names_its_line():
    text = "a,b\n1,0\n2," + "7" * 200 * 1024 + "\n3,1\n"
    with pytest.raises(ValueError, match="line 3 cannot be read: a value is longer than 131072 characters"):
        load_csv(text)


def test_csv_head_reads_like_load_csv():
    text = "\ufeffa;b\r1;x\r\r2;y\r3;z\r"
    assert csv_head(text, 2) == [["1", "x"], ["2", "y"]]
    assert csv_head(text, 10) == [["1", "x"], ["2", "y"], ["3", "z"]]


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal([10, -3], [5, 0.1], (n, 2))
    y = 3 * x[:, 0] + 100
    rows = "".join(f"{a},{b},{t},{int(a > 10)}\n" for (a, b), t in zip(x, y, strict=True))
    return "u,v,target,cls\n" + rows


def test_make_dataset_csv_standardizes_features_and_regression_targets():
    data = _data(dataset="csv", csv_id="abc", target="target", train_ratio=0.75)
    ds = make_dataset(data, np.random.default_rng(0), csv_text=_table().replace(",cls", ",c"))
    assert ds.task == "regression" and ds.feature_names == ["u", "v", "c"] and ds.domain is None
    assert (len(ds.x_train), len(ds.x_test)) == (45, 15)
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1)
    np.testing.assert_allclose([ds.y_train.mean(), ds.y_train.std()], [0, 1], atol=1e-12)
    assert set(ds.scaling) == {"x_mean", "x_std", "y_mean", "y_std"}
    raw = make_dataset(data.model_copy(update={"standardize": False}), np.random.default_rng(0), _table())
    assert raw.y_train.min() > 50 and raw.scaling is None


def test_make_dataset_csv_classification_split_is_stratified_and_deterministic():
    data = _data(dataset="csv", csv_id="abc", train_ratio=0.5)
    a, b = (make_dataset(data, np.random.default_rng(7), csv_text=_table(80)) for _ in range(2))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.task == "classification" and a.num_classes == 2 and a.class_names == ["0", "1"]
    counts = np.bincount(_all(a, "y"))
    assert np.abs(np.bincount(a.y_train) - counts / 2).max() <= 0.5
    with pytest.raises(ValueError, match="needs the uploaded CSV text"):
        make_dataset(data, np.random.default_rng(0))
