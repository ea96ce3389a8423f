"""Sweeps: many runs of one base RunConfig over axes of config paths, run `concurrency` at a time.

An axis is a config path (`optimizer.lr`, `model.layers.0.activation`, `seed`, ...) with grid `values`
or a random distribution (log_uniform, uniform, int, choice). Every run's config is built and
validated, and planned against the limits, before the first run starts; a bad axis is a 422 naming it.
Sweeps and their tables are kept in the store, with their runs, which are ordinary runs.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import itertools
import json
import logging
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.config import RunConfig
from server.errors import ApiError, not_found
from server.limits import dataset_text, preflight
from server.manager import RunManager
from server.schemas import FINISHED

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
MAX_SWEEP_RUNS = 1000
DISCRIMINATORS = ("name", "type")
Distribution = Literal["log_uniform", "uniform", "int", "choice"]
ENDED = (*FINISHED, "unstarted", "deleted")


class Axis(BaseModel):
    """One swept config path: grid `values`, or a `distribution` with low/high (or choices)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    path: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
    values: list[Any] | None = Field(None, min_length=1, max_length=MAX_SWEEP_RUNS)
    distribution: Distribution | None = None
    low: float | None = None
    high: float | None = None
    choices: list[Any] | None = Field(None, min_length=1, max_length=MAX_SWEEP_RUNS)

    @model_validator(mode="after")
    def _one_kind(self) -> Axis:
        if (self.values is None) == (self.distribution is None):
            raise ValueError(f"axis {self.path!r}: give either values or a distribution")
        if self.distribution == "choice" and not self.choices:
            raise ValueError(f"axis {self.path!r}: distribution 'choice' needs choices")
        if self.distribution in ("log_uniform", "uniform", "int"):
            if self.low is None or self.high is None or self.low > self.high:
                raise ValueError(f"axis {self.path!r}: distribution {self.distribution!r} needs low <= high")
            if self.distribution == "log_uniform" and self.low <= 0:
                raise ValueError(f"axis {self.path!r}: log_uniform needs low > 0")
        return self

    def sample(self, rng: np.random.Generator) -> Any:
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        if self.distribution == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.distribution == "int":
            return int(rng.integers(math.ceil(self.low), math.floor(self.high) + 1))
        if self.distribution == "uniform":
            return float(rng.uniform(self.low, self.high))
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


class SweepCreate(BaseModel):
    """A base RunConfig, axes, grid or random, a run budget and how many runs train at once."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: dict[str, Any] = Field(default_factory=dict)
    axes: list[Axis] = Field(min_length=1, max_length=16)
    mode: Literal["grid", "random"] = "grid"
    budget: int = Field(64, ge=1, le=MAX_SWEEP_RUNS)
    concurrency: int = Field(2, ge=1, le=64)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _distinct_paths(self) -> SweepCreate:
        paths = [axis.path for axis in self.axes]
        repeated = sorted({path for path in paths if paths.count(path) > 1})
        if repeated:
            raise ValueError(f"each path may be swept once; repeated: {', '.join(repeated)}")
        return self


def _set_path(partial: dict[str, Any], full: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in `partial` (the user's config), taking lists and union tags it lacks from `full`."""
    parts = path.split(".")
    node, default = partial, full
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"{'.'.join(parts[:depth])} has {len(node)} items; no index {part}")
            index = int(part)
            if last:
                node[index] = value
                return
            node, default = node[index], default[index] if isinstance(default, list) else {}
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{'.'.join(parts[:depth])} is not an object or a list")
        if last:
            node[part] = value
            return
        full_child = default.get(part) if isinstance(default, dict) else None
        if part not in node and isinstance(full_child, list):
            node[part] = copy.deepcopy(full_child)
        elif part not in node:
            tags = full_child if isinstance(full_child, dict) else {}
            node[part] = {key: tags[key] for key in DISCRIMINATORS if key in tags}
        node, default = node[part], full_child


def _within(path: str, loc: tuple) -> bool:
    """Whether an error at `loc` is at `path` (loc may carry union tags between the path's parts)."""
    remaining = iter(map(str, loc))
    return all(part in remaining for part in path.split("."))


def _axis_error(index: int, axis: Axis, message: str) -> ApiError:
    return ApiError(422, f"axis {axis.path!r}: {message}", loc=["body", "axes", index, "path"])


def expand(spec: SweepCreate) -> list[tuple[dict[str, Any], RunConfig]]:
    """(parameters, validated config) of every run of the sweep; a bad axis is an ApiError naming it."""
    try:
        base = RunConfig.model_validate(spec.base)
    except ValidationError as error:
        first = error.errors()[0]
        raise ApiError(422, f"base: {first['msg']}", loc=["body", "base", *first["loc"]]) from None
    partial = base.model_dump(mode="json", exclude_unset=True)
    full = base.model_dump(mode="json")
    if spec.mode == "grid":
        missing = [i for i, axis in enumerate(spec.axes) if axis.values is None]
        if missing:
            raise _axis_error(missing[0], spec.axes[missing[0]], "a grid axis needs values")
        size = math.prod(len(axis.values) for axis in spec.axes)
        if size > spec.budget:
            counts = " x ".join(f"{axis.path} ({len(axis.values)})" for axis in spec.axes)
            raise ApiError(
                422,
                f"the grid {counts} has {size} runs, over the budget of {spec.budget}",
                loc=["body", "axes"],
            )
        paths = [axis.path for axis in spec.axes]
        combos = itertools.product(*(axis.values for axis in spec.axes))
        points = [dict(zip(paths, combo, strict=True)) for combo in combos]
    else:
        rng = np.random.default_rng(spec.seed)
        points = [{axis.path: axis.sample(rng) for axis in spec.axes} for _ in range(spec.budget)]
    runs = []
    for point in points:
        config = copy.deepcopy(partial)
        for index, axis in enumerate(spec.axes):
            try:
                _set_path(config, full, axis.path, point[axis.path])
            except ValueError as error:
                raise _axis_error(index, axis, str(error)) from None
        try:
            validated = RunConfig.model_validate(config)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"]))
            index = next((i for i, a in enumerate(spec.axes) if _within(a.path, first["loc"])), 0)
            value = json.dumps(point[spec.axes[index].path])
            raise _axis_error(
                index, spec.axes[index], f"{value} is refused at {where}: {first['msg']}"
            ) from None
        runs.append((point, validated))
    return runs


@dataclass(eq=False)
class SweepRun:
    """One run of a sweep, named before it starts (a restart never starts it twice); `pending` until then."""

    params: dict[str, Any]
    config: dict[str, Any]
    run_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    status: str = "pending"

    @property
    def started(self) -> bool:
        return self.status not in ("pending", "unstarted")

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclass(eq=False)
class Sweep:
    id: str
    spec: SweepCreate
    runs: list[SweepRun]
    created_at: float = field(default_factory=time.time)
    status: str = "running"
    task: asyncio.Task | None = None

    def counts(self) -> dict[str, int]:
        """How many of its runs are in each status (pending: not started yet)."""
        return dict(Counter(item.status for item in self.runs))

    def summary(self) -> dict[str, Any]:
        """The sweep without its rows: id, name, created_at, status, the spec's settings and the counts."""
        return {
            "id": self.id,
            "name": self.spec.name,
            "status": self.status,
            "created_at": self.created_at,
            "mode": self.spec.mode,
            "budget": self.spec.budget,
            "concurrency": self.spec.concurrency,
            "axes": [axis.model_dump(exclude_none=True) for axis in self.spec.axes],
            "finished": sum(1 for item in self.runs if item.ended),
            "total": len(self.runs),
            "counts": self.counts(),
        }


class SweepManager:
    """Starts each sweep's runs through the RunManager, `concurrency` at a time, and tabulates them.

    Sweeps and their rows live in the store beside the runs: after a restart, a sweep that was running
    carries on (its runs in flight resume as every run does) and starts the rest of its budget.
    """

    def __init__(self, manager: RunManager):
        self.manager = manager
        self.store = manager.store
        self.sweeps: dict[str, Sweep] = {}

    async def start(self) -> None:
        """Load every stored sweep and drive on those that were running."""
        for stored in await asyncio.to_thread(self.store.list_sweeps):
            runs = [SweepRun(r["params"], r["config"], r["run_id"], r["status"]) for r in stored["runs"]]
            try:
                spec = SweepCreate.model_validate(stored["spec"])
            except ValidationError as error:
                log.warning("stored sweep %s is not readable and was skipped: %s", stored["id"], error)
                continue
            sweep = Sweep(stored["id"], spec, runs, stored["created_at"], stored["status"])
            self.sweeps[sweep.id] = sweep
            if sweep.status == "running":
                for index, item in enumerate(sweep.runs):
                    if item.status == "pending" and (status := await self._run_status(item)) != "deleted":
                        self._set_status(sweep, index, status)
                sweep.task = asyncio.create_task(self._drive(sweep))

    async def close(self) -> None:
        tasks = [sweep.task for sweep in self.sweeps.values() if sweep.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def create(self, spec: SweepCreate) -> dict[str, Any]:
        runs = await asyncio.to_thread(expand, spec)
        settings = self.manager.settings
        for index, (_, config) in enumerate(runs):
            csv_text = await dataset_text(config, self.store)
            try:
                await asyncio.to_thread(preflight, config, csv_text, settings)
            except ApiError as error:
                message = f"run {index} of the sweep ({runs[index][0]}): {error}"
                raise ApiError(422, message, loc=["body", "axes"]) from None
        items = [SweepRun(params, config.model_dump(mode="json")) for params, config in runs]
        sweep = Sweep(secrets.token_urlsafe(12), spec, items)
        stored = {"id": sweep.id, "status": sweep.status, "created_at": sweep.created_at}
        rows = [vars(item) for item in items]
        self.store.insert_sweep({**stored, "spec": spec.model_dump(mode="json")}, rows)
        await self.store.aflush()
        self.sweeps[sweep.id] = sweep
        sweep.task = asyncio.create_task(self._drive(sweep))
        return await self.table(sweep.id)

    def get(self, sweep_id: str) -> Sweep:
        sweep = self.sweeps.get(sweep_id)
        if sweep is None:
            raise not_found("sweep", sweep_id)
        return sweep

    def list(self) -> list[dict[str, Any]]:
        """Every sweep's summary, newest first."""
        return [sweep.summary() for sweep in reversed(self.sweeps.values())]

    def _set_status(self, sweep: Sweep, index: int, status: str) -> None:
        item = sweep.runs[index]
        if item.status != status:
            item.status = status
            self.store.update_sweep_run(sweep.id, index, status)

    async def _run_status(self, item: SweepRun) -> str:
        try:
            return (await self.manager.read(item.run_id))["status"]
        except ApiError:
            return "deleted"

    async def _drive(self, sweep: Sweep) -> None:
        """Keep `concurrency` runs in flight until every run has ended."""
        try:
            while sweep.status == "running":
                for index, item in enumerate(sweep.runs):
                    if item.started and not item.ended:
                        self._set_status(sweep, index, await self._run_status(item))
                in_flight = sum(1 for item in sweep.runs if item.started and not item.ended)
                for index, item in enumerate(sweep.runs):
                    if in_flight >= sweep.spec.concurrency:
                        break
                    if item.status == "pending":
                        status = await self._launch(item)
                        if status is None:
                            break
                        self._set_status(sweep, index, status)
                        in_flight += not item.ended
                if all(item.ended for item in sweep.runs):
                    sweep.status = "completed"
                    self.store.update_sweep(sweep.id, sweep.status)
                    return
                await asyncio.sleep(POLL_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep %s failed", sweep.id)
            sweep.status = "failed"
            self.store.update_sweep(sweep.id, sweep.status)

    async def _launch(self, item: SweepRun) -> str | None:
        """Start the run; its status, `unstarted` when the server refused it, None when the queue is full."""
        try:
            config = RunConfig.model_validate(item.config)
            return (await self.manager.create(config, paused=False, run_id=item.run_id))["status"]
        except ApiError as error:
            if error.status == 429:
                return None
            log.warning("sweep run %s could not start: %s", item.run_id, error)
        except ValidationError as error:
            log.warning("sweep run %s could not start: %s", item.run_id, error)
        return "unstarted"

    async def delete(self, sweep_id: str) -> None:
        """Stop every run of the sweep in flight and forget the sweep (its runs stay)."""
        sweep = self.get(sweep_id)
        sweep.status = "stopped"
        if sweep.task is not None:
            sweep.task.cancel()
        for item in sweep.runs:
            if item.started and not item.ended:
                try:
                    await self.manager.control(item.run_id, "stop", {"reason": "the sweep was deleted"})
                except ApiError:
                    pass
        del self.sweeps[sweep_id]
        self.store.delete_sweep(sweep_id)
        await self.store.aflush()

    async def table(self, sweep_id: str) -> dict[str, Any]:
        """The sweep and one row per run: parameters, status, best and final metrics."""
        sweep = self.get(sweep_id)
        rows = []
        for index, item in enumerate(list(sweep.runs)):
            row: dict[str, Any] = {"index": index, "run_id": None, "params": item.params}
            row["status"] = item.status
            if item.started:
                try:
                    run = await self.manager.read(item.run_id)
                    epochs = await self.manager.read_epochs(item.run_id, False)
                except ApiError:
                    run, epochs = None, []
                if run is not None:
                    row["run_id"] = item.run_id
                    row["status"] = run["status"]
                    row.update(_metrics(run, epochs))
            rows.append(row)
        return {**sweep.summary(), "finished": sum(1 for row in rows if row["status"] in ENDED), "runs": rows}

    async def csv(self, sweep_id: str) -> str:
        table = await self.table(sweep_id)
        paths = [axis["path"] for axis in table["axes"]]
        metrics = ["epochs", "best_test_metric", "best_epoch", "final_train_loss", "final_test_loss"]
        metrics += ["final_train_metric", "final_test_metric"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["index", "run_id", "status", *paths, *metrics])
        for row in table["runs"]:
            values = (row["params"][path] for path in paths)
            params = [value if isinstance(value, str) else json.dumps(value) for value in values]
            cells = [_cell(row.get(metric)) for metric in metrics]
            writer.writerow([row["index"], row["run_id"] or "", row["status"], *params, *cells])
        return out.getvalue()


def _cell(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _metrics(run: dict[str, Any], epochs: list[str]) -> dict[str, Any]:
    records = [json.loads(text) for text in epochs]
    scored = [(r["test_metric"], r["epoch"]) for r in records if r.get("test_metric") is not None]
    best, best_epoch = max(scored, key=lambda pair: (pair[0], -pair[1])) if scored else (None, None)
    last = records[-1] if records else (run.get("last") or {})
    return {
        "epochs": len(records),
        "best_test_metric": best,
        "best_epoch": best_epoch,
        "final_train_loss": last.get("train_loss"),
        "final_test_loss": last.get("test_loss"),
        "final_train_metric": last.get("train_metric"),
        "final_test_metric": last.get("test_metric"),
        "metric": last.get("metric"),
    }
