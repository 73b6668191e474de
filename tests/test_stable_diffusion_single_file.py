"""Stable Diffusion from a single original-format .safetensors (issue 16): the tiny pipeline written as
an SD 1.x checkpoint (:mod:`sd_single_file`), with its tokenizer/ folder beside it, imported as an
artist would and sampled against the same pipeline loaded from its diffusers folder.

The shipped configs are full size, so the loader is pointed at the tiny pipeline's configs (its
``config_folder``); that a full-size config refuses the tiny file is a test of its own. A single
file without a tokenizer is refused in test_sd_source.py.
"""

import numpy as np
import pytest
from sd_single_file import tiny_checkpoint

from studio.core import network_guard
from studio.core.capabilities import ModelError, SampleOptions, sample_images

PROMPT = {"prompt": "a photo of a cat"}
#: float32 on the CPU: the same weights through the same kernels, so differences are rounding at most
ATOL = 1e-5


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("sd-file"))


@pytest.fixture(scope="module")
def tiny_configs(kept):
    from studio_builtins.stable_diffusion import loading

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "config_folder", lambda family: kept[2])
        yield


def load(path):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    return load_stable_diffusion(str(path), "cpu")


@pytest.fixture(scope="module")
def from_file(kept, tiny_configs):
    return load(kept[1])


@pytest.fixture(scope="module")
def from_folder(kept):
    return load(kept[0])


def sample(model, n=1, seed=0, **options):
    options.setdefault("steps", 3)
    return sample_images(model, n, seed=seed, condition=PROMPT, options=SampleOptions(**options))


def test_the_file_reads_as_an_sd1_checkpoint_with_the_tokenizer_beside_it(kept, from_file):
    from studio_builtins.stable_diffusion.source import inspect_source

    info = inspect_source(kept[1])
    assert (info.kind, info.family, info.parts) == ("single_file", "sd1", ("unet", "vae", "text_encoder"))
    assert info.tokenizer == kept[1].parent / "tokenizer"
    assert from_file.family == "sd1" and from_file.image_shape == (32, 32, 3)


def test_text_to_image_from_the_file_matches_the_folder_for_the_same_seed(from_file, from_folder):
    grid = sample(from_file, 2, seed=5)
    assert grid.shape == (2, 32, 32, 3) and np.abs(grid[0] - grid[1]).mean() > 1e-3
    np.testing.assert_allclose(grid, sample(from_folder, 2, seed=5), atol=ATOL)
    np.testing.assert_array_equal(sample(from_file, 2, seed=5), grid)


def test_image_to_image_from_the_file_repeats_and_matches_the_folder(from_file, from_folder):
    start = sample(from_file, seed=3)[0]
    again = sample(from_file, seed=4, steps=10, init_image=start, strength=0.3)
    np.testing.assert_array_equal(sample(from_file, seed=4, steps=10, init_image=start, strength=0.3), again)
    np.testing.assert_allclose(again, sample(from_folder, seed=4, steps=10, init_image=start, strength=0.3),
                               atol=ATOL)
    assert np.abs(again[0] - start).mean() < np.abs(sample(from_file, seed=4, steps=10)[0] - start).mean()


def test_inpainting_from_the_file_keeps_every_pixel_outside_the_mask(from_file, from_folder):
    start = sample(from_file, seed=3)[0]
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 10:26] = 1.0
    grid = sample(from_file, 2, seed=9, init_image=start, mask=mask, strength=1.0)
    outside = mask < 0.5
    np.testing.assert_array_equal(grid[:, outside], np.broadcast_to(start[outside], grid[:, outside].shape))
    assert np.abs(grid[:, ~outside] - start[~outside]).mean() > 1e-3
    np.testing.assert_array_equal(sample(from_file, 2, seed=9, init_image=start, mask=mask, strength=1.0), grid)
    np.testing.assert_allclose(grid, sample(from_folder, 2, seed=9, init_image=start, mask=mask, strength=1.0),
                               atol=ATOL)


def test_a_file_that_does_not_fit_its_familys_configs_is_named(kept, monkeypatch):
    """Against the shipped full-size SD 1.5 configs, the tiny file's weights do not fit."""
    from studio_builtins.stable_diffusion import loading, source

    monkeypatch.setattr(loading, "config_folder", source.config_folder)  # whether or not the tiny ones are in use
    with pytest.raises(ModelError, match=r"model.safetensors could not be loaded as a Stable Diffusion model: "
                                         r".*expected shape torch.Size\(\[77, 768\]\)"):
        load(kept[1])


def test_loading_the_file_and_sampling_touch_no_network(kept, tiny_configs):
    was_installed = network_guard.installed()
    network_guard.install()
    before = network_guard.blocked_attempts()
    try:
        sample(load(kept[1]), seed=0, steps=2)
    finally:
        if not was_installed:
            network_guard.uninstall()
    assert network_guard.blocked_attempts() == before
