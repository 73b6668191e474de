"""Checkpoints read by their header alone, their SHA-256 kept in the catalogue, and a result's
model found again from its parameters, also after its checkpoint moved."""

import builtins
import os
import shutil

import pytest
import torch

from studio.core import checkpoint as checkpoint_module
from studio.core.capabilities import TrainState
from studio.core.checkpoint import CheckpointError, read_header, save_checkpoint
from studio.core.digests import checkpoint_digest, file_sha256
from studio.core.plugins import discover
from studio.core.provenance import RestoreError, check_made_here, locate, result_params, settings_of
from studio.core.store import Store


@pytest.fixture(scope="module")
def registry():
    return discover().registry


def big_checkpoint(path, step=7, value=0.0):
    """A VAE-named checkpoint with 16 MB of weights, so reading them would show."""
    from studio_builtins.autoencoders.config import VAEConfig

    weights = {"model.big": torch.full((4 * 2**20,), value)}
    save_checkpoint(path, "vae", VAEConfig(), step, TrainState(weights, {}))
    return path


def test_a_checkpoints_model_and_step_come_from_its_header_without_reading_a_tensor(tmp_path, monkeypatch):
    path = big_checkpoint(tmp_path / "big.safetensors")
    read = []
    real_open = builtins.open

    class Counting:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            data = self.f.read(n)
            read.append(len(data))
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(checkpoint_module, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    header = read_header(path)
    assert (header.spec, header.step, header.config["latent_dim"]) == ("vae", 7, 2)
    assert sum(read) < 4096 < os.path.getsize(path) // 1000  # the header, not 16 MB of weights


@pytest.mark.parametrize("content, message", [
    (b"\x00" * 64, "damaged"),
    (b"garbage", "damaged"),
    (b"\xff" * 8 + b"{}", "damaged"),
])
def test_a_damaged_header_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_header(path)


def test_a_safetensors_file_of_someone_else_is_not_taken_for_a_checkpoint(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a Generative Studio checkpoint"):
        read_header(tmp_path / "other.safetensors")


def test_a_digest_is_kept_in_the_catalogue_until_the_file_changes(tmp_path, monkeypatch):
    from studio.core import digests

    path = big_checkpoint(tmp_path / "c.safetensors")
    store = Store.open(tmp_path / "catalogue.sqlite")
    store.add_checkpoint("vae", str(path), 7)
    hashed = []
    monkeypatch.setattr(digests, "file_sha256", lambda p: (hashed.append(p), file_sha256(p))[1])
    first = checkpoint_digest(store, str(path))
    assert first == file_sha256(path) and store.checkpoints()[0]["sha256"] == first
    assert checkpoint_digest(store, str(path)) == first and len(hashed) == 1  # remembered
    big_checkpoint(path, step=8, value=1.0)  # trained further: rewritten in place
    second = checkpoint_digest(store, str(path))
    assert second != first and len(hashed) == 2
    store.add_checkpoint("vae", str(path), 8)  # a job's checkpoint event forgets the old hash too
    assert store.checkpoint_hash(str(path)) is None
    assert checkpoint_digest(store, str(tmp_path / "missing.safetensors")) is None


@pytest.fixture
def made(tmp_path, registry):
    """A checkpoint in a catalogue, and the parameters of a result made with it."""
    path = big_checkpoint(tmp_path / "runs" / "a" / "checkpoint.safetensors")
    store = Store.open(tmp_path / "catalogue.sqlite")
    store.add_checkpoint("vae", str(path), 7)
    params = result_params("image-canvas", registry.model("vae"), str(path), 7, checkpoint_digest(store, str(path)),
                           seed=42, n=4)
    return path, store, params


def test_result_params_name_the_model_the_checkpoint_and_every_setting(made, registry):
    path, _store, params = made
    assert params == {"panel": "image-canvas", "model": "vae", "model_title": "Variational autoencoder",
                      "plugin": "autoencoders", "plugin_version": registry.model("vae").plugin_version,
                      "checkpoint": str(path), "checkpoint_sha256": file_sha256(path), "step": 7, "seed": 42, "n": 4}
    assert settings_of(params) == {"seed": 42, "n": 4}
    check_made_here(params, "image-canvas", "Image Canvas", "x.png")
    with pytest.raises(RestoreError, match="not the Latent Explorer"):
        check_made_here(params, "latent-explorer", "Latent Explorer", "x.png")
    with pytest.raises(RestoreError, match="carries no Generative Studio parameters"):
        check_made_here({}, "image-canvas", "Image Canvas", "x.png")


def test_the_recorded_checkpoint_is_found_as_it_was(made, registry):
    path, store, params = made
    found = locate(params, registry=registry, store=store, name="x.png")
    assert (found.checkpoint, found.moved, found.retrained, found.note) == (str(path), False, False, "")


def test_a_checkpoint_that_moved_is_found_by_its_hash(made, registry, tmp_path):
    path, store, params = made
    moved = tmp_path / "elsewhere" / "vae.safetensors"
    moved.parent.mkdir()
    shutil.move(path, moved)
    store.add_checkpoint("vae", str(moved), 7)  # the artist opened it from its new place
    found = locate(params, registry=registry, store=store, name="x.png")
    assert found.checkpoint == str(moved) and found.moved and f"no longer at {params['checkpoint']}" in found.note


def test_a_checkpoint_trained_since_is_used_with_a_note_or_the_copy_of_its_weights(made, registry, tmp_path):
    path, store, params = made
    copy = tmp_path / "kept" / "vae.safetensors"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    big_checkpoint(path, step=9, value=2.0)  # training went on in place
    found = locate(params, registry=registry, store=store, name="x.png")
    assert found.checkpoint == str(path) and found.retrained and "trained further since" in found.note
    store.add_checkpoint("vae", str(copy), 7)  # the exact weights are catalogued elsewhere: they win
    found = locate(params, registry=registry, store=store, name="x.png")
    assert found.checkpoint == str(copy) and found.moved and "trained further since" in found.note
    assert str(copy) in found.note


def test_a_checkpoint_that_is_nowhere_or_a_model_not_installed_is_refused(made, registry):
    path, store, params = made
    path.unlink()
    with pytest.raises(RestoreError, match="is not here") as refused:
        locate(params, registry=registry, store=store, name="x.png")
    assert str(path) in str(refused.value) and "Open… beside the model list" in str(refused.value)
    with pytest.raises(RestoreError, match="no enabled plugin provides it"):
        locate({**params, "model": "gone", "model_title": "Gone"}, registry=registry, store=store, name="x.png")
