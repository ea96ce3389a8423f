"""ProcessExecutor: long-lived worker processes, one job each at a time, fed from a FIFO queue."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.executor import Action, Event, Job, merge_settings
from server.wire import READ_BYTES, Outbox, Reader

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
EVENT_PIPE_BYTES = 1 << 20
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
CLOSE_GRACE_SECONDS = 3.0


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    commands: Outbox
    events: int
    reader: Reader = field(default_factory=Reader)
    job: Job | None = None
    started: float | None = None
    killed: str | None = None
    waiting_to_write: bool = False


def coalesce(pending: deque, message: tuple) -> bool:
    """Fold a control into those waiting for the same run, if it can be; True when it was.

    A `set` merges into a `set` waiting after the run's last other control; a `stop` or `heavy` joins
    one already waiting. Pause, resume and step keep their place and their order.
    """
    _, run_id, action, payload = message
    for waiting in reversed(pending):
        if waiting[0] != "control" or waiting[1] != run_id:
            continue
        if action in ("stop", "heavy") and waiting[2] == action:
            return True
        if action == "set":
            if waiting[2] != "set":
                return False
            merge_settings(waiting[3], payload)
            return True
    return False


class ProcessExecutor:
    """Up to `capacity` worker processes, spawned on demand and reused; each imports `plugins` at its start.

    The event loop reads each worker's event pipe when it is readable and writes its command pipe when
    it has room, both non-blocking, so neither training nor a worker busy writing an epoch ever blocks
    the loop. Commands wait in a per-worker outbox while the pipe is full, where `set` controls coalesce.
    Event pipes hold 1 MiB, so a worker rarely waits for the server; workers run at `nice`, so the
    server stays responsive while they compute.
    """

    def __init__(
        self, capacity: int, kill_grace: float = 30.0, nice: int = 0, plugins: list[str] | None = None
    ):
        self.capacity = capacity
        self.kill_grace = kill_grace
        self.nice = nice
        self.plugins = list(plugins or [])
        self._workers: list[_Worker] = []
        self._queue: deque[Job] = deque()
        self._events: asyncio.Queue[list[Event] | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task | None = None
        self._reaping: set[asyncio.Task] = set()
        self._closing = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._watchdog = asyncio.create_task(self._watch())

    async def close(self) -> None:
        """Ask every worker to stop, kill those still alive after CLOSE_GRACE_SECONDS, close every pipe."""
        self._closing = True
        if self._watchdog:
            self._watchdog.cancel()
        for worker in self._workers:
            self._send(worker, None)
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        for worker in list(self._workers):
            if not await _exited(worker.process, deadline - time.monotonic()):
                worker.killed = (
                    f"the server shut down and the worker did not stop within {CLOSE_GRACE_SECONDS:g} s; "
                    "it was killed"
                )
                worker.process.kill()
                await _exited(worker.process, 2.0)
        for worker in list(self._workers):
            if worker.process.poll() is not None:
                self._drain(worker)
        while self._reaping:
            await asyncio.gather(*self._reaping)
        for worker in list(self._workers):
            self._stop_reading(worker)
            self._stop_writing(worker)
            self._on_exit(worker)
        self._events.put_nowait(None)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        if self._queue or self._closing:
            return False
        return len(self._workers) < self.capacity or any(worker.job is None for worker in self._workers)

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self._dispatch()

    def control(self, run_id: str, action: Action, payload: dict[str, Any] | None = None) -> bool:
        payload = payload or {}
        for worker in self._workers:
            if worker.job is not None and worker.job.run_id == run_id:
                self._send(worker, ("control", run_id, action, dict(payload)))
                return True
        for job in self._queue:
            if job.run_id == run_id:
                self._control_queued(job, action, dict(payload))
                return True
        return False

    async def events(self) -> AsyncIterator[list[Event]]:
        while (batch := await self._events.get()) is not None:
            yield batch

    def _control_queued(self, job: Job, action: Action, payload: dict[str, Any]) -> None:
        if action == "stop":
            self._queue.remove(job)
            reason = payload.get("reason") or "stopped by the user"
            self._emit([Event("done", job.run_id, {"status": "stopped", "message": reason, "weights": None})])
        elif action == "snapshot":
            self._emit(
                [Event("snapshot", job.run_id, {**payload, "weights": None, "message": "not started"})]
            )
        else:
            job.control_waiting(action, payload)

    def _dispatch(self) -> None:
        while self._queue and not self._closing:
            worker = next((w for w in self._workers if w.job is None), None)
            if worker is None:
                if len(self._workers) >= self.capacity:
                    return
                worker = self._spawn()
            job = self._queue.popleft()
            worker.job, worker.started = job, None
            self._send(worker, ("job", job))

    def _spawn(self) -> _Worker:
        commands, command_writer = os.pipe()
        events, event_writer = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(event_writer, fcntl.F_SETPIPE_SZ, EVENT_PIPE_BYTES)
        fds = (commands, event_writer)
        arguments = [*map(str, fds), str(self.nice), ",".join(self.plugins)]
        path = os.pathsep.join(filter(None, (PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "server.worker", *arguments],
                pass_fds=fds,
                env={**ONE_THREAD, **os.environ, "PYTHONPATH": path},
            )
        except BaseException:
            for fd in (command_writer, events):
                os.close(fd)
            raise
        finally:
            os.close(commands)
            os.close(event_writer)
        os.set_blocking(command_writer, False)
        os.set_blocking(events, False)
        worker = _Worker(process, Outbox(command_writer), events)
        self._loop.add_reader(events, self._readable, worker)
        self._workers.append(worker)
        return worker

    def _send(self, worker: _Worker, message: tuple | None) -> None:
        """Queue a message for the worker and write what its command pipe takes now; never blocks."""
        outbox = worker.commands
        if outbox.fd < 0:
            return
        if message is None or message[0] != "control" or not coalesce(outbox.pending, message):
            outbox.pending.append(message)
        if not worker.waiting_to_write:
            self._flush(worker)

    def _flush(self, worker: _Worker) -> None:
        try:
            done = worker.commands.flush()
        except OSError:
            worker.commands.clear()
            done = True
        if done and worker.waiting_to_write:
            self._loop.remove_writer(worker.commands.fd)
            worker.waiting_to_write = False
        elif not done and not worker.waiting_to_write:
            self._loop.add_writer(worker.commands.fd, self._flush, worker)
            worker.waiting_to_write = True

    def _stop_writing(self, worker: _Worker) -> None:
        outbox = worker.commands
        if outbox.fd >= 0:
            if worker.waiting_to_write:
                self._loop.remove_writer(outbox.fd)
                worker.waiting_to_write = False
            outbox.clear()
            os.close(outbox.fd)
            outbox.fd = -1

    def _readable(self, worker: _Worker) -> None:
        try:
            chunk = os.read(worker.events, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            messages = worker.reader.feed(chunk)
            if messages:
                self._on_messages(worker, messages)
            return
        self._stop_reading(worker)
        task = asyncio.create_task(self._reap(worker))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    def _drain(self, worker: _Worker) -> None:
        """Read what an exited worker left in its event pipe, up to the end (which starts its reaping)."""
        for _ in range(EVENT_PIPE_BYTES // READ_BYTES + 2):
            if worker.events < 0:
                return
            self._readable(worker)

    def _stop_reading(self, worker: _Worker) -> None:
        if worker.events >= 0:
            self._loop.remove_reader(worker.events)
            os.close(worker.events)
            worker.events = -1

    async def _reap(self, worker: _Worker) -> None:
        if not await _exited(worker.process, 5.0):
            worker.process.kill()
            await _exited(worker.process, 5.0)
        self._stop_writing(worker)
        self._on_exit(worker)

    def _on_messages(self, worker: _Worker, messages: list[tuple]) -> None:
        events = [Event(kind, run_id, data) for kind, run_id, data in messages]
        self._emit(events)
        kinds = {event.kind for event in events}
        if "started" in kinds:
            worker.started = time.monotonic()
        if "done" in kinds:
            worker.job = None
            self._dispatch()

    def _on_exit(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        job = worker.job
        if job is not None:
            message = (
                worker.killed
                or f"the worker process exited unexpectedly (exit code {worker.process.returncode})"
            )
            status = "stopped" if worker.killed else "failed"
            data = {"status": status, "message": message, "weights": None, "lost": not worker.killed}
            self._emit([Event("done", job.run_id, data)])
        self._dispatch()

    def _emit(self, events: list[Event]) -> None:
        self._events.put_nowait(events)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for worker in self._workers:
                job = worker.job
                if job is None or worker.started is None or worker.killed:
                    continue
                if now - worker.started > job.deadline + self.kill_grace:
                    worker.killed = (
                        f"the run reached its deadline of {job.deadline:g} s and did not stop within "
                        f"{self.kill_grace:g} s; its worker was killed"
                    )
                    worker.process.kill()


async def _exited(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process to exit, polling, so no thread is needed."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True
