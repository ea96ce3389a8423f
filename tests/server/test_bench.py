"""python -m server.bench runs N subscribed runs on a real server beside the engine alone and prints a row."""

from __future__ import annotations

import pytest

from server import bench

COLUMNS = ["N", "run ep/s", "total ep/s", "engine ep/s", "ratio", "p50 ms", "p99 ms", "RSS MB", "server CPU"]
COLUMNS += ["server us/ep"]


@pytest.mark.timeout(300)
def test_bench_prints_throughput_delay_and_memory(capsys):
    assert bench.main(["--runs", "2", "--epochs", "6", "--every", "3", "--cores", "2", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:1] == ["N"])
    assert all(column in lines[header] for column in COLUMNS)
    row = lines[header + 1].split()
    runs, per_run, total, engine = int(row[0]), float(row[1]), float(row[2]), float(row[3])
    assert runs == 2 and per_run > 0 and total > 0 and engine > 0
    assert row[4].endswith("%") and float(row[5]) >= 0 and float(row[6]) >= float(row[5])
    assert float(row[7]) > 0 and float(row[9]) >= 0
    assert any(line.startswith("N=2: median ratio ") for line in lines[header + 2 :])


@pytest.mark.timeout(300)
def test_sweep_bench_prints_runs_per_minute_delay_and_scheduler_cpu(capsys):
    flags = ["--sweep-runs", "3", "--sweep-epochs", "10", "--subscribe", "2"]
    assert bench.main(["--sweep", *flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] in (["local"], ["dask"])}
    for executor in ("local", "dask"):
        per_minute, p50, p99, _ = rows[executor]
        assert float(per_minute) > 0 and 0 <= float(p50) <= float(p99)
    assert rows["local"][3] == "-" and rows["dask"][3].endswith("%")
    figures = {line.split(":")[0]: line.split(":")[1].split() for line in lines if ":" in line}
    assert figures["Dask/local runs per minute"][0].endswith("%")
    assert float(figures["p99 epoch->subscriber delay through Dask"][0]) >= 0
    assert float(figures["Dask scheduler CPU share"][0].rstrip("%")) >= 0
