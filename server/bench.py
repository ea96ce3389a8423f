"""python -m server.bench: N concurrent runs with a websocket subscriber each, against the engine alone.

For each N it starts a server, creates N runs paused (so every worker is warm), subscribes to each,
resumes them together and reports epochs/s per run and in total, the delay from an epoch's end
(the record's t_end) to its arrival at the subscriber, and the peak RSS of the server and its workers.
The same N runs are trained by the engine alone, one process per core, before and after. By default
the server runs as shipped: at most NNPLAY_MAX_RUNS (the cores) at once, the rest queued.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from server.local import LocalServer
from server.settings import Settings


@dataclass
class Result:
    runs: int
    epochs: int = 0
    seconds: float = 0.0
    per_run: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    peak_rss: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def total_rate(self) -> float:
        return self.epochs / self.seconds if self.seconds else 0.0


def bench_config(epochs: int, every: int) -> dict[str, Any]:
    from engine.config import RunConfig

    return RunConfig.model_validate(
        {"training": {"epochs": epochs}, "telemetry": {"every": every}, "name": "bench"}
    ).model_dump(mode="json")


def _train(config: dict[str, Any]) -> tuple[int, float]:
    from engine.trainer import Trainer

    trainer = Trainer(config)
    started = time.perf_counter()
    count = sum(1 for _ in trainer.epochs())
    return count, time.perf_counter() - started


def engine_alone(config: dict[str, Any], runs: int, cores: int, nice: int) -> Result:
    """The same runs trained by the engine alone, `cores` processes at a time (at the workers' nice)."""
    context = mp.get_context("spawn")
    with context.Pool(cores, initializer=os.nice, initargs=(nice,)) as pool:
        pool.map(_train, [dict(config, training={**config["training"], "epochs": 2})] * cores)
        started = time.perf_counter()
        results = pool.map(_train, [config] * runs, chunksize=1)
        seconds = time.perf_counter() - started
    return Result(runs, sum(n for n, _ in results), seconds, [n / s for n, s in results])


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_rss(pid: int) -> int:
    return _rss(pid) + sum(tree_rss(child) for child in _children(pid))


def _number(text: str, key: str) -> float:
    """A top-level number field of a record, read without parsing the (possibly large) message."""
    start = text.index(f'"{key}":') + len(key) + 3
    end = min(i for i in (text.find(",", start), text.find("}", start)) if i >= 0)
    return float(text[start:end])


async def _subscribe(url: str, run_id: str, ready: asyncio.Event, go: asyncio.Event, result: Result) -> None:
    async with connect(f"{url}/api/runs/{run_id}/stream", max_size=None, compression=None) as websocket:
        await websocket.recv()
        ready.set()
        await go.wait()
        await websocket.send(json.dumps({"type": "control", "action": "resume"}))
        first = last = count = 0
        while True:
            text = await websocket.recv()
            arrived = time.time()
            if text.startswith('{"type":"epoch"'):
                ends = [(_number(text, "t_end"), _number(text, "wall_time"))]
            elif text.startswith('{"type":"epochs"'):
                ends = [(record["t_end"], record["wall_time"]) for record in json.loads(text)["records"]]
            elif json.loads(text)["type"] == "done":
                result.per_run.append(count / (last - first) if count and last > first else 0.0)
                result.epochs += count
                return
            else:
                continue
            result.delays += [arrived - t_end for t_end, _ in ends]
            count += len(ends)
            first = first or ends[0][0] - ends[0][1]
            last = ends[-1][0]


async def _served(server: LocalServer, config: dict[str, Any], runs: int, max_runs: int) -> Result:
    result = Result(runs)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        ids = []
        for _ in range(runs):
            response = await client.post("/api/runs", json={**config, "paused": True})
            response.raise_for_status()
            ids.append(response.json()["id"])
        while True:
            statuses = [(await client.get(f"/api/runs/{run_id}")).json()["status"] for run_id in ids]
            if statuses.count("paused") == min(runs, max_runs):
                break
            await asyncio.sleep(0.2)
    go = asyncio.Event()
    readies = [asyncio.Event() for _ in ids]
    ws_url = server.ws_url
    tasks = [
        asyncio.create_task(_subscribe(ws_url, i, r, go, result)) for i, r in zip(ids, readies, strict=True)
    ]
    for ready in readies:
        await ready.wait()
    cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    result.server_cpu = cpu_seconds(server.process.pid) - cpu
    result.client_cpu = time.process_time() - client_cpu
    return result


def served(config: dict[str, Any], runs: int, max_runs: int) -> Result:
    data_dir = tempfile.TemporaryDirectory(prefix="nnplay-bench-")
    env = {"NNPLAY_MAX_RUNS": str(max_runs), "NNPLAY_MAX_QUEUED": "1000"}
    server = LocalServer(data_dir.name, env).start()
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], tree_rss(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = asyncio.run(_served(server, config, runs, max_runs))
    finally:
        stop.set()
        sampler.join()
        server.stop()
        data_dir.cleanup()
    result.peak_rss = peak[0]
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--every", type=int, default=10, help="heavy telemetry every n epochs")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per N (speed drifts)")
    parser.add_argument(
        "--max-runs",
        help="NNPLAY_MAX_RUNS: a number, or N for every run at once (default: the server's, the cores)",
    )
    args = parser.parse_args(argv)
    config = bench_config(args.epochs, args.every)
    settings = Settings()
    print(
        f"default RunConfig (circle, 4-2 tanh, batch 10), {args.epochs} epochs, heavy telemetry every "
        f"{args.every}; {args.cores} cores; NNPLAY_MAX_RUNS={args.max_runs or settings.max_runs}; "
        "engine ep/s: the same runs on the engine alone, the mean of before and after the server's"
    )
    print(
        f"{'N':>3} {'run ep/s':>9} {'total ep/s':>10} {'engine ep/s':>11} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'server CPU':>10} {'client CPU':>10} {'load':>5}"
    )
    ratios: dict[int, list[float]] = {}
    for runs in args.runs:
        max_runs = runs if args.max_runs == "N" else int(args.max_runs or settings.max_runs)
        for _ in range(args.rounds):
            load = os.getloadavg()[0]
            before = engine_alone(config, runs, args.cores, settings.worker_nice)
            result = served(config, runs, max_runs)
            after = engine_alone(config, runs, args.cores, settings.worker_nice)
            engine_rate = (before.total_rate + after.total_rate) / 2
            ratios.setdefault(runs, []).append(result.total_rate / engine_rate)
            print(
                f"{runs:>3} {statistics.mean(result.per_run):>9.1f} {result.total_rate:>10.1f} "
                f"{engine_rate:>11.1f} {result.total_rate / engine_rate:>6.0%} "
                f"{1000 * percentile(result.delays, 50):>7.1f} {1000 * percentile(result.delays, 99):>7.1f} "
                f"{result.peak_rss / 2**20:>7.0f} {result.server_cpu / result.seconds:>10.0%} "
                f"{result.client_cpu / result.seconds:>10.0%} {load:>5.1f}",
                flush=True,
            )
    for runs, values in ratios.items():
        print(
            f"N={runs}: median ratio {statistics.median(values):.0%} over {len(values)} rounds "
            f"({min(values):.0%} to {max(values):.0%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
