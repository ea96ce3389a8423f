"""python -m server.soak: a bounded mix of normal and hostile traffic against a local server, then figures.

It starts a server on a free loopback port (its own data dir) and, for `--seconds`, runs side by side:
normal runs followed to the end on the websocket, control floods (websocket and REST), oversized and
malformed configs, bad CSV uploads, full-history reads, and a health probe every 0.2 s. It prints the
requests by status, the slowest /api/health, the peak RSS of the server and of its workers, the size
of the database, and the number of 5xx answers; it exits 1 when any answer was a 5xx or the server died.
Traffic goes to 127.0.0.1 only, and every loop is bounded in time and in count.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from server.bench import _children, _rss
from server.local import LocalServer

CLIENT_HEADERS = {"X-Requested-With": "nnplay"}
NORMAL_RUN = {"training": {"epochs": 60}, "telemetry": {"every": 5}, "name": "soak"}
HEAVY_RUN = {
    "data": {"dataset": "circle", "n_samples": 4000},
    "model": {"layers": [{"type": "dense", "units": 120, "activation": "tanh"}] * 2},
    "training": {"epochs": 30, "batch_size": 1},
    "telemetry": {"grid_size": 200, "neuron_grid_size": 100},
    "name": "soak heavy",
}
OVERSIZED = [
    {"model": {"layers": [{"type": "dense", "units": 4}] * 500}},
    {"model": {"layers": [{"type": "dense", "units": 10**6}]}},
    {
        "data": {"dataset": "digits"},
        "model": {
            "layers": [{"type": "conv2d", "filters": 128, "kernel_size": 3, "padding": 5}] * 3
            + [{"type": "flatten"}, {"type": "dense", "units": 1024}]
        },
        "dtype": "float64",
    },
    {"training": {"epochs": 10**9}},
    {"model": {"layers": [{"type": "dense", "units": True}]}},
    {"optimizer": {"name": "adam", "lr": "fast"}},
    {"model": {"layers": [{"type": "teleport"}]}},
]
BAD_CSVS = [
    b"a,b,y\r1,2,0\r3,4,1\r",
    b'a,b,y\n1,"2\r5",0\n3,4,1\n',
    b"a,b,y\n1," + b"9" * (200 * 1024) + b",0\n",
    b",".join(b"c%d" % i for i in range(100_000)) + b"\n",
    b"a,a,y\n1,2,0\n",
    b"a,b,y\n1,2\n3,4,1\n",
    b"\xff\xfe\x00garbage\n",
    b"",
]


@dataclass
class Tally:
    statuses: collections.Counter = field(default_factory=collections.Counter)
    health: list[float] = field(default_factory=list)
    ws_errors: int = 0
    ws_epochs: int = 0
    failures: list[str] = field(default_factory=list)

    def record(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.failures.append(
                f"{response.request.method} {response.request.url.path}: {response.text[:200]}"
            )

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


async def _request(client: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        tally.statuses[type(error).__name__] += 1
        return None
    tally.record(response)
    return response


async def _health(client: httpx.AsyncClient, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        await _request(client, tally, "GET", "/api/health")
        tally.health.append(time.monotonic() - started)
        await asyncio.sleep(0.2)


async def _follow(ws_url: str, run_id: str, tally: Tally, flood: int = 0, deadline: float = 60) -> None:
    """Subscribe to a run, optionally flood it with `set` controls, and read until done or the deadline."""
    try:
        async with asyncio.timeout(deadline):
            async with connect(f"{ws_url}/api/runs/{run_id}/stream", max_size=None) as websocket:
                for index in range(flood):
                    lr = 0.01 + index * 1e-6
                    await websocket.send(json.dumps({"type": "control", "action": "set", "lr": lr}))
                async for text in websocket:
                    kind = json.loads(text).get("type")
                    tally.ws_errors += kind == "error"
                    tally.ws_epochs += kind in ("epoch", "epochs")
                    if kind == "done":
                        return
    except TimeoutError:
        tally.statuses["ws timeout"] += 1
    except Exception as error:
        tally.statuses[f"ws {type(error).__name__}"] += 1


async def _create(client: httpx.AsyncClient, tally: Tally, config: dict[str, Any]) -> str | None:
    response = await _request(client, tally, "POST", "/api/runs", json=config)
    if response is not None and response.status_code == 201:
        return response.json()["id"]
    return None


async def _normal_runs(client, ws_url, tally: Tally, until: float, limit: int, done: list[str]) -> None:
    for _ in range(limit):
        if time.monotonic() >= until:
            return
        run_id = await _create(client, tally, NORMAL_RUN)
        if run_id is None:
            await asyncio.sleep(1)
            continue
        await _follow(ws_url, run_id, tally)
        await _request(client, tally, "GET", f"/api/runs/{run_id}/model")
        await _request(
            client, tally, "POST", f"/api/runs/{run_id}/predict", json={"inputs": [[1e308, -1e308]]}
        )
        done.append(run_id)


async def _floods(client, ws_url, tally: Tally, until: float, limit: int, size: int) -> None:
    for _ in range(limit):
        if time.monotonic() >= until:
            return
        run_id = await _create(client, tally, HEAVY_RUN)
        if run_id is None:
            await asyncio.sleep(1)
            continue
        follower = asyncio.create_task(_follow(ws_url, run_id, tally, flood=size, deadline=30))
        for index in range(size // 10):
            payload = {"action": "set", "lr": 0.02 + index * 1e-6}
            await _request(client, tally, "POST", f"/api/runs/{run_id}/control", json=payload)
        await _request(client, tally, "POST", f"/api/runs/{run_id}/control", json={"action": "stop"})
        await follower
        await _request(client, tally, "DELETE", f"/api/runs/{run_id}")


async def _hostile_inputs(client, tally: Tally, until: float, limit: int) -> None:
    for round_ in range(limit):
        if time.monotonic() >= until:
            return
        for config in OVERSIZED:
            await _request(client, tally, "POST", "/api/runs", json=config)
        for index, body in enumerate(BAD_CSVS):
            params = {"name": f"bad {round_}.{index}"}
            headers = {"content-type": "text/csv"}
            await _request(
                client, tally, "POST", "/api/datasets", params=params, content=body, headers=headers
            )
        await _request(client, tally, "GET", "/api/lab/activations", params={"spec": "[" * 3000 + "]" * 3000})
        await _request(
            client,
            tally,
            "POST",
            "/api/runs",
            content=b"\xff\xfe{",
            headers={"content-type": "application/json"},
        )
        await asyncio.sleep(0.5)


async def _history_reads(client, tally: Tally, until: float, limit: int, done: list[str]) -> None:
    for _ in range(limit):
        if time.monotonic() >= until:
            return
        for run_id in done[-3:]:
            async with client.stream("GET", f"/api/runs/{run_id}/epochs", params={"full": 1}) as response:
                async for _chunk in response.aiter_bytes():
                    pass
                tally.record(response)
        await asyncio.sleep(1)


async def soak(server: LocalServer, seconds: float, rounds: int, flood: int) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    done: list[str] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=CLIENT_HEADERS) as client:
        await asyncio.gather(
            _health(client, tally, until),
            _normal_runs(client, server.ws_url, tally, until, rounds, done),
            _floods(client, server.ws_url, tally, until, max(1, rounds // 4), flood),
            _hostile_inputs(client, tally, until, rounds),
            _history_reads(client, tally, until, rounds, done),
        )
    return tally


class Peaks:
    """Samples the server's and its workers' RSS every 0.2 s."""

    def __init__(self, pid: int):
        self.pid, self.server, self.workers = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.server = max(self.server, _rss(self.pid))
            self.workers = max([self.workers, *(_rss(child) for child in _children(self.pid))])

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def database_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in data_dir.glob("nnplay.sqlite3*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long the traffic lasts")
    parser.add_argument("--rounds", type=int, default=40, help="at most this many rounds of each kind")
    parser.add_argument("--flood", type=int, default=1500, help="set controls per flooded websocket")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nnplay-soak-") as data_dir:
        server = LocalServer(data_dir).start()
        try:
            with Peaks(server.process.pid) as peaks:
                tally = asyncio.run(soak(server, args.seconds, args.rounds, args.flood))
            alive = server.process.poll() is None
        finally:
            server.stop()
        size = database_bytes(Path(data_dir))
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items(), key=str))
    print(f"requests by status: {statuses}")
    print(f"websocket: {tally.ws_epochs} epoch messages, {tally.ws_errors} error envelopes")
    print(f"slowest /api/health: {1000 * max(tally.health, default=float('nan')):.0f} ms")
    print(f"peak RSS: server {peaks.server / 2**20:.0f} MB, largest worker {peaks.workers / 2**20:.0f} MB")
    print(f"database: {size / 2**20:.1f} MB")
    print(f"5xx answers: {tally.server_errors}")
    for failure in tally.failures[:10]:
        print(f"  {failure}")
    if not alive:
        print("the server died during the soak")
    return 0 if alive and tally.server_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
