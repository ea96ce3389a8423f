"""Conv arithmetic: output sizes, the sliding window's positions and max pooling's tolerance to shifts."""

from __future__ import annotations

import numpy as np

from engine import activations
from engine.datasets import _digits
from engine.layers import Conv2d, MaxPool2d
from engine.model import Model

NOTES_EXAMPLES = {
    "padding": {
        "quote": "对形状为 4×4 的数据进行幅度为 1 的填充……形状变为 6×6,再经过卷积后数据的形状为 4×4",
        "english": "a 4×4 input padded by 1 becomes 6×6, and after the convolution the output is 4×4",
        "inferred": "the notes' figure (not in the text) uses a 3×3 kernel: 6 − 3 + 1 = 4",
        "sizes": {"height": 4, "width": 4, "kernel_size": 3, "padding": 1, "stride": 1, "pool_size": 2},
    },
    "stride": {
        "quote": "应用卷积核的位置间隔称之为步幅(stride)……下面我们进行步幅为 3 的卷积运算",
        "english": "the step between the kernel's positions is the stride; here a convolution with stride 3",
        "inferred": "the text gives only the stride; 7×7 and a 3×3 kernel are ours (floor drops a column)",
        "sizes": {"height": 7, "width": 7, "kernel_size": 3, "padding": 0, "stride": 3, "pool_size": 2},
    },
    "pooling": {
        "quote": "对数据进行步幅为 2 的 2×2 的 Max 池化",
        "english": "2×2 max pooling with stride 2",
        "inferred": "the input size is ours: a 3×3 kernel on 6×6 gives 4×4, pooled to 2×2",
        "sizes": {"height": 6, "width": 6, "kernel_size": 3, "padding": 0, "stride": 1, "pool_size": 2},
    },
}
SHIFT_QUOTE = (
    "数据在宽度方向上偏离 1 个元素,返回的结果不变 (shifted by 1 element in width, the result is unchanged)"
)
SHIFT_RATIO = 0.8
SHIFT_KEPT = 2.0


def output_size(n: int, kernel: int, padding: int = 0, stride: int = 1, field: str = "kernel_size") -> int:
    """floor((n + 2p - k) / s) + 1, as torch.nn.Conv2d and MaxPool2d; k > n + 2p raises naming field."""
    padded = n + 2 * padding
    if kernel > padded:
        raise ValueError(f"{field} {kernel} is larger than the padded input {padded} (= {n} + 2 x {padding})")
    return (padded - kernel) // stride + 1


def _axis(name: str, n: int, kernel: int, padding: int, stride: int, field: str) -> dict:
    out = output_size(n, kernel, padding, stride, field)
    padded = n + 2 * padding
    covered = (out - 1) * stride + kernel
    return {
        "input": n,
        "padded": padded,
        "output": out,
        "starts": [i * stride for i in range(out)],
        "unused": padded - covered,
        "formula": f"{name}: floor(({n} + 2·{padding} − {kernel}) / {stride}) + 1 = "
        f"floor({padded - kernel}/{stride}) + 1 = {out}",
    }


def _stage(height: int, width: int, kernel: int, padding: int, stride: int, field: str) -> dict:
    rows = _axis("height", height, kernel, padding, stride, field)
    cols = _axis("width", width, kernel, padding, stride, field)
    positions = [[r, c] for r in rows["starts"] for c in cols["starts"]]
    return {
        "kernel": kernel,
        "padding": padding,
        "stride": stride,
        "rows": rows,
        "cols": cols,
        "positions": positions,
    }


def conv_arithmetic(
    height: int,
    width: int,
    kernel_size: int = 3,
    padding: int = 0,
    stride: int = 1,
    pool_size: int = 2,
    pool_stride: int | None = None,
) -> dict:
    """Output sizes of conv2d then maxpool2d by the formula, each window's position, and the engine's shapes.

    The engine builds Conv2d(1 filter) and MaxPool2d and runs a (1, 1, height, width) input through them;
    `agrees` says its output shapes equal the formula's.
    """
    pool_stride = pool_size if pool_stride is None else pool_stride
    conv = _stage(height, width, kernel_size, padding, stride, "kernel_size")
    pool = _stage(conv["rows"]["output"], conv["cols"]["output"], pool_size, 0, pool_stride, "pool_size")
    model = Model(
        [Conv2d(1, kernel_size, stride, padding), MaxPool2d(pool_size, pool_stride)], (1, height, width)
    )
    model.build(np.random.default_rng(0), np.float64)
    trace = model.trace(np.random.default_rng(1).standard_normal((1, 1, height, width)))
    engine = {"conv2d": list(trace[1].shape[1:]), "maxpool2d": list(trace[2].shape[1:])}
    expected = {
        "conv2d": [1, conv["rows"]["output"], conv["cols"]["output"]],
        "maxpool2d": [1, pool["rows"]["output"], pool["cols"]["output"]],
    }
    return {"conv": conv, "pool": pool, "engine": engine, "agrees": engine == expected}


def shift_right(images: np.ndarray, pixels: int) -> np.ndarray:
    """Images (n, c, h, w) moved `pixels` columns to the right, zeros coming in on the left."""
    shifted = np.zeros_like(images)
    shifted[..., pixels:] = images[..., : images.shape[-1] - pixels]
    return shifted


def _relative_change(before: np.ndarray, after: np.ndarray) -> float:
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def _unchanged(before: np.ndarray, after: np.ndarray) -> float:
    """The share of outputs, among those non-zero before or after, that the shift leaves equal."""
    active = (before != 0) | (after != 0)
    return float(np.mean(np.isclose(before[active], after[active], rtol=0, atol=1e-12)))


def shift_tolerance(
    seed: int = 0, images: int = 64, filters: int = 8, pool_size: int = 2, max_shift: int = 3
) -> dict:
    """How much a 1-pixel shift changes conv -> ReLU feature maps before and after max pooling.

    Digits images (seeded choice) through the engine's Conv2d(filters, 3, padding 1) with seeded He weights
    and ReLU, then MaxPool2d(pool_size); change = ||F(shift(x)) - F(x)|| / ||F(x)|| over all images, for
    shifts 0..max_shift. The check, at a 1-pixel shift: the pooled maps change by at most SHIFT_RATIO times as
    much, and at least SHIFT_KEPT times as large a share of their active values stays exactly the same.
    """
    rng = np.random.default_rng(seed)
    x_all, _ = _digits()
    x = x_all[rng.choice(len(x_all), images, replace=False)].reshape(-1, 1, 8, 8)
    conv = Conv2d(filters, 3, padding=1, weight_init={"name": "he_normal", "nonlinearity": "relu"})
    model = Model([conv, activations.get("relu"), MaxPool2d(pool_size)], (1, 8, 8)).build(rng, np.float64)
    base = model.trace(x)
    rows = []
    for shift in range(max_shift + 1):
        moved = model.trace(shift_right(x, shift))
        rows.append(
            {
                "shift": shift,
                "conv_change": _relative_change(base[2], moved[2]),
                "pool_change": _relative_change(base[3], moved[3]),
                "conv_unchanged": _unchanged(base[2], moved[2]),
                "pool_unchanged": _unchanged(base[3], moved[3]),
            }
        )
    example = model.trace(shift_right(x[:1], 1))
    one = rows[1]
    ratio, kept = one["pool_change"] / one["conv_change"], one["pool_unchanged"]
    summary = (
        f"shifted by 1 pixel, the conv + ReLU maps change by {one['conv_change']:.0%} and the "
        f"{pool_size}×{pool_size} max-pooled maps by {one['pool_change']:.0%} (ratio {ratio:.2f}); "
        f"{one['pool_unchanged']:.0%} of the active pooled values stay exactly the same vs "
        f"{one['conv_unchanged']:.0%} before pooling"
    )
    return {
        "seed": seed,
        "images": images,
        "filters": filters,
        "pool_size": pool_size,
        "quote": SHIFT_QUOTE,
        "shifts": rows,
        "example": {
            "image": x[0, 0].tolist(),
            "shifted": shift_right(x, 1)[0, 0].tolist(),
            "conv": base[2][0, 0].tolist(),
            "conv_shifted": example[2][0, 0].tolist(),
            "pool": base[3][0, 0].tolist(),
            "pool_shifted": example[3][0, 0].tolist(),
        },
        "verdict": {
            "passed": bool(ratio <= SHIFT_RATIO and kept >= SHIFT_KEPT * one["conv_unchanged"]),
            "summary": summary,
            "values": {
                "conv_change": one["conv_change"],
                "pool_change": one["pool_change"],
                "ratio": ratio,
                "conv_unchanged": one["conv_unchanged"],
                "pool_unchanged": one["pool_unchanged"],
            },
        },
    }
