"""The SQLite store: batched writes, reads, interrupted runs on open, deletes."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time

import numpy as np

from server.store import CHUNK_BYTES, SCHEMA, Store
from tests.server.conftest import wait_for


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


def random_text(size, seed):
    """Incompressible JSON-safe text (base64 of random bytes), so stored sizes are predictable."""
    return base64.b64encode(np.random.default_rng(seed).bytes(size * 3 // 4)).decode()


def heavy_record(epoch, size=2000):
    return json.dumps({"epoch": epoch, "boundary": {"z": random_text(size, epoch)}})


def read_json(store, run_id, full, every=1, heavy_only=False):
    return json.loads(b"".join(store.epochs_json(run_id, full, every, heavy_only)))


def test_epochs_json_selects_every_nth_and_heavy_ones(tmp_path):
    store = open_store(tmp_path)
    store.insert_run(run_row("a"))
    heavy = {1, 2, 4, 7, 10}
    for epoch in range(1, 11):
        store.add_epoch(
            "a", epoch, json.dumps({"epoch": epoch}), heavy_record(epoch, 40) if epoch in heavy else None
        )
    store.flush()
    scalars = read_json(store, "a", full=False)
    assert [r["epoch"] for r in scalars] == list(range(1, 11)) and all("boundary" not in r for r in scalars)
    full = read_json(store, "a", full=True)
    assert [("boundary" in r) for r in full] == [epoch in heavy for epoch in range(1, 11)]
    assert [r["epoch"] for r in read_json(store, "a", full=True, every=3)] == [1, 4, 7, 10]
    assert [r["epoch"] for r in read_json(store, "a", full=False, every=4)] == [1, 5, 9, 10]
    only = read_json(store, "a", full=True, heavy_only=True)
    assert [r["epoch"] for r in only] == sorted(heavy) and all("boundary" in r for r in only)
    assert [r["epoch"] for r in read_json(store, "a", full=True, every=2, heavy_only=True)] == [1, 4, 10]
    assert read_json(store, "missing", full=True) == []
    store.close()


def test_epochs_json_is_read_page_by_page_without_holding_the_store(tmp_path):
    store = open_store(tmp_path)
    store.insert_run(run_row("a"))
    for epoch in range(1, 41):
        store.add_epoch("a", epoch, json.dumps({"epoch": epoch}), heavy_record(epoch, 400_000))
    store.flush()
    pieces = store.epochs_json("a", full=True)
    first = next(pieces)
    reader = threading.Thread(target=store.list_runs, args=(0, 10))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "a suspended read must not hold the read lock"
    store.add_epoch("a", 41, json.dumps({"epoch": 41}), None)
    store.flush()
    body = [first, *pieces]
    assert len(body) > 40 and max(len(piece) for piece in body) <= 3 * CHUNK_BYTES
    records = json.loads(b"".join(body))
    assert [r["epoch"] for r in records] == list(range(1, 41))
    assert all(r["boundary"]["z"] == random_text(400_000, r["epoch"]) for r in records)
    store.close()


def test_a_run_over_half_its_quota_thins_its_heavy_records_and_stops_at_the_quota(tmp_path):
    store = Store(tmp_path / "runs.sqlite3", 0.05, max_run_storage_mb=0.1)
    store.open()
    store.insert_run(run_row("a"))
    for epoch in range(1, 301):
        store.add_epoch("a", epoch, json.dumps({"epoch": epoch}), heavy_record(epoch))
        if epoch == 10:
            store.flush()
            assert store.storage_note("a") is None
    store.flush()
    records = read_json(store, "a", full=True)
    assert [r["epoch"] for r in records] == list(range(1, 301))
    kept = [r["epoch"] for r in records if "boundary" in r]
    assert kept[:10] == list(range(1, 11)) and 40 < len(kept) < 120
    gaps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    assert gaps[0] == 1 and max(gaps[len(gaps) // 2 :]) >= 4 and gaps == sorted(gaps)
    assert all(r["boundary"]["z"] == random_text(2000, r["epoch"]) for r in records if "boundary" in r)
    stored = store._read(lambda db: db.execute("SELECT SUM(length(record)) FROM epochs").fetchone()[0])
    assert stored <= 0.1 * 1024 * 1024
    note = store.storage_note("a")
    assert "NNPLAY_MAX_RUN_STORAGE_MB" in note and "no longer stored" in note
    store.close()


def test_the_total_quota_stops_heavy_records_and_keeps_scalars(tmp_path):
    store = Store(tmp_path / "runs.sqlite3", 0.05, max_storage_mb=0.3)
    store.open()
    store.insert_run(run_row("a"))
    for epoch in range(1, 201):
        store.add_epoch("a", epoch, json.dumps({"epoch": epoch}), heavy_record(epoch))
        if epoch % 10 == 0:
            store.flush()
    records = read_json(store, "a", full=True)
    kept = [r["epoch"] for r in records if "boundary" in r]
    assert len(records) == 200 and kept == list(range(1, len(kept) + 1)) and 50 < len(kept) < 200
    assert store.database_bytes() < 0.3 * 1024 * 1024 + 64 * 1024
    assert "NNPLAY_MAX_STORAGE_MB" in store.storage_note("a")
    store.close()


def files_size(path):
    """The database file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return os.path.getsize(path) + (os.path.getsize(wal) if wal.exists() else 0)


def test_deleting_runs_and_datasets_shrinks_the_file(tmp_path):
    store = open_store(tmp_path)
    for run_id in ("a", "b"):
        store.insert_run(run_row(run_id))
        for epoch in range(1, 51):
            store.add_epoch(run_id, epoch, json.dumps({"epoch": epoch}), heavy_record(epoch, 50_000))
    dataset = {
        "id": "csv-1",
        "name": None,
        "created_at": 1.0,
        "columns": ["a"],
        "rows": 1,
        "task": "regression",
    }
    store.insert_dataset({**dataset, "csv": "a\n" + random_text(2_000_000, 9)})
    store.flush()
    full_size, full_files = store.database_bytes(), files_size(store.path)
    store.delete_run("a")
    store.delete_dataset("csv-1")
    store.flush()
    wait_for(lambda: store.database_bytes() < full_size - 4_000_000, timeout=10)
    assert [r["epoch"] for r in read_json(store, "b", full=True)] == list(range(1, 51))
    assert store.get_dataset("csv-1") is None and not store.has_dataset("csv-1")
    wait_for(lambda: files_size(store.path) < full_files / 3, timeout=10)
    store.close()


def test_open_switches_an_old_database_to_incremental_vacuum(tmp_path):
    path = tmp_path / "runs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)
    with old:
        old.execute("INSERT INTO runs (id, status, config, created_at) VALUES ('a', 'completed', '{}', 1)")
    assert old.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    old.close()
    store = Store(path)
    store.open()
    assert store._read(lambda db: db.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2
    assert store.get_run("a")["status"] == "completed"
    store.close()
