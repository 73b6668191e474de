"""The chapter-8 diffusion model: its schedule, its sampler menu, image-to-image and inpainting,
guidance, training and resuming.

Models are tiny (16x16 digits, narrow U-Nets, a few steps) so the file runs in well under a minute
on a small CPU; the book's widths are the defaults and are checked for shape only.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

import studio_builtins.diffusion
from studio.core.capabilities import (
    Cancelled,
    ImageSampler,
    ModelError,
    SampleOptions,
    StepPreview,
    Trainer,
    sample_images,
    sampler_info,
)
from studio.core.checkpoint import load_model, save_checkpoint
from studio.core.specs import resolve
from studio_builtins.diffusion.sampling import SAMPLERS, make_scheduler
from studio_builtins.diffusion.schedule import alphas_cumprod, betas_for, signal_rates

# diffusers' schedulers hand torch tensors to numpy, which numpy 2 warns about; not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:__array_wrap__ must accept:DeprecationWarning")]

TINY = {"image_size": 16, "widths": "8,16", "middle_width": 16, "block_depth": 1, "batch_size": 32,
        "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def spec():
    from studio.core.plugins import discover

    host = discover()
    host.add(studio_builtins.diffusion, "diffusion")
    return host.registry.model("diffusion")


@pytest.fixture(scope="module")
def digits():
    from studio.testing import tiny_data

    return tiny_data("images", size=16)


def make_trainer(spec, data, seed=0, **settings):
    return resolve(spec.trainer)(spec.config(**{**TINY, **settings}), data, device="cpu", seed=seed)


@pytest.fixture(scope="module")
def trained(spec, digits):
    """A class-conditional tiny model after some training: its samples are no longer trivial."""
    trainer = make_trainer(spec, digits)
    for _ in trainer.steps(0, 30):
        pass
    return trainer


@pytest.fixture(scope="module")
def model(trained):
    return trained.ema


def options(**settings):
    return SampleOptions(**{"steps": 4, **settings})


# -- the spec and the book's model ----------------------------------------------------------------------
def test_registering_the_spec_imports_neither_torch_nor_diffusers():
    code = ("import sys, studio_builtins.diffusion as d; from studio.core.plugins import PluginHost; "
            "h = PluginHost(); h.add(d, 'diffusion'); s = h.registry.model('diffusion'); "
            "assert not {'torch', 'diffusers'} & set(sys.modules), 'imported too early'; "
            "print(s.title, s.family, s.capabilities, s.data_kind, h.plugins['diffusion'].contract)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Diffusion", "model", "(DDIM/DDPM)", "diffusion", "('ImageSampler',",
                                     "'Trainer')", "images", "2"]


def test_the_defaults_are_the_books_unet_for_fashion_mnist_and_fit_an_rgb_folder_at_64(spec):
    config = spec.config()
    assert (config.image_size, config.channels, config.schedule, config.timesteps) == (32, 1, "offset-cosine", 1000)
    assert (config.ema_decay, config.label_dropout, config.batch_size) == (0.999, 0.1, 64)
    learned = {f.name for f in dataclasses.fields(config) if f.metadata.get("learned")}
    assert learned == {"class_names"}
    model = resolve(spec.factory)(config)
    unet = model.unet
    assert [blocks[-1].conv2.out_channels for blocks in unet.down] == [32, 64, 96]
    assert [block.conv2.out_channels for block in unet.middle] == [128, 128]
    assert [blocks[-1].conv2.out_channels for blocks in unet.up] == [96, 64, 32]
    assert all(len(blocks) == 2 for blocks in [*unet.down, *unet.up])
    assert not unet.head.weight.any() and not unet.head.bias.any()  # the last convolution starts at zero
    assert unet.label_embedding is None and model.conditions == ()  # no classes learned yet
    rgb = resolve(spec.factory)(spec.config(channels=3, image_size=64))
    with torch.no_grad():
        out = rgb(torch.zeros(2, 3, 64, 64), torch.tensor([0, 999]))
    assert out.shape == (2, 3, 64, 64) and rgb.image_shape == (64, 64, 3)


# -- the schedule ----------------------------------------------------------------------------------------
def test_the_offset_cosine_schedule_runs_from_signal_rate_095_to_002():
    rates = signal_rates("offset-cosine", 1000)
    assert rates[0] == pytest.approx(0.95) and rates[-1] == pytest.approx(0.02)
    assert np.all(np.diff(rates) < 0)
    angles = np.arccos(rates)  # the angle grows evenly with the timestep
    assert np.allclose(np.diff(angles), (np.arccos(0.02) - np.arccos(0.95)) / 999)


def test_the_linear_schedule_is_ddpms_betas_from_1e4_to_002():
    assert np.allclose(betas_for(alphas_cumprod("linear", 1000)), np.linspace(1e-4, 0.02, 1000))


@pytest.mark.parametrize("schedule", ["offset-cosine", "linear"])
def test_diffusers_schedulers_reproduce_the_trained_alphas_cumprod(spec, schedule):
    model = resolve(spec.factory)(spec.config(**TINY, schedule=schedule))
    expected = alphas_cumprod(schedule, 1000)
    for name in ("DDIM", "DPM++ 2M", "Euler"):
        scheduler = make_scheduler(name, model)
        assert np.allclose(scheduler.alphas_cumprod.double().numpy(), expected, rtol=1e-5, atol=0), name
        images = model.eval().sample(1, seed=0, options=SampleOptions(steps=2, sampler=name))
        assert np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0


def test_a_fractional_timestep_is_told_the_noise_level_of_the_samplers_sigma(spec):
    model = resolve(spec.factory)(spec.config(**TINY))
    scheduler = make_scheduler("Euler Karras", model)
    scheduler.set_timesteps(7)
    timesteps, sigmas = scheduler.timesteps, scheduler.sigmas[:-1].double()
    assert (timesteps != timesteps.round()).any()  # Karras sigmas fall between the trained timesteps
    told = model.noise_variance(timesteps).double()
    assert torch.allclose(told, sigmas ** 2 / (1 + sigmas ** 2), rtol=1e-4)
    integers = torch.arange(0, 1000, 37)
    assert torch.allclose(model.noise_variance(integers), 1 - model.alphas_cumprod[integers], rtol=1e-5)


# -- the sampler menu --------------------------------------------------------------------------------------
def test_the_model_describes_its_sampling_to_the_canvas(model):
    info = sampler_info(model)
    assert isinstance(model, ImageSampler) and info.seed_per_image
    assert info.samplers[:3] == ("DDIM", "DDPM", "DPM++ 2M") and {"Euler", "Euler a", "Heun", "UniPC"} <= set(
        info.samplers)
    assert info.sampling_options == ("steps", "sampler", "guidance_scale", "init_image", "mask")
    assert info.conditions == ("label",) and info.class_names == tuple(str(d) for d in range(10))
    images = sample_images(model, 2, seed=0, options=SampleOptions(steps=2, sampler="Euler"))
    assert images.shape == (2, 16, 16, 1) and images.dtype == np.float32


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_gives_images_that_a_seed_repeats_image_by_image(model, sampler):
    grid = model.sample(3, seed=11, options=options(sampler=sampler))
    assert grid.shape == (3, 16, 16, 1) and grid.dtype == np.float32
    assert np.isfinite(grid).all() and grid.min() >= 0.0 and grid.max() <= 1.0
    assert np.array_equal(grid, model.sample(3, seed=11, options=options(sampler=sampler)))
    assert not np.array_equal(grid[0], grid[1])
    for i in range(3):  # any image of a grid comes back by itself
        assert np.array_equal(grid[i], model.sample(1, seed=11 + i, options=options(sampler=sampler))[0]), i


def test_ddpm_and_ddim_take_any_number_of_steps_and_differ(model):
    ddim = model.sample(2, seed=3, options=options(steps=7))
    ddpm = model.sample(2, seed=3, options=options(steps=7, sampler="DDPM"))
    assert not np.allclose(ddim, ddpm)  # DDPM adds fresh noise at every step
    assert model.sample(1, seed=3, options=options(steps=1)).shape == (1, 16, 16, 1)


def test_each_step_shows_the_predicted_images_and_a_cancel_stops_the_model_at_once(model):
    previews = []
    model.sample(2, seed=0, options=options(steps=5), on_step=lambda *args: previews.append(args))
    assert [(step, total) for step, total, _ in previews] == [(k, 5) for k in range(1, 6)]
    for step, _, preview in previews:
        assert isinstance(preview, StepPreview) and preview.shows == "prediction" and preview.step == step
        assert preview.images.shape == (2, 16, 16, 1) and preview.images.dtype == np.float32
        assert preview.images.min() >= 0.0 and preview.images.max() <= 1.0
    calls = []
    hook = model.register_forward_pre_hook(lambda *_: calls.append(1))

    def cancel_at_two(step, total, preview):
        if step == 2:
            raise Cancelled()

    try:
        with pytest.raises(Cancelled):
            model.sample(2, seed=0, options=options(steps=20, sampler="DPM++ 2M"), on_step=cancel_at_two)
    finally:
        hook.remove()
    assert len(calls) == 2  # one call of the network per step, none after the cancel


def test_guidance_changes_a_class_conditional_sample(model):
    plain = model.sample(2, seed=4, condition={"label": 3}, options=options(guidance_scale=1.0))
    guided = model.sample(2, seed=4, condition={"label": 3}, options=options(guidance_scale=4.0))
    other_class = model.sample(2, seed=4, condition={"label": 7}, options=options(guidance_scale=1.0))
    assert not np.allclose(plain, guided) and not np.allclose(plain, other_class)
    assert np.array_equal(guided, model.sample(2, seed=4, condition={"label": 3}, options=options(guidance_scale=4.0)))
    alone = model.sample(1, seed=5, condition={"label": 3}, options=options(guidance_scale=4.0))
    assert np.array_equal(guided[1], alone[0])  # guided, too, each image comes back by itself
    assert np.array_equal(plain, model.sample(2, seed=4, condition={"label": "3"}, options=options()))  # by name
    anything = model.sample(2, seed=4, options=options())  # no class asked for: the unconditional model
    assert np.array_equal(anything, model.sample(2, seed=4, condition={"label": None}, options=options(
        guidance_scale=4.0)))


def test_an_unconditional_model_offers_no_label_and_no_guidance(spec, digits):
    trainer = make_trainer(spec, digits, class_conditioning=False)
    model = trainer.ema
    assert model.conditions == () and model.class_names == () and "guidance_scale" not in model.sampling_options
    assert trainer.config.class_names == [] and model.unet.label_embedding is None
    with pytest.raises(ModelError, match="takes no conditions"):
        model.sample(1, seed=0, condition={"label": 1}, options=options())


# -- image-to-image and inpainting ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def picture(digits):
    return digits.validation.as_float()[0]


def test_strength_0_gives_the_init_image_back_and_more_strength_strays_further(model, picture):
    kept = model.sample(2, seed=1, options=options(init_image=picture, strength=0.0))
    assert np.array_equal(kept, np.stack([picture, picture]))  # no step runs: the image itself

    def distance(strength):
        steps = []
        images = model.sample(8, seed=1, options=options(steps=10, init_image=picture, strength=strength),
                              on_step=lambda step, total, _: steps.append(total))
        return np.abs(images - picture).mean(), steps[0]

    (near, half_steps), (far, all_steps) = distance(0.3), distance(1.0)
    assert (half_steps, all_steps) == (3, 10)  # strength 0.3 starts 30% of the way from the end
    assert near < far


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_starts_part_way_from_an_init_image_and_inpaints_exactly(model, picture, sampler):
    from_noise = model.sample(4, seed=2, options=options(sampler=sampler))
    from_picture = model.sample(4, seed=2, options=options(sampler=sampler, init_image=picture, strength=0.5))
    assert np.isfinite(from_picture).all() and from_picture.min() >= 0.0 and from_picture.max() <= 1.0
    assert np.abs(from_picture - picture).mean() < np.abs(from_noise - picture).mean()
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 2:9] = 1.0
    images = model.sample(3, seed=2, options=options(sampler=sampler, init_image=picture, mask=mask, strength=1.0))
    outside = mask == 0
    for image in images:
        assert np.array_equal(image[outside], picture[outside])
        assert not np.allclose(image[~outside], picture[~outside])  # the masked part is made anew
    assert not np.array_equal(images[0], images[1])


def test_mistakes_an_artist_can_make_are_explained(model, picture):
    cases = [
        (options(init_image=picture[:8]), "init image must be 16 x 16 x 1"),
        (options(mask=np.ones((16, 16), np.float32)), "give an init image too"),
        (options(init_image=picture, mask=np.ones((8, 8), np.float32)), "mask must be 16 x 16"),
        (options(init_image=picture, strength=1.5), "strength must be between 0"),
        (options(sampler="Karras Magic"), "Unknown sampler 'Karras Magic'"),
        (options(steps=0), "steps must be between 1 and 1000"),
    ]
    for given, message in cases:
        with pytest.raises(ModelError, match=message):
            model.sample(1, seed=0, options=given)
    with pytest.raises(ModelError, match="class number from 0 to 9"):
        model.sample(1, seed=0, condition={"label": 12}, options=options())
    with pytest.raises(ModelError, match="takes only label"):
        model.sample(1, seed=0, condition={"prompt": "a cat"}, options=options())


# -- training ------------------------------------------------------------------------------------------------
def test_the_trainer_learns_the_class_names_and_lowers_the_noise_loss(spec, digits):
    trainer = make_trainer(spec, digits)
    assert isinstance(trainer, Trainer) and trainer.config.class_names == [str(d) for d in range(10)]
    batch = trainer.make_batch(np.arange(64))

    def fixed_loss():
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(0)
            return float(trainer.noise_loss(trainer.model, *batch))

    before, validated = fixed_loss(), trainer.validate()["loss"]
    losses = [progress.losses["loss"] for progress in trainer.steps(0, 40)]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert fixed_loss() < 0.8 * before
    assert trainer.validate()["loss"] < 0.9 * validated  # the averaged weights, on held-out digits
    assert trainer.validate() == trainer.validate()  # a fixed seed: the same figure every time


def test_a_resumed_run_trains_exactly_as_one_that_never_stopped(spec, digits):
    straight = make_trainer(spec, digits)
    for _ in straight.steps(0, 6):
        pass
    first = make_trainer(spec, digits)
    for _ in first.steps(0, 3):
        pass
    saved = first.state()  # before the next trainer: torch's random state is the process's
    resumed = make_trainer(spec, digits)
    resumed.restore(saved)
    for _ in resumed.steps(3, 6):
        pass
    final, expected = resumed.state().tensors, straight.state().tensors
    assert set(final) == set(expected)
    for name in expected:
        if name.startswith(("model.", "trained.", "optim.")):
            assert torch.equal(final[name], expected[name]), name


def test_the_checkpoint_holds_the_averaged_weights_the_canvas_samples_from(spec, digits, tmp_path):
    from studio.core.plugins import PluginHost

    trainer = make_trainer(spec, digits)
    for _ in trainer.steps(0, 5):
        pass
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, "diffusion", trainer.config, 5, trainer.state())
    host = PluginHost()
    host.add(studio_builtins.diffusion, "diffusion")
    loaded = load_model(host.registry, "diffusion", path)
    assert loaded.class_names == trainer.ema.class_names
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, trainer.ema.state_dict()[name]), name
    assert not all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert np.array_equal(loaded.sample(2, seed=5, options=options()), trainer.ema.sample(2, seed=5, options=options()))


def test_a_checkpoint_of_weights_alone_starts_both_the_trained_and_the_averaged_weights(spec, digits, trained):
    from studio.core.capabilities import TrainState

    weights = {name: value for name, value in trained.state().tensors.items() if name.startswith("model.")}
    trainer = make_trainer(spec, digits)
    trainer.restore(TrainState(weights, {}))
    for name, value in trained.ema.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], value) and torch.equal(trainer.ema.state_dict()[name],
                                                                                      value)


def test_the_preview_is_one_grid_of_samples(trained):
    grid = trained.preview(seed=0)
    assert grid.ndim == 3 and grid.shape[2] == 1 and grid.shape[0] < grid.shape[1]  # 2 rows of 8
    assert grid.min() >= 0.0 and grid.max() <= 1.0


def test_training_further_on_other_classes_is_refused(spec, digits, trained):
    other = dataclasses.replace(trained.config, class_names=[f"class {k}" for k in range(10)])
    with pytest.raises(ModelError, match="draws the classes class 0, .*Train a new model"):
        resolve(spec.trainer)(other, digits, device="cpu", seed=0)


def test_the_trainer_refuses_data_it_cannot_train_on(spec, digits):
    from studio.core.data import DataSplit
    from studio.core.data.images import ImageSet

    with pytest.raises(ModelError, match="set up for"):
        make_trainer(spec, digits, image_size=32)
    empty = ImageSet(np.zeros((0, 16, 16, 1), np.uint8))
    with pytest.raises(ModelError, match="has no images"):
        make_trainer(spec, DataSplit(train=empty, validation=digits.validation, name="Nothing"))
    with pytest.raises(ModelError, match="trains on images"):
        make_trainer(spec, DataSplit(train="some text", validation="more", name="A text"))
