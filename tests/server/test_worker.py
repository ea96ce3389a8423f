"""The worker's epoch events: held a little to write several at once, except a record a viewer pulled."""

from __future__ import annotations

import json
import os

import pytest

from engine.config import RunConfig
from engine.trainer import Trainer
from server.executor import Job
from server.wire import Reader, Receiver, Writer
from server.worker import JobRunner
from tests.server.conftest import small_config


@pytest.fixture
def pipes():
    commands_read, commands_write = os.pipe()
    events_read, events_write = os.pipe()
    os.set_blocking(events_read, False)
    yield Receiver(commands_read), Writer(events_write, hold_seconds=60), events_read
    for fd in (commands_read, commands_write, events_read, events_write):
        os.close(fd)


def written(fd):
    try:
        return Reader().feed(os.read(fd, 1 << 20))
    except BlockingIOError:
        return []


def test_epochs_are_held_but_a_pulled_heavy_record_leaves_at_once_with_them(pipes):
    commands, events, events_read = pipes
    config = RunConfig.model_validate(small_config(epochs=10, telemetry={"every": 10_000})).model_dump()
    runner = JobRunner(Job("r", config), commands, events)
    runner.trainer = Trainer(config)
    epochs = runner.trainer.epochs()
    events.send(("started", "r", {}))
    assert len(written(events_read)) == 1
    for _ in range(3):
        runner.report(next(epochs))
    assert written(events_read) == []
    runner.apply("heavy", {})
    runner.report(next(epochs))
    sent = [data for kind, _, data in written(events_read) if kind == "epoch"]
    assert [json.loads(data["scalars_json"])["epoch"] for data in sent] == [1, 2, 3, 4]
    assert [data["epoch"] for data in sent] == [1, 2, 3, 4]
    assert all(data.keys() == {"epoch", "scalars_json", "record_json"} for data in sent)
    assert sent[-1]["record_json"] is not None and not runner.pulled
    runner.report(next(epochs))
    assert written(events_read) == []
