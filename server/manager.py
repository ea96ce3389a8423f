"""RunManager: the life cycle of runs, between the API, the executor, the store and the subscribers."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from engine.config import RunConfig
from server.envelopes import envelope, history_envelope
from server.errors import ApiError, not_found
from server.executor import Event, Executor, Job
from server.limits import dataset_text, preflight
from server.predict import Predictor, load_npz
from server.ratelimit import TokenBucket, retry_after
from server.schemas import FINISHED
from server.settings import Settings
from server.store import Store
from server.subscriber import Subscriber

log = logging.getLogger(__name__)
QUEUE_RETRY_SECONDS = 5
HEAVY_ANSWER_SECONDS = 1.0
HEAVY_ON_DEMAND_SECONDS = 30.0


def heavy_on_weights(predictor: Predictor, weights: bytes, last: dict[str, Any]) -> str:
    """The record JSON of epoch `last` (its scalars) with heavy telemetry computed on the stored weights."""
    from engine.trainer import EpochRecord

    trainer = predictor.trainer
    with predictor.lock:
        try:
            trainer.model.load_state_dict(load_npz(weights))
        except ValueError as error:
            raise ApiError(409, f"the run's weights cannot be used: {error}") from None
        trainer.last_record = EpochRecord.model_validate({**last, "heavy": False})
        return trainer.heavy_record().model_dump_json()


@dataclass(eq=False)
class ActiveRun:
    """A run the manager holds in memory: queued, running or paused, or just ended and being saved."""

    id: str
    config: dict[str, Any]
    created_at: float
    name: str | None = None
    status: str = "queued"
    message: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    num_parameters: int | None = None
    summary: list[dict[str, Any]] | None = None
    scalars: list[str] = field(default_factory=list)
    latest: str | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    deleted: bool = False
    touched: float = field(default_factory=time.monotonic)
    controls: TokenBucket | None = None
    storage: str | None = None
    checkpoint: tuple[int, bytes] | None = None
    retries: int = 0
    heavy_asked: float = float("-inf")
    heavy_pending: bool = False
    heavy_waiters: list[asyncio.Future] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def last(self) -> dict[str, Any] | None:
        """The newest epoch's scalars."""
        return json.loads(self.scalars[-1]) if self.scalars else None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "config": self.config,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "epochs": len(self.scalars),
            "last": self.last,
            "num_parameters": self.num_parameters,
            "summary": self.summary,
        }

    def broadcast(self, text: str) -> None:
        for subscriber in self.subscribers:
            subscriber.put(text)


class RunManager:
    """Creates runs, relays controls, and turns executor events into store writes and websocket messages."""

    def __init__(self, settings: Settings, store: Store, executor: Executor):
        self.settings = settings
        self.store = store
        self.executor = executor
        self.active: dict[str, ActiveRun] = {}
        self._snapshots: dict[str, asyncio.Future] = {}
        self._predictors: OrderedDict[str, Predictor] = OrderedDict()
        self._pump: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self._finishing: set[asyncio.Task] = set()
        self._trained: set[ActiveRun] = set()
        self._closing = False

    async def start(self) -> None:
        self.store.resume_in_flight = True
        interrupted = await asyncio.to_thread(self.store.open)
        if interrupted:
            log.info("marked %d runs interrupted by the last shutdown", interrupted)
        await self.executor.start()
        self._pump = asyncio.create_task(self._consume())
        for stored in await asyncio.to_thread(self.store.resumable):
            await self._resume_stored(stored, "the server restarted")
        self._sweeper = asyncio.create_task(self._stop_forgotten_paused_runs())

    async def close(self) -> None:
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.executor.close()
        if self._pump is not None:
            await self._pump
        for task in list(self._finishing):
            await task
        now = time.time()
        for run in list(self.active.values()):
            if not run.finished:
                self._finish(run, "interrupted", "the server stopped while the run was in flight", None, now)
        self.active.clear()
        await asyncio.to_thread(self.store.close)

    def _get_active(self, run_id: str) -> ActiveRun | None:
        run = self.active.get(run_id)
        return None if run is None or run.deleted else run

    async def create(self, config: RunConfig, paused: bool, run_id: str | None = None) -> dict[str, Any]:
        """Start a run (under `run_id` when given: a sweep names its runs before it starts them)."""
        settings = self.settings
        self._check_queue()
        csv_text = await dataset_text(config, self.store)
        info = await asyncio.to_thread(preflight, config, csv_text, settings)
        run = ActiveRun(
            id=run_id or secrets.token_urlsafe(16),
            config=config.model_dump(mode="json"),
            created_at=time.time(),
            name=config.name,
            num_parameters=info["num_parameters"],
            summary=info["summary"],
        )
        self._check_queue()
        self.active[run.id] = run
        self.store.insert_run({key: value for key, value in run.public().items() if key != "epochs"})
        self.executor.submit(self._job(run, csv_text, paused))
        await self.store.aflush()
        return run.public()

    def _job(self, run: ActiveRun, csv_text: str | None, paused: bool) -> Job:
        checkpoint = run.checkpoint[1] if run.checkpoint is not None else None
        return Job(
            run.id,
            run.config,
            csv_text,
            paused=paused,
            deadline=self.settings.run_deadline_seconds,
            checkpoint=checkpoint,
            checkpoint_seconds=self.settings.checkpoint_seconds,
        )

    async def _resume_stored(self, stored: dict[str, Any], why: str) -> ActiveRun | None:
        """Put a stored run back in flight from its checkpoint, dropping its epochs after the checkpoint."""
        saved = await asyncio.to_thread(self.store.get_checkpoint, stored["id"])
        if saved is None:
            return None
        epoch = saved[0]
        self.store.truncate_epochs(stored["id"], epoch)
        await self.store.aflush()
        scalars = await asyncio.to_thread(self.store.get_epochs, stored["id"], False)
        latest = await asyncio.to_thread(self.store.latest_record, stored["id"])
        run = ActiveRun(
            id=stored["id"],
            config=stored["config"],
            created_at=stored["created_at"],
            name=stored["name"],
            started_at=stored["started_at"],
            num_parameters=stored["num_parameters"],
            summary=stored["summary"],
            scalars=scalars,
            latest=latest,
            checkpoint=saved,
            message=f"{why}; resuming from the checkpoint after epoch {epoch}",
        )
        paused = stored["status"] == "paused"
        self.active[run.id] = run
        self.store.update_run(run.id, status="queued", message=run.message, finished_at=None)
        try:
            csv_text = await dataset_text(RunConfig.model_validate(run.config), self.store)
        except ApiError as error:
            self._finish(run, "failed", f"could not resume: {error}", None, time.time())
            return None
        self.executor.submit(self._job(run, csv_text, paused))
        return run

    async def continue_run(self, run_id: str, epochs: int) -> dict[str, Any]:
        """Train an ended run (completed, stopped, interrupted) for `epochs` more from its last checkpoint."""
        ending = self._get_active(run_id)
        if ending is not None and not ending.finished:
            raise ApiError(409, f"run {run_id!r} is still in flight; only an ended run can continue")
        if ending is not None:
            await self._forget(ending)
        stored = await self.read(run_id)
        if stored["status"] not in ("completed", "stopped", "interrupted"):
            raise ApiError(409, f"run {run_id!r} ended {stored['status']}; it cannot continue")
        saved = await asyncio.to_thread(self.store.get_checkpoint, run_id)
        if saved is None:
            raise ApiError(409, f"run {run_id!r} has no checkpoint to continue from")
        self._check_queue()
        config = RunConfig.model_validate(stored["config"]).model_dump(mode="json")
        config["training"]["epochs"] = saved[0] + epochs
        try:
            validated = RunConfig.model_validate(config)
        except ValidationError as error:
            raise ApiError(422, f"epochs: {error.errors()[0]['msg']}", loc=["body", "epochs"]) from None
        csv_text = await dataset_text(validated, self.store)
        await asyncio.to_thread(preflight, validated, csv_text, self.settings)
        self.store.update_run(run_id, config=validated.model_dump(mode="json"))
        why = f"continuing for {epochs} more epochs"
        run = await self._resume_stored({**stored, "config": validated.model_dump(mode="json")}, why)
        if run is None:
            raise ApiError(409, f"run {run_id!r} has no checkpoint to continue from")
        await self.store.aflush()
        return run.public()

    def _recover(self, run: ActiveRun, reason: str) -> None:
        """Resubmit a run whose worker was lost, from its last checkpoint (or from the start)."""
        run.retries += 1
        epoch = run.checkpoint[0] if run.checkpoint is not None else 0
        del run.scalars[epoch:]
        run.latest = None
        run.message = (
            f"{reason}; resuming from epoch {epoch} (retry {run.retries} of {self.settings.max_retries})"
        )
        paused, run.status = run.status == "paused", "queued"
        self.store.truncate_epochs(run.id, epoch)
        self.store.update_run(run.id, status=run.status, message=run.message)
        run.broadcast(envelope("status", status=run.status, message=run.message, rewind=epoch))
        task = asyncio.create_task(self._resubmit(run, paused))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _resubmit(self, run: ActiveRun, paused: bool) -> None:
        try:
            csv_text = await dataset_text(RunConfig.model_validate(run.config), self.store)
        except ApiError as error:
            self._finish(run, "failed", f"could not resume: {error}", None, time.time())
            return
        if not self._closing and not run.deleted:
            self.executor.submit(self._job(run, csv_text, paused))

    def _check_queue(self) -> None:
        """429 when NNPLAY_MAX_QUEUED runs already wait for a worker and every worker is busy."""
        waiting = self.executor.queued
        if waiting >= self.settings.max_queued and not self.executor.idle:
            raise ApiError(
                429,
                f"{waiting} runs are already waiting for a worker (NNPLAY_MAX_QUEUED); try again later",
                headers=retry_after(QUEUE_RETRY_SECONDS),
            )

    async def read(self, run_id: str) -> dict[str, Any]:
        run = self.active.get(run_id)
        if run is not None:
            if run.deleted:
                raise not_found("run", run_id)
            return run.public()
        stored = await asyncio.to_thread(self.store.get_run, run_id)
        if stored is None:
            raise not_found("run", run_id)
        return stored

    async def read_many(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        await self.store.aflush()
        runs, count = await asyncio.to_thread(self.store.list_runs, offset, limit)
        live = [self._get_active(run["id"]) for run in runs]
        return [
            run.public() if run is not None else stored for run, stored in zip(live, runs, strict=True)
        ], count

    async def stream_epochs(
        self, run_id: str, full: bool, every: int = 1, heavy_only: bool = False
    ) -> AsyncIterator[bytes]:
        """The run's epochs as pieces of one JSON array, read in a thread (see Store.epochs_json)."""
        if self._get_active(run_id) is None:
            await self.read(run_id)
        await self.store.aflush()
        pieces = self.store.epochs_json(run_id, full, every, heavy_only)

        async def in_thread() -> AsyncIterator[bytes]:
            while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                yield piece

        return in_thread()

    async def read_epochs(self, run_id: str, full: bool) -> list[str]:
        run = self._get_active(run_id)
        if run is not None and not full:
            return list(run.scalars)
        await self.read(run_id)
        await self.store.aflush()
        return await asyncio.to_thread(self.store.get_epochs, run_id, full)

    async def latest_heavy(self, run_id: str) -> str:
        """The newest epoch's record JSON with heavy telemetry, computed now if that epoch went without.

        A running or paused run's worker computes it at its next epoch boundary (a paused run: at once);
        an ended run's is its stored last record, or is computed on its stored final weights.
        """
        run = self._get_active(run_id)
        if run is not None and not run.finished:
            return await self._live_heavy(run)
        stored = await self.read(run_id)
        if not stored["epochs"] or stored["last"] is None:
            raise ApiError(409, f"run {run_id!r} ended ({stored['status']}) without training an epoch")
        last = stored["last"]
        await self.store.aflush()
        latest = await asyncio.to_thread(self.store.latest_record, run_id)
        if latest is not None and json.loads(latest)["epoch"] == last["epoch"]:
            return latest
        if stored["status"] == "diverged":
            raise ApiError(409, f"run {run_id!r} diverged: its last weights are not finite numbers")
        weights = await asyncio.to_thread(self.store.get_weights, run_id)
        if weights is None:
            raise ApiError(409, f"run {run_id!r} ended ({stored['status']}) without a model")
        predictor = await self._cached_predictor(stored)
        record_json = await asyncio.to_thread(heavy_on_weights, predictor, weights, last)
        self.store.add_epoch(run_id, last["epoch"], json.dumps(last), record_json)
        return record_json

    async def _live_heavy(self, run: ActiveRun) -> str:
        if not run.scalars:
            raise ApiError(409, f"run {run.id!r} has not trained an epoch yet ({run.status})")
        if run.status == "paused" and run.latest is not None:
            if json.loads(run.latest)["epoch"] == run.last["epoch"]:
                return run.latest
        self._spend_control(run)
        waiter = asyncio.get_running_loop().create_future()
        run.heavy_waiters.append(waiter)
        try:
            if not self.executor.control(run.id, "heavy", {}):
                raise ApiError(409, f"run {run.id!r} is ending")
            return await asyncio.wait_for(waiter, HEAVY_ON_DEMAND_SECONDS)
        except TimeoutError:
            raise ApiError(409, f"run {run.id!r} did not answer in time; try again") from None
        finally:
            run.heavy_waiters.remove(waiter)

    async def control(self, run_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        run = self._get_active(run_id)
        if run is None:
            stored = await self.read(run_id)
            raise ApiError(409, f"run {run_id!r} has ended ({stored['status']})")
        if run.finished:
            raise ApiError(409, f"run {run_id!r} has ended ({run.status})")
        if action == "stop":
            payload = {"reason": "stopped by the user", **payload}
        else:
            self._spend_control(run)
        run.touched = time.monotonic()
        if not self.executor.control(run_id, action, payload):
            raise ApiError(409, f"run {run_id!r} is ending")
        return run.public()

    def _spend_control(self, run: ActiveRun) -> None:
        """429 past NNPLAY_MAX_CONTROLS_PER_SECOND (bursts of twice that); stop is always let through."""
        rate = self.settings.max_controls_per_second
        if run.controls is None:
            run.controls = TokenBucket(rate, 2 * rate)
        wait = run.controls.take()
        if wait:
            raise ApiError(
                429,
                f"run {run.id!r} takes at most {rate:g} controls a second (NNPLAY_MAX_CONTROLS_PER_SECOND); "
                f"retry in {wait:.2f} s",
                headers=retry_after(wait),
            )

    async def delete(self, run_id: str) -> None:
        run = self.active.get(run_id)
        if run is not None:
            if run.deleted:
                raise not_found("run", run_id)
            run.deleted = True
            if not run.finished:
                self.executor.control(run_id, "stop", {"reason": "the run was deleted"})
        elif await asyncio.to_thread(self.store.get_run, run_id) is None:
            raise not_found("run", run_id)
        self._predictors.pop(run_id, None)
        self.store.delete_run(run_id)
        await self.store.aflush()

    async def delete_dataset(self, dataset_id: str) -> None:
        """Delete an uploaded CSV; 409 while a run in flight uses it (ended runs keep their records)."""
        users = [
            run.id
            for run in self.active.values()
            if not run.finished and not run.deleted and run.config["data"].get("csv_id") == dataset_id
        ]
        if users:
            in_flight = ", ".join(users)
            raise ApiError(409, f"dataset {dataset_id!r} is used by runs in flight ({in_flight}); stop them")
        if not await asyncio.to_thread(self.store.has_dataset, dataset_id):
            raise not_found("uploaded dataset", dataset_id)
        self.store.delete_dataset(dataset_id)
        await self.store.aflush()

    async def weights(self, run_id: str) -> bytes:
        run = self._get_active(run_id)
        if run is not None and not run.finished:
            if run.status == "queued":
                raise ApiError(409, f"run {run_id!r} has not started yet")
            request = secrets.token_hex(8)
            future = asyncio.get_running_loop().create_future()
            self._snapshots[request] = future
            try:
                if self.executor.control(run_id, "snapshot", {"request": request}):
                    data = await asyncio.wait_for(future, timeout=60)
                    if data["weights"] is not None:
                        return data["weights"]
            except TimeoutError:
                raise ApiError(409, f"run {run_id!r} did not answer in time; try again") from None
            finally:
                self._snapshots.pop(request, None)
        await self.read(run_id)
        await self.store.aflush()
        blob = await asyncio.to_thread(self.store.get_weights, run_id)
        if blob is None:
            raise ApiError(404, f"run {run_id!r} has no weights")
        return blob

    async def predict(self, run_id: str, rows: list[list[float]]) -> dict[str, Any]:
        if len(rows) > self.settings.max_predict_rows:
            raise ApiError(
                422,
                f"at most {self.settings.max_predict_rows} rows of inputs (NNPLAY_MAX_PREDICT_ROWS)",
                loc=["body", "inputs"],
            )
        run = await self.read(run_id)
        weights = await self.weights(run_id)
        predictor = await self._cached_predictor(run)
        return await asyncio.to_thread(predictor.predict, weights, rows)

    async def scaling(self, run: dict[str, Any]) -> dict[str, list[float]] | None:
        """The standardisation a CSV run applies to raw rows (x_mean, x_std; y_mean, y_std for regression)."""
        if run["config"]["data"]["dataset"] != "csv":
            return None
        return (await self._cached_predictor(run)).trainer.dataset.scaling

    async def _cached_predictor(self, run: dict[str, Any]) -> Predictor:
        predictor = self._predictors.get(run["id"])
        if predictor is None:
            predictor = await asyncio.to_thread(self._predictor, run["config"])
            self._predictors[run["id"]] = predictor
            while len(self._predictors) > 4:
                self._predictors.popitem(last=False)
        self._predictors.move_to_end(run["id"])
        return predictor

    def _predictor(self, config: dict[str, Any]) -> Predictor:
        csv_text = None
        if config["data"]["dataset"] == "csv":
            dataset = self.store.get_dataset(config["data"]["csv_id"])
            if dataset is None:
                raise ApiError(409, "the run's uploaded dataset no longer exists")
            csv_text = dataset["csv"]
        return Predictor(config, csv_text)

    async def subscribe(self, run_id: str, subscriber: Subscriber) -> bool:
        """Queue the history for `subscriber`, then live messages; False for an unknown run."""
        run = self._get_active(run_id)
        if run is not None:
            subscriber.put(history_envelope(run.public(), run.scalars, run.latest))
            if run.finished:
                subscriber.put(
                    envelope("done", status=run.status, message=run.message, epochs=len(run.scalars))
                )
                subscriber.close()
            else:
                run.subscribers.add(subscriber)
            return True
        stored = await asyncio.to_thread(self.store.get_run, run_id)
        if stored is None:
            return False
        scalars = await asyncio.to_thread(self.store.get_epochs, run_id, False)
        latest = await asyncio.to_thread(self.store.latest_record, run_id)
        subscriber.put(history_envelope(stored, scalars, latest))
        subscriber.put(
            envelope("done", status=stored["status"], message=stored["message"], epochs=len(scalars))
        )
        subscriber.close()
        return True

    def unsubscribe(self, run_id: str, subscriber: Subscriber) -> None:
        run = self.active.get(run_id)
        if run is None or subscriber not in run.subscribers:
            return
        run.subscribers.discard(subscriber)
        run.touched = time.monotonic()
        policy = self.settings.orphan_policy
        if run.subscribers or run.finished or policy == "keep":
            return
        if policy == "pause":
            self.executor.control(run_id, "pause", {})
        else:
            self.executor.control(run_id, "stop", {"reason": "its last subscriber left"})

    async def _stop_forgotten_paused_runs(self) -> None:
        """Stop runs paused with nobody watching or controlling them for NNPLAY_PAUSED_TIMEOUT_SECONDS."""
        timeout = self.settings.paused_timeout_seconds
        while True:
            await asyncio.sleep(min(5.0, timeout / 4))
            now = time.monotonic()
            for run in list(self.active.values()):
                if run.status == "paused" and not run.subscribers and now - run.touched > timeout:
                    run.touched = now
                    reason = f"paused with no subscriber and no control for {timeout:g} s"
                    self.executor.control(run.id, "stop", {"reason": reason})

    async def _consume(self) -> None:
        """Handle each batch of events, then ask for heavy telemetry for the runs that trained in it."""
        async for batch in self.executor.events():
            for event in batch:
                try:
                    self._handle(event)
                except Exception:
                    log.exception("handling %s event of run %s failed", event.kind, event.run_id)
            for run in self._trained:
                if not run.finished:
                    self._pull_heavy(run)
            self._trained.clear()

    def _handle(self, event: Event) -> None:
        if event.kind == "snapshot":
            future = self._snapshots.get(event.data.get("request"))
            if future is not None and not future.done():
                future.set_result(event.data)
            return
        run = self.active.get(event.run_id)
        if run is None or run.finished:
            return
        data = event.data
        saved = data if event.kind == "checkpoint" else data.get("checkpoint")
        if saved and event.kind in ("checkpoint", "done"):
            run.checkpoint = saved["epoch"], saved["state"]
            if not run.deleted:
                self.store.put_checkpoint(run.id, saved["epoch"], saved["state"])
        if event.kind == "checkpoint":
            return
        if event.kind == "started":
            run.started_at = time.time()
            run.status = data["status"]
            run.num_parameters, run.summary = data["num_parameters"], data["summary"]
            self.store.update_run(
                run.id,
                status=run.status,
                started_at=run.started_at,
                num_parameters=run.num_parameters,
                summary=run.summary,
            )
            run.broadcast(envelope("status", status=run.status, message=None))
        elif event.kind == "status":
            run.status = data["status"]
            run.touched = time.monotonic()
            if data.get("message"):
                run.message = data["message"]
            self.store.update_run(run.id, status=run.status, message=run.message)
            run.broadcast(envelope("status", status=run.status, message=data.get("message")))
        elif event.kind == "epoch":
            self._on_epoch(run, data)
        elif event.kind == "done":
            status, message = data["status"], data["message"]
            if self._closing:
                status, message = "interrupted", "the server stopped while the run was in flight"
            elif data.get("lost") and not run.deleted and run.retries < self.settings.max_retries:
                self._recover(run, message)
                return
            self._finish(run, status, message, data.get("weights"), time.time())

    def _on_epoch(self, run: ActiveRun, data: dict[str, Any]) -> None:
        scalars_json, record_json = data["scalars_json"], data["record_json"]
        if record_json is not None:
            run.latest, run.heavy_pending = record_json, False
            for waiter in run.heavy_waiters:
                if not waiter.done():
                    waiter.set_result(record_json)
        if data.get("again"):
            if not run.deleted:
                self.store.add_epoch(run.id, data["epoch"], scalars_json, record_json)
            for subscriber in run.subscribers:
                subscriber.put_epoch(record_json, scalars_json)
            return
        run.scalars.append(scalars_json)
        if not run.deleted:
            self.store.add_epoch(run.id, data["epoch"], scalars_json, record_json)
            storage = self.store.storage_note(run.id)
            if storage is not None and storage != run.storage:
                run.storage = run.message = storage
                self.store.update_run(run.id, message=storage)
                run.broadcast(envelope("status", status=run.status, message=storage))
        for subscriber in run.subscribers:
            subscriber.put_epoch(record_json, scalars_json)
        self._trained.add(run)

    def _pull_heavy(self, run: ActiveRun) -> None:
        """Ask the worker for heavy telemetry at its next epoch when a subscriber is ready for a frame.

        At most NNPLAY_HEAVY_PER_SECOND requests a second per run, one outstanding at a time.
        """
        if not run.subscribers:
            return
        now = time.monotonic()
        if run.heavy_pending and now - run.heavy_asked < HEAVY_ANSWER_SECONDS:
            return
        if now - run.heavy_asked < 1.0 / self.settings.heavy_per_second:
            return
        if any(subscriber.ready_for_heavy for subscriber in run.subscribers):
            if self.executor.control(run.id, "heavy", {}):
                run.heavy_asked, run.heavy_pending = now, True

    def _finish(
        self, run: ActiveRun, status: str, message: str | None, weights: bytes | None, now: float
    ) -> None:
        storage = self.store.storage_note(run.id) or run.storage
        if storage is not None:
            message = f"{message}; {storage}" if message else storage
        run.status, run.message, run.finished_at = status, message, now
        for waiter in run.heavy_waiters:
            if not waiter.done():
                waiter.set_exception(ApiError(409, f"run {run.id!r} ended ({status}) first"))
        if weights is not None and not run.deleted:
            self.store.put_weights(run.id, weights)
        if not run.deleted:
            self.store.update_run(
                run.id,
                status=status,
                message=message,
                finished_at=now,
                epochs=len(run.scalars),
                last=run.last,
            )
        run.broadcast(envelope("done", status=status, message=message, epochs=len(run.scalars)))
        for subscriber in run.subscribers:
            subscriber.close()
        run.subscribers.clear()
        if not self._closing:
            task = asyncio.create_task(self._forget(run))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _forget(self, run: ActiveRun) -> None:
        await self.store.aflush()
        if self.active.get(run.id) is run:
            del self.active[run.id]
