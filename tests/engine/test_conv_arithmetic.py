import itertools

import numpy as np
import pytest
import torch

from engine import conv_arithmetic as ca

SEEDS = range(20)


@pytest.mark.parametrize(
    ("n", "kernel", "padding", "stride"),
    [
        c
        for c in itertools.product((4, 7, 8, 13), (1, 2, 3, 5), (0, 1, 2), (1, 2, 3))
        if c[1] <= c[0] + c[2] * 2
    ],
)
def test_formula_and_engine_shapes_equal_torch(n, kernel, padding, stride):
    conv = torch.nn.Conv2d(1, 1, kernel, stride, padding)(torch.zeros(1, 1, n, n + 1))
    pool = min(2, *conv.shape[2:])
    pooled = torch.nn.MaxPool2d(pool)(conv)
    result = ca.conv_arithmetic(n, n + 1, kernel, padding, stride, pool_size=pool)
    assert result["engine"] == {"conv2d": list(conv.shape[1:]), "maxpool2d": list(pooled.shape[1:])}
    assert [result["conv"]["rows"]["output"], result["conv"]["cols"]["output"]] == list(conv.shape[2:])
    assert [result["pool"]["rows"]["output"], result["pool"]["cols"]["output"]] == list(pooled.shape[2:])
    assert result["agrees"]


def test_the_notes_examples():
    padding = ca.conv_arithmetic(**ca.NOTES_EXAMPLES["padding"]["sizes"])
    assert padding["conv"]["rows"]["padded"] == 6 and padding["conv"]["rows"]["output"] == 4
    assert "4×4" in ca.NOTES_EXAMPLES["padding"]["quote"] and "6×6" in ca.NOTES_EXAMPLES["padding"]["quote"]
    stride = ca.conv_arithmetic(**ca.NOTES_EXAMPLES["stride"]["sizes"])
    rows = stride["conv"]["rows"]
    assert rows["output"] == 2 and rows["starts"] == [0, 3] and rows["unused"] == 1
    assert rows["formula"] == "height: floor((7 + 2·0 − 3) / 3) + 1 = floor(4/3) + 1 = 2"
    pooling = ca.conv_arithmetic(**ca.NOTES_EXAMPLES["pooling"]["sizes"])
    assert pooling["engine"] == {"conv2d": [1, 4, 4], "maxpool2d": [1, 2, 2]}
    assert pooling["pool"]["positions"] == [[0, 0], [0, 2], [2, 0], [2, 2]]


def test_every_window_lies_inside_the_padded_input():
    result = ca.conv_arithmetic(9, 6, kernel_size=4, padding=1, stride=2, pool_size=2, pool_stride=1)
    conv = result["conv"]
    assert len(conv["positions"]) == conv["rows"]["output"] * conv["cols"]["output"] == 4 * 3
    assert all(r + 4 <= 11 and c + 4 <= 8 for r, c in conv["positions"])
    assert result["pool"]["rows"]["output"] == 3 and result["engine"]["maxpool2d"] == [1, 3, 2]


def test_a_kernel_larger_than_the_padded_input_names_the_field():
    with pytest.raises(ValueError, match=r"^kernel_size 7 is larger than the padded input 6 \(= 4 \+ 2 x 1"):
        ca.conv_arithmetic(4, 4, kernel_size=7, padding=1)
    with pytest.raises(ValueError, match="^pool_size 3 is larger than the padded input 2"):
        ca.conv_arithmetic(4, 4, kernel_size=3, pool_size=3)


def test_shift_right_moves_columns_and_fills_zeros():
    x = np.arange(1, 13, dtype=float).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(ca.shift_right(x, 1)[0, 0], [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]])
    np.testing.assert_array_equal(ca.shift_right(x, 0), x)


def test_max_pooling_tolerates_a_one_pixel_shift_on_19_of_20_seeds():
    results = [ca.shift_tolerance(seed) for seed in SEEDS]
    assert sum(r["verdict"]["passed"] for r in results) >= 19
    first = results[0]
    assert first["shifts"][0]["conv_change"] == first["shifts"][0]["pool_change"] == 0
    assert first["shifts"][1]["pool_unchanged"] > 0.2


def test_without_pooling_the_check_fails():
    results = [ca.shift_tolerance(seed, pool_size=1) for seed in range(5)]
    assert not any(r["verdict"]["passed"] for r in results)
    assert all(r["verdict"]["values"]["ratio"] == pytest.approx(1.0) for r in results)


def test_the_seed_picks_the_images_and_weights():
    a, b = ca.shift_tolerance(0), ca.shift_tolerance(1)
    assert a["example"]["image"] != b["example"]["image"]
    assert ca.shift_tolerance(0)["verdict"] == a["verdict"]
