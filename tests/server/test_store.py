"""The SQLite store: batched writes, reads, interrupted runs on open, deletes."""

from __future__ import annotations

import json
import time

from server.store import Store


def open_store(path, interval=0.05):
    store = Store(path / "runs.sqlite3", interval)
    store.open()
    return store


def run_row(run_id, status="queued", created_at=None):
    return {
        "id": run_id,
        "name": None,
        "status": status,
        "message": None,
        "config": {"seed": 1},
        "created_at": created_at or time.time(),
    }


def test_runs_epochs_weights_round_trip(tmp_path):
    store = open_store(tmp_path)
    store.insert_run(run_row("a"))
    for epoch in (1, 2, 3):
        scalars = json.dumps({"epoch": epoch})
        record = json.dumps({"epoch": epoch, "layers": [1, 2]}) if epoch != 2 else None
        store.add_epoch("a", epoch, scalars, record)
        store.update_run("a", status="running", epochs=epoch, last={"epoch": epoch})
    store.put_weights("a", b"npz bytes")
    store.flush()
    run = store.get_run("a")
    assert run["status"] == "running" and run["epochs"] == 3 and run["last"] == {"epoch": 3}
    assert run["config"] == {"seed": 1}
    assert [json.loads(e) for e in store.get_epochs("a", full=False)] == [
        {"epoch": 1},
        {"epoch": 2},
        {"epoch": 3},
    ]
    full = [json.loads(e) for e in store.get_epochs("a", full=True)]
    assert full[0]["layers"] == [1, 2] and "layers" not in full[1]
    assert json.loads(store.latest_record("a"))["epoch"] == 3
    assert store.get_weights("a") == b"npz bytes"
    store.close()


def test_list_is_newest_first(tmp_path):
    store = open_store(tmp_path)
    for name in "abc":
        store.insert_run(run_row(name))
    store.flush()
    runs, count = store.list_runs(0, 2)
    assert [r["id"] for r in runs] == ["c", "b"] and count == 3
    assert [r["id"] for r in store.list_runs(2, 5)[0]] == ["a"]
    store.close()


def test_open_marks_runs_in_flight_interrupted(tmp_path):
    store = open_store(tmp_path)
    for run_id, status in (("q", "queued"), ("r", "running"), ("p", "paused"), ("c", "completed")):
        store.insert_run(run_row(run_id, status))
    store.add_epoch("r", 1, '{"epoch": 1}', None)
    store.add_epoch("r", 2, '{"epoch": 2}', None)
    store.close()
    reopened = Store(tmp_path / "runs.sqlite3")
    assert reopened.open() == 3
    assert {r["id"]: r["status"] for r in reopened.list_runs(0, 10)[0]} == {
        "q": "interrupted",
        "r": "interrupted",
        "p": "interrupted",
        "c": "completed",
    }
    recovered = reopened.get_run("r")
    assert recovered["message"] and recovered["finished_at"]
    assert recovered["epochs"] == 2 and recovered["last"] == {"epoch": 2}
    reopened.close()


def test_delete_removes_everything(tmp_path):
    store = open_store(tmp_path)
    store.insert_run(run_row("a"))
    store.add_epoch("a", 1, "{}", "{}")
    store.put_weights("a", b"w")
    store.delete_run("a")
    store.flush()
    assert store.get_run("a") is None and store.get_epochs("a", True) == [] and store.get_weights("a") is None
    store.close()


def test_datasets(tmp_path):
    store = open_store(tmp_path)
    store.insert_dataset(
        {
            "id": "csv-1",
            "name": "n",
            "created_at": 1.0,
            "columns": ["a", "y"],
            "rows": 2,
            "task": "regression",
            "csv": "a,y\n1,2\n3,4\n",
        }
    )
    store.flush()
    assert store.get_dataset("csv-1")["csv"] == "a,y\n1,2\n3,4\n"
    assert store.list_datasets()[0]["columns"] == ["a", "y"]
    assert store.get_dataset("nope") is None
    store.close()


def test_writes_are_batched_off_the_caller(tmp_path):
    store = open_store(tmp_path, interval=0.2)
    store.insert_run(run_row("a"))
    started = time.perf_counter()
    for epoch in range(1, 2001):
        store.add_epoch("a", epoch, "{}", None)
    queued = time.perf_counter() - started
    store.flush()
    assert queued < 0.5
    assert len(store.get_epochs("a", False)) == 2000
    store.close()


def test_writes_wait_for_the_interval_and_a_flush_or_close_cuts_it_short(tmp_path):
    store = open_store(tmp_path, interval=60)
    store.insert_run(run_row("a"))
    time.sleep(0.2)
    waiting = store.get_run("a") is None
    started = time.monotonic()
    store.flush()
    flushed = time.monotonic() - started
    store.update_run("a", status="completed")
    started = time.monotonic()
    store.close()
    closed = time.monotonic() - started
    reopened = open_store(tmp_path)
    assert waiting and flushed < 5 and closed < 5
    assert reopened.get_run("a")["status"] == "completed"
    reopened.close()
