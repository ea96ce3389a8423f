"""nnplay run writes the history, the model and a standalone report; nnplay serve starts the server."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

from server.cli import main
from server.local import LocalServer
from tests.server.conftest import ROOT, small_config
from tests.server.test_dask_executor import dask_cluster  # noqa: F401, F811


def test_run_writes_history_model_and_report(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(small_config(epochs=4, name="cli run")))
    out, report = tmp_path / "out", tmp_path / "report.html"
    assert main(["run", str(config), "--out", str(out), "--html", str(report), "--quiet"]) == 0
    lines = gzip.decompress((out / "epochs.jsonl.gz").read_bytes()).decode().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    with np.load(out / "model.npz") as model:
        assert model["0.weight"].shape == (3, 2)
    assert json.loads((out / "config.json").read_text())["name"] == "cli run"
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "cli run" in html
    assert len(html) > 1_000_000 and "<script src=" not in html
    assert "completed after 4 epochs" in capsys.readouterr().out


def test_run_shows_a_progress_bar(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(small_config(epochs=3)))
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "run", str(config), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "3/3" in result.stderr and "accuracy=" in result.stderr and "loss=" in result.stderr


def test_run_rejects_a_bad_config_naming_the_field(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"optimizer": {"name": "sgd", "lr": -1}}))
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "optimizer.sgd.lr" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.json")]) == 2


@pytest.mark.timeout(120)
def test_serve_starts_the_server_on_its_data_dir(tmp_path):
    server = LocalServer(tmp_path / "d").start()
    try:
        assert httpx.get(f"{server.url}/api/health", timeout=5).json()["status"] == "ok"
        assert (tmp_path / "d" / "nnplay.sqlite3").exists()
    finally:
        server.stop()


def test_a_1000_epoch_default_run_writes_at_most_1_mb_of_records(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"training": {"epochs": 1000}}))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    assert (out / "epochs.jsonl.gz").stat().st_size <= 1_000_000
    lines = gzip.decompress((out / "epochs.jsonl.gz").read_bytes()).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == list(range(1, 1001))
    assert [r["epoch"] for r in records if r["heavy"]] == [1, *range(5, 1001, 5)]
    assert all("boundary" not in r for r in records if not r["heavy"])


def sweep_spec(tmp_path, axes) -> str:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": small_config(epochs=3), "axes": axes, "concurrency": 2}))
    return str(spec)


def test_sweep_starts_a_local_server_shows_progress_and_writes_the_table(tmp_path, capsys):
    spec = sweep_spec(tmp_path, [{"path": "optimizer.lr", "values": [0.01, 0.1, 0.3]}])
    out = tmp_path / "table.csv"
    assert main(["sweep", spec, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err and "completed: 3 completed" in captured.out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(float(row["optimizer.lr"]) for row in rows) == [0.01, 0.1, 0.3]
    assert all(row["status"] == "completed" and row["run_id"] for row in rows)


def test_sweep_on_a_running_server_and_a_bad_axis_is_named(tmp_path, capsys, live_server):
    server = live_server()
    spec = sweep_spec(tmp_path, [{"path": "model.layers.0.activation", "values": ["tanh", "relu"]}])
    out = tmp_path / "table.csv"
    assert main(["sweep", spec, "--url", server.url, "--out", str(out), "--quiet"]) == 0
    assert len(out.read_text().strip().splitlines()) == 3
    assert len(httpx.get(f"{server.url}/api/runs").json()["data"]) == 2
    capsys.readouterr()
    bad = sweep_spec(tmp_path, [{"path": "optimizer.no_such_field", "values": [1]}])
    assert main(["sweep", bad, "--url", server.url, "--out", str(tmp_path / "bad.csv")]) == 2
    error = capsys.readouterr().err
    assert "no_such_field" in error and "HTTP 422" in error and not (tmp_path / "bad.csv").exists()


def test_sweep_with_executor_dask_trains_on_the_scheduler_it_names(tmp_path, dask_cluster):  # noqa: F811
    address, dask = dask_cluster
    spec = sweep_spec(tmp_path, [{"path": "seed", "values": [1, 2]}])
    out = tmp_path / "table.csv"
    flags = ["--executor", "dask", "--scheduler", address, "--out", str(out), "--quiet"]
    assert main(["sweep", spec, *flags]) == 0
    assert [row["status"] for row in csv.DictReader(io.StringIO(out.read_text()))] == ["completed"] * 2
    prefixes = dask.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert prefixes, "no task reached the Dask scheduler"
