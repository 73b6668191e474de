"""Fuzzed files in the window: the inference thread loading a damaged checkpoint chosen in the Image Canvas,
and a damaged PNG, text sidecar or MIDI file opened in the panel that reads it. Each is told in a warning
naming the file (or, for a flipped byte the file survives, it loads); the window does not raise; the
panel still works (the canvas samples with a good model again); the damaged file is left as it was."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from fuzz_support import fuzz_tally, fuzzed, scratch, tried, unchanged  # noqa: F401
from hypothesis import example, given
from hypothesis import strategies as st
from PySide6.QtWidgets import QMessageBox
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from studio.core.checkpoint import save_checkpoint
from studio.core.data import load_data
from studio.core.imaging import save_png
from studio.core.plugins import discover
from studio.core.specs import resolve


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    """A tiny VAE checkpoint (16x16 digits, 3 steps; what it draws does not matter here) and beside it
    ``misfit.safetensors``: its settings with the weights of an 8x8 VAE (tensors of other shapes)."""
    registry = discover().registry
    spec = registry.model("vae")
    folder = tmp_path_factory.mktemp("models")
    for size in (16, 8):
        config = spec.config(image_size=size, batch_size=16)
        trainer = resolve(spec.trainer)(config, load_data(registry, "images", "digits", config).split(), seed=0)
        for _ in trainer.steps(0, 3):
            pass
        save_checkpoint(folder / f"vae-{size}.safetensors", "vae", trainer.config, 3, trainer.state())
    with safe_open(str(folder / "vae-16.safetensors"), "pt") as f:
        metadata = f.metadata()
    save_file(load_file(str(folder / "vae-8.safetensors")), str(folder / "misfit.safetensors"), metadata=metadata)
    return folder / "vae-16.safetensors"


@pytest.fixture
def told(monkeypatch):
    """The warnings and notes the window shows, as text, instead of modal boxes."""
    said: list[str] = []
    monkeypatch.setattr("studio.ui.kit.model_panel.warn", lambda parent, title, message, detail="": said.append(
        message))
    monkeypatch.setattr("studio.ui.panels.latent_explorer.panel.warn",
                        lambda parent, title, message, detail="": said.append(message))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: said.append(text))
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text, *a: said.append(text))
    return said


@pytest.fixture
def canvas(studio_app, vae_file):
    app = studio_app()
    app.workspace.store.add_checkpoint("vae", str(vae_file), 3)
    app.window.refresh_panels()
    app.window.show_panel("image-canvas")
    panel = app.window.panels["image-canvas"]
    panel.app = app
    return panel


class Blob(bytes):
    def __repr__(self) -> str:
        return f"<{len(self):,} bytes>"


def damaged_checkpoints(good: bytes, other_shapes: bytes):
    """A damaged checkpoint's bytes: cut short, a damaged header byte, random, a pickle, other weights."""
    return st.one_of(
        st.floats(0.0, 0.99).map(lambda cut: good[:int(len(good) * cut)]),
        st.tuples(st.integers(0, 400), st.integers(1, 255)).map(
            lambda d: good[:d[0]] + bytes([good[d[0]] ^ d[1]]) + good[d[0] + 1:]),
        st.binary(max_size=64),
        st.just(pickle.dumps({"model.weight": [0.0] * 4})),
        st.just(other_shapes),
    ).map(Blob)


def sample(panel, qtbot, seed: int) -> None:
    before = panel.state.grid
    panel.seed.setValue(seed)
    panel.sample_button.click()
    qtbot.waitUntil(lambda: panel.state.grid is not None and panel.state.grid is not before, timeout=30_000)


def test_a_damaged_checkpoint_chosen_in_the_canvas_is_told_and_the_canvas_goes_on(canvas, vae_file, told, qtbot):
    good, other = vae_file.read_bytes(), vae_file.with_name("misfit.safetensors").read_bytes()
    store, picker = canvas.app.workspace.store, canvas.picker
    qtbot.waitUntil(lambda: canvas.state.info is not None, timeout=30_000)
    cases = iter(range(10**6))

    @fuzzed(0.2)
    @given(data=damaged_checkpoints(good, other))
    @example(data=Blob(other))  # always: weights that do not fit, and a pickle
    @example(data=Blob(pickle.dumps({"model.weight": [0.0] * 4})))
    def chosen(data):
        path = vae_file.parent / f"damaged-{next(cases)}.safetensors"
        path.write_bytes(data)
        store.add_checkpoint("vae", str(path), 3)
        canvas.app.window.refresh_panels()
        told.clear()
        assert picker.select(str(path))
        # told, naming the file; or, for damage the file survives (a flipped bit in a number), it loads
        qtbot.waitUntil(lambda: any(path.name in message for message in told) or canvas.state.info is not None,
                        timeout=30_000)
        assert told or len(data) == len(good), "only a file with one byte flipped may still load"
        tried("panel.checkpoint")
        unchanged(path, data)
        assert picker.select(str(vae_file))  # the good model again: the canvas samples
        qtbot.waitUntil(lambda: canvas.state.info is not None, timeout=30_000)
        sample(canvas, qtbot, 4)
        assert canvas.state.grid.params["checkpoint"] == str(vae_file)

    chosen()


def png_files():
    """A PNG's bytes: random after the signature, or a real image with any text in the studio's chunks."""
    def with_chunks(chunks: dict) -> bytes:
        from io import BytesIO

        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for key, value in chunks.items():
            info.add_text(key, value)
        buffer = BytesIO()
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, "PNG", pnginfo=info)
        return buffer.getvalue()

    params = st.fixed_dictionaries({"panel": st.sampled_from(["image-canvas", "latent-explorer", "other"])},
                                   optional={"model": st.sampled_from(["vae", "no-such-model"]) | st.integers(),
                                             "checkpoint": st.text(max_size=10) | st.none(),
                                             "seed": st.integers() | st.text(max_size=3)})
    return st.one_of(
        st.binary(max_size=60).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
        st.dictionaries(st.sampled_from(["studio", "parameters", "studio:seed"]), st.text(max_size=40),
                        max_size=3).map(with_chunks),
        params.map(lambda p: with_chunks({"studio": json.dumps(p)})),
    )


def test_a_damaged_png_opened_in_the_canvas_or_the_explorer_is_told(canvas, told, qtbot):
    explorer = canvas.app.window.panels["latent-explorer"]

    @fuzzed(0.5)
    @given(data=png_files(), panel=st.sampled_from(["canvas", "explorer"]))
    def opened(data, panel):
        with scratch() as folder:
            path = folder / "opened.png"
            path.write_bytes(data)
            told.clear()
            (canvas if panel == "canvas" else explorer).import_file(path)
            tried(f"panel.png.{panel}")
            qtbot.wait(0)  # a restore's reply, when the file gets that far, comes through the event loop
            assert all("Unexpected error" not in message for message in told), told
            unchanged(path, data)

    opened()
    qtbot.waitUntil(lambda: canvas.state.info is not None, timeout=30_000)
    sample(canvas, qtbot, 2)


def midi_with(params: dict) -> bytes:
    """A MIDI file of one note carrying ``params`` as the studio writes them (a ``studio:{json}`` text)."""
    from io import BytesIO

    import mido

    midi = mido.MidiFile(type=1)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("text", text="studio:" + json.dumps(params))]))
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90),
                                       mido.Message("note_off", note=60, time=240)]))
    buffer = BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def test_a_damaged_sidecar_or_midi_file_opened_in_its_panel_is_told(studio_app, told, qtbot):
    app = studio_app()
    composer, roll = app.window.panels["text-composer"], app.window.panels["piano-roll"]

    @fuzzed(0.5)
    @given(sidecar=st.dictionaries(st.sampled_from(["temperature", "top_k", "top_p", "max_new_tokens", "seed",
                                                    "generations", "model", "checkpoint"]),
                                   st.none() | st.integers(-10, 10**6) | st.floats() | st.text(max_size=4)
                                   | st.lists(st.integers() | st.text(max_size=3), max_size=2), max_size=5),
           midi=st.binary(max_size=60).map(lambda b: b"MThd\0\0\0\x06" + b) | st.dictionaries(
               st.sampled_from(["panel", "model", "checkpoint", "bars", "temperature", "seed", "generations"]),
               st.none() | st.integers() | st.floats() | st.text(max_size=4) | st.lists(st.integers(), max_size=2),
               max_size=5).map(lambda params: midi_with({"panel": "piano-roll", "model": "none", **params})))
    def opened(sidecar, midi):
        with scratch() as folder:
            text, song = folder / "passage.txt", folder / "song.mid"
            text.write_text("a passage", encoding="utf-8")
            (folder / "passage.txt.studio.json").write_text(json.dumps({"panel": "text-composer", **sidecar}))
            song.write_bytes(midi)
            told.clear()
            composer.import_file(text)
            assert composer.editor.toPlainText() == "a passage"
            roll.import_file(song)
            tried("panel.sidecar")
            tried("panel.midi")
            qtbot.wait(0)
            assert all("Unexpected error" not in message for message in told), told
            unchanged(song, midi)

    opened()


latent_keys = st.sampled_from(["mode", "steps", "interpolation", "frame", "a", "b", "direction", "extent", "centre",
                               "side", "seed", "base", "attribute", "strength", "vector", "latent", "data"])
latent_values = st.none() | st.integers(-3, 10**12) | st.floats() | st.text(max_size=6) | st.lists(
    st.floats(-3, 3) | st.text(max_size=2), max_size=3)


def test_damaged_settings_in_a_latent_explorer_png_are_told(explorer, told, qtbot):
    """Every mode's settings, some missing or of another type: a warning naming the file, never a raise."""
    made = {"panel": "latent-explorer", "model": "vae", "checkpoint": explorer.state.choice.ref.checkpoint}
    failures: list[str] = []
    explorer.state.work.events.failed.connect(lambda title, message, detail: failures.append(message))
    restored: list[str] = []
    explorer.state.events.restored.connect(restored.append)

    @fuzzed(0.5)
    @given(mode=st.sampled_from(["point", "attribute", "morph", "walk", "prior"]),
           settings=st.dictionaries(latent_keys, latent_values, max_size=6))
    def opened(mode, settings):
        with scratch() as folder:
            path = folder / "view.png"
            save_png(np.zeros((8, 8, 1), np.float32), path, {**made, **settings, "mode": mode})
            failures.clear(), restored.clear(), told.clear()
            explorer.import_file(path)
            qtbot.waitUntil(lambda: bool(restored or failures or told), timeout=30_000)
            tried("panel.png.latent")
            assert all("Unexpected error" not in m for m in failures + told), failures + told
            assert all("view.png" in m for m in failures + told), failures + told

    opened()
