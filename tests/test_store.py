"""The workspace catalogue: creation, migration, corruption, atomic writes."""

import contextlib
import errno
import os
import sqlite3

import pytest

from studio.core.atomic import SaveError, atomic_open, atomic_write
from studio.core.schema import MIGRATIONS, SCHEMA_VERSION
from studio.core.store import Store, StoreError
from studio.core.workspace import CATALOGUE_NAME, Workspace


def test_new_workspace_has_catalogue_and_folders(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    assert ws.store.schema_version == SCHEMA_VERSION
    assert ws.store.counts() == {"models": 0, "checkpoints": 0, "datasets": 0, "jobs": 0, "artifacts": 0}
    for folder in ("jobs", "checkpoints", "datasets", "exports"):
        assert (tmp_path / "ws" / folder).is_dir()
    ws.close()


def test_jobs_round_trip_and_survive_reopening(tmp_path):
    store = Store.open(tmp_path / "c.sqlite")
    store.add_job("j1", "vae", "/runs/j1", {"steps": 10}, total_steps=10)
    store.update_job("j1", status="running", step=3, pid=123)
    store.close()
    job = Store.open(tmp_path / "c.sqlite").job("j1")
    assert (job.status, job.step, job.pid, job.args) == ("running", 3, 123, {"steps": 10})


def test_old_catalogue_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO jobs (id, spec, status, out_dir, created) VALUES ('old', 'vae', 'finished', '/x', 1)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = Store.open(path)
    assert store.schema_version == SCHEMA_VERSION
    job = store.job("old")
    assert job.status == "finished" and job.exit_code is None and job.error == ""
    store.update_job("old", exit_code=0)  # a column migration 2 added
    assert store.job("old").exit_code == 0


def test_corrupt_catalogue_is_moved_aside_not_overwritten(tmp_path):
    ws_root = tmp_path / "ws"
    ws_root.mkdir()
    garbage = b"this is not a database" * 100
    (ws_root / CATALOGUE_NAME).write_bytes(garbage)

    ws = Workspace.open(ws_root)
    message = ws.store.recovery_message
    assert "could not be read" in message and "moved to" in message
    aside = [p for p in ws_root.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    ws.store.add_job("new", "vae", "/x", {}, 1)  # the fresh catalogue works
    assert ws.store.job("new").status == "queued"


def test_catalogue_from_a_newer_studio_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer Generative Studio"):
        Store.open(path)
    assert path.read_bytes() == before


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "settings.json"
    atomic_write(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["settings.json"]  # no temporary file left behind


def test_a_written_file_has_the_permissions_open_would_give_it_not_the_temporary_files(tmp_path):
    plain, atomic = tmp_path / "plain.png", tmp_path / "atomic.png"
    plain.write_bytes(b"x")
    atomic_write(atomic, b"x")  # an export an artist shares: readable by others where the umask says so
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    os.chmod(atomic, 0o640)
    atomic_write(atomic, b"y")  # written again: it keeps the permissions it was given
    assert atomic.stat().st_mode & 0o777 == 0o640


def test_full_disk_gives_a_clear_message_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    atomic_write(target, "saved")

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(SaveError, match="the disk is full. Nothing already saved was changed"):
        atomic_write(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "saved"


@contextlib.contextmanager
def _held_by_another_program(path):
    """Another program writing to the catalogue: an exclusive lock nobody else can pass."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO datasets (source, kind, created) VALUES ('other', 'images', 1)")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_catalogue_is_refused_clearly_and_left_alone(tmp_path):
    path = tmp_path / CATALOGUE_NAME
    Store.open(path).close()
    before = path.read_bytes()
    with _held_by_another_program(path), pytest.raises(StoreError, match="is locked by another program.*left as it is"):
        Store.open(path, timeout=0.1)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]  # not mistaken for corruption
    assert Store.open(path).schema_version == SCHEMA_VERSION  # usable again once the lock is gone


def test_locked_old_catalogue_is_not_half_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with _held_by_another_program(path), pytest.raises(StoreError, match="locked"):
        Store.open(path, timeout=0.1)
    assert Store.open(path).schema_version == SCHEMA_VERSION


def test_catalogue_that_cannot_be_opened_is_a_clear_error(tmp_path):
    path = tmp_path / "a-folder.sqlite"
    path.mkdir()  # a folder where the catalogue should be
    with pytest.raises(StoreError, match="cannot be opened.*left as it is"):
        Store.open(path)
    assert path.is_dir()


def test_a_measurement_is_kept_for_the_weights_even_when_the_checkpoint_moves(tmp_path):
    store = Store.open(tmp_path / "catalogue.sqlite")
    store.add_measurement("/runs/a/checkpoint.safetensors", "abc", "fd", 12.5, 0.4, 1000, {"sampler": "DDIM"})
    store.add_measurement("/runs/a/checkpoint.safetensors", "abc", "kid", 0.01, 0.002, 1000, {})
    store.add_measurement("/runs/b/checkpoint.safetensors", "other", "fd", 30.0, 1.0, 1000, {})
    [kid, fd] = store.measurements("/moved/checkpoint.safetensors", "abc")
    assert (fd["metric"], fd["value"], fd["error"], fd["settings"]) == ("fd", 12.5, 0.4, {"sampler": "DDIM"})
    assert kid["metric"] == "kid"
    assert [m["value"] for m in store.measurements("/runs/b/checkpoint.safetensors")] == [30.0]
    store.close()
