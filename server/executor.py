"""The seam between the run manager and wherever trainers execute: jobs go in, events come out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Action = Literal["pause", "resume", "step", "stop", "set", "weight", "snapshot", "heavy"]
EventKind = Literal["started", "status", "epoch", "done", "snapshot", "checkpoint"]


@dataclass
class Job:
    """One run to execute: a validated RunConfig as a dict, the CSV it names, and its limits.

    settings: `set` payloads, and {"weight": payload} edits, that came while the job waited, in order;
    checkpoint: Trainer state bytes (engine.checkpoint) to continue from; checkpoint_seconds: how often
    the job reports its state (0: after every epoch).
    """

    run_id: str
    config: dict[str, Any]
    csv_text: str | None = None
    paused: bool = False
    steps: int = 0
    deadline: float = 3600.0
    settings: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: bytes | None = None
    checkpoint_seconds: float = 10.0

    def control_waiting(self, action: Action, payload: dict[str, Any]) -> None:
        """Pause, resume, step, set or weight a job that has not reached a worker; waiting `set`s merge."""
        if action == "pause":
            self.paused, self.steps = True, 0
        elif action == "resume":
            self.paused, self.steps = False, 0
        elif action == "step":
            self.paused, self.steps = True, self.steps + 1
        elif action == "weight":
            self.settings.append({"weight": payload})
        elif action == "set" and self.settings and "weight" not in self.settings[-1]:
            merge_settings(self.settings[-1], payload)
        elif action == "set":
            self.settings.append(payload)


def merge_settings(pending: dict[str, Any], payload: dict[str, Any]) -> None:
    """Fold a newer `set` payload into a pending one: the latest value of each field wins."""
    pending.update({key: value for key, value in payload.items() if value is not None})


@dataclass
class Event:
    """What an executor reports about a run.

    started:    status ("running" | "paused"), num_parameters, summary, train_samples, resumed_from (epoch)
    status:     status ("running" | "paused"), message
    epoch:      epoch (int), scalars_json, record_json (full record JSON, or None without heavy telemetry),
                again (True: the newest epoch sent again with heavy telemetry, on pause, stop or request)
    checkpoint: epoch, state (engine.checkpoint bytes), sent on the job's cadence
    done:       status (completed | stopped | diverged | failed), message, weights (npz bytes or None),
                checkpoint (the final {epoch, state}, or None), lost (True when the worker died: the run
                may resume from its last checkpoint)
    snapshot:   request, weights (npz bytes of the current model, or None), message
    """

    kind: EventKind
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """Runs jobs, at most `capacity` at once, queueing the rest in submission order."""

    capacity: int

    @property
    def queued(self) -> int:
        """Jobs submitted and still waiting for a worker."""
        ...

    @property
    def idle(self) -> bool:
        """Whether a job submitted now would start at once."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def submit(self, job: Job) -> None: ...

    def control(self, run_id: str, action: Action, payload: dict[str, Any] | None = None) -> bool:
        """Deliver a control to a queued or running job, never blocking; False for a run it does not know.

        Controls reach a job in the order they were given, except that `set` controls waiting together
        may merge (the latest value of each field wins).
        """
        ...

    def events(self) -> AsyncIterator[list[Event]]:
        """Batches of events, in order per run, until the executor is closed."""
        ...
