"""Benchmark: the engine's seconds per epoch beside PyTorch CPU, interleaved in blocks in one process.

Run as `python -m engine.bench [--quick] [--threads N]`. Each round alternates blocks of epochs of every
variant and of PyTorch; a block's figure is its mean epoch (a block holds a whole number of live-view
periods, so the rare heavy epochs count), a round's figure each side's median block, the printed figure
the median of the rounds. Both sides get the same BLAS/OpenMP threads (default 1, as the server runs one
run per core: two thread pools spinning against each other on a shared machine measure the machine, not
the engines), and the clock is the process's CPU time by default (`--clock wall` for wall time), which
other programs on a busy machine do not inflate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from engine.config import MAX_EPOCHS, RunConfig
from engine.datasets import ArrayDataset
from engine.trainer import Trainer

ROUNDS = 3
LIVE_FRAMES_PER_SECOND = 30
NO_HEAVY = {"every": MAX_EPOCHS}

Config = dict[str, Any]
Case = Callable[[], tuple[Config, ArrayDataset | None]]


def playground_case() -> tuple[Config, ArrayDataset | None]:
    """(a) TF-Playground's setting: 500 circle points (half for training), 2-8-8-1 tanh, SGD, batch 10."""
    config = {
        "data": {"dataset": "circle", "n_samples": 500, "train_ratio": 0.5},
        "model": {
            "layers": [
                {"type": "dense", "units": 8, "activation": "tanh"},
                {"type": "dense", "units": 8, "activation": "tanh"},
            ]
        },
        "optimizer": {"name": "sgd", "lr": 0.03},
        "training": {"batch_size": 10},
    }
    return config, None


def mlp_case() -> tuple[Config, ArrayDataset]:
    """(b) 64-256-256-10 ReLU, Adam, batch 128, 10,000 training samples of a random teacher's classes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12_000, 64))
    y = np.argmax(x @ rng.standard_normal((64, 10)), axis=1)
    data = ArrayDataset(x[:10_000], y[:10_000], x[10_000:], y[10_000:])
    config = {
        "model": {
            "layers": [
                {"type": "dense", "units": 256, "activation": "relu"},
                {"type": "dense", "units": 256, "activation": "relu"},
            ]
        },
        "optimizer": {"name": "adam", "lr": 0.001},
        "training": {"batch_size": 128},
    }
    return config, data


def conv_case() -> tuple[Config, ArrayDataset | None]:
    """(c) digits 1x8x8: conv 8 (3x3, pad 1) relu, maxpool 2, conv 16 (3x3, pad 1) relu, flatten, dense 10.

    Adam, batch 32, 1000 training samples (and 250 test).
    """
    config = {
        "data": {"dataset": "digits", "n_samples": 1250, "train_ratio": 0.8},
        "model": {
            "layers": [
                {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": 1, "activation": "relu"},
                {"type": "maxpool2d", "kernel_size": 2},
                {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1, "activation": "relu"},
            ]
        },
        "optimizer": {"name": "adam", "lr": 0.001},
        "training": {"batch_size": 32},
    }
    return config, None


CASES: list[tuple[str, Case, int, int, int]] = [
    ("(a) playground 2-8-8-1 tanh SGD b10", playground_case, 250, 20, 15),
    ("(b) mlp 64-256-256-10 relu Adam b128", mlp_case, 10_000, 2, 3),
    ("(c) digits conv8-pool-conv16-10 Adam b32", conv_case, 1000, 5, 4),
]


def engine_epoch(config: Config, data: ArrayDataset | None, telemetry: dict[str, int]) -> Callable[[], None]:
    """One more epoch of the engine (training, evaluation, record) per call, after three warm-up epochs."""
    run = RunConfig.model_validate(
        {**config, "training": {**config["training"], "epochs": MAX_EPOCHS}, "telemetry": telemetry}
    )
    records = Trainer(run, data=data).epochs()
    for _ in range(3):
        next(records)

    def epoch() -> None:
        next(records)

    return epoch


def torch_side(trainer: Trainer) -> dict[str, Any]:
    """The plan's torch code run: model (holding the trainer's weights), loss_fn, optimizer, scheduler."""
    import torch

    from engine.plan import run_torch

    side = run_torch(trainer.plan.torch)
    side["model"].load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    return side


def torch_epoch(config: Config, data: ArrayDataset | None, threads: int = 1) -> Callable[[], None] | None:
    """One epoch of the same training in PyTorch (CPU, `threads`) per call, or None without torch.

    The network, loss, optimizer and schedule are the plan's torch code, derived from the engine's own
    declarations.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    trainer = Trainer(RunConfig.model_validate(config), data=data)
    x_train, y_train = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    x_test, y_test = torch.from_numpy(trainer.x_test), torch.from_numpy(trainer.y_test)
    side = torch_side(trainer)
    net, loss_fn, optimizer, scheduler = (side[k] for k in ("model", "loss_fn", "optimizer", "scheduler"))
    batch = int(trainer.config.training.batch_size)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(x_train), generator=generator)
        xs, ys = x_train[order], y_train[order]
        for i in range(0, len(xs), batch):
            optimizer.zero_grad()
            loss_fn(net(xs[i : i + batch]), ys[i : i + batch]).backward()
            optimizer.step()
        scheduler.step()
        with torch.no_grad():
            loss_fn(net(x_train), y_train).item()
            loss_fn(net(x_test), y_test).item()

    for _ in range(3):
        epoch()
    return epoch


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def timed(epoch: Callable[[], None], count: int) -> float:
    """Mean seconds per epoch over `count` epochs in a row."""
    start = clock()
    for _ in range(count):
        epoch()
    return (clock() - start) / count


def interleaved(sides: dict[str, Callable[[], None]], block: int, blocks: int) -> dict[str, list[float]]:
    """Per side and round, the median over its blocks of their seconds per epoch; sides alternate by block."""
    rounds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(blocks):
            for name, epoch in sides.items():
                times[name].append(timed(epoch, block))
        for name in sides:
            rounds[name].append(statistics.median(times[name]))
    return rounds


def whole_periods(block: int, period: int) -> int:
    """The number of epochs nearest `block` that holds a whole number (at least one) of `period`s."""
    return period * max(1, round(block / period))


def run_case(title: str, factory: Case, samples: int, block: int, blocks: int, threads: int = 1) -> None:
    config, data = factory()
    bare = engine_epoch(config, data, NO_HEAVY)
    per_second = 1 / statistics.median(timed(bare, block) for _ in range(3))
    live_every = max(1, round(per_second / LIVE_FRAMES_PER_SECOND))
    block = whole_periods(block, live_every)
    sides = {
        "nnplay, no heavy": bare,
        "nnplay, live view": engine_epoch(config, data, {"every": live_every}),
        "nnplay, heavy every": engine_epoch(config, data, {"every": 1}),
    }
    torch_side = torch_epoch(config, data, threads)
    if torch_side is not None:
        sides["pytorch cpu"] = torch_side
    rounds = interleaved(sides, block, blocks)
    for name, seconds in rounds.items():
        ms = statistics.median(seconds)
        print(f"{title:42s} {name:20s} {ms * 1e3:10.3f} {samples / ms:12.0f}")
    base = rounds["nnplay, no heavy"]

    def median_ratio(numerator: list[float], denominator: list[float]) -> float:
        return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))

    live, heavy = (
        median_ratio(rounds["nnplay, live view"], base),
        median_ratio(rounds["nnplay, heavy every"], base),
    )
    print(
        f"{title:42s} telemetry overhead: {100 * (live - 1):+.1f}% live view "
        f"(heavy every {live_every} epochs, ~{LIVE_FRAMES_PER_SECOND}/s), "
        f"{100 * (heavy - 1):+.1f}% heavy every epoch"
    )
    if torch_side is not None:
        torch_times = rounds["pytorch cpu"]
        print(
            f"{title:42s} speed-up vs pytorch: {median_ratio(torch_times, base):.2f}x (no heavy), "
            f"{median_ratio(torch_times, rounds['nnplay, live view']):.2f}x (live view), "
            f"{median_ratio(torch_times, rounds['nnplay, heavy every']):.2f}x (heavy every epoch); "
            f"rounds {', '.join(f'{t / b:.2f}x' for t, b in zip(torch_times, base, strict=True))}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short blocks (a smoke run)")
    parser.add_argument("--case", choices=["a", "b", "c"], action="append", help="only these cases")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads of both sides (1)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu", help="process CPU time or wall time")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    print(
        f"{'case':42s} {'variant':20s} {'ms/epoch':>10s} {'samples/s':>12s}   "
        f"threads: {args.threads}, clock: {args.clock}"
    )
    with threadpool_limits(args.threads), np.errstate(all="ignore"):
        for title, factory, samples, block, blocks in CASES:
            if args.case and title[1] not in args.case:
                continue
            if args.quick:
                block, blocks = max(1, block // 4), 1
            run_case(title, factory, samples, block, blocks, args.threads)


if __name__ == "__main__":
    main()
