"""Stable Diffusion from an artist's own folder (issue 16): a tiny model built from configs, saved as a
diffusers folder and imported as an artist would, then sampled as the canvas samples it."""

import shutil

import numpy as np
import pytest
from sd_support import tiny_folder

from studio.core import network_guard
from studio.core.capabilities import Cancelled, ModelError, SampleOptions, sample_images, sampler_info

PROMPT = {"prompt": "a photo of a cat"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_folder(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="module")
def model(folder):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    return load_stable_diffusion(str(folder), "cpu")


def sample(model, n=1, seed=0, condition=PROMPT, **options):
    options.setdefault("steps", 3)
    return sample_images(model, n, seed=seed, condition=condition, options=SampleOptions(**options))


def test_the_folder_loads_as_an_image_sampler_the_canvas_can_drive(model):
    info = sampler_info(model)
    assert info.image_shape == (32, 32, 3)
    assert "prompt" in info.conditions and "negative_prompt" in info.conditions
    assert set(info.sampling_options) == {"steps", "sampler", "guidance_scale", "init_image", "mask", "size"}
    assert info.samplers[:4] == ("Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras") and "DDIM" in info.samplers
    assert info.seed_per_image and model.default_guidance == 7.0


def test_the_same_seed_gives_the_same_pixels_and_each_image_has_its_own_seed(model):
    grid = sample(model, 2, seed=5)
    assert grid.shape == (2, 32, 32, 3) and grid.dtype == np.float32
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    np.testing.assert_array_equal(sample(model, 2, seed=5), grid)
    np.testing.assert_allclose(sample(model, 1, seed=6)[0], grid[1], atol=1e-5)  # image 2 of seed 5 is seed 6
    assert np.abs(grid[0] - grid[1]).mean() > 1e-3


@pytest.mark.parametrize("name", ["Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "Heun", "DDIM", "PLMS",
                                  "UniPC"])
def test_every_sampler_of_the_menu_samples_and_repeats(model, name):
    first = sample(model, seed=1, sampler=name)
    np.testing.assert_array_equal(sample(model, seed=1, sampler=name), first)
    assert np.isfinite(first).all()


def test_samplers_differ_and_an_unknown_one_is_refused(model):
    assert np.abs(sample(model, sampler="Euler a") - sample(model, sampler="DDIM")).mean() > 1e-4
    with pytest.raises(ModelError, match="samplers are"):
        sample(model, sampler="Magic")


def test_prompt_negative_prompt_and_guidance_change_the_image(model):
    base = sample(model, seed=2)
    assert np.abs(sample(model, seed=2, condition={"prompt": "a photo"}) - base).mean() > 1e-5
    assert np.abs(sample(model, seed=2, condition={**PROMPT, "negative_prompt": "cat"}) - base).mean() > 1e-5
    assert np.abs(sample(model, seed=2, guidance_scale=1.5) - base).mean() > 1e-5


def test_each_step_previews_the_batch_at_the_image_size(model):
    seen = []
    model.sample(2, seed=0, condition=PROMPT, options=SampleOptions(steps=4),
                 on_step=lambda step, total, preview: seen.append((step, total, preview)))
    assert [(s, t) for s, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for _, _, preview in seen:
        assert preview.images.shape == (2, 32, 32, 3) and preview.shows == "sample"
        assert 0.0 <= preview.images.min() and preview.images.max() <= 1.0


def test_a_cancel_stops_at_the_next_step_and_the_model_samples_again(model):
    calls = []

    def cancel(step, total, preview):
        calls.append(step)
        raise Cancelled()

    with pytest.raises(Cancelled):
        model.sample(1, seed=0, condition=PROMPT, options=SampleOptions(steps=10), on_step=cancel)
    assert calls == [1]
    np.testing.assert_array_equal(sample(model, seed=0), sample(model, seed=0))


def test_image_to_image_starts_from_the_image_and_repeats(model):
    start = sample(model, seed=3)[0]
    steps = []
    again = model.sample(1, seed=4, condition=PROMPT, options=SampleOptions(steps=10, init_image=start, strength=0.3),
                         on_step=lambda s, t, p: steps.append(t))
    assert set(steps) == {3} and len(steps) == 3  # strength 0.3 of 10 steps denoises the last 3
    np.testing.assert_array_equal(sample(model, seed=4, steps=10, init_image=start, strength=0.3), again)
    fresh = sample(model, seed=4, steps=10)
    assert np.abs(again[0] - start).mean() < np.abs(fresh[0] - start).mean()


def test_inpainting_keeps_every_pixel_outside_the_mask_exactly(model):
    start = sample(model, seed=3)[0]
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 10:26] = 1.0
    grid = sample(model, 2, seed=9, init_image=start, mask=mask, strength=1.0)
    outside = mask < 0.5
    np.testing.assert_array_equal(grid[:, outside], np.broadcast_to(start[outside], grid[:, outside].shape))
    assert np.abs(grid[:, ~outside] - start[~outside]).mean() > 1e-3
    np.testing.assert_array_equal(sample(model, 2, seed=9, init_image=start, mask=mask, strength=1.0), grid)


@pytest.fixture(scope="module")
def lora_file(folder, tmp_path_factory):
    """A LoRA for the tiny UNet's attention, saved as diffusers saves one, in a Lora/ folder beside the model."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(folder.parent / "Lora", unet_lora_layers=get_peft_model_state_dict(unet),
                                              weight_name="crayon.safetensors")
    return folder.parent / "Lora" / "crayon.safetensors"


def test_a_lora_named_in_the_prompt_changes_the_image_at_its_strength(model, lora_file):
    plain = sample(model, seed=7)
    full = sample(model, seed=7, condition={"prompt": "a photo of a cat <lora:crayon:1>"})
    half = sample(model, seed=7, condition={"prompt": "a photo of a cat, <lora:crayon:0.5>"})
    assert np.abs(full - plain).mean() > 1e-3
    assert 1e-4 < np.abs(half - plain).mean() < np.abs(full - plain).mean()
    np.testing.assert_array_equal(sample(model, seed=7), plain)  # no tag, no LoRA
    with pytest.raises(ModelError, match="No LoRA named 'pastel'"):
        sample(model, seed=7, condition={"prompt": "cat <lora:pastel:1>"})


def test_lora_tags_are_read_as_the_web_ui_writes_them():
    from studio_builtins.stable_diffusion.lora import split_prompt

    assert split_prompt("a cat, <lora:crayon:0.8> in a hat <LORA:ink>") == (
        "a cat, in a hat", [("crayon", 0.8), ("ink", 1.0)])
    with pytest.raises(ModelError, match="needs a number"):
        split_prompt("<lora:crayon:strong>")


def test_a_folder_missing_its_unet_says_so(folder, tmp_path):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelError, match=r"has no unet/"):
        load_stable_diffusion(str(broken), "cpu")


def test_weights_that_do_not_fit_their_config_name_the_model(folder, tmp_path):
    import json

    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    broken = tmp_path / "wide"
    shutil.copytree(folder, broken)
    config = json.loads((broken / "unet" / "config.json").read_text())
    config["block_out_channels"] = [48, 96]
    (broken / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="wide could not be loaded"):
        load_stable_diffusion(str(broken), "cpu")


def test_an_empty_tokenizer_is_refused_rather_than_ignoring_every_prompt(folder, tmp_path):
    import json

    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    broken = tmp_path / "mute"
    shutil.copytree(folder, broken)
    tokenizer = json.loads((broken / "tokenizer" / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"] = {"<|endoftext|>": 0}
    tokenizer["model"]["merges"] = []
    (broken / "tokenizer" / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ModelError, match="tokenizer"):
        load_stable_diffusion(str(broken), "cpu")


def test_a_pickle_checkpoint_is_refused_before_diffusers_sees_it(tmp_path):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    path = tmp_path / "v1-5.ckpt"
    path.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="pickle"):
        load_stable_diffusion(str(path), "cpu")


def test_loading_and_sampling_touch_no_network(folder):
    from studio_builtins.stable_diffusion.loading import load_stable_diffusion

    was_installed = network_guard.installed()
    network_guard.install()
    before = network_guard.blocked_attempts()
    try:
        model = load_stable_diffusion(str(folder), "cpu")
        sample(model, seed=0, steps=2)
    finally:
        if not was_installed:
            network_guard.uninstall()
    assert network_guard.blocked_attempts() == before
