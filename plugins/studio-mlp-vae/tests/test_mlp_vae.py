"""The plugin's own tests, written with the fixtures the studio ships (studio.testing): run them with
``pytest`` in this folder, in an environment with the studio and this plugin installed."""

from __future__ import annotations

import numpy as np
import pytest

import studio_mlp_vae
from studio.core.artifacts import ImageArtifact
from studio.core.specs import resolve
from studio_mlp_vae.netpbm import read_netpbm, write_netpbm

SMALL = {"image_size": 16, "hidden": 64, "batch_size": 64}


@pytest.fixture
def host(make_studio_host):
    return make_studio_host(studio_mlp_vae)


def make_trainer(host, data, seed=0):
    spec = host.registry.model("mlp-vae")
    return resolve(spec.trainer)(spec.config(**SMALL), data, seed=seed)


def test_the_plugin_contributes_its_model_and_its_exporter(host):
    spec = host.registry.model("mlp-vae")
    assert set(spec.capabilities) == {"ImageSampler", "LatentCodec", "Trainer"}
    assert host.registry.exporter_for("image", "grid.pgm").name == "netpbm"
    plugin = host.plugins[spec.plugin]
    assert plugin.status == "loaded" and plugin.contract == 2


def test_training_beats_the_untrained_model_on_held_out_digits(host, studio_data):
    trainer = make_trainer(host, studio_data("images", size=16))
    untrained = trainer.validate()["bce"]
    for _ in trainer.steps(0, 200):
        pass
    assert trainer.validate()["bce"] < 0.75 * untrained


def test_a_resumed_run_trains_exactly_as_one_that_never_stopped(host, studio_data):
    data = studio_data("images", size=16)
    straight = make_trainer(host, data)
    for _ in straight.steps(0, 10):
        pass
    first = make_trainer(host, data)
    for _ in first.steps(0, 5):
        pass
    saved = first.state()  # a checkpoint (torch's random state is the process's: save it before the next trainer)
    resumed = make_trainer(host, data)  # a new process, in effect: restore, then go on from step 5
    resumed.restore(saved)
    for _ in resumed.steps(5, 10):
        pass
    for name, value in straight.model.state_dict().items():
        assert np.array_equal(value.numpy(), resumed.model.state_dict()[name].numpy()), name


def test_the_canvas_samples_the_same_grid_for_the_same_seed(host, make_studio_checkpoint, make_studio_panel, qtbot):
    checkpoint = make_studio_checkpoint("mlp-vae", steps=100, host=host, **SMALL)
    canvas = make_studio_panel("image-canvas", checkpoint, host=host)
    grids = []
    for _ in range(2):
        before = canvas.state.grid
        canvas.seed.setValue(3)
        canvas.sample_button.click()
        qtbot.waitUntil(lambda b=before: canvas.state.grid is not None and canvas.state.grid is not b, timeout=20_000)
        grids.append(canvas.state.grid.images.copy())
    assert grids[0].shape[1:] == (16, 16, 1) and np.array_equal(grids[0], grids[1])
    assert 0.0 <= grids[0].min() and grids[0].max() <= 1.0


def test_the_latent_explorer_maps_the_training_digits_and_decodes_a_point(host, make_studio_checkpoint,
                                                                          make_studio_panel, qtbot):
    checkpoint = make_studio_checkpoint("mlp-vae", steps=100, host=host, **SMALL)
    explorer = make_studio_panel("latent-explorer", checkpoint, host=host)
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=60_000)
    assert set(explorer.state.data_map.labels) == set(range(10))  # the digits it was trained on, by class
    assert explorer.state.data_map.points.shape[1] == 2
    qtbot.waitUntil(lambda: explorer.view.array is not None, timeout=20_000)
    assert explorer.view.array.shape == (16, 16, 1)


@pytest.mark.parametrize("channels, suffix", [(1, ".pgm"), (3, ".ppm"), (1, ".ppm"), (3, ".pgm")])
def test_a_netpbm_export_holds_the_pixels_and_the_parameters(tmp_path, channels, suffix):
    pixels = np.random.default_rng(0).random((5, 7, channels)).astype(np.float32)
    path = tmp_path / f"image{suffix}"
    write_netpbm(ImageArtifact(pixels, {"model": "mlp-vae", "seed": 3}), path)
    read, params = read_netpbm(path)
    assert params == {"model": "mlp-vae", "seed": 3}
    expected = np.rint(pixels * 255).astype(np.uint8)
    if suffix == ".ppm":
        assert read.shape == (5, 7, 3)
        assert np.array_equal(read, np.broadcast_to(expected, (5, 7, 3)))
    else:
        assert read.shape == (5, 7, 1)
        grey = expected if channels == 1 else np.rint(expected @ [0.299, 0.587, 0.114])[..., None]
        assert np.abs(read.astype(int) - grey.astype(int)).max() <= 1
