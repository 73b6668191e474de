"""A process killed inside a catalogue transaction (SIGKILL: no handler, no rollback) leaves a catalogue
that opens with its earlier rows: SQLite's write-ahead log drops a transaction that never committed."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys

from fault_injection import kill

from studio.core import schema
from studio.core.store import Store

#: a child that catalogues EARLIER jobs, then stops inside the next transaction, after its rows were
#: written (a big row, spilled from SQLite's small cache into the log) and before it commits
INSIDE_A_TRANSACTION = """
import sys, time
from studio.core.store import Store

store = Store.open(sys.argv[1])
for n in range({earlier}):
    store.add_job(f"earlier-{{n}}", "vae", "/jobs", {{"n": n}}, 10)
store._conn.execute("PRAGMA cache_size = 2")  # pages spill to the log before the commit

def stop_before_commit(statement):
    if statement.strip().upper() == "COMMIT":
        print("inside", flush=True)
        time.sleep(60)

store._conn.set_trace_callback(stop_before_commit)
store.add_job("never-committed", "vae", "/jobs", {{"blob": "x" * 2_000_000}}, 10)
"""

#: a child that opens a catalogue of schema 3, and stops while migrating it, before the migration commits
INSIDE_A_MIGRATION = """
import sqlite3, sys, time
from studio.core.store import Store

connect = sqlite3.connect

def connect_and_stop(*args, **kwargs):
    conn = connect(*args, **kwargs)
    def stop_before_commit(statement):
        if statement.strip().upper() == "COMMIT":
            print("inside", flush=True)
            time.sleep(60)
    conn.set_trace_callback(stop_before_commit)
    return conn

sqlite3.connect = connect_and_stop
Store.open(sys.argv[1])
"""

#: a child that catalogues jobs, one transaction each, until it is killed
WRITING = """
import sys
from studio.core.store import Store

store = Store.open(sys.argv[1])
print("writing", flush=True)
n = 0
while True:
    store.add_job(f"{sys.argv[2]}-{n}", "vae", "/jobs", {"n": n, "blob": "x" * 50_000}, 10)
    n += 1
"""


def run_until(script: str, said: str, *args: str) -> None:
    """Run ``script`` in a child until it prints ``said``, then SIGKILL it."""
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout.readline().strip() == said, "the child ended before it got there"
        kill(child.pid)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def opened(path) -> Store:
    store = Store.open(path)
    assert store.recovery_message == ""  # opened as it was, not moved aside as damaged
    return store


def test_a_process_killed_inside_a_transaction_leaves_the_catalogue_with_its_earlier_rows(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    run_until(INSIDE_A_TRANSACTION.format(earlier=3), "inside", str(path))
    assert path.with_name(path.name + "-wal").stat().st_size > 1_000_000  # the uncommitted rows reached the log
    store = opened(path)
    try:
        assert [job.id for job in store.jobs()] == ["earlier-0", "earlier-1", "earlier-2"]
        store.add_job("after", "vae", "/jobs", {}, 10)  # and it takes new rows
        assert len(store.jobs()) == 4
    finally:
        store.close()


def test_a_process_killed_while_migrating_an_older_catalogue_leaves_it_as_it_was(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    old = sqlite3.connect(path)
    for migration in schema.MIGRATIONS[:3]:
        old.executescript(migration)
    old.execute("INSERT INTO jobs (id, spec, status, out_dir, created) VALUES ('old', 'vae', 'finished', '/j', 1)")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    run_until(INSIDE_A_MIGRATION, "inside", str(path))
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3  # not half migrated
    raw.close()
    store = opened(path)
    try:
        assert store.schema_version == schema.SCHEMA_VERSION
        assert [job.id for job in store.jobs()] == ["old"]
    finally:
        store.close()


def test_processes_killed_at_random_moments_of_their_writes_never_lose_a_committed_row(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    pick = random.Random(0)
    counts = [0]
    for trial in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITING, str(path), f"t{trial}"], stdout=subprocess.PIPE,
                                 text=True, start_new_session=True)
        try:
            assert child.stdout.readline().strip() == "writing"
            try:
                child.wait(pick.uniform(0.02, 0.3))  # it writes until killed: a wait that always times out
            except subprocess.TimeoutExpired:
                kill(child.pid)
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        store = opened(path)
        try:
            jobs = store.jobs()
        finally:
            store.close()
        assert all(job.args["blob"] == "x" * 50_000 for job in jobs)  # each row whole
        counts.append(len(jobs))
        assert counts[-1] >= counts[-2]
    assert counts[-1] > 0
