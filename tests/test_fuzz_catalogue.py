"""A fuzzed workspace catalogue: random bytes, damaged pages, a schema newer than the app. Opening it
either works (a damaged file moved aside whole, with a message) or raises a StoreError naming it; what
opens answers every listing without an exception other than a StoreError; nothing saved is overwritten."""

from __future__ import annotations

import sqlite3

import pytest
from fuzz_support import fuzz_tally, fuzzed, reads_clearly, scratch, tried  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st

from studio.core.schema import SCHEMA_VERSION
from studio.core.store import Store, StoreError

NAME = "catalogue.sqlite"


class Blob(bytes):
    def __repr__(self) -> str:
        return f"<{len(self):,} bytes>"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The bytes of a catalogue holding a run: its model, job, checkpoints and an export."""
    path = tmp_path_factory.mktemp("catalogue") / NAME
    store = Store.open(path)
    model = store.add_model("run", "vae", {"latent_dim": 2})
    store.add_job("job-1", "vae", "/runs/run", {"steps": 10}, 10, model)
    store.update_job("job-1", status="finished", step=10)
    for step in (5, 10):
        store.add_checkpoint("vae", f"/runs/run/checkpoint-{step}.safetensors", step, model)
    store.add_artifact("image", "/exports/a.png", {"seed": 1}, spec="vae")
    store.close()
    return Blob(path.read_bytes())


def check_catalogue(data: bytes) -> None:
    with scratch() as folder:
        path = folder / NAME
        path.write_bytes(data)
        opened = []
        reads_clearly("catalogue.open", lambda: opened.append(Store.open(path, timeout=0.1)), path.name,
                      (StoreError,))
        if not opened:
            assert path.read_bytes() == data, "a catalogue that could not be opened was changed"
            return
        store = opened[0]
        try:
            if store.recovery_message:  # moved aside whole, never overwritten
                assert NAME in store.recovery_message or "catalogue" in store.recovery_message
                aside = [p for p in folder.iterdir() if p.name.startswith(f"{NAME}.corrupt")
                         and not p.name.endswith(("-wal", "-shm"))]
                assert [p.read_bytes() == data for p in aside] == [True]
            for listing in ("jobs", "checkpoints", "artifacts", "datasets", "counts"):
                reads_clearly(f"catalogue.{listing}", getattr(store, listing), path.name, (StoreError,))
        finally:
            store.close()


@fuzzed()
@given(data=st.binary(max_size=200), header=st.booleans())
def test_a_catalogue_of_random_bytes(data, header):
    check_catalogue((b"SQLite format 3\0" if header else b"") + data)


@fuzzed(2)
@given(damage=st.lists(st.tuples(st.integers(0, 10**7), st.binary(min_size=1, max_size=16)), min_size=1,
                       max_size=4))
def test_a_catalogue_with_damaged_pages(catalogue, damage):
    data = bytearray(catalogue)
    for at, garbage in damage:
        at %= len(data)
        data[at:at + len(garbage)] = garbage
    check_catalogue(Blob(bytes(data[:len(catalogue)])))


@fuzzed(0.5)
@given(cut=st.integers(1, 10**7))
def test_a_truncated_catalogue(catalogue, cut):
    check_catalogue(Blob(catalogue[:cut % len(catalogue)]))


@fuzzed(0.5)
@given(ahead=st.integers(1, 2**31 - 1 - SCHEMA_VERSION))
def test_a_catalogue_from_a_newer_studio_is_left_alone(catalogue, ahead):
    with scratch() as folder:
        path = folder / NAME
        path.write_bytes(catalogue)
        with sqlite3.connect(path) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + ahead}")
        conn.close()
        data = path.read_bytes()
        error = reads_clearly("catalogue.open", lambda: Store.open(path, timeout=0.1), path.name, (StoreError,))
        assert error is not None and "newer Generative Studio" in str(error)
        assert path.read_bytes() == data
        tried("catalogue.newer")
