"""SQLite store (WAL): runs, per-epoch records, final weights and uploaded CSVs; writes are batched.

Storage is bounded: past half of a run's quota its heavy records thin out (every 2nd, then every 4th as
each half of what remains fills, ...) and stop at the quota or when the database reaches the total quota;
scalars are always stored and nothing stored is dropped. Deleted rows give their pages back to the file
(incremental vacuum).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (sweep_id, idx)
) WITHOUT ROWID;
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
MB = 1024 * 1024
CHUNK_BYTES = 256 * 1024
EPOCH_PAGE = 4096
VACUUM_PAGES = 2560
WAL_LIMIT_BYTES = 16 * MB
HEAVY_NOTE = "heavy records (histograms, boundary, weights)"
SCALARS_NOTE = "scalars are still stored every epoch and the live view is unaffected"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON columns as text; a str is taken as JSON already."""
    return {
        k: json.dumps(v) if k in JSON_COLUMNS and not isinstance(v, str | None) else v
        for k, v in fields.items()
    }


@dataclass
class RunUsage:
    """What the writer has stored for one run (bytes of scalars and records) and heavy records offered."""

    bytes: int
    offered: int = 0


def _keep_every(used: int, quota: int) -> int:
    """1 below half the quota, then 2, 4, 8, ... as each half of what remains fills; 0 at the quota."""
    remaining = quota - used
    return 1 << ((quota // remaining).bit_length() - 1) if remaining > 0 else 0


def _decode_run(row: tuple) -> dict[str, Any]:
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in JSON_COLUMNS:
        if run[key] is not None:
            run[key] = json.loads(run[key])
    return run


class Store:
    """One writer thread commits queued writes every `interval` seconds; reads share one connection.

    max_storage_mb bounds the database and max_run_storage_mb one run's records (heavy records give way).
    """

    def __init__(
        self,
        path: Path,
        interval: float = 0.2,
        max_storage_mb: float = float("inf"),
        max_run_storage_mb: float = float("inf"),
    ):
        self.path = Path(path)
        self.interval = interval
        self.max_storage_mb = max_storage_mb
        self.max_run_storage_mb = max_run_storage_mb
        self._max_bytes = int(min(max_storage_mb * MB, 2**62))
        self._max_run_bytes = int(min(max_run_storage_mb * MB, 2**62))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._urgent = threading.Event()
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self._usage: dict[str, RunUsage] = {}
        self._notes: dict[str, str] = {}
        self._database_bytes = 0
        self._page_size = 4096
        self._vacuuming = False
        self.resume_in_flight = False

    def open(self) -> int:
        """Create the schema, mark runs left in flight as interrupted (returns how many), start the writer.

        A run's epochs and last scalars are written to its row when it ends; for runs left in flight
        they are recovered here from the epochs table. Runs left in flight with a checkpoint stay in flight
        when `resume_in_flight` is set: `resumable()` lists them.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(self.path)
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("VACUUM")
        with db:
            db.executescript(SCHEMA)
            marks = ",".join("?" * len(IN_FLIGHT))
            interrupted = db.execute(
                "UPDATE runs SET status='interrupted', message=?, finished_at=?, "
                "epochs=(SELECT COUNT(*) FROM epochs WHERE run_id=runs.id), "
                "last=(SELECT scalars FROM epochs WHERE run_id=runs.id ORDER BY epoch DESC LIMIT 1) "
                f"WHERE status IN ({marks})"
                + (" AND id NOT IN (SELECT run_id FROM checkpoints)" if self.resume_in_flight else ""),
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

    def put_checkpoint(self, run_id: str, epoch: int, state: bytes) -> None:
        """Keep `state` (engine.checkpoint bytes after `epoch`) as the run's latest checkpoint."""
        self._queue.put(("checkpoint", run_id, epoch, state))

    def truncate_epochs(self, run_id: str, epoch: int) -> None:
        """Forget the run's epochs after `epoch` (they will be trained again from a checkpoint)."""
        self._queue.put(("truncate", run_id, epoch))

    def get_checkpoint(self, run_id: str) -> tuple[int, bytes] | None:
        """(epoch, state) of the run's latest checkpoint, or None."""
        row = self._read(
            lambda db: db.execute("SELECT epoch, state FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
        )
        return (row[0], bytes(row[1])) if row else None

    def resumable(self) -> list[dict[str, Any]]:
        """Runs left in flight with a checkpoint (see `open`), oldest first."""
        marks = ",".join("?" * len(IN_FLIGHT))
        rows = self._read(
            lambda db: db.execute(
                f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE status IN ({marks}) "
                "AND id IN (SELECT run_id FROM checkpoints) ORDER BY seq",
                IN_FLIGHT,
            ).fetchall()
        )
        return [_decode_run(row) for row in rows]

    def delete_run(self, run_id: str) -> None:
        self._queue.put(("delete", run_id))

    def insert_sweep(self, sweep: dict[str, Any], runs: list[dict[str, Any]]) -> None:
        """A sweep (id, status, created_at, spec) and its runs (params, config, run_id, status) in order."""
        self._queue.put(("sweep", sweep, runs))

    def update_sweep(self, sweep_id: str, status: str) -> None:
        self._queue.put(("sweep_status", sweep_id, status))

    def update_sweep_run(self, sweep_id: str, index: int, status: str) -> None:
        self._queue.put(("sweep_run", sweep_id, index, status))

    def delete_sweep(self, sweep_id: str) -> None:
        """Forget the sweep and its table; its runs stay."""
        self._queue.put(("delete_sweep", sweep_id))

    def list_sweeps(self) -> list[dict[str, Any]]:
        """Every sweep, oldest first, with its spec and its runs in order."""

        def query(db: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
            sweeps = db.execute("SELECT id, status, created_at, spec FROM sweeps ORDER BY seq").fetchall()
            runs = db.execute(
                "SELECT sweep_id, params, config, run_id, status FROM sweep_runs ORDER BY sweep_id, idx"
            ).fetchall()
            return sweeps, runs

        sweeps, runs = self._read(query)
        by_id = {
            id_: {"id": id_, "status": status, "created_at": created, "spec": json.loads(spec), "runs": []}
            for id_, status, created, spec in sweeps
        }
        for sweep_id, params, config, run_id, status in runs:
            if sweep_id in by_id:
                run = {"params": json.loads(params), "config": json.loads(config), "run_id": run_id}
                by_id[sweep_id]["runs"].append({**run, "status": status})
        return list(by_id.values())

    def insert_dataset(self, dataset: dict[str, Any]) -> None:
        self._queue.put(("dataset", {**dataset, "columns": json.dumps(dataset["columns"])}))

    def delete_dataset(self, dataset_id: str) -> None:
        self._queue.put(("delete_dataset", dataset_id))

    def storage_note(self, run_id: str) -> str | None:
        """Why the run's heavy records are thinned or no longer stored, naming the setting; else None."""
        return self._notes.get(run_id)

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
            ops = []
            with contextlib.suppress(queue.Empty):
                ops.append(self._queue.get(timeout=self.interval if self._vacuuming else None))
                self._urgent.wait(self.interval)
                self._urgent.clear()
                while True:
                    ops.append(self._queue.get_nowait())
            if None in ops:
                running = False
                ops = ops[: ops.index(None)]
            self._commit(db, [op for op in ops if op[0] != "flush"])
            if self._vacuuming:
                self._vacuum_step(db)
            for op in ops:
                if op[0] == "flush":
                    op[1].set()
        db.close()

    def _vacuum_step(self, db: sqlite3.Connection) -> None:
        """Give up to VACUUM_PAGES free pages back to the file; when none are left, empty the WAL too."""
        db.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
        if db.execute("PRAGMA freelist_count").fetchone()[0] == 0:
            self._vacuuming = False
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _commit(self, db: sqlite3.Connection, ops: list[tuple]) -> None:
        if not ops:
            return
        page_size, pages, free = (
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_size", "page_count", "freelist_count")
        )
        used, self._page_size = (pages - free) * page_size, page_size
        self._database_bytes = used if self._vacuuming else max(used, self._database_bytes)
        with db:
            epochs: list[tuple] = []
            updates: dict[str, dict[str, Any]] = {}
            for op in ops:
                kind = op[0]
                if kind == "epoch":
                    _, run_id, epoch, scalars, record = op
                    blob = zlib.compress(record.encode(), 1) if record is not None else None
                    epochs.append((run_id, epoch, scalars, self._admit(db, run_id, scalars, blob)))
                    continue
                self._flush_epochs(db, epochs)
                if kind == "update_run":
                    updates.setdefault(op[1], {}).update(op[2])
                    if "finished_at" in op[2]:
                        self._usage.pop(op[1], None)
                        self._notes.pop(op[1], None)
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
                elif kind == "checkpoint":
                    db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", op[1:])
                elif kind == "truncate":
                    db.execute("DELETE FROM epochs WHERE run_id=? AND epoch>?", op[1:])
                    self._usage.pop(op[1], None)
                elif kind == "delete":
                    for table, key in (
                        ("epochs", "run_id"),
                        ("weights", "run_id"),
                        ("checkpoints", "run_id"),
                        ("runs", "id"),
                    ):
                        db.execute(f"DELETE FROM {table} WHERE {key}=?", (op[1],))
                    self._usage.pop(op[1], None)
                    self._notes.pop(op[1], None)
                    self._vacuuming = True
                elif kind == "sweep":
                    _, sweep, runs = op
                    db.execute(
                        "INSERT INTO sweeps (id, status, created_at, spec) VALUES (?, ?, ?, ?)",
                        (sweep["id"], sweep["status"], sweep["created_at"], json.dumps(sweep["spec"])),
                    )
                    rows = [
                        (sweep["id"], i, json.dumps(run["params"]), json.dumps(run["config"]), run["run_id"])
                        + (run["status"],)
                        for i, run in enumerate(runs)
                    ]
                    db.executemany("INSERT INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?)", rows)
                elif kind == "sweep_status":
                    db.execute("UPDATE sweeps SET status=? WHERE id=?", (op[2], op[1]))
                elif kind == "sweep_run":
                    _, sweep_id, index, status = op
                    db.execute(
                        "UPDATE sweep_runs SET status=? WHERE sweep_id=? AND idx=?", (status, sweep_id, index)
                    )
                elif kind == "delete_sweep":
                    db.execute("DELETE FROM sweep_runs WHERE sweep_id=?", (op[1],))
                    db.execute("DELETE FROM sweeps WHERE id=?", (op[1],))
                    self._vacuuming = True
                elif kind == "delete_dataset":
                    db.execute("DELETE FROM datasets WHERE id=?", (op[1],))
                    self._vacuuming = True
                elif kind == "dataset":
                    data = op[1]
                    db.execute(
                        "INSERT OR REPLACE INTO datasets (id, name, created_at, columns, rows, task, csv) "
                        "VALUES (:id, :name, :created_at, :columns, :rows, :task, :csv)",
                        data,
                    )
            self._flush_epochs(db, epochs)
            self._flush_updates(db, updates)

    def _admit(self, db: sqlite3.Connection, run_id: str, scalars: str, blob: bytes | None) -> bytes | None:
        """The heavy record to store for this epoch, or None when the quotas drop it (see the module doc)."""
        usage = self._usage.get(run_id)
        if usage is None:
            stored = db.execute(
                "SELECT SUM(length(scalars) + IFNULL(length(record), 0)) FROM epochs WHERE run_id=?",
                (run_id,),
            ).fetchone()[0]
            usage = self._usage[run_id] = RunUsage(stored or 0)
        usage.bytes += len(scalars)
        self._database_bytes += len(scalars)
        if blob is None:
            return None
        usage.offered += 1
        keep_every = _keep_every(usage.bytes + len(blob), self._max_run_bytes)
        if self._database_bytes + len(blob) > self._max_bytes:
            self._notes[run_id] = (
                f"storage full: the database reached NNPLAY_MAX_STORAGE_MB ({self.max_storage_mb:g} MB), "
                f"so this run's {HEAVY_NOTE} are no longer stored; {SCALARS_NOTE}; delete runs or raise "
                "NNPLAY_MAX_STORAGE_MB to keep more"
            )
            return None
        if keep_every == 0:
            self._notes[run_id] = (
                "storage full for this run: it reached NNPLAY_MAX_RUN_STORAGE_MB "
                f"({self.max_run_storage_mb:g} MB), so its {HEAVY_NOTE} are no longer stored; "
                f"{SCALARS_NOTE}; raise NNPLAY_MAX_RUN_STORAGE_MB to keep more"
            )
            return None
        if keep_every > 1:
            self._notes[run_id] = (
                "storage thinned: this run passed half of NNPLAY_MAX_RUN_STORAGE_MB "
                f"({self.max_run_storage_mb:g} MB), so only 1 in {keep_every} of its {HEAVY_NOTE} "
                f"are stored; {SCALARS_NOTE}; raise NNPLAY_MAX_RUN_STORAGE_MB to keep more"
            )
            if usage.offered % keep_every:
                return None
        usage.bytes += len(blob)
        self._database_bytes += -(-len(blob) // self._page_size) * self._page_size
        return blob

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

    def epochs_json(
        self, run_id: str, full: bool, every: int = 1, heavy_only: bool = False
    ) -> Iterator[bytes]:
        """A run's epochs as one JSON array in pieces of about CHUNK_BYTES, read page by page.

        full: the full record where one was kept, else the scalars; heavy_only: only the epochs that kept a
        full record (given in full). every: the first of those epochs, every `every`-th after it, and the
        last. The epochs are those stored when the read starts; the read lock is held for one page at a time.
        """
        where = "run_id=? AND record IS NOT NULL" if heavy_only else "run_id=?"
        records = full or heavy_only
        last = self._read(
            lambda db: db.execute(f"SELECT MAX(epoch) FROM epochs WHERE {where}", (run_id,)).fetchone()[0]
        )
        pieces = _Pieces()
        yield from pieces.add(b"[")
        after, index, first = -(2**63), 0, True
        while last is not None:
            page = (run_id, after, last, EPOCH_PAGE)
            numbers = self._read(
                lambda db, page=page: db.execute(
                    f"SELECT epoch FROM epochs WHERE {where} AND epoch>? AND epoch<=? ORDER BY epoch LIMIT ?",
                    page,
                ).fetchall()
            )
            if not numbers:
                break
            chosen = [n for i, (n,) in enumerate(numbers, index) if i % every == 0 or n == last]
            index, after = index + len(numbers), numbers[-1][0]
            while chosen:
                rows = self._read(functools.partial(_fetch_rows, run_id=run_id, epochs=chosen, full=records))
                if not rows:
                    break
                chosen = [n for n in chosen if n > rows[-1][0]]
                for _, scalars, blob in rows:
                    yield from pieces.add(b"" if first else b",")
                    first = False
                    if blob is None:
                        yield from pieces.add(scalars.encode())
                        continue
                    inflater = zlib.decompressobj()
                    while not inflater.eof:
                        piece = inflater.decompress(blob, CHUNK_BYTES)
                        blob = inflater.unconsumed_tail
                        if not piece and not blob:
                            raise ValueError(f"run {run_id!r}: a stored record is truncated")
                        yield from pieces.add(piece)
        yield from pieces.add(b"]")
        yield from pieces.flush()

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

    def has_dataset(self, dataset_id: str) -> bool:
        return self._read(
            lambda db: db.execute("SELECT 1 FROM datasets WHERE id=?", (dataset_id,)).fetchone() is not None
        )

    def database_bytes(self) -> int:
        """Bytes the database's pages hold (page_count x page_size), free pages included."""
        return self._read(
            lambda db: (
                db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
            )
        )

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


def _fetch_rows(db: sqlite3.Connection, run_id: str, epochs: list[int], full: bool) -> list[tuple]:
    """(epoch, scalars, compressed record or None) of the first `epochs`, up to about CHUNK_BYTES stored."""
    marks = ",".join("?" * len(epochs))
    column = "record" if full else "NULL"
    cursor = db.execute(
        f"SELECT epoch, scalars, {column} FROM epochs WHERE run_id=? AND epoch IN ({marks}) ORDER BY epoch",
        (run_id, *epochs),
    )
    rows, size = [], 0
    for row in cursor:
        rows.append(row)
        size += len(row[1]) + (len(row[2]) if row[2] is not None else 0)
        if size >= CHUNK_BYTES:
            break
    cursor.close()
    return rows


class _Pieces:
    """Gathers bytes and hands them on in pieces of at least CHUNK_BYTES."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> Iterator[bytes]:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            yield from self.flush()

    def flush(self) -> Iterator[bytes]:
        if self.parts:
            yield b"".join(self.parts)
        self.parts, self.size = [], 0
