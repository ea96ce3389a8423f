"""python -m engine.bench --quick runs both cases and prints their figures beside PyTorch."""

from __future__ import annotations

import re

import pytest

from engine import bench

ROW = re.compile(r"\s{2,}(nnplay, no telemetry|nnplay, full telemetry|pytorch cpu)\s+([\d.]+)\s+\d+$")


@pytest.mark.timeout(300)
def test_quick_bench_prints_times_overhead_and_speed_up(capsys):
    bench.main(["--quick"])
    out = capsys.readouterr().out
    for case in ("(a) playground 2-8-8-1 tanh SGD b10", "(b) mlp 64-256-256-10 relu Adam b128"):
        rows = [line for line in out.splitlines() if line.startswith(case)]
        timed = [ROW.search(row) for row in rows]
        variants = {match[1]: float(match[2]) for match in timed if match}
        assert list(variants) == ["nnplay, no telemetry", "nnplay, full telemetry", "pytorch cpu"]
        assert all(ms > 0 for ms in variants.values())
        assert any("telemetry overhead" in row for row in rows)
        assert any("speed-up vs pytorch" in row for row in rows)
