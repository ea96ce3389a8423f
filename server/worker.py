"""A worker process: runs one job at a time, obeys controls between epochs, reports events on a pipe."""

from __future__ import annotations

import importlib
import io
import os
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np

from server.executor import Job
from server.wire import Receiver, Writer

EPOCH_HOLD_SECONDS = 0.03


def weights_npz(state: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    return buffer.getvalue()


def import_plugins(names: list[str]) -> None:
    """Import the NNPLAY_PLUGINS modules (heavy fields, components); ValueError naming one that fails."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            raise ValueError(
                f"NNPLAY_PLUGINS: cannot import module {name!r}: {type(error).__name__}: {error}"
            ) from error


def main(argv: list[str]) -> None:
    """python -m server.worker COMMANDS_FD EVENTS_FD [NICE [PLUGINS]] (PLUGINS: comma-separated modules)"""
    commands = Receiver(int(argv[0]))
    events = Writer(int(argv[1]), hold_seconds=EPOCH_HOLD_SECONDS)
    if len(argv) > 2:
        os.nice(int(argv[2]))
    refusal = None
    try:
        import_plugins([name for name in argv[3].split(",") if name] if len(argv) > 3 else [])
    except ValueError as error:
        refusal = f"the worker process could not start: {error}"
        print(f"nnplay worker: {refusal}", file=sys.stderr, flush=True)
    worker_main(commands, events, refusal)


def worker_main(commands: Receiver, events: Writer, refusal: str | None = None) -> None:
    """Take jobs from `commands` until it closes or sends None; with a `refusal`, fail each job with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = commands.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if message[0] == "job" and refusal is not None:
            failed = {"status": "failed", "message": refusal, "weights": None}
            events.send(("done", message[1].run_id, failed))
        elif message[0] == "job":
            try:
                if not JobRunner(message[1], commands, events).run():
                    return
            except OSError:
                return
        elif message[0] == "control" and message[2] == "snapshot":
            send_ended_snapshot(events, message[1], message[3])


def epoch_data(record: Any) -> dict[str, Any]:
    """An `epoch` event's data: the record's number, its scalars as JSON, and in full when it is heavy."""
    return {
        "epoch": record.epoch,
        "scalars_json": record.model_dump_json(exclude=set(record.HEAVY_FIELDS)),
        "record_json": record.model_dump_json() if record.heavy else None,
    }


def send_ended_snapshot(events: Writer, run_id: str, payload: dict[str, Any]) -> None:
    events.send(("snapshot", run_id, {**payload, "weights": None, "message": "the run has ended"}))


class JobRunner:
    """Drives one Trainer epoch by epoch; pause, step, stop and set act before the next epoch starts."""

    def __init__(self, job: Job, commands: Receiver, events: Writer):
        self.job = job
        self.commands = commands
        self.events = events
        self.trainer: Any = None
        self.paused = job.paused
        self.steps = job.steps
        self.announced = "paused" if job.paused and not job.steps else "running"
        self.stopping = False
        self.shutdown = False
        self.deadline = time.monotonic() + job.deadline
        self.checkpointed = time.monotonic()
        self.unsaved_settings = False
        self.pulled = False

    def send(self, kind: str, data: dict[str, Any], hold: bool = False) -> None:
        self.events.send((kind, self.job.run_id, data), hold)

    def run(self) -> bool:
        """Run the job to its end; False when the server asked the worker to exit."""
        try:
            from engine.trainer import Trainer

            job = self.job
            if job.checkpoint is not None:
                self.trainer = Trainer.restore(job.config, job.checkpoint, csv_text=job.csv_text)
            else:
                self.trainer = Trainer(job.config, csv_text=job.csv_text)
        except Exception as error:
            self.send(
                "done", {"status": "failed", "message": f"could not build the run: {error}", "weights": None}
            )
            return True
        trainer = self.trainer
        self.deadline = time.monotonic() + self.job.deadline
        self.send(
            "started",
            {
                "status": self.announced,
                "num_parameters": int(trainer.num_parameters),
                "summary": trainer.model.summary(),
                "train_samples": len(trainer.x_train),
                "resumed_from": trainer.epoch if self.job.checkpoint is not None else None,
            },
        )
        for payload in self.job.settings:
            if "weight" in payload:
                self.apply("weight", payload["weight"])
            else:
                self.apply("set", payload)
        try:
            self.train()
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            self.send(
                "done", {"status": "failed", "message": f"{type(error).__name__}: {error}", "weights": None}
            )
            return not self.shutdown
        final = self.checkpoint() if trainer.status != "diverged" else None
        self.send(
            "done",
            {
                "status": trainer.status,
                "message": trainer.message,
                "weights": weights_npz(trainer.model.state_dict()),
                "checkpoint": final,
            },
        )
        return not self.shutdown

    def train(self) -> None:
        epochs = self.trainer.epochs()
        while True:
            self.poll(0)
            self.save_settings()
            if self.paused and self.steps == 0 and not self.stopping:
                self.report_heavy_now()
            while self.paused and self.steps == 0 and not self.stopping:
                self.announce("paused")
                self.poll(min(1.0, max(0.0, self.deadline - time.monotonic())))
                self.save_settings()
                self.check_deadline()
            self.check_deadline()
            if not self.stopping:
                self.announce("running")
            if self.steps:
                self.trainer.request_heavy()
            try:
                record = next(epochs)
            except StopIteration:
                if self.trainer.status == "stopped":
                    self.report_heavy_now()
                return
            if self.steps:
                self.steps -= 1
            self.report(record)
            due = time.monotonic() - self.checkpointed >= self.job.checkpoint_seconds
            if due and record.status == "running":
                self.send_checkpoint()

    def checkpoint(self) -> dict[str, Any]:
        from engine import checkpoint

        self.checkpointed = time.monotonic()
        self.unsaved_settings = False
        return {"epoch": self.trainer.epoch, "state": checkpoint.to_bytes(self.trainer.state())}

    def send_checkpoint(self) -> None:
        self.send("checkpoint", self.checkpoint())

    def save_settings(self) -> None:
        """Checkpoint after a live `set`, so a run that recovers keeps the lr or rate set since the last."""
        if self.unsaved_settings and self.trainer.status == "running" and not self.stopping:
            self.send_checkpoint()

    def stop(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.trainer.stop(reason)

    def check_deadline(self) -> None:
        if time.monotonic() >= self.deadline:
            self.stop(f"the run reached its deadline of {self.job.deadline:g} s")

    def announce(self, status: str) -> None:
        if status != self.announced:
            self.announced = status
            self.send("status", {"status": status, "message": None})

    def report(self, record: Any) -> None:
        """Send the epoch's record: at once when a viewer asked for its heavy fields, else maybe held."""
        pulled, self.pulled = self.pulled and record.heavy, self.pulled and not record.heavy
        self.send("epoch", epoch_data(record), hold=not pulled)

    def report_heavy_now(self) -> None:
        """Send the newest epoch again with heavy telemetry, computed now, if it went without."""
        record = self.trainer.last_record
        if record is None or record.heavy:
            return
        self.send("epoch", {**epoch_data(self.trainer.heavy_record()), "again": True})

    def poll(self, timeout: float) -> None:
        """Apply every control that arrives within `timeout` seconds (0: only those already waiting)."""
        if timeout > 0:
            self.events.flush()
        while self.commands.poll(timeout):
            try:
                message = self.commands.recv()
            except EOFError:
                message = None
            if message is None:
                self.shutdown = True
                self.stop("the server is shutting down")
                return
            if message[0] == "control" and message[1] == self.job.run_id:
                self.apply(message[2], message[3])
            elif message[0] == "control" and message[2] == "snapshot":
                send_ended_snapshot(self.events, message[1], message[3])
            timeout = 0

    def apply(self, action: str, payload: dict[str, Any]) -> None:
        trainer = self.trainer
        if action == "pause":
            self.paused, self.steps = True, 0
        elif action == "resume":
            self.paused, self.steps = False, 0
        elif action == "step":
            self.paused = True
            self.steps += 1
        elif action == "stop":
            self.stop(payload.get("reason") or "stopped by the user")
        elif action == "set":
            try:
                lr = (payload.get("optimizer") or {}).get("lr", payload.get("lr"))
                rate = (payload.get("regularization") or {}).get("rate")
                if lr is not None:
                    trainer.set_lr(lr)
                    self.unsaved_settings = True
                if rate is not None:
                    trainer.set_regularization_rate(rate)
                    self.unsaved_settings = True
            except ValueError as error:
                self.send("status", {"status": self.announced, "message": str(error)})
        elif action == "weight":
            try:
                trainer.set_weight(**payload)
                self.unsaved_settings = True
            except ValueError as error:
                self.send("status", {"status": self.announced, "message": str(error)})
        elif action == "heavy":
            self.pulled = True
            trainer.request_heavy()
            if self.paused and self.steps == 0:
                self.report_heavy_now()
        elif action == "snapshot":
            weights = weights_npz(trainer.model.state_dict())
            self.send("snapshot", {**payload, "weights": weights, "message": None})


if __name__ == "__main__":
    main(sys.argv[1:])
