"""python -m server.browserbench trains in Chromium beside the engine alone and prints the page's figures."""

from __future__ import annotations

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


COLUMNS = ["page ep/s", "engine ep/s", "ratio", "fps", "worst ms", "long tasks", "steady", "clicks ms"]


def test_measure_reads_rates_frames_and_long_tasks_from_the_probe():
    frames = [1000 + 16 * i for i in range(200)] + [4400, 4500]
    data = {
        "epochs": [[1000, 1], [2000, 101], [3000, 201], [3000, 201]],
        "frames": frames,
        "done": 4500,
        "longTasks": [[500, 70], [1500, 60], [2500, 120]],
        "clicks": [12.5, 40],
    }
    result = browserbench.measure(data, "top")
    assert result.epochs == 201 and result.rate == pytest.approx(100)
    assert result.fps == pytest.approx(1000 * 201 / 3500)
    assert result.worst_frame == pytest.approx(4400 - frames[199])
    assert result.long_tasks == [60, 120] and result.steady_long_tasks == [120]
    assert result.clicks == [12.5, 40]


def test_measure_refuses_a_run_that_never_ended():
    with pytest.raises(RuntimeError, match="no end of the run"):
        probe = {"epochs": [[1, 1]], "frames": [], "done": None, "longTasks": [], "clicks": []}
        browserbench.measure(probe, "top")


@pytest.mark.timeout(600)
def test_browserbench_prints_every_figure(capsys):
    assert browserbench.main(["--epochs", "40", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:1] == ["round"])
    assert all(column in lines[header] for column in COLUMNS)
    for index, view in ((header + 1, "top"), (header + 3, "histograms")):
        fields = lines[index].split()
        assert fields[:2] == ["1", view]
        page, engine, ratio, fps, worst = (float(value.rstrip("%")) for value in fields[2:7])
        assert page > 0 and engine > 0 and ratio > 0 and fps > 0 and worst >= 0
        assert re.fullmatch(r"[\d/]+", fields[10]), "the Play click's latency at least"
        shares = cpu_shares(lines[index + 1])
        assert list(shares) == list(browserbench.GROUPS) and shares["renderer"] > 0
    text = "\n".join(lines)
    assert text.count("median cpu % of a core:") == 2
    figures = ("page/engine epochs/s: median", "fps: median", "worst frame after the first second: median")
    for figure in figures:
        assert text.count(figure) == 2
    assert text.count("long tasks in steady training:") == 2
    assert "click latency (pointer down to the next frame): median" in text
    assert "load average" in lines[0]
