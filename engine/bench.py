"""Benchmark: per-epoch time and samples/s of the engine, with and without telemetry, beside PyTorch CPU.

Run as `python -m engine.bench [--quick]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from engine.config import RunConfig
from engine.datasets import ArrayDataset
from engine.trainer import Trainer

NO_TELEMETRY = {
    "histograms": False,
    "activations": False,
    "boundary": False,
    "neurons": False,
    "weights": False,
}


def playground_case() -> tuple[dict, ArrayDataset | None]:
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


def mlp_case() -> tuple[dict, ArrayDataset]:
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


def time_engine(config: dict, data, epochs: int, telemetry: dict | None) -> float:
    """Median seconds per epoch (training, evaluation and telemetry) after one warm-up epoch."""
    run = RunConfig.model_validate(
        {**config, "training": {**config["training"], "epochs": epochs + 1}, "telemetry": telemetry or {}}
    )
    trainer = Trainer(run, data=data)
    times = []
    last = time.perf_counter()
    for _ in trainer.epochs():
        now = time.perf_counter()
        times.append(now - last)
        last = now
    return statistics.median(times[1:])


def time_torch(config: dict, data, epochs: int) -> float | None:
    """The same training in PyTorch (CPU, float32): median seconds per epoch, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    trainer = Trainer(RunConfig.model_validate(config), data=data)
    x_train, y_train = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    x_test, y_test = torch.from_numpy(trainer.x_test), torch.from_numpy(trainer.y_test)
    layers, width = [], trainer.input_shape[0]
    for layer in trainer.model.layers:
        name = type(layer).__name__
        if name == "Dense":
            out = layer.params["weight"].shape[0]
            layers.append(torch.nn.Linear(width, out))
            width = out
        else:
            layers.append({"Tanh": torch.nn.Tanh, "ReLU": torch.nn.ReLU}[name]())
    net = torch.nn.Sequential(*layers)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.model.state_dict().items()})
    loss_fn = (
        torch.nn.BCEWithLogitsLoss()
        if trainer.loss_name == "bce_with_logits"
        else torch.nn.CrossEntropyLoss()
    )
    opt_cfg = trainer.config.optimizer
    optimizer = (
        torch.optim.SGD(net.parameters(), lr=opt_cfg.lr)
        if opt_cfg.name == "sgd"
        else torch.optim.Adam(net.parameters(), lr=opt_cfg.lr)
    )
    batch = int(trainer.config.training.batch_size)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        xs, ys = x_train[order], y_train[order]
        for i in range(0, len(xs), batch):
            optimizer.zero_grad()
            loss_fn(net(xs[i : i + batch]), ys[i : i + batch]).backward()
            optimizer.step()
        with torch.no_grad():
            loss_fn(net(x_train), y_train).item()
            loss_fn(net(x_test), y_test).item()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
    args = parser.parse_args(argv)
    cases = [
        ("(a) playground 2-8-8-1 tanh SGD b10", playground_case(), 40, 250),
        ("(b) mlp 64-256-256-10 relu Adam b128", mlp_case(), 6, 10_000),
    ]
    print(f"{'case':40s} {'variant':22s} {'ms/epoch':>10s} {'samples/s':>12s}")
    for title, (config, data), epochs, samples in cases:
        epochs = max(2, epochs // 4) if args.quick else epochs
        bare = time_engine(config, data, epochs, NO_TELEMETRY)
        full = time_engine(config, data, epochs, None)
        rows = [("nnplay, no telemetry", bare), ("nnplay, full telemetry", full)]
        torch_time = time_torch(config, data, epochs)
        if torch_time is not None:
            rows.append(("pytorch cpu", torch_time))
        for variant, seconds in rows:
            print(f"{title:40s} {variant:22s} {seconds * 1e3:10.3f} {samples / seconds:12.0f}")
        print(f"{title:40s} telemetry overhead: {100 * (full / bare - 1):+.1f}%")
        if torch_time is not None:
            print(
                f"{title:40s} speed-up vs pytorch: {torch_time / bare:.2f}x (no telemetry), "
                f"{torch_time / full:.2f}x (full telemetry)"
            )


if __name__ == "__main__":
    main()
