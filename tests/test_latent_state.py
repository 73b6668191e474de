"""The Latent Explorer's state driven by a fake latent model, with no window: the map, the chosen
point (newest decode wins), the morph, attribute vectors, walks, undo and redo of each edit, and a
dataset cache that belongs to one panel."""

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

import studio_builtins.datasets
from studio.ui.panels.latent_explorer import commands, exchange
from studio.ui.panels.latent_explorer.state import LatentState
from studio.ui.panels.latent_explorer.tool_states import WalkSettings
from studio.ui.panels.latent_explorer.work import Endpoint


class FakeCodec:
    """Latent = (mean of the left half, mean of the right half) of an 8x8 image; decode paints them back."""

    latent_dim = 2
    image_shape = (8, 8, 1)

    def __init__(self):
        self.decoded = []

    def encode(self, images):
        return np.stack([images[:, :, :4].mean(axis=(1, 2, 3)), images[:, :, 4:].mean(axis=(1, 2, 3))], axis=1)

    def decode(self, latents):
        self.decoded.append(np.asarray(latents).copy())
        images = np.zeros((len(latents), 8, 8, 1), np.float32)
        images[:, :, :4] = np.asarray(latents)[:, 0, None, None, None]
        images[:, :, 4:] = np.asarray(latents)[:, 1, None, None, None]
        return images

    def sample_prior(self, n, *, seed):
        return np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)


@pytest.fixture
def explorer(bench, qapp):
    bench.host.add(studio_builtins.datasets, "datasets")
    bench.add_spec("fake-codec", ("LatentCodec",))
    model = FakeCodec()
    bench.add_model("fake-codec", model)
    state = LatentState(bench.executor, bench.registry, bench.store)
    state.choose_data("digits")
    state.models.refresh()
    state.fake, state.stack = model, QUndoStack()
    return state


def shown(state):
    return None if state.shown is None else state.shown.latent


def test_the_map_is_made_only_once_someone_looks_and_shows_the_held_out_images(explorer, bench):
    bench.executor.run()
    assert explorer.data_map is None  # not visible yet: nothing encoded
    explorer.set_visible(True)
    assert explorer.map_message.startswith("Encoding Handwritten digits")
    bench.executor.run()
    data = explorer.data_map
    assert data.latents.shape == (180, 2) and data.class_names == [str(d) for d in range(10)]
    np.testing.assert_allclose(data.latents, explorer.fake.encode(data.images.astype(np.float32) / 255), atol=1e-6)
    assert sorted(explorer.attributes.vectors) == sorted(data.class_names)  # a class vector each
    np.testing.assert_allclose(shown(explorer), data.latents[0])  # the first image is chosen
    assert explorer.morph.strip is not None and len(explorer.morph.strip.frames) == 10


def test_only_the_newest_decode_is_shown(explorer, bench):
    explorer.set_visible(True)
    bench.executor.run()
    decoded = len(explorer.fake.decoded)
    for x in (0.1, 0.2, 0.3):  # a drag faster than the model
        explorer.choose(np.array([x, 0.5], np.float32), f"point {x}")
    bench.executor.run()
    assert len(explorer.fake.decoded) == decoded + 1 and explorer.shown.caption == "point 0.3"
    np.testing.assert_allclose(explorer.shown.image[0, 0, 0], 0.3, atol=1e-6)


def test_each_edit_undoes_and_redoes(explorer, bench):
    explorer.set_visible(True)
    bench.executor.run()
    stack, state = explorer.stack, explorer
    first = shown(state).copy()

    before = state.point()
    state.choose(np.array([0.7, 0.1], np.float32), "a point")
    stack.push(commands.point(state, "Choose a point", before))
    a_before = state.morph.ends["a"]
    stack.push(commands.end(state, "a", Endpoint(np.array([0.9, 0.9], np.float32), None, "far")))
    stack.push(commands.strength(state, "3", 0.5))
    stack.push(commands.strength(state, "3", 1.0))  # a slider dragged: one step
    stack.push(commands.walk_settings(state, WalkSettings("z1", 1.0, 5)))
    bench.executor.run()
    vector = state.attributes.vectors["3"]
    np.testing.assert_allclose(shown(state), np.array([0.7, 0.1]) + vector, atol=1e-6)
    assert stack.count() == 4 and state.walk.settings.steps == 5

    stack.undo()  # the walk's settings
    assert state.walk.settings.steps == 11
    stack.undo()  # the strength, both moves of the slider
    bench.executor.run()
    assert state.attributes.strength == 0.0
    np.testing.assert_allclose(shown(state), [0.7, 0.1], atol=1e-6)
    stack.undo()  # end A
    bench.executor.run()
    assert state.morph.ends["a"] is a_before
    np.testing.assert_allclose(state.morph.strip.latents[0], a_before.latent)
    stack.undo()  # the chosen point
    bench.executor.run()
    np.testing.assert_allclose(shown(state), first)
    np.testing.assert_allclose(state.base, first)
    for _ in range(4):
        stack.redo()
    bench.executor.run()
    np.testing.assert_allclose(shown(state), np.array([0.7, 0.1]) + vector, atol=1e-6)
    assert state.attributes.strength == 1.0 and state.walk.settings.steps == 5


def test_a_bad_setting_is_refused_before_it_is_an_edit(explorer):
    with pytest.raises(ValueError, match="3 to 32 frames"):
        commands.walk_settings(explorer, WalkSettings("z1", 1.0, 50))
    with pytest.raises(ValueError, match="no attribute vector 'smile'"):
        commands.strength(explorer, "smile", 1.0)
    assert explorer.stack.count() == 0


def test_an_export_restores_its_point_and_mode(explorer, bench):
    explorer.set_visible(True)
    bench.executor.run()
    explorer.set_tool("prior")
    bench.executor.run()
    explorer.prior.choose(3)
    artifact = exchange.artifact(explorer, "image", 0)
    params = artifact.params
    assert (params["mode"], params["index"], params["panel"], params["data"]) == ("prior", 3, "latent-explorer",
                                                                                   "digits")
    assert params["checkpoint_sha256"] == explorer.digest and params["step"] == 10
    sample = shown(explorer).copy()
    explorer.choose(np.array([0.0, 0.0], np.float32), "elsewhere")
    explorer.set_tool("morph")
    bench.executor.run()
    exchange.restore(explorer, params, "sample.png")
    bench.executor.run()
    np.testing.assert_allclose(shown(explorer), sample)
    np.testing.assert_allclose(explorer.base, sample)
    assert explorer.tool == "prior" and explorer.shown.caption == "restored from sample.png"


def test_each_panel_keeps_its_own_dataset_cache(explorer, bench, monkeypatch):
    import studio.core.data as data

    loads = []
    load = data.load_data
    monkeypatch.setattr(data, "load_data", lambda *a, **k: (loads.append(a[2]), load(*a, **k))[1])
    explorer.set_visible(True)
    bench.executor.run()
    second = bench.add_model("fake-codec", FakeCodec(), name="second", step=20)
    explorer.models.refresh()
    explorer.models.select(second)  # another model on the same data: mapped from this panel's cache
    bench.executor.run()
    assert explorer.data_map is not None and explorer.choice.ref.checkpoint == second
    assert loads == ["digits"]
    other = LatentState(bench.executor, bench.registry, bench.store)  # another window's panel loads its own
    other.choose_data("digits")
    other.models.refresh()
    other.set_visible(True)
    bench.executor.run()
    assert loads == ["digits", "digits"] and other.data_map is not None
