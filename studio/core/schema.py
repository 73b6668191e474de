"""The workspace catalogue's schema: every version, and bringing an older catalogue up to date.

The version is SQLite's ``user_version``. :data:`MIGRATIONS` holds one script a
version, applied in order inside one transaction, so a catalogue is never left
half migrated (a locked one is not touched at all).
"""

from __future__ import annotations

import sqlite3

#: Each entry upgrades the schema by one version; never edit a shipped entry.
MIGRATIONS: tuple[str, ...] = (
    # 1: the catalogue
    """
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        config_json TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
        spec TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        step INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        location TEXT,
        kind TEXT NOT NULL,
        meta_json TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        args_json TEXT NOT NULL DEFAULT '{}',
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        finished REAL
    );
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        spec TEXT,
        checkpoint_sha256 TEXT,
        params_json TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    """,
    # 2: jobs remember their process and how it ended, to explain a crash, and the model they train
    """
    ALTER TABLE jobs ADD COLUMN model_id INTEGER REFERENCES models(id) ON DELETE SET NULL;
    ALTER TABLE jobs ADD COLUMN pid INTEGER;
    ALTER TABLE jobs ADD COLUMN exit_code INTEGER;
    ALTER TABLE jobs ADD COLUMN error TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN started REAL;
    """,
    # 3: a checkpoint's SHA-256 is kept with the file version it was computed from ("mtime_ns:size")
    """
    ALTER TABLE checkpoints ADD COLUMN sha256_version TEXT;
    """,
    # 4: how good a model's samples are (the canvas's Measure): a metric of a checkpoint's weights (by
    # their SHA-256, so a moved checkpoint keeps it) with the settings it was sampled with
    """
    CREATE TABLE measurements (
        id INTEGER PRIMARY KEY,
        checkpoint TEXT NOT NULL,
        sha256 TEXT,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        error REAL,
        samples INTEGER NOT NULL,
        settings_json TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a catalogue at ``version`` up to :data:`SCHEMA_VERSION` (nothing to do when it is)."""
    if version == SCHEMA_VERSION:
        return
    # executescript() commits first; run each migration as one explicit transaction.
    conn.isolation_level = None
    try:
        conn.execute("BEGIN IMMEDIATE")
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except Exception:
        if conn.in_transaction:  # BEGIN itself may have failed (the file is locked)
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.isolation_level = ""


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def missing_columns(conn: sqlite3.Connection) -> list[str]:
    """The tables and columns (``table.column``) that a catalogue at its own version should have and lacks:
    a file whose schema text was damaged can pass SQLite's checks and still not be a catalogue. Compared
    with the same migrations run in memory; [] for a catalogue of a newer studio (it is refused apart)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return []
    expected, have = _reference_columns(version), _columns(conn)
    return [f"{table}.{column}" for table, columns in expected.items() for column in columns
            if column not in have.get(table, ())]


def _reference_columns(version: int) -> dict[str, list[str]]:
    reference = sqlite3.connect(":memory:")
    try:
        for number in range(version):
            for statement in _statements(MIGRATIONS[number]):
                reference.execute(statement)
        return _columns(reference)
    finally:
        reference.close()


def _columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {table: [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')] for table in tables
            if '"' not in table}
