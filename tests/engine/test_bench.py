"""python -m engine.bench --quick runs the three cases and prints their figures beside PyTorch."""

from __future__ import annotations

import re

import pytest

from engine import bench

VARIANTS = ["nnplay, no heavy", "nnplay, live view", "nnplay, heavy every", "pytorch cpu"]
ROW = re.compile(r"\s{2,}(" + "|".join(VARIANTS) + r")\s+([\d.]+)\s+\d+$")
SPEED_UP = re.compile(r"speed-up vs pytorch: ([\d.]+)x \(no heavy\), ([\d.]+)x \(live view\), ([\d.]+)x")
OVERHEAD = re.compile(
    r"telemetry overhead: [+-][\d.]+% live view \(heavy every \d+ epochs, ~30/s\), "
    r"[+-][\d.]+% heavy every epoch"
)


@pytest.mark.timeout(600)
def test_quick_bench_prints_times_overhead_and_speed_up_for_every_case(capsys):
    bench.main(["--quick"])
    out = capsys.readouterr().out
    titles = [title for title, *_ in bench.CASES]
    assert [t[:3] for t in titles] == ["(a)", "(b)", "(c)"]
    for case in titles:
        rows = [line for line in out.splitlines() if line.startswith(case)]
        timed = [ROW.search(row) for row in rows]
        variants = {match[1]: float(match[2]) for match in timed if match}
        assert list(variants) == VARIANTS
        assert all(ms > 0 for ms in variants.values())
        assert sum(bool(OVERHEAD.search(row)) for row in rows) == 1
        ratios = [SPEED_UP.search(row) for row in rows]
        assert [float(r) > 0 for match in ratios if match for r in match.groups()] == [True] * 3


def test_the_conv_case_is_the_digits_net_of_the_issue():
    config, data = bench.conv_case()
    assert data is None and config["data"]["dataset"] == "digits"
    assert round(config["data"]["n_samples"] * config["data"]["train_ratio"]) == 1000
    assert config["training"]["batch_size"] == 32 and config["optimizer"]["name"] == "adam"
    engine_side = bench.engine_epoch(config, data, bench.NO_HEAVY)
    engine_side()
    pytest.importorskip("torch")
    from engine.config import RunConfig
    from engine.trainer import Trainer

    trainer = Trainer(RunConfig.model_validate(config))
    net = bench.torch_side(trainer)["model"]
    assert str(net).count("Conv2d") == 2 and "MaxPool2d" in str(net) and "Linear(in_features=256" in str(net)
    assert trainer.input_shape == (1, 8, 8)


def test_a_block_counts_as_its_mean_epoch_so_rare_heavy_epochs_weigh_in(monkeypatch):
    now, count = [0.0], [0]

    def live_view():
        count[0] += 1
        now[0] += 5.0 if count[0] % 5 == 0 else 1.0

    monkeypatch.setattr(bench, "clock", lambda: now[0])
    rounds = bench.interleaved({"live view": live_view}, 5, 3)
    assert rounds == {"live view": [1.8] * bench.ROUNDS}


def test_blocks_hold_whole_live_view_periods():
    assert [bench.whole_periods(20, every) for every in (1, 7, 13, 18, 45)] == [20, 21, 26, 18, 45]
