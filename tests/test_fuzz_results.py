"""Fuzzed results coming back: PNGs with and without the studio's parameters, another tool's
``parameters`` text, texts and their sidecars. Reading a file gives its settings or a user-facing error
naming it; restoring damaged settings in the Image Canvas or the Text Composer is refused or reported
(never an exception out of the panel's state, never an "Unexpected error"), and the panel still works."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fuzz_support import fuzz_tally, fuzzed, reads_clearly, scratch, tried, unchanged  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from studio.core.errors import UserError
from studio.core.imaging import read_png_metadata, save_png
from studio.core.png_parameters import as_float, as_int, as_size, parse_parameters
from studio.ui.panels.image_canvas.state import CanvasState
from studio.ui.panels.text_composer.files import read_text
from studio.ui.panels.text_composer.state import ComposerState

#: any value a JSON file can hold (NaN and infinities too: Python's json reads and writes them)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


def damaged(params: dict, changes: dict, dropped: list) -> dict:
    """``params`` with some values replaced (or added) and some keys dropped."""
    result = {**params, **changes}
    for key in dropped:
        result.pop(key, None)
    return result


# -- PNG files -------------------------------------------------------------------------------------------


@fuzzed()
@given(data=st.binary(max_size=120), signature=st.booleans())
def test_a_png_of_random_bytes(data, signature):
    with scratch() as folder:
        path = folder / "image.png"
        path.write_bytes((b"\x89PNG\r\n\x1a\n" if signature else b"") + data)
        reads_clearly("png", lambda: read_png_metadata(path), path.name, (UserError,))
        unchanged(path, path.read_bytes())


@fuzzed(2)
@given(chunks=st.dictionaries(st.sampled_from(["studio", "parameters", "studio:seed", "studio:model", "Comment"]),
                              st.text(max_size=60) | json_values.map(json.dumps), max_size=4),
       compressed=st.booleans())
def test_a_png_with_any_text_chunks(chunks, compressed):
    """The studio's chunk, an older version's, another tool's ``parameters``: any text in each."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        (info.add_itxt if compressed else info.add_text)(key, value)
    with scratch() as folder:
        path = folder / "made.png"
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(path, pnginfo=info)
        metadata = read_png_metadata(path)
        tried("png")
        assert isinstance(metadata.params, dict) and isinstance(metadata.parameters, str)
        parsed = parse_parameters(metadata.parameters)
        assert isinstance(parsed, dict)


@fuzzed(2)
@given(lines=st.lists(st.text(max_size=40), max_size=4),
       pairs=st.lists(st.tuples(st.sampled_from(["Steps", "Seed", "Sampler", "CFG scale", "Size", "Model hash",
                                                 "Model", "Class", "Denoising strength", "Other"]),
                                st.text(max_size=12) | st.integers().map(str) | st.floats().map(str)),
                      max_size=8))
def test_another_tools_parameters_text(lines, pairs):
    """Any prompt lines over any ``Key: value`` line: parsed to a dict; its numbers read or give None."""
    text = "\n".join([*lines, ", ".join(f"{k}: {v}" for k, v in pairs)])
    tried("png.parameters")
    parsed = parse_parameters(text)
    assert isinstance(parsed, dict)
    for value in parsed.values():
        as_int(value), as_float(value), as_size(value)


# -- the Image Canvas restoring a PNG's settings -------------------------------------------------------------


class FakeSampler:
    """An image model with classes, steps and samplers; each image's value says what made it."""

    image_shape = (4, 4, 1)
    conditions = ("label",)
    class_names = ("circle", "square")
    sampling_options = ("steps", "sampler")
    samplers = ("ddim", "euler")

    def sample(self, n, *, seed, condition=None, options=None, on_step=None):
        return np.full((n, *self.image_shape), (seed % 1000) / 1000, np.float32)


@pytest.fixture
def canvas(bench):
    bench.add_spec("fake-sampler", ("ImageSampler",))
    bench.add_model("fake-sampler", FakeSampler())
    state = CanvasState(bench.executor, bench.registry, bench.store)
    state.models.refresh()
    bench.executor.run()
    state.change(seed=3, count=2, label=1)
    state.sample()
    bench.executor.run()
    state.made = dict(state.grid.params)
    state.failures = []
    state.work.events.failed.connect(lambda title, message, detail: state.failures.append(message))
    return state


canvas_keys = st.sampled_from(["panel", "model", "checkpoint", "checkpoint_sha256", "seed", "n", "condition",
                               "steps", "sampler", "guidance_scale", "strength", "index", "seed_per_image",
                               "init_image", "start", "mask", "size"])


@fuzzed(2)
@given(changes=st.dictionaries(canvas_keys, json_values, max_size=4), dropped=st.lists(canvas_keys, max_size=2))
def test_the_canvas_restores_damaged_settings_or_says_why(canvas, bench, changes, dropped):
    params = damaged(canvas.made, changes, dropped)
    canvas.failures.clear()
    reads_clearly("canvas.restore", lambda: (canvas.restore_file(params, "made.png"), bench.executor.run()),
                  "made.png", (UserError,))
    assert not [m for m in canvas.failures if m.startswith("Unexpected error")], canvas.failures
    canvas.change(seed=5, count=1)  # still usable: it samples
    canvas.sample()
    bench.executor.run()
    assert canvas.grid is not None and canvas.grid.params["seed"] == 5 and canvas.grid.images.shape[0] == 1


@fuzzed()
@given(text=st.text(max_size=80))
def test_the_canvas_takes_what_another_tools_text_gives(canvas, text):
    tried("canvas.foreign")
    try:
        message = canvas.restore_foreign(text + "\nSteps: 3, Seed: 9", "other.png")
    except ValueError as exc:
        assert "other.png" in str(exc) or "model" in str(exc)
    else:
        assert message.startswith("From other.png")


def test_a_png_the_canvas_saved_comes_back_with_its_settings(canvas, tmp_path):
    """The round trip the fuzzed cases damage: the saved PNG reads back as it was written."""
    path = tmp_path / "made.png"
    save_png(canvas.grid.picture(), path, canvas.made)
    assert read_png_metadata(path).params == json.loads(json.dumps(canvas.made))


# -- texts and their sidecars, and the Text Composer reopening them -------------------------------------------


class FakeWriter:
    context_length = 64
    alphabet = "abcd "

    def encode(self, text):
        return [self.alphabet.index(c) for c in text if c in self.alphabet]

    def decode(self, tokens):
        return "".join(self.alphabet[t] for t in tokens)

    def generate(self, prompt, *, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 with_attention=False):
        from studio.core.capabilities import TokenStep

        for _ in range(max_new_tokens):
            yield TokenStep(0, "a", 0.5)


@pytest.fixture
def composer(bench):
    bench.add_spec("fake-writer", ("SequenceGenerator",))
    path = bench.add_model("fake-writer", FakeWriter())
    state = ComposerState(bench.executor, bench.registry, bench.store, new_seed_each_time=False)
    state.models.refresh()
    bench.executor.run()
    state.made = {"panel": "text-composer", "model": "fake-writer", "checkpoint": path, "temperature": 0.5,
                  "top_k": 3, "top_p": None, "max_new_tokens": 4, "seed": 1,
                  "generations": [{"model": "fake-writer", "checkpoint": path, "text": "aaaa", "offset": 2,
                                   "length": 4}]}
    state.failures, state.missing = [], []
    state.work.events.failed.connect(lambda title, message, detail: state.failures.append(message))
    state.events.model_missing.connect(state.missing.append)
    return state


@fuzzed()
@given(text=st.binary(max_size=60), sidecar=st.none() | st.binary(max_size=60) | json_values.map(
    lambda v: json.dumps(v).encode()))
def test_a_text_and_any_sidecar_read_or_say_why(text, sidecar):
    with scratch() as folder:
        path = folder / "passage.txt"
        path.write_bytes(text)
        if sidecar is not None:
            (folder / "passage.txt.studio.json").write_bytes(sidecar)
        reads_clearly("text", lambda: read_text(path), path.name, (UserError,))
        unchanged(path, text)


composer_keys = st.sampled_from(["panel", "model", "checkpoint", "checkpoint_sha256", "temperature", "top_k",
                                 "top_p", "max_new_tokens", "seed", "generations", "tokens"])
records = st.lists(st.dictionaries(st.sampled_from(["text", "offset", "length", "model", "seed"]), json_values,
                                   max_size=4) | json_values, max_size=3)


@fuzzed(2)
@given(changes=st.dictionaries(composer_keys, json_values, max_size=4), dropped=st.lists(composer_keys, max_size=2),
       generations=st.none() | records, document=st.text(alphabet="abcd \n", max_size=20))
def test_the_composer_reopens_a_damaged_sidecar_or_says_why(composer, bench, changes, dropped, generations,
                                                            document):
    params = damaged(composer.made, changes, dropped)
    if generations is not None:
        params["generations"] = generations
    composer.failures.clear()
    reads_clearly("composer.open", lambda: (composer.open_text(document, params, "passage.txt"),
                                            bench.executor.run()), "passage.txt", (UserError,))
    assert not [m for m in composer.failures + composer.missing if m.startswith("Unexpected error")]
    reads_clearly("composer.save", lambda: composer.sidecar(document, {}), "passage.txt", ())
    sampling = composer.sampling
    assert all(not isinstance(v, float) or math.isfinite(v) for v in (sampling.temperature, sampling.top_p or 0))
    composer.generate("ab")  # still usable: it writes
    bench.executor.run()
