"""DaskExecutor: one Dask task per run (resource CPU=1); telemetry and controls on a direct TCP connection.

The scheduler only places the task. The task connects back to the server's callback listener, proves
which attempt it is with a one-time token, and receives its Job (config, CSV, checkpoint) on that
connection; from then on it runs a `server.worker.JobRunner` whose events and commands are
server.wire's length-prefixed frames on the socket, so no epoch or control goes through the scheduler.
A connection that ends without a `done` means the worker was lost: the run's `done` says `lost`, and the
run manager resubmits it from its checkpoint. So does a connection that goes silent: the task sends a
heartbeat from a thread of its own, and a run the server hears nothing from for `heartbeat_seconds` (a hung
or stopped worker, a connection lost without a close) is cut off and resumed, away from that worker for
SUSPECT_SECONDS. Dask may re-run a task whose worker died; that stale attempt finds its token spent and
ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from server.executor import Action, Event, Job
from server.pool import coalesce
from server.wire import Reader, Writer, frame

TOKEN_BYTES = 32
CONNECT_TIMEOUT_SECONDS = 30.0
CLOSE_GRACE_SECONDS = 3.0
READ_BYTES = 1 << 16
HEARTBEATS_PER_DEADLINE = 4
SUSPECT_SECONDS = 300.0
TASK_ONLY = ("hello", "heartbeat")
NO_PROFILER = {"distributed.worker.profile.enabled": False}  # its 10 ms stack sampling halves training speed


class SharedWriter(Writer):
    """A Writer that the job and its heartbeat thread share: whole frames, one writer at a time."""

    def __init__(self, fd: int, hold_seconds: float = 0.0):
        super().__init__(fd, hold_seconds)
        self.lock = threading.RLock()

    def send(self, message: Any, hold: bool = False) -> None:
        with self.lock:
            super().send(message, hold)

    def flush(self) -> None:
        with self.lock:
            super().flush()


def heartbeat(events: Writer, run_id: str, interval: float, stopped: threading.Event) -> None:
    """Send a heartbeat every `interval` seconds until `stopped` or the connection fails."""
    while not stopped.wait(interval):
        try:
            events.send(("heartbeat", run_id, {}))
        except OSError:
            return


def worker_address() -> str | None:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return None


def run_task(
    run_id: str,
    token: str,
    host: str,
    port: int,
    heartbeat_seconds: float = 30.0,
    plugins: tuple[str, ...] = (),
) -> str:
    """The Dask task: connect back to the server, take the job, import `plugins`, run it; how the job ended.

    A plugin module the worker cannot import fails the run with the reason, as a local worker process does.
    """
    from server.wire import Receiver
    from server.worker import EPOCH_HOLD_SECONDS, JobRunner, import_plugins

    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS) as connection:
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sendall(token.encode())
        commands = Receiver(connection.fileno())
        events = SharedWriter(connection.fileno(), hold_seconds=EPOCH_HOLD_SECONDS)
        try:
            events.send(("hello", run_id, {"worker": worker_address()}))
            message = commands.recv()
        except (EOFError, OSError):
            return "refused"
        if message is None:
            return "refused"
        try:
            import_plugins(list(plugins))
        except ValueError as error:
            refusal = f"the Dask worker could not run it: {error}"
            events.send(("done", run_id, {"status": "failed", "message": refusal, "weights": None}))
            events.flush()
            return "failed"
        stopped = threading.Event()
        interval = heartbeat_seconds / HEARTBEATS_PER_DEADLINE
        beating = threading.Thread(target=heartbeat, args=(events, run_id, interval, stopped), daemon=True)
        beating.start()
        try:
            JobRunner(message[1], commands, events).run()
            events.flush()
        except OSError:
            return "disconnected"
        finally:
            stopped.set()
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_WR)
            while connection.recv(READ_BYTES):
                pass
    return "done"


@dataclass(eq=False)
class _Attempt:
    job: Job
    token: str
    future: Any = None
    writer: asyncio.StreamWriter | None = None
    pending: list = field(default_factory=list)
    done: bool = False
    heard: float = 0.0
    worker: str | None = None


class DaskExecutor:
    """Runs jobs as Dask tasks on a scheduler (an address) or on an in-process LocalCluster (None).

    `capacity` bounds the runs in flight that this server counts as running; Dask queues the rest.
    `callback_host` is the address of this server that the Dask workers can reach. A run that sends
    nothing (not even a heartbeat) for `heartbeat_seconds` is taken as lost. Each task imports the `plugins`
    modules (NNPLAY_PLUGINS) before it runs its job.
    """

    def __init__(
        self,
        capacity: int,
        scheduler: str | None = None,
        callback_host: str = "127.0.0.1",
        heartbeat_seconds: float = 30.0,
        plugins: list[str] | None = None,
    ):
        self.capacity = capacity
        self.scheduler = scheduler
        self.callback_host = callback_host
        self.heartbeat_seconds = heartbeat_seconds
        self.plugins = tuple(plugins or ())
        self._suspects: dict[str, float] = {}
        self.client: Any = None
        self.cluster: Any = None
        self._attempts: dict[str, _Attempt] = {}
        self._by_token: dict[str, _Attempt] = {}
        self._events: asyncio.Queue[list[Event] | None] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    async def start(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        self._server = await asyncio.start_server(self._accept, self.callback_host, 0)
        self._port = self._server.sockets[0].getsockname()[1]
        if self.scheduler:
            self.client = await Client(self.scheduler, asynchronous=True)
        else:
            with dask.config.set(NO_PROFILER):
                self.cluster = await LocalCluster(
                    n_workers=self.capacity,
                    threads_per_worker=1,
                    processes=True,
                    resources={"CPU": 1},
                    dashboard_address=None,
                    asynchronous=True,
                )
            self.client = await Client(self.cluster, asynchronous=True)
        self._spawn(self._watch_heartbeats())

    async def close(self) -> None:
        """Ask every connected run to stop, end every connection after CLOSE_GRACE_SECONDS, close Dask."""
        self._closing = True
        for attempt in list(self._attempts.values()):
            if attempt.writer is not None:
                self._write(attempt, None)
            else:
                self._end(attempt, "stopped", "the server shut down before the run started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_GRACE_SECONDS
        while any(a.writer is not None for a in self._attempts.values()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for attempt in list(self._attempts.values()):
            if attempt.writer is not None:
                attempt.writer.close()
            self._end(attempt, "stopped", "the server shut down and the run did not stop in time")
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                await self.cluster.close()
        self._events.put_nowait(None)

    @property
    def queued(self) -> int:
        return sum(1 for attempt in self._attempts.values() if attempt.writer is None)

    @property
    def idle(self) -> bool:
        return not self._closing and len(self._attempts) < self.capacity

    def submit(self, job: Job) -> None:
        attempt = _Attempt(job, secrets.token_hex(TOKEN_BYTES // 2))
        self._attempts[job.run_id] = attempt
        self._by_token[attempt.token] = attempt
        self._spawn(self._place(attempt))

    async def _place(self, attempt: _Attempt) -> None:
        """Submit the attempt's task, kept off workers suspected of hanging while others are up."""
        workers = await self._trusted_workers() if self._suspects else None
        if attempt.done or self._closing:
            return
        job = attempt.job
        attempt.future = self.client.submit(
            run_task,
            job.run_id,
            attempt.token,
            self.callback_host,
            self._port,
            self.heartbeat_seconds,
            self.plugins,
            key=f"nnplay-run-{job.run_id}-{attempt.token[:8]}",
            resources={"CPU": 1},
            workers=workers,
            pure=False,
        )
        await self._watch(attempt)

    async def _trusted_workers(self) -> list[str] | None:
        """The scheduler's workers that no run went silent on in the last SUSPECT_SECONDS (None: any)."""
        now = time.monotonic()
        self._suspects = {a: t for a, t in self._suspects.items() if now - t < SUSPECT_SECONDS}
        try:
            workers = set((await self.client.scheduler.identity(n_workers=-1))["workers"])
        except Exception:
            return None
        return sorted(workers - set(self._suspects)) or None

    async def _watch_heartbeats(self) -> None:
        """Cut off and resume every run that has sent nothing for `heartbeat_seconds`."""
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat_seconds / HEARTBEATS_PER_DEADLINE))
            now = time.monotonic()
            for attempt in list(self._attempts.values()):
                if attempt.writer is not None and now - attempt.heard > self.heartbeat_seconds:
                    self._lose(attempt, now)

    def _lose(self, attempt: _Attempt, now: float) -> None:
        if attempt.worker is not None:
            self._suspects[attempt.worker] = now
        attempt.writer.transport.abort()
        silent = f"it sent nothing for {self.heartbeat_seconds:g} s (NNPLAY_DASK_HEARTBEAT_SECONDS)"
        self._end(attempt, "failed", f"the Dask worker running the run was lost: {silent}", lost=True)
        self._cancel(attempt)

    def control(self, run_id: str, action: Action, payload: dict[str, Any] | None = None) -> bool:
        attempt = self._attempts.get(run_id)
        if attempt is None or attempt.done:
            return False
        message = ("control", run_id, action, dict(payload or {}))
        if attempt.writer is not None:
            self._write(attempt, message)
        else:
            self._control_waiting(attempt, action, message[3])
        return True

    async def events(self) -> AsyncIterator[list[Event]]:
        while (batch := await self._events.get()) is not None:
            yield batch

    def _control_waiting(self, attempt: _Attempt, action: Action, payload: dict[str, Any]) -> None:
        job = attempt.job
        if action == "stop":
            self._cancel(attempt)
            self._end(attempt, "stopped", payload.get("reason") or "stopped by the user")
        elif action == "snapshot":
            self._emit(Event("snapshot", job.run_id, {**payload, "weights": None, "message": "not started"}))
        else:
            job.control_waiting(action, payload)

    def _write(self, attempt: _Attempt, message: tuple | None) -> None:
        """Frame and hand to the transport, which buffers without blocking; waiting `set`s coalesce."""
        writer = attempt.writer
        if writer is None or writer.is_closing():
            return
        if message is not None and message[0] == "control" and writer.transport.get_write_buffer_size():
            if coalesce(attempt.pending, message):
                return
            attempt.pending.append(message)
            self._spawn(self._drain(attempt))
            return
        writer.write(frame(message))

    async def _drain(self, attempt: _Attempt) -> None:
        writer = attempt.writer
        if writer is None:
            return
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        while attempt.pending and not writer.is_closing():
            writer.write(frame(attempt.pending.pop(0)))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await asyncio.wait_for(reader.readexactly(TOKEN_BYTES), CONNECT_TIMEOUT_SECONDS)
            token = raw.decode()
        except (asyncio.IncompleteReadError, TimeoutError, UnicodeDecodeError, ConnectionError):
            writer.close()
            return
        attempt = self._by_token.pop(token, None)
        if attempt is None or attempt.done or self._closing:
            writer.write(frame(None))
            writer.close()
            return
        writer.transport.set_write_buffer_limits(high=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        attempt.writer, attempt.heard = writer, time.monotonic()
        writer.write(frame(("job", attempt.job)))
        parser = Reader()
        try:
            while chunk := await reader.read(READ_BYTES):
                attempt.heard = time.monotonic()
                messages = parser.feed(chunk)
                if messages:
                    self._on_messages(attempt, messages)
        except ConnectionError:
            pass
        attempt.writer = None
        writer.close()
        if not attempt.done:
            message = "the Dask worker running the run was lost (its connection closed)"
            self._end(attempt, "failed", message, lost=True)
            self._cancel(attempt)

    def _on_messages(self, attempt: _Attempt, messages: list[tuple]) -> None:
        for kind, _, data in messages:
            if kind == "hello":
                attempt.worker = data["worker"]
        events = [Event(kind, run_id, data) for kind, run_id, data in messages if kind not in TASK_ONLY]
        if not events:
            return
        if any(event.kind == "done" for event in events):
            attempt.done = True
            self._forget(attempt)
        self._events.put_nowait(events)

    async def _watch(self, attempt: _Attempt) -> None:
        """A task that ends (an error, or never connecting) without a done ends its run as failed."""
        try:
            await attempt.future
            error = None
        except asyncio.CancelledError:
            return
        except Exception as exception:
            error = f"{type(exception).__name__}: {exception}"
        await asyncio.sleep(0.5)
        if not attempt.done and attempt.writer is None:
            message = f"the Dask task failed: {error}" if error else "the Dask task ended without its job"
            self._end(attempt, "failed", message, lost=error is not None)

    def _end(self, attempt: _Attempt, status: str, message: str, lost: bool = False) -> None:
        if attempt.done:
            return
        attempt.done = True
        self._forget(attempt)
        data = {"status": status, "message": message, "weights": None, "lost": lost}
        self._emit(Event("done", attempt.job.run_id, data))

    def _forget(self, attempt: _Attempt) -> None:
        if self._attempts.get(attempt.job.run_id) is attempt:
            del self._attempts[attempt.job.run_id]
        self._by_token.pop(attempt.token, None)

    def _cancel(self, attempt: _Attempt) -> None:
        if attempt.future is not None and self.client is not None and not self._closing:
            self._spawn(self._cancel_future(attempt.future))

    async def _cancel_future(self, future: Any) -> None:
        with contextlib.suppress(Exception):
            await self.client.cancel([future], force=True)

    def _emit(self, event: Event) -> None:
        self._events.put_nowait([event])

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
