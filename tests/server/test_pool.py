"""The process executor: jobs in worker processes, FIFO queueing, controls, deadlines, crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import deque
from pathlib import Path

import pytest

from engine.config import RunConfig
from server.executor import Job
from server.pool import CLOSE_GRACE_SECONDS, ProcessExecutor, coalesce
from tests.server.conftest import small_config

pytestmark = pytest.mark.timeout(120)


def lr(event):
    return json.loads(event.data["scalars_json"])["lr"]


def job(run_id, epochs=3, **options):
    config = RunConfig.model_validate(small_config(epochs=epochs)).model_dump(mode="json")
    return Job(run_id, config, **options)


class Events:
    """Collects the executor's events in the background."""

    def __init__(self, executor):
        self.seen = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._collect(executor))

    async def _collect(self, executor):
        async for batch in executor.events():
            self.seen.extend(batch)
            self.changed.set()

    async def until(self, run_id, kind, timeout=60, **data):
        """Every event of run_id so far, once one of `kind` (with these data values) has arrived."""

        def arrived(event):
            return event.run_id == run_id and event.kind == kind and data.items() <= event.data.items()

        return await self.until_event(run_id, arrived, timeout)

    async def until_event(self, run_id, arrived, timeout=60):
        """Every event of run_id so far, once one for which arrived(event) is true has come."""
        async with asyncio.timeout(timeout):
            while not any(arrived(e) for e in self.seen):
                self.changed.clear()
                await self.changed.wait()
        return [e for e in self.seen if e.run_id == run_id]


def run(coroutine_fn, capacity=1, kill_grace=30.0, plugins=None):
    async def main():
        executor = ProcessExecutor(capacity, kill_grace=kill_grace, plugins=plugins)
        await executor.start()
        try:
            return await coroutine_fn(executor, Events(executor))
        finally:
            await executor.close()

    return asyncio.run(main())


def test_jobs_queue_fifo_and_report_every_epoch():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=3))
        executor.submit(job("b", epochs=2))
        assert executor.queued == 1
        a = await events.until("a", "done")
        b = await events.until("b", "done")
        return a, b, executor.pids

    a, b, pids = run(scenario)
    assert [e.kind for e in a] == ["started", "epoch", "epoch", "epoch", "done"]
    assert [e.data["epoch"] for e in a if e.kind == "epoch"] == [1, 2, 3]
    assert a[-1].data["status"] == "completed" and a[-1].data["weights"].startswith(b"PK")
    assert b[-1].data["status"] == "completed"
    assert len(pids) == 1


def test_a_worker_that_cannot_import_a_plugin_fails_each_job_naming_the_module():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=2))
        executor.submit(job("b", epochs=2))
        return await events.until("a", "done"), await events.until("b", "done"), executor.pids

    a, b, pids = run(scenario, plugins=["engine", "tests.server.no_such_plugin"])
    for events in (a, b):
        assert [event.kind for event in events] == ["done"] and events[0].data["status"] == "failed"
        message = events[0].data["message"]
        assert "NNPLAY_PLUGINS" in message and "'tests.server.no_such_plugin'" in message, message
    assert len(pids) == 1


def test_workers_run_numpy_on_one_thread_each(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)

    async def scenario(executor, events):
        executor.submit(job("a", epochs=1))
        await events.until("a", "done")
        return [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in executor.pids]

    (environ,) = run(scenario)
    assert {b"OMP_NUM_THREADS=1", b"OPENBLAS_NUM_THREADS=1", b"MKL_NUM_THREADS=1"} <= set(environ)


def test_controls_reach_queued_and_running_jobs():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=1000, paused=True))
        executor.submit(job("b", epochs=2))
        executor.submit(job("c", epochs=2))
        assert executor.control("b", "set", {"lr": 0.5})
        assert executor.control("c", "stop", {"reason": "not needed"})
        assert executor.control("a", "step")
        assert executor.control("a", "step")
        await events.until("a", "status", status="paused")
        snapshot_sent = executor.control("a", "snapshot", {"request": "r1"})
        snapshot = next(e for e in await events.until("a", "snapshot") if e.kind == "snapshot")
        executor.control("a", "stop")
        a = await events.until("a", "done")
        b = await events.until("b", "done")
        c = await events.until("c", "done")
        return snapshot_sent, snapshot, a, b, c, executor.control("zzz", "pause")

    snapshot_sent, snapshot, a, b, c, unknown = run(scenario)
    assert snapshot_sent and snapshot.data["request"] == "r1" and snapshot.data["weights"]
    assert [e.data["epoch"] for e in a if e.kind == "epoch"] == [1, 2]
    assert a[-1].data["status"] == "stopped" and a[-1].data["message"] == "stopped by the user"
    assert a[0].data["status"] == "paused"
    assert {lr(e) for e in b if e.kind == "epoch"} == {0.5}
    assert [e.kind for e in c] == ["done"] and c[0].data == {
        "status": "stopped",
        "message": "not needed",
        "weights": None,
    }
    assert unknown is False


def test_deadline_stops_a_run_between_epochs():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=10_000, deadline=0.5))
        return await events.until("a", "done")

    done = run(scenario)[-1]
    assert done.data["status"] == "stopped" and "deadline of 0.5 s" in done.data["message"]


def test_a_stuck_run_is_killed_after_the_grace_period():
    async def scenario(executor, events):
        executor.submit(job("stuck", epochs=10_000, deadline=0.5))
        executor.submit(job("next", epochs=2))
        await events.until("stuck", "epoch")
        os.kill(executor.pids[0], signal.SIGSTOP)
        stuck = await events.until("stuck", "done")
        return stuck, await events.until("next", "done")

    stuck, after = run(scenario, kill_grace=0.3)
    assert stuck[-1].data["status"] == "stopped" and "its worker was killed" in stuck[-1].data["message"]
    assert after[-1].data["status"] == "completed"


def test_a_crashed_worker_fails_its_run_and_is_replaced():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=10_000))
        await events.until("a", "epoch")
        os.kill(executor.pids[0], signal.SIGKILL)
        crashed = await events.until("a", "done")
        executor.submit(job("b", epochs=2))
        return crashed, await events.until("b", "done")

    crashed, after = run(scenario)
    assert crashed[-1].data["status"] == "failed" and "exited unexpectedly" in crashed[-1].data["message"]
    assert after[-1].data["status"] == "completed"


def test_a_run_that_cannot_be_built_fails_with_the_reason():
    async def scenario(executor, events):
        config = RunConfig.model_validate({"model": {"layers": [{"type": "conv2d"}]}}).model_dump(mode="json")
        executor.submit(Job("bad", config))
        return await events.until("bad", "done")

    done = run(scenario)[-1]
    assert done.data["status"] == "failed" and "could not build the run" in done.data["message"]


def test_pending_set_controls_coalesce_and_other_controls_keep_their_order():
    pending = deque()
    messages = [
        ("control", "a", "set", {"lr": 0.1}),
        ("control", "a", "set", {"regularization_rate": 0.01}),
        ("control", "b", "set", {"lr": 0.5}),
        ("control", "a", "set", {"lr": 0.2}),
        ("control", "a", "pause", {}),
        ("control", "a", "set", {"lr": 0.3}),
        ("control", "a", "step", {}),
        ("control", "a", "step", {}),
        ("control", "a", "stop", {"reason": "first"}),
        ("control", "a", "set", {"lr": 0.4}),
        ("control", "a", "stop", {"reason": "second"}),
    ]
    for message in messages:
        if not coalesce(pending, message):
            pending.append(message)
    assert list(pending) == [
        ("control", "a", "set", {"lr": 0.2, "regularization_rate": 0.01}),
        ("control", "b", "set", {"lr": 0.5}),
        ("control", "a", "pause", {}),
        ("control", "a", "set", {"lr": 0.3}),
        ("control", "a", "step", {}),
        ("control", "a", "step", {}),
        ("control", "a", "stop", {"reason": "first"}),
        ("control", "a", "set", {"lr": 0.4}),
    ]


def test_a_control_flood_to_a_worker_that_does_not_read_never_blocks_and_coalesces():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=10_000))
        await events.until("a", "epoch")
        os.kill(executor.pids[0], signal.SIGSTOP)
        started = time.monotonic()
        for i in range(20_000):
            executor.control("a", "set", {"lr": 0.001 * (1 + i % 1000)})
        executor.control("a", "set", {"lr": 0.75})
        flooding = time.monotonic() - started
        outbox = executor._workers[0].commands
        waiting = list(outbox.pending)
        os.kill(executor.pids[0], signal.SIGCONT)
        await events.until_event("a", lambda e: e.kind == "epoch" and lr(e) == 0.75)
        executor.control("a", "stop")
        return flooding, waiting, await events.until("a", "done")

    flooding, waiting, seen = run(scenario)
    assert flooding < 5
    assert waiting == [("control", "a", "set", {"lr": 0.75})]
    assert seen[-1].data["status"] == "stopped"


def test_set_controls_on_a_queued_job_merge_into_one():
    async def scenario(executor, events):
        executor.submit(job("a", epochs=10_000, paused=True))
        waiting = job("b", epochs=2)
        executor.submit(waiting)
        for i in range(1000):
            executor.control("b", "set", {"lr": 0.001 * (i + 1)})
        executor.control("b", "set", {"regularization_rate": 0.5})
        settings = [dict(payload) for payload in waiting.settings]
        executor.control("a", "stop")
        return settings, await events.until("b", "done")

    settings, b = run(scenario)
    assert settings == [{"lr": 1.0, "regularization_rate": 0.5}]
    assert {lr(e) for e in b if e.kind == "epoch"} == {1.0}


def test_close_ends_within_the_grace_even_with_a_frozen_worker_and_a_full_command_pipe():
    async def main():
        executor = ProcessExecutor(1)
        events = Events(executor)
        await executor.start()
        executor.submit(job("a", epochs=10_000))
        await events.until("a", "epoch")
        os.kill(executor.pids[0], signal.SIGSTOP)
        for i in range(5_000):
            executor.control("a", "pause" if i % 2 else "resume")
        started = time.monotonic()
        await asyncio.wait_for(executor.close(), CLOSE_GRACE_SECONDS + 5)
        return time.monotonic() - started, await events.until("a", "done")

    took, seen = asyncio.run(main())
    assert took < CLOSE_GRACE_SECONDS + 2
    assert seen[-1].data["status"] == "stopped" and "killed" in seen[-1].data["message"]
