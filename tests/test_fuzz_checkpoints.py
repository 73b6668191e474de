"""Fuzzed checkpoints: whatever a .safetensors file holds, reading or loading it gives a CheckpointError
naming the file (never another exception), and the file is left as it was."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from fuzz_support import fuzz_tally, fuzzed, reads_clearly, scratch, unchanged  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from studio.core.checkpoint import FORMAT, CheckpointError, load_model, read_checkpoint, read_header
from studio.core.plugins import discover

MODEL = "autoencoder"
class Blob(bytes):
    """A file's bytes, shown by their length in a failing example (not a megabyte of repr)."""

    def __repr__(self) -> str:
        return f"<{len(self):,} bytes>"


READS = (("header", lambda registry, path: read_header(path)),
         ("checkpoint", lambda registry, path: read_checkpoint(path)),
         ("load", lambda registry, path: load_model(registry, MODEL, path)))


@pytest.fixture(scope="module")
def registry():
    return discover().registry


@pytest.fixture(scope="module")
def valid(registry, tmp_path_factory):
    """The bytes of a real checkpoint of a tiny autoencoder (the starting point of damaged ones)."""
    from studio.core.capabilities import TrainState
    from studio.core.checkpoint import save_checkpoint
    from studio.core.specs import resolve

    spec = registry.model(MODEL)
    config = spec.config()
    model = resolve(spec.factory)(config)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("valid") / "checkpoint.safetensors"
    save_checkpoint(path, MODEL, config, 7, TrainState(tensors, {"note": "fuzz"}))
    assert load_model(registry, MODEL, path) is not None
    return Blob(path.read_bytes())


def check_all_readers(registry, data: bytes, name: str = "checkpoint.safetensors") -> None:
    with scratch() as folder:
        path = folder / name
        path.write_bytes(data)
        for reader, read in READS:
            reads_clearly(f"checkpoint.{reader}", lambda read=read: read(registry, path), path.name,
                          (CheckpointError,))
        unchanged(path, data)


metadata_values = st.one_of(st.text(max_size=30), st.integers().map(str),
                            st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                         lambda inner: st.lists(inner, max_size=3)
                                         | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                                         max_leaves=6).map(json.dumps))


@fuzzed()
@given(data=st.binary(max_size=300))
def test_random_bytes(registry, data):
    check_all_readers(registry, data)


@fuzzed()
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_checkpoint(registry, valid, cut):
    check_all_readers(registry, valid[:int(len(valid) * cut)])


@fuzzed()
@given(length=st.integers(0, 2**64 - 1), rest=st.binary(max_size=64))
def test_any_header_length(registry, valid, length, rest):
    check_all_readers(registry, struct.pack("<Q", length) + valid[8:8 + len(rest)] + rest)


@fuzzed()
@given(at=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_a_byte_of_the_header_damaged(registry, valid, at, flip):
    (length,) = struct.unpack("<Q", valid[:8])
    at %= 8 + length
    data = bytearray(valid)
    data[at] ^= flip
    check_all_readers(registry, bytes(data))


@fuzzed()
@given(metadata=st.dictionaries(st.sampled_from(["studio.format", "studio.model", "studio.config", "studio.step",
                                                 "studio.meta", "format", "other"]), metadata_values, max_size=6),
       studio=st.booleans())
def test_safetensors_with_any_metadata(registry, metadata, studio):
    """A valid safetensors file without the studio's metadata, or with it damaged in any field."""
    if studio:
        metadata["studio.format"] = FORMAT
    with scratch() as folder:
        path = folder / "made.safetensors"
        save_file({"model.weight": np.zeros((2, 2), np.float32)}, str(path), metadata=metadata)
        check_all_readers(registry, path.read_bytes())


@fuzzed()
@given(config=st.dictionaries(st.sampled_from(["latent_dim", "channels", "image_size", "hidden", "lr", "other"]),
                              st.none() | st.booleans() | st.integers(-5, 64) | st.text(max_size=5)
                              | st.lists(st.integers(), max_size=2), max_size=4)
       | st.lists(st.integers(), max_size=2) | st.text(max_size=5) | st.integers())
def test_a_studio_checkpoint_with_a_damaged_config(registry, valid, config):
    """The studio's metadata intact but its config any JSON: not a crash of the model's factory."""
    from safetensors.numpy import load

    header_length = struct.unpack("<Q", valid[:8])[0]
    metadata = json.loads(valid[8:8 + header_length])["__metadata__"]
    metadata["studio.config"] = json.dumps(config)
    with scratch() as folder:
        path = folder / "config.safetensors"
        save_file(load(valid), str(path), metadata=metadata)
        check_all_readers(registry, path.read_bytes())


@fuzzed()
@given(shapes=st.dictionaries(st.sampled_from(["model.encoder.0.weight", "model.decoder.0.bias", "model.x"]),
                              st.lists(st.integers(0, 4), min_size=0, max_size=3), min_size=1, max_size=3),
       spec=st.sampled_from([MODEL, "vae", "dcgan", "no-such-model"]))
def test_weights_that_do_not_fit_or_another_models(registry, shapes, spec):
    """A studio checkpoint whose tensors are not the model's, or of another (or unknown) model."""
    metadata = {"studio.format": FORMAT, "studio.model": spec, "studio.config": "{}", "studio.step": "3",
                "studio.meta": "{}"}
    with scratch() as folder:
        path = folder / "other.safetensors"
        save_file({k: np.ones(s, np.float32) for k, s in shapes.items()}, str(path), metadata=metadata)
        data = path.read_bytes()
        error = reads_clearly("checkpoint.load", lambda: load_model(registry, MODEL, path), path.name,
                              (CheckpointError,))
        assert error is not None  # neither another model's nor these weights load as the autoencoder
        unchanged(path, data)


@fuzzed(0.5)
@given(value=st.recursive(st.none() | st.integers() | st.text(max_size=10) | st.binary(max_size=10),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_a_pickle_renamed_to_safetensors(registry, value, protocol):
    """Never unpickled: a pickle (what torch.save writes) is refused as not a safetensors file."""
    check_all_readers(registry, pickle.dumps(value, protocol=protocol))
