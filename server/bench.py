"""python -m server.bench: N concurrent runs with a websocket subscriber each, against the engine alone.

For each N it starts a server, creates N runs paused (so every worker is warm), subscribes to each,
resumes them together and reports epochs/s per run and in total, the delay from an epoch's end
(the record's t_end) to its arrival at the subscriber, the peak RSS of the server and its workers, and
the server process's CPU time per epoch (less sensitive to other load on the machine than the ratio).
The same N runs are trained by the engine alone, one process per core, before and after. By default
the server runs as shipped: at most NNPLAY_MAX_RUNS (the cores) at once, the rest queued.

With --sweep: a sweep of default circle runs (one per seed) on the local pool and on a 2-worker Dask
cluster on loopback; runs per minute on each, the epoch->subscriber delay of a few subscribed runs and
the Dask scheduler's CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from websockets.asyncio.client import connect

from server.local import ROOT, LocalServer
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


@dataclass
class SweepResult:
    runs: int
    seconds: float = 0.0
    delays: list[float] = field(default_factory=list)
    scheduler_cpu: float | None = None

    @property
    def runs_per_minute(self) -> float:
        return 60 * self.runs / self.seconds if self.seconds else 0.0


def _watch(client: Any, run_id: str, delays: list[float]) -> None:
    """Append the delay from each live epoch's end to its arrival here."""
    for message in client.messages(run_id, timeout=600):
        arrived = time.time()
        if message["type"] == "epoch":
            delays.append(arrived - message["record"]["t_end"])
        elif message["type"] == "epochs":
            delays += [arrived - record["t_end"] for record in message["records"]]


def timed_sweep(url: str, spec: dict[str, Any], subscribe: int, result: SweepResult) -> None:
    """Start the sweep, subscribe to its first `subscribe` runs once they have ids, wait for the end."""
    from server.client import Client

    with Client(url, timeout=60) as client:
        started = time.perf_counter()
        sweep_id = client.sweep(spec)["id"]
        watchers: list[threading.Thread] = []
        for table in client.sweep_progress(sweep_id, timeout=600):
            for row in table["runs"][len(watchers) : subscribe]:
                if not row["run_id"]:
                    break
                watcher = threading.Thread(target=_watch, args=(client, row["run_id"], result.delays))
                watcher.start()
                watchers.append(watcher)
        result.seconds = time.perf_counter() - started
        for watcher in watchers:
            watcher.join(60)
        table = client.sweep_table(sweep_id)
    if table["status"] != "completed" or table["finished"] != result.runs:
        raise RuntimeError(f"the sweep ended {table['status']} with {table['finished']}/{result.runs} runs")


def _spawn_dask(arguments: list[str], log: IO) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    dask = str(Path(sys.executable).with_name("dask"))
    return subprocess.Popen([dask, *arguments], cwd=ROOT, env=env, stdout=log, stderr=log)


def swept(spec: dict[str, Any], workers: int, subscribe: int, executor: str) -> SweepResult:
    """The sweep on a fresh server with `workers` local workers, or `workers` Dask workers on loopback."""
    from distributed import Client as DaskClient

    result = SweepResult(spec["budget"])
    processes: list[subprocess.Popen] = []
    server = None
    with tempfile.TemporaryDirectory(prefix="nnplay-bench-") as tmp, open(Path(tmp) / "dask.log", "w") as log:
        env = {"NNPLAY_MAX_RUNS": str(workers), "NNPLAY_MAX_QUEUED": "1000"}
        try:
            if executor == "dask":
                scheduler_file = Path(tmp) / "scheduler.json"
                processes.append(
                    _spawn_dask(
                        ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                        + ["--scheduler-file", str(scheduler_file)],
                        log,
                    )
                )
                deadline = time.monotonic() + 60
                while not (scheduler_file.exists() and scheduler_file.read_text().strip()):
                    if time.monotonic() > deadline or processes[0].poll() is not None:
                        raise RuntimeError(f"the Dask scheduler did not start; see {log.name}")
                    time.sleep(0.1)
                address = json.loads(scheduler_file.read_text())["address"]
                for index in range(workers):
                    worker = ["worker", address, "--name", f"w{index}", "--host", "127.0.0.1"]
                    worker += ["--nworkers", "1", "--nthreads", "1", "--resources", "CPU=1"]
                    processes.append(_spawn_dask(worker + ["--no-nanny", "--no-dashboard"], log))
                with DaskClient(address, timeout=60) as dask:
                    dask.wait_for_workers(workers, timeout=90)
                env |= {"NNPLAY_EXECUTOR": "dask", "NNPLAY_DASK_SCHEDULER": address}
            server = LocalServer(Path(tmp) / "data", env).start()
            scheduler_cpu = cpu_seconds(processes[0].pid) if processes else 0.0
            timed_sweep(server.url, spec, subscribe, result)
            if processes:
                result.scheduler_cpu = (cpu_seconds(processes[0].pid) - scheduler_cpu) / result.seconds
        finally:
            if server is not None:
                server.stop()
            for process in processes:
                process.kill()
            for process in processes:
                process.wait(10)
    return result


def sweep_bench(runs: int, epochs: int | None, workers: int, subscribe: int) -> None:
    from engine.config import RunConfig

    base = RunConfig.model_validate({"name": "bench sweep"}).model_dump(mode="json")
    if epochs is not None:
        base["training"]["epochs"] = epochs
    axes = [{"path": "seed", "values": list(range(runs))}]
    spec = {"base": base, "axes": axes, "budget": runs, "concurrency": 2 * workers, "name": "bench"}
    print(
        f"sweep of {runs} default circle runs ({base['training']['epochs']} epochs, one per seed), "
        f"{workers} workers, {subscribe} runs subscribed"
    )
    print(f"{'executor':>8} {'runs/min':>9} {'p50 ms':>7} {'p99 ms':>7} {'scheduler CPU':>13}")
    results = {}
    for executor in ("local", "dask"):
        result = results[executor] = swept(spec, workers, subscribe, executor)
        share = "-" if result.scheduler_cpu is None else f"{result.scheduler_cpu:.1%}"
        print(
            f"{executor:>8} {result.runs_per_minute:>9.1f} {1000 * percentile(result.delays, 50):>7.1f} "
            f"{1000 * percentile(result.delays, 99):>7.1f} {share:>13}",
            flush=True,
        )
    ratio = results["dask"].runs_per_minute / results["local"].runs_per_minute
    print(f"Dask/local runs per minute: {ratio:.0%}")
    print(f"p99 epoch->subscriber delay through Dask: {1000 * percentile(results['dask'].delays, 99):.1f} ms")
    print(f"Dask scheduler CPU share: {results['dask'].scheduler_cpu:.1%}")


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
    parser.add_argument("--sweep", action="store_true", help="the sweep benchmark: local pool against Dask")
    parser.add_argument("--sweep-runs", type=int, default=64, help="with --sweep: runs in the sweep")
    parser.add_argument("--sweep-epochs", type=int, help="with --sweep: epochs per run (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="with --sweep: local and Dask workers")
    parser.add_argument("--subscribe", type=int, default=4, help="with --sweep: runs with a subscriber")
    args = parser.parse_args(argv)
    if args.sweep:
        sweep_bench(args.sweep_runs, args.sweep_epochs, args.workers, args.subscribe)
        return 0
    config = bench_config(args.epochs, args.every)
    settings = Settings()
    print(
        f"default RunConfig (circle, 4-2 tanh, batch 10), {args.epochs} epochs, heavy telemetry every "
        f"{args.every}; {args.cores} cores; NNPLAY_MAX_RUNS={args.max_runs or settings.max_runs}; "
        "engine ep/s: the same runs on the engine alone, the mean of before and after the server's"
    )
    print(
        f"{'N':>3} {'run ep/s':>9} {'total ep/s':>10} {'engine ep/s':>11} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'server CPU':>10} {'server us/ep':>12} "
        f"{'client CPU':>10} {'load':>5}"
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
                f"{1e6 * result.server_cpu / max(1, result.epochs):>12.0f} "
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
