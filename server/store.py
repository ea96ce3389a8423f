"""SQLite store (WAL): runs, per-epoch records, final weights and uploaded CSVs; writes are batched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    message TEXT,
    config TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    epochs INTEGER NOT NULL DEFAULT 0,
    last TEXT,
    num_parameters INTEGER,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    scalars TEXT NOT NULL,
    record BLOB,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS weights (
    run_id TEXT PRIMARY KEY,
    npz BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    name TEXT,
    created_at REAL NOT NULL,
    columns TEXT NOT NULL,
    rows INTEGER NOT NULL,
    task TEXT,
    csv TEXT NOT NULL
);
"""

RUN_COLUMNS = (
    "id",
    "name",
    "status",
    "message",
    "config",
    "created_at",
    "started_at",
    "finished_at",
    "epochs",
    "last",
    "num_parameters",
    "summary",
)
JSON_COLUMNS = ("config", "last", "summary")
IN_FLIGHT = ("queued", "running", "paused")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON columns as text; a str is taken as JSON already."""
    return {
        k: json.dumps(v) if k in JSON_COLUMNS and not isinstance(v, str | None) else v
        for k, v in fields.items()
    }


def _decode_run(row: tuple) -> dict[str, Any]:
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in JSON_COLUMNS:
        if run[key] is not None:
            run[key] = json.loads(run[key])
    return run


class Store:
    """One writer thread commits queued writes every `interval` seconds; reads share one connection."""

    def __init__(self, path: Path, interval: float = 0.2):
        self.path = Path(path)
        self.interval = interval
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._urgent = threading.Event()
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None

    def open(self) -> int:
        """Create the schema, mark runs left in flight as interrupted (returns how many), start the writer.

        A run's epochs and last scalars are written to its row when it ends; for runs left in flight
        they are recovered here from the epochs table.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(self.path)
        with db:
            db.executescript(SCHEMA)
            marks = ",".join("?" * len(IN_FLIGHT))
            interrupted = db.execute(
                "UPDATE runs SET status='interrupted', message=?, finished_at=?, "
                "epochs=(SELECT COUNT(*) FROM epochs WHERE run_id=runs.id), "
                "last=(SELECT scalars FROM epochs WHERE run_id=runs.id ORDER BY epoch DESC LIMIT 1) "
                f"WHERE status IN ({marks})",
                ("the server stopped while the run was in flight", time.time(), *IN_FLIGHT),
            ).rowcount
        self._reader = db
        self._writer = threading.Thread(target=self._write_loop, name="nnplay-store", daemon=True)
        self._writer.start()
        return interrupted

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._urgent.set()
            self._writer.join()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def insert_run(self, run: dict[str, Any]) -> None:
        self._queue.put(("insert_run", _encode(run)))

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._queue.put(("update_run", run_id, _encode(fields)))

    def add_epoch(self, run_id: str, epoch: int, scalars: str, record: str | None) -> None:
        self._queue.put(("epoch", run_id, epoch, scalars, record))

    def put_weights(self, run_id: str, npz: bytes) -> None:
        self._queue.put(("weights", run_id, npz))

    def delete_run(self, run_id: str) -> None:
        self._queue.put(("delete", run_id))

    def insert_dataset(self, dataset: dict[str, Any]) -> None:
        self._queue.put(("dataset", {**dataset, "columns": json.dumps(dataset["columns"])}))

    def flush(self) -> None:
        """Block until every write queued before this call is committed."""
        done = threading.Event()
        self._queue.put(("flush", done))
        self._urgent.set()
        done.wait()

    async def aflush(self) -> None:
        await asyncio.to_thread(self.flush)

    def _write_loop(self) -> None:
        """Commit what is queued every `interval` seconds; a flush or close cuts the wait short.

        Between commits the thread sleeps on an event rather than on the queue, so a put does not wake it.
        """
        db = _connect(self.path)
        running = True
        while running:
            ops = [self._queue.get()]
            self._urgent.wait(self.interval)
            self._urgent.clear()
            with contextlib.suppress(queue.Empty):
                while True:
                    ops.append(self._queue.get_nowait())
            if None in ops:
                running = False
                ops = ops[: ops.index(None)]
            self._commit(db, [op for op in ops if op[0] != "flush"])
            for op in ops:
                if op[0] == "flush":
                    op[1].set()
        db.close()

    def _commit(self, db: sqlite3.Connection, ops: list[tuple]) -> None:
        if not ops:
            return
        with db:
            epochs: list[tuple] = []
            updates: dict[str, dict[str, Any]] = {}
            for op in ops:
                kind = op[0]
                if kind == "epoch":
                    _, run_id, epoch, scalars, record = op
                    blob = zlib.compress(record.encode(), 1) if record is not None else None
                    epochs.append((run_id, epoch, scalars, blob))
                    continue
                self._flush_epochs(db, epochs)
                if kind == "update_run":
                    updates.setdefault(op[1], {}).update(op[2])
                    continue
                self._flush_updates(db, updates)
                if kind == "insert_run":
                    columns = ",".join(op[1])
                    db.execute(
                        f"INSERT INTO runs ({columns}) VALUES ({','.join('?' * len(op[1]))})",
                        tuple(op[1].values()),
                    )
                elif kind == "weights":
                    db.execute("INSERT OR REPLACE INTO weights (run_id, npz) VALUES (?, ?)", (op[1], op[2]))
                elif kind == "delete":
                    for table, key in (("epochs", "run_id"), ("weights", "run_id"), ("runs", "id")):
                        db.execute(f"DELETE FROM {table} WHERE {key}=?", (op[1],))
                elif kind == "dataset":
                    data = op[1]
                    db.execute(
                        "INSERT OR REPLACE INTO datasets (id, name, created_at, columns, rows, task, csv) "
                        "VALUES (:id, :name, :created_at, :columns, :rows, :task, :csv)",
                        data,
                    )
            self._flush_epochs(db, epochs)
            self._flush_updates(db, updates)

    @staticmethod
    def _flush_epochs(db: sqlite3.Connection, epochs: list[tuple]) -> None:
        if epochs:
            db.executemany(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, scalars, record) VALUES (?, ?, ?, ?)", epochs
            )
            epochs.clear()

    @staticmethod
    def _flush_updates(db: sqlite3.Connection, updates: dict[str, dict[str, Any]]) -> None:
        for run_id, fields in updates.items():
            assignments = ",".join(f"{key}=?" for key in fields)
            db.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*fields.values(), run_id))
        updates.clear()

    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._read_lock:
            if self._reader is None:
                raise RuntimeError("the store is closed")
            return fn(self._reader)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._read(
            lambda db: db.execute(
                f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE id=?", (run_id,)
            ).fetchone()
        )
        return _decode_run(row) if row else None

    def list_runs(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        def query(db: sqlite3.Connection) -> tuple[list[tuple], int]:
            rows = db.execute(
                f"SELECT {','.join(RUN_COLUMNS)} FROM runs ORDER BY seq DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            return rows, db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

        rows, count = self._read(query)
        return [_decode_run(row) for row in rows], count

    def get_epochs(self, run_id: str, full: bool) -> list[str]:
        """JSON texts of every epoch in order: the full record where one was kept, else the scalars."""
        column = "scalars, record" if full else "scalars, NULL"
        rows = self._read(
            lambda db: db.execute(
                f"SELECT {column} FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)
            ).fetchall()
        )
        return [
            zlib.decompress(record).decode() if record is not None else scalars for scalars, record in rows
        ]

    def latest_record(self, run_id: str) -> str | None:
        """The newest full record (with heavy telemetry) of a run, as JSON text."""
        row = self._read(
            lambda db: db.execute(
                "SELECT record FROM epochs WHERE run_id=? AND record IS NOT NULL ORDER BY epoch DESC LIMIT 1",
                (run_id,),
            ).fetchone()
        )
        return zlib.decompress(row[0]).decode() if row else None

    def get_weights(self, run_id: str) -> bytes | None:
        row = self._read(
            lambda db: db.execute("SELECT npz FROM weights WHERE run_id=?", (run_id,)).fetchone()
        )
        return bytes(row[0]) if row else None

    def get_dataset(self, dataset_id: str) -> dict[str, Any] | None:
        row = self._read(
            lambda db: db.execute(
                "SELECT id, name, created_at, columns, rows, task, csv FROM datasets WHERE id=?",
                (dataset_id,),
            ).fetchone()
        )
        if row is None:
            return None
        keys = ("id", "name", "created_at", "columns", "rows", "task", "csv")
        dataset = dict(zip(keys, row, strict=True))
        dataset["columns"] = json.loads(dataset["columns"])
        return dataset

    def list_datasets(self) -> list[dict[str, Any]]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT id, name, created_at, columns, rows, task FROM datasets ORDER BY created_at DESC"
            ).fetchall()
        )
        keys = ("id", "name", "created_at", "columns", "rows", "task")
        return [{**dict(zip(keys, row, strict=True)), "columns": json.loads(row[3])} for row in rows]
