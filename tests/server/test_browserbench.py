"""python -m server.browserbench trains in Chromium beside the engine alone and prints the page's figures."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from server import browserbench


def cpu_shares(line):
    assert line.startswith("  cpu % of a core: "), line
    fields = line.split(":", 1)[1].split()
    return {group: float(share) for group, share in zip(fields[::2], fields[1::2], strict=True)}


def test_the_cpu_monitor_counts_each_group_of_descendants():
    spin = (
        "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
        "print('spun', flush=True)\ntime.sleep(60)"
    )
    monitor = browserbench.CpuMonitor(server_pid=-1)
    monitor.start()
    command = [sys.executable, "-c", spin, "--type=renderer"]
    busy = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout is not None and busy.stdout.readline() == "spun\n"
        shares = monitor.stop()
    finally:
        busy.kill()
        busy.wait(30)
    assert 0.55 * 100 / monitor.seconds <= shares["renderer"] <= 0.7 * 100 / monitor.seconds + 5
    assert shares["worker"] == shares["gpu"] == shares["server"] == 0


def test_processes_are_grouped_by_their_command_line():
    group = browserbench.process_group
    assert group("python -m server.cli serve", 10, 10) == "server"
    assert group("python -m server.worker 5 6 5", 11, 10) == "worker"
    assert group("/usr/lib/chromium/chromium --type=renderer --lang=en", 12, 10) == "renderer"
    assert group("/usr/lib/chromium/chromium --type=gpu-process", 13, 10) == "gpu"
    assert group("/usr/lib/chromium/chromium --type=utility", 14, 10) == "browser"
    assert group("/usr/lib/chromium/chromium --headless", 15, 10) == "browser"
    assert group("node cli.js run-driver", 16, 10) == "driver"
    assert group("sh -c true", 17, 10) is None


COLUMNS = [
    "nice",
    "page ep/s",
    "engine ep/s",
    "ratio",
    "heavy/s",
    "fps",
    "worst ms",
    "long tasks",
    "clicks ms",
]


def test_measure_reads_rates_frames_and_long_tasks_from_the_probe():
    frames = [1000 + 16 * i for i in range(200)] + [4400, 4500]
    data = {
        "epochs": [[1000, 1], [2000, 101], [3000, 201], [3000, 201]],
        "frames": frames,
        "done": 4500,
        "longTasks": [[500, 70], [1500, 60], [2500, 120]],
        "clicks": [12.5, 40],
        "heavy": [900, 1000, 2000, 3000, 4000, 4600],
    }
    result = browserbench.measure(data, "top")
    assert result.epochs == 201 and result.rate == pytest.approx(100)
    assert result.heavy_rate == pytest.approx(1000 * 4 / 3500)
    assert result.fps == pytest.approx(1000 * 201 / 3500)
    assert result.worst_frame == pytest.approx(4400 - frames[199])
    assert result.long_tasks == [60, 120] and result.steady_long_tasks == [120]
    assert result.clicks == [12.5, 40]


def test_measure_refuses_a_run_that_never_ended():
    with pytest.raises(RuntimeError, match="no end of the run"):
        probe = {"epochs": [[1, 1]], "frames": [], "done": None, "longTasks": [], "clicks": []}
        browserbench.measure(probe, "top")


def test_worker_nice_takes_a_list_of_nice_values():
    assert browserbench.nice_values("5,0") == [5, 0]
    assert browserbench.nice_values("3") == [3]
    for wrong in ("", "5,x", "20", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="worker-nice"):
            browserbench.nice_values(wrong)


@pytest.mark.timeout(600)
def test_browserbench_prints_every_figure_for_each_worker_nice(capsys):
    assert browserbench.main(["--epochs", "40", "--rounds", "1", "--worker-nice", "7,0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:1] == ["round"])
    assert all(column in lines[header] for column in COLUMNS)
    rows = ((1, "top", "7"), (3, "histograms", "7"), (5, "top", "0"), (7, "histograms", "0"))
    for offset, view, nice in rows:
        fields = lines[header + offset].split()
        assert fields[:3] == ["1", view, nice], "the worker is seen at the nice asked for"
        page, engine, ratio, heavy, fps, worst = (float(value.rstrip("%")) for value in fields[3:9])
        assert page > 0 and engine > 0 and ratio > 0 and heavy > 0 and fps > 0 and worst >= 0
        assert re.fullmatch(r"[\d/]+", fields[12]), "the Play click's latency at least"
        shares = cpu_shares(lines[header + offset + 1])
        assert list(shares) == list(browserbench.GROUPS) and shares["renderer"] > 0
    text = "\n".join(lines)
    assert text.count("median cpu % of a core:") == 4
    assert "histograms in view, workers at nice 0:" in text
    figures = (
        "page/engine epochs/s: median",
        "heavy frames/s: median",
        "fps: median",
        "worst frame after the first second: median",
    )
    for figure in figures:
        assert text.count(figure) == 4
    assert text.count("long tasks in steady training:") == 4
    assert "click latency (pointer down to the next frame): median" in text
    assert "load average" in lines[0]
