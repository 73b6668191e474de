"""The workspace catalogue: one SQLite database of models, checkpoints, datasets,
jobs and exported artifacts. Files themselves live beside it in plain folders.

The schema version is SQLite's ``user_version``; :mod:`studio.core.schema`'s
migrations bring any older catalogue up to date inside one transaction. A corrupt database (SQLite
says it is not a database or is malformed, or its quick check fails) is moved
aside (never overwritten) and a fresh one is made, with a message saying where
the old one went (:mod:`studio.engine.rebuild` then fills it from the workspace's
files). A catalogue that is merely locked, cannot be opened or is from a newer
studio is left alone and reported as a :class:`StoreError`.

Beside the database, ``<name>-files.jsonl`` (the *files list*) notes, one JSON
object a line, the folder of every job catalogued (``{"run": ...}``), every
export (``{"export": ...}``) and every job removed from the list
(``{"forgotten": ...}``), appended as they happen: a run trained from the command
line and an export saved through the file dialog may be anywhere, and this plain
file is how a rebuild (:mod:`studio.engine.rebuild`) finds them again when the
database itself is lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError
from studio.core.schema import SCHEMA_VERSION, migrate, missing_columns

#: the files list beside a catalogue ``X.sqlite`` is ``X-files.jsonl`` (see the module's docstring)
FILES_SUFFIX = "-files.jsonl"
JOB_STATUSES = ("queued", "running", "finished", "cancelled", "failed", "interrupted")


class StoreError(UserError):
    """The catalogue cannot be used; the message is for the user."""


@dataclass
class JobRecord:
    id: str
    spec: str
    status: str
    out_dir: str
    args: dict
    step: int
    total_steps: int
    created: float
    finished: Optional[float]
    pid: Optional[int]
    exit_code: Optional[int]
    error: str
    started: Optional[float]
    model_id: Optional[int]


@dataclass
class NotedFiles:
    """What a catalogue's files list names (absolute paths, in the order first noted)."""

    runs: list[str]  #: job folders still listed
    exports: list[str]
    forgotten: list[str]  #: job folders removed from the list


_JOB_COLUMNS = ("id, spec, status, out_dir, args_json, step, total_steps, created, finished, "
                "pid, exit_code, error, started, model_id")


class Store:
    """A thread-safe handle on one workspace catalogue."""

    def __init__(self, path: Path, conn: sqlite3.Connection, recovery_message: str = "") -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self._in_transaction = False
        #: said to the user when a corrupt catalogue was moved aside; "" otherwise
        self.recovery_message = recovery_message
        #: where the corrupt catalogue was moved to, when it was (this one then starts empty), and why
        self.recovered_from: Optional[Path] = None
        self.damage = ""

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, timeout: float = 10.0) -> Store:
        """Open (creating or migrating) the catalogue at ``path``.

        ``timeout`` is how long to wait, in seconds, for another program's lock.
        Raises :class:`StoreError` if the catalogue is locked, cannot be opened or
        is from a newer studio; the file is then left as it is.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        recovery_message, aside, damage = "", None, ""
        try:
            conn = _connect_checked(path, timeout)
        except _Corrupt as exc:
            aside, damage = move_aside(path), str(exc)
            recovery_message = (
                f"The workspace catalogue could not be read ({exc}). It was moved to {aside.name} "
                "and a new, empty catalogue was created; your files in the workspace are untouched."
            )
            try:
                conn = _connect_checked(path, timeout)
            except _Corrupt as again:
                raise StoreError(f"A new catalogue could not be created at {path}: {again}") from again
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The catalogue {path} was written by a newer Generative Studio "
                    f"(schema {version}; this version knows {SCHEMA_VERSION}). "
                    "Update the studio or open another workspace; the file was left as it is."
                )
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            conn.execute("PRAGMA foreign_keys=ON")
            migrate(conn, version)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _unusable(path, exc) from exc
        except BaseException:
            conn.close()
            raise
        store = cls(path, conn, recovery_message)
        store.recovered_from, store.damage = aside, damage
        return store

    @property
    def files_list(self) -> Path:
        """The list of the job folders and exports this catalogue was told of (see the module's docstring)."""
        return files_list_of(self.path)

    def noted_files(self) -> NotedFiles:
        """What the files list names, each once (a job removed and later listed again counts as listed); a
        line torn by a crash is skipped. Raises :class:`StoreError` when the list exists but cannot be read."""
        try:
            lines = self.files_list.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return NotedFiles([], [], [])
        except OSError as exc:
            raise StoreError(f"Could not read {self.files_list}: {exc.strerror or exc}") from exc
        listed: dict[str, bool] = {}  # job folder → still listed (False: removed since)
        exports: dict[str, None] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            for role, path in entry.items():
                if isinstance(path, str) and role in ("run", "forgotten"):
                    listed.pop(path, None)  # the latest word on a folder counts
                    listed[path] = role == "run"
                elif isinstance(path, str) and role == "export":
                    exports[path] = None
        return NotedFiles([f for f, kept in listed.items() if kept], list(exports),
                          [f for f, kept in listed.items() if not kept])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        return self._query_one("PRAGMA user_version")[0]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._in_transaction:  # part of :meth:`transaction`'s: it commits
                yield self._conn
                return
            try:
                with self._conn:
                    yield self._conn
            except sqlite3.OperationalError as exc:
                raise StoreError(f"Could not write the catalogue {self.path.name}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes inside one transaction: all of them or (when it raises) none, and one commit
        instead of one each (a rebuild writes thousands). Other threads wait for it to end."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self._in_transaction = True
            try:
                with self._conn:
                    yield
            except sqlite3.OperationalError as exc:
                raise StoreError(f"Could not write the catalogue {self.path.name}: {exc}") from exc
            finally:
                self._in_transaction = False

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # damage SQLite's quick check let pass
                raise StoreError(f"The catalogue {self.path} could not be read ({exc}); nothing was "
                                 "changed.") from exc

    def _query_one(self, sql: str, params: tuple = ()) -> Optional[tuple]:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    # -- jobs ------------------------------------------------------------------
    def add_job(self, job_id: str, spec: str, out_dir: str, args: dict, total_steps: int,
                model_id: Optional[int] = None, created: Optional[float] = None) -> None:
        """Catalogue a queued job (``created``: when it was made, now by default) and note its folder
        in the :attr:`files_list`."""
        with self._write() as c:
            c.execute(
                "INSERT INTO jobs (id, spec, status, out_dir, args_json, total_steps, created, model_id) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (job_id, spec, "queued", out_dir, json.dumps(args), total_steps, created or time.time(), model_id),
            )
            self._note("run", out_dir)

    def _note(self, role: str, path: str) -> None:
        """Append ``{role: path}`` to the :attr:`files_list`; called inside the write's transaction, so a
        failure here records nothing in the database either."""
        line = json.dumps({role: str(Path(path).resolve())}) + "\n"
        try:
            with open(self.files_list, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as exc:
            raise StoreError(f"Could not note {path} in {self.files_list}: {exc.strerror or exc}") from exc

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "step", "total_steps", "finished", "pid", "exit_code", "error", "started", "args"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        if "status" in fields and fields["status"] not in JOB_STATUSES:
            raise ValueError(f"unknown job status {fields['status']!r}")
        if "args" in fields:
            fields["args_json"] = json.dumps(fields.pop("args"))
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as c:
            c.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))

    def job(self, job_id: str) -> Optional[JobRecord]:
        row = self._query_one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    def jobs(self) -> list[JobRecord]:
        return [_job(r) for r in self._query(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created")]

    def delete_job(self, job_id: str) -> None:
        """Forget a job (a rebuild leaves it out too; its folder stays on disk)."""
        with self._write() as c:
            row = c.execute("SELECT out_dir FROM jobs WHERE id = ?", (job_id,)).fetchone()
            c.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            if row is not None:
                self._note("forgotten", row[0])

    # -- models, datasets, checkpoints -------------------------------------------
    def add_model(self, name: str, spec: str, config: dict, created: Optional[float] = None) -> int:
        """Catalogue a model being trained (a job's product); returns its id."""
        with self._write() as c:
            cursor = c.execute("INSERT INTO models (name, spec, config_json, created) VALUES (?,?,?,?)",
                               (name, spec, json.dumps(config), created or time.time()))
            return cursor.lastrowid

    def add_dataset(self, source: str, location: Optional[str], kind: str) -> None:
        """Remember a dataset that was used (once per source and location)."""
        with self._write() as c:
            known = c.execute("SELECT id FROM datasets WHERE source = ? AND location IS ?", (source, location))
            if known.fetchone() is None:
                c.execute("INSERT INTO datasets (source, location, kind, created) VALUES (?,?,?,?)",
                          (source, location, kind, time.time()))

    def datasets(self) -> list[dict]:
        rows = self._query("SELECT source, location, kind FROM datasets ORDER BY id DESC")
        return [dict(zip(("source", "location", "kind"), r, strict=True)) for r in rows]

    def add_checkpoint(self, spec: str, path: str, step: int, model_id: Optional[int] = None,
                       created: Optional[float] = None) -> None:
        """Record a checkpoint (or update the record of one rewritten in place; its hash is then stale)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO checkpoints (model_id, spec, path, step, created) VALUES (?,?,?,?,?) "
                "ON CONFLICT(path) DO UPDATE SET step = excluded.step, sha256 = NULL, sha256_version = NULL, "
                "created = excluded.created",
                (model_id, spec, path, step, created or time.time()),
            )

    def set_checkpoint_hash(self, path: str, sha256: str, version: str) -> None:
        """Remember a catalogued checkpoint's SHA-256 and the file version it is of (see
        :mod:`studio.core.digests`); a path not in the catalogue is left out."""
        with self._write() as c:
            c.execute("UPDATE checkpoints SET sha256 = ?, sha256_version = ? WHERE path = ?", (sha256, version, path))

    def checkpoint_hash(self, path: str) -> Optional[tuple[str, str]]:
        """(SHA-256, file version) remembered for a catalogued checkpoint, or None."""
        row = self._query_one("SELECT sha256, sha256_version FROM checkpoints WHERE path = ? AND sha256 IS NOT NULL",
                              (path,))
        return (row[0], row[1]) if row else None

    def checkpoints(self, specs: Optional[list[str]] = None) -> list[dict]:
        """Checkpoints, newest first, with the name of the model each belongs to."""
        sql = ("SELECT c.spec, c.path, c.step, c.sha256, c.created, m.name FROM checkpoints c "
               "LEFT JOIN models m ON m.id = c.model_id")
        params: tuple = ()
        if specs is not None:
            sql += f" WHERE c.spec IN ({','.join('?' * len(specs))})"
            params = tuple(specs)
        rows = self._query(sql + " ORDER BY c.created DESC", params)
        return [dict(zip(("spec", "path", "step", "sha256", "created", "model"), r, strict=True)) for r in rows]

    def add_artifact(self, kind: str, path: str, params: dict, spec: Optional[str] = None,
                     checkpoint_sha256: Optional[str] = None, created: Optional[float] = None) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO artifacts (kind, path, spec, checkpoint_sha256, params_json, created) "
                "VALUES (?,?,?,?,?,?)",
                (kind, path, spec, checkpoint_sha256, json.dumps(params), created or time.time()),
            )
            self._note("export", path)

    def artifacts(self) -> list[dict]:
        rows = self._query(
            "SELECT kind, path, spec, checkpoint_sha256, params_json, created FROM artifacts ORDER BY id")
        keys = ("kind", "path", "spec", "checkpoint_sha256", "params", "created")
        return [dict(zip(keys, (*r[:4], json.loads(r[4]), r[5]), strict=False)) for r in rows]

    def add_measurement(self, checkpoint: str, sha256: Optional[str], metric: str, value: float,
                        error: Optional[float], samples: int, settings: dict) -> None:
        """Record how a checkpoint's samples measured (``metric`` "fd", "kid", ...), with the settings
        they were sampled with and what they were measured against."""
        with self._write() as c:
            c.execute("INSERT INTO measurements (checkpoint, sha256, metric, value, error, samples, settings_json, "
                      "created) VALUES (?,?,?,?,?,?,?,?)",
                      (checkpoint, sha256, metric, float(value), None if error is None else float(error),
                       int(samples), json.dumps(settings), time.time()))

    def measurements(self, checkpoint: str, sha256: Optional[str] = None) -> list[dict]:
        """The measurements of a checkpoint (by its path, or by its weights' SHA-256), newest first."""
        rows = self._query("SELECT checkpoint, sha256, metric, value, error, samples, settings_json, created "
                           "FROM measurements WHERE checkpoint = ? OR (sha256 IS NOT NULL AND sha256 = ?) "
                           "ORDER BY created DESC, id DESC", (checkpoint, sha256 or ""))
        keys = ("checkpoint", "sha256", "metric", "value", "error", "samples", "settings", "created")
        return [dict(zip(keys, (*r[:6], json.loads(r[6]), r[7]), strict=True)) for r in rows]

    def counts(self) -> dict[str, int]:
        tables = ("models", "checkpoints", "datasets", "jobs", "artifacts")
        return {t: self._query_one(f"SELECT COUNT(*) FROM {t}")[0] for t in tables}


def files_list_of(catalogue: Path) -> Path:
    """The files list kept beside the catalogue file ``catalogue``."""
    return catalogue.with_name(catalogue.stem + FILES_SUFFIX)


def _job(row: tuple) -> JobRecord:
    values = list(row)
    values[4] = json.loads(values[4])
    return JobRecord(*values)


class _Corrupt(Exception):
    """The file is not a usable SQLite database: move it aside and start afresh."""


#: SQLite's primary result codes meaning the file's contents are damaged.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
#: ... and those meaning another connection holds a lock.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def _primary_code(exc: sqlite3.Error) -> Optional[int]:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else code & 0xFF


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()  # Python 3.10: no error code, only SQLite's message
    return "not a database" in text or "malformed" in text


def _unusable(path: Path, exc: sqlite3.Error) -> StoreError:
    """The user's message for a catalogue that is fine but cannot be used right now."""
    if _primary_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in str(exc).lower():
        return StoreError(
            f"The catalogue {path} is locked by another program (another Generative Studio or a "
            "tool using this workspace?). Close it and try again, or open another workspace; "
            "the file was left as it is."
        )
    return StoreError(
        f"The catalogue {path} cannot be opened ({exc}). Check that the folder is readable and "
        "writable and the disk has room; the file was left as it is."
    )


def _connect_checked(path: Path, timeout: float) -> sqlite3.Connection:
    """Open and prove the database readable.

    Raises :class:`_Corrupt` only when SQLite says the file is damaged, and
    :class:`StoreError` for anything else (locked, unreadable, ...).
    """
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=timeout)
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        missing = missing_columns(conn) if result == "ok" else []
    except sqlite3.Error as exc:
        conn.close()
        if _is_corruption(exc):
            raise _Corrupt(str(exc)) from exc
        raise _unusable(path, exc) from exc
    except UnicodeDecodeError:  # the check's report quotes damaged bytes
        conn.close()
        raise _Corrupt("integrity check failed (its report is unreadable)") from None
    if result != "ok":
        conn.close()
        raise _Corrupt(f"integrity check failed: {result}")
    if missing:  # a damaged schema text: SQLite reads it, but it is not the catalogue's
        conn.close()
        raise _Corrupt(f"its tables lack {', '.join(missing[:4])}")
    return conn


def move_aside(path: Path, why: str = "corrupt") -> Path:
    """Rename the catalogue ``path`` (and its WAL files) to ``<name>.<why>-<time>``, never over another file;
    returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        n += 1
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside
