"""Fuzzed training data: IDX files, image folders, MIDI files and CarRacing rollout episodes. Whatever
they hold, a reader either reads them or raises a user-facing error naming the file; nothing is changed."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import mido
import numpy as np
from fuzz_support import fuzz_tally, fuzzed, reads_clearly, scratch, unchanged  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from studio.core.data import DataError
from studio.core.data.images import load_folder, load_idx
from studio.core.music.midi import MidiError, inspect_midi, read_midi
from studio_builtins.world_models.rollouts import episode_steps, load_rollouts, read_episode


class Blob(bytes):
    def __repr__(self) -> str:
        return f"<{len(self):,} bytes>"


# -- IDX -----------------------------------------------------------------------------------------------


def check_idx(data: bytes, gzipped: bool) -> None:
    with scratch() as folder:
        path = folder / ("train-images-idx3-ubyte" + (".gz" if gzipped else ""))
        path.write_bytes(gzip.compress(data) if gzipped else data)
        saved = path.read_bytes()
        reads_clearly("idx", lambda: load_idx(str(path), size=8, channels=1), path.name, (DataError,))
        unchanged(path, saved)


@fuzzed()
@given(data=st.binary(max_size=64), gzipped=st.booleans())
def test_idx_random_bytes(data, gzipped):
    check_idx(data, gzipped)


@fuzzed()
@given(kind=st.sampled_from([0x08, 0x09, 0x0D, 0x00]), ndim=st.integers(0, 4),
       dims=st.lists(st.integers(-2**31, 2**31 - 1) | st.integers(0, 6), min_size=0, max_size=4),
       extra=st.integers(-8, 8), gzipped=st.booleans())
def test_idx_any_header(kind, ndim, dims, extra, gzipped):
    """Any type, axis count and sizes, negative and huge among them, with about as much data as promised."""
    header = b"\0\0" + bytes([kind, ndim]) + b"".join(struct.pack(">i", d) for d in dims)
    promised = int(np.prod([max(d, 0) for d in dims], dtype=object)) if dims else 0
    body = bytes(max(0, min(promised, 4096) + extra))
    check_idx(header + body, gzipped)


@fuzzed(0.5)
@given(at=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_idx_a_damaged_gzip(at, flip):
    data = bytearray(gzip.compress(b"\0\0\x08\x03" + struct.pack(">iii", 2, 4, 4) + bytes(32)))
    data[at % len(data)] ^= flip
    with scratch() as folder:
        path = folder / "train-images-idx3-ubyte.gz"
        path.write_bytes(bytes(data))
        reads_clearly("idx", lambda: load_idx(str(path), size=8, channels=1), path.name, (DataError,))


# -- image folders ----------------------------------------------------------------------------------------


def png_claiming(width: int, height: int, pixels: bytes = b"") -> bytes:
    """A PNG whose header claims ``width`` x ``height`` greyscale pixels; ``pixels`` compressed as its data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels, 9)) + chunk(b"IEND", b""))


def a_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (6, 5, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


image_files = st.one_of(
    st.just(b""),  # an empty file
    st.binary(max_size=80),
    st.integers(0, 2**16).map(a_png),
    st.tuples(st.integers(0, 2**16), st.floats(0, 1, exclude_max=True)).map(lambda s: a_png(s[0])[:int(60 * s[1])]),
    st.tuples(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1)).map(lambda wh: png_claiming(*wh)),
)


@fuzzed()
@given(files=st.lists(st.tuples(st.sampled_from(["a.png", "b.jpg", "c.webp", "cls/d.png", "cls/e.bmp"]),
                                image_files), min_size=1, max_size=4, unique_by=lambda f: f[0]))
def test_an_image_folder_of_any_files(files):
    with scratch() as folder:
        for name, data in files:
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_bytes(data)
        reads_clearly("image-folder", lambda: load_folder(str(folder), size=8, channels=3), folder.name, (DataError,))


def test_a_decompression_bomb_is_left_out_of_a_folder_with_its_reason(tmp_path):
    """A small file that decodes to 100 megapixels (over PIL's limit, under twice it: only a warning for PIL)
    is skipped, named, beside the image that reads."""
    (tmp_path / "bomb.png").write_bytes(png_claiming(10_000, 10_000, bytes(10_001) * 10_000))
    (tmp_path / "fine.png").write_bytes(a_png(0))
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    images = load_folder(str(tmp_path), size=8, channels=3)
    assert len(images) == 1
    assert [file for file, _reason in images.skipped] == ["bomb.png"]
    assert "pixels" in images.skipped[0][1]


# -- MIDI --------------------------------------------------------------------------------------------------


def a_midi(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000),
                                mido.MetaMessage("time_signature", numerator=3, denominator=4)])
    notes = mido.MidiTrack([mido.MetaMessage("track_name", name="voice")])
    for pitch in rng.integers(30, 90, 6):
        notes += [mido.Message("note_on", note=int(pitch), velocity=80, time=int(rng.integers(0, 50))),
                  mido.Message("note_off", note=int(pitch), time=int(rng.integers(1, 100)))]
    midi.tracks += [conductor, notes]
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def check_midi(data: bytes) -> None:
    with scratch() as folder:
        path = folder / "song.mid"
        path.write_bytes(data)
        for reader, read in (("midi.read", read_midi), ("midi.inspect", inspect_midi)):
            reads_clearly(reader, lambda read=read: read(path), path.name, (MidiError,))
        unchanged(path, data)


@fuzzed()
@given(data=st.binary(max_size=100), header=st.booleans())
def test_midi_random_bytes(data, header):
    check_midi((b"MThd" if header else b"") + data)


@fuzzed(2)
@given(seed=st.integers(0, 2**16), damage=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                    min_size=1, max_size=4), cut=st.floats(0.2, 1.0))
def test_a_damaged_midi_file(seed, damage, cut):
    """Bytes of a real file overwritten (a tempo of 0, a huge delta time, a type 2 header...) or cut short."""
    data = bytearray(a_midi(seed))
    for at, value in damage:
        data[at % len(data)] = value
    check_midi(Blob(bytes(data[:max(14, int(len(data) * cut))])))


@fuzzed()
@given(tempo=st.integers(0, 2**24 - 1), numerator=st.integers(0, 255), denominator=st.integers(0, 255))
def test_any_tempo_and_time_signature(tempo, numerator, denominator):
    """A conductor track's meta events with any values their bytes can hold (mido writes them unchecked)."""
    data = bytearray(a_midi(0))
    at = data.index(b"\xff\x51\x03") + 3
    data[at:at + 3] = tempo.to_bytes(3, "big")
    at = data.index(b"\xff\x58\x04") + 3
    data[at:at + 2] = bytes([numerator, denominator])
    check_midi(bytes(data))


# -- CarRacing rollouts ------------------------------------------------------------------------------------

ARRAY_NAMES = ("frames", "actions", "rewards", "dones")
arrays = st.dictionaries(
    st.sampled_from(ARRAY_NAMES + ("other",)),
    st.tuples(st.sampled_from(["uint8", "float32", "float64", "bool", "int64", "object", "<U3"]),
              st.lists(st.integers(0, 5) | st.just(64) | st.just(3), max_size=4)),
    max_size=5)


def check_episode(path) -> None:
    for reader, read in (("rollouts.read", read_episode), ("rollouts.steps", episode_steps)):
        reads_clearly(reader, lambda read=read: read(path), path.name, (DataError,))
    reads_clearly("rollouts.folder", lambda: load_rollouts(str(path.parent)), path.parent.name, (DataError,))


@fuzzed()
@given(data=st.binary(max_size=200))
def test_an_episode_of_random_bytes(data):
    with scratch() as folder:
        path = folder / "episode-00000.npz"
        path.write_bytes(data)
        check_episode(path)
        unchanged(path, data)


@fuzzed(2)
@given(contents=arrays, compressed=st.booleans())
def test_an_episode_of_any_arrays(contents, compressed):
    """Missing arrays, other dtypes (object arrays, which need pickle, among them), other shapes."""
    saved = {}
    for name, (dtype, shape) in contents.items():
        if dtype == "object":
            saved[name] = np.array([{"pickled": 1}] * (shape[0] if shape else 1), dtype=object)
        else:
            saved[name] = np.zeros(shape, dtype)
    with scratch() as folder:
        path = folder / "episode-00001.npz"
        with open(path, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **saved)
        data = path.read_bytes()
        check_episode(path)
        unchanged(path, data)


@fuzzed()
@given(at=st.integers(0, 10**6), flip=st.integers(1, 255), cut=st.floats(0.1, 1.0))
def test_a_damaged_episode(at, flip, cut):
    episode = {"frames": np.zeros((2, 64, 64, 3), np.uint8), "actions": np.zeros((2, 3), np.float32),
               "rewards": np.zeros(2, np.float32), "dones": np.zeros(2, bool)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **episode)
    data = bytearray(buffer.getvalue())
    data[at % len(data)] ^= flip
    with scratch() as folder:
        path = folder / "episode-00002.npz"
        path.write_bytes(bytes(data[:max(1, int(len(data) * cut))]))
        check_episode(path)

