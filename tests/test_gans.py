"""The chapter-4 GANs: specs, the networks at both sizes, sampling by seed and class, what training
does to each network's loss, the WGAN-GP's mixing weights, exact resume and checkpoints.

Tiny networks on scikit-learn's digits at 16x16, so the whole file takes seconds on a small CPU.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import studio_builtins.gans
from studio.core.capabilities import ImageSampler, ModelError, Trainer, TrainState, sampler_info
from studio.core.checkpoint import load_model, read_checkpoint, save_checkpoint
from studio.core.data.images import ImageSet
from studio.core.specs import resolve
from studio.testing import tiny_data
from studio_builtins.gans import losses
from studio_builtins.gans.model import IMAGES_PER_CALL

NAMES = ("dcgan", "wgan-gp", "cgan")
#: a learning rate that shows the direction of learning within a few steps
LR = 5e-3
STEPS = 10
#: tiny networks and batches; dropout off where a test compares losses of fixed batches in train mode
TINY = {"image_size": 16, "features": 4, "batch_size": 16}


@pytest.fixture(scope="module")
def registry():
    from studio.core.plugins import discover

    host = discover()
    if "dcgan" not in host.registry.models:  # until the plugin has its entry point
        host.add(studio_builtins.gans, "gans")
    return host.registry


@pytest.fixture(scope="module")
def digits():
    return tiny_data("images", size=16, channels=1)


def make_config(registry, name, **settings):
    spec = registry.model(name)
    return dataclasses.replace(spec.config(), **{**TINY, **settings})


def make_trainer(registry, name, data, seed=0, **settings):
    return resolve(registry.model(name).trainer)(make_config(registry, name, **settings), data, device="cpu",
                                                  seed=seed)


def test_the_plugin_loads_through_the_shipped_fixture_without_importing_torch(make_studio_host):
    specs = make_studio_host(studio_builtins.gans).registry
    for name in NAMES:
        spec = specs.model(name)
        assert spec.family == "gan" and spec.capabilities == ("ImageSampler", "Trainer")
        assert spec.data_kind == "images"
    code = ("import sys, studio_builtins.gans as g; from studio.core.plugins import PluginHost; "
            "h = PluginHost(); h.add(g, 'gans'); assert h.plugins['gans'].status == 'loaded'; "
            "assert sorted(h.registry.models) == ['cgan', 'dcgan', 'wgan-gp'], h.registry.models; "
            "assert 'torch' not in sys.modules, 'registering imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_defaults_are_the_books_at_fashion_mnist_size(registry):
    dcgan, wgan, cgan = (registry.model(name).config() for name in NAMES)
    assert (dcgan.image_size, dcgan.channels, dcgan.latent_dim, dcgan.label_noise) == (32, 1, 100, 0.1)
    assert (dcgan.learning_rate, dcgan.beta1, dcgan.beta2) == (2e-4, 0.5, 0.999)
    assert (wgan.critic_steps, wgan.gp_weight, wgan.learning_rate, wgan.beta1, wgan.beta2) == (3, 10.0, 2e-4, 0.5, 0.9)
    assert cgan.critic_steps == 3 and cgan.class_names == ()
    learned = {f.name for f in dataclasses.fields(cgan) if f.metadata.get("learned")}
    assert learned == {"class_names"}


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp"])
def test_the_networks_fit_fashion_mnist_and_an_artists_colour_folder(registry, name):
    factory = resolve(registry.model(name).factory)
    small = factory(registry.model(name).config())
    assert isinstance(small, ImageSampler) and small.image_shape == (32, 32, 1)
    info = sampler_info(small)
    assert (info.conditions, info.class_names, info.sampling_options, info.samplers) == ((), (), (), ())
    assert info.seed_per_image
    colour = factory(dataclasses.replace(registry.model(name).config(), image_size=64, channels=3))
    images = colour.sample(2, seed=0)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # at 64x64 the book's widths: 512 at 4x4 up to 64 at 32x32 in the generator, 64 to 512 in the critic
    widths = [m.out_channels for m in colour.generator if isinstance(m, torch.nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in colour.critic if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256, 512, 1]
    has_batch_norm = any(isinstance(m, torch.nn.BatchNorm2d) for m in colour.critic)
    assert has_batch_norm == (name == "dcgan")  # a WGAN-GP critic has none
    assert colour.criticise(torch.zeros(5, 3, 64, 64)).shape == (5,)


@pytest.mark.parametrize(("settings", "message"), [
    ({"image_size": 48}, "power of two, at least 16"),
    ({"image_size": 8}, "power of two, at least 16"),
    ({"channels": 2}, "1 \\(greyscale\\) or 3 \\(RGB\\) channels, not 2"),
    ({"dropout": 1.0}, "dropout is a fraction"),
])
def test_a_bad_setting_is_a_readable_model_error(registry, settings, message):
    for name in NAMES:
        config = make_config(registry, name, class_names=("a", "b"), **settings) if name == "cgan" else \
            make_config(registry, name, **settings)
        with pytest.raises(ModelError, match=message):
            resolve(registry.model(name).factory)(config)


def test_the_conditional_gan_needs_labelled_images(registry, digits):
    with pytest.raises(ModelError, match="has no classes yet"):
        resolve(registry.model("cgan").factory)(registry.model("cgan").config())
    unlabelled = dataclasses.replace(digits, train=ImageSet(digits.train.images, name="doodles"))
    with pytest.raises(ModelError, match="training images of .* have no labels.*sub-folder of images per class"):
        make_trainer(registry, "cgan", unlabelled)
    other = [f"digit {i}" for i in range(10)]
    with pytest.raises(ModelError, match="trained on the classes digit 0, .*; the data's are 0, 1"):
        make_trainer(registry, "cgan", digits, class_names=tuple(other))
    trainer = make_trainer(registry, "cgan", digits)
    assert trainer.config.class_names == tuple(str(d) for d in range(10))
    assert trainer.model.class_names == trainer.config.class_names and trainer.model.conditions == ("label",)


@pytest.mark.parametrize("name", NAMES)
def test_image_i_of_a_grid_comes_back_alone_from_seed_s_plus_i(registry, digits, name):
    trainer = make_trainer(registry, name, digits, learning_rate=LR)
    list(trainer.steps(0, 3))  # batch norm's running statistics are no longer the initial ones
    model = trainer.model
    condition = {"label": 1} if name == "cgan" else None
    steps = []
    grid = model.sample(IMAGES_PER_CALL + 3, seed=40, condition=condition,
                        on_step=lambda step, total, preview: steps.append((step, total, preview)))
    assert grid.shape == (IMAGES_PER_CALL + 3, 16, 16, 1) and steps == [(1, 2, None), (2, 2, None)]
    for i in (0, 1, 2, IMAGES_PER_CALL - 1, IMAGES_PER_CALL, IMAGES_PER_CALL + 2):
        assert np.array_equal(model.sample(1, seed=40 + i, condition=condition)[0], grid[i])
        assert np.array_equal(model.sample(3, seed=40 + i, condition=condition)[0], grid[i])
    assert not np.array_equal(grid[0], grid[1])
    assert model.training  # sampling used eval mode, and left the training model training
    assert model.sample(0, seed=0, condition=condition).shape == (0, 16, 16, 1)


def test_the_label_chooses_the_class(registry, digits):
    trainer = make_trainer(registry, "cgan", digits, learning_rate=LR)
    list(trainer.steps(0, STEPS))
    model = trainer.model
    zeros, sevens = model.sample(4, seed=3, condition={"label": 0}), model.sample(4, seed=3, condition={"label": 7})
    assert np.abs(zeros - sevens).mean() > 1e-3  # the same latents, another class: other images
    image = torch.from_numpy(zeros[:1]).permute(0, 3, 1, 2) * 2 - 1
    scores = [model.criticise(image, torch.tensor([label])).item() for label in (0, 7)]
    assert abs(scores[0] - scores[1]) > 1e-4  # the critic judges an image as one of its class
    assert np.array_equal(model.sample(4, seed=3, condition={"label": np.int64(7)}), sevens)
    mixed = model.sample(3, seed=3)  # no label: image i of seed s shows class (s + i) % 10
    assert np.array_equal(mixed[2], model.sample(1, seed=5, condition={"label": 5})[0])
    for bad in (10, -1, "7", True):
        with pytest.raises(ModelError, match="one of the 10 classes by number, 0 to 9 \\(0, 1, 2, .*, 9\\)"):
            model.sample(1, seed=0, condition={"label": bad})
    with pytest.raises(ModelError, match="class label only"):
        model.sample(1, seed=0, condition={"prompt": "boots"})
    plain = resolve(registry.model("dcgan").factory)(make_config(registry, "dcgan"))
    with pytest.raises(ModelError, match="The DCGAN takes no conditions"):
        plain.sample(1, seed=0, condition={"label": 0})


@pytest.mark.parametrize("name", NAMES)
def test_one_progress_per_generator_step_with_losses_the_jobs_dock_plots(registry, digits, name):
    trainer = make_trainer(registry, name, digits)
    assert isinstance(trainer, Trainer)
    progress = list(trainer.steps(0, 2))
    assert [p.step for p in progress] == [1, 2] and progress[-1].items == 16
    expected = {"d_loss", "g_loss", "d_real_acc", "d_fake_acc"} if name == "dcgan" else \
        {"critic_loss", "g_loss", "gradient_penalty", "wasserstein"}
    assert set(progress[-1].losses) == expected and all(np.isfinite(list(progress[-1].losses.values())))
    # Adam counts its updates: the critic took 3 per generator step (the DCGAN's discriminator 1)
    counts = {opt: int(next(iter(trainer.optimizers[opt].state.values()))["step"]) for opt in ("generator", "critic")}
    assert counts == {"generator": 2, "critic": 2 if name == "dcgan" else 6}
    validation = trainer.validate()
    held_out = {"d_loss", "g_loss", "d_real_acc", "d_fake_acc"} if name == "dcgan" else {"wasserstein", "g_loss"}
    assert set(validation) == held_out and trainer.validate() == validation
    preview = trainer.preview(seed=0)
    assert preview.shape == (2 * 18 + 2, 8 * 18 + 2, 1) and 0.0 <= preview.min() and preview.max() <= 1.0


def test_the_dcgan_labels_carry_the_books_noise(registry, digits, monkeypatch):
    from studio_builtins.gans import trainer as module

    targets = []
    honest = module.noisy_label_cross_entropy
    monkeypatch.setattr(module, "noisy_label_cross_entropy",
                        lambda logits, target: targets.append(target.detach().clone()) or honest(logits, target))
    trainer = make_trainer(registry, "dcgan", digits, batch_size=64)
    list(trainer.steps(0, 2))
    real, fake = torch.cat(targets[0::2]), torch.cat(targets[1::2])
    assert 1.0 <= real.min() and real.max() <= 1.1 and real.std() > 0.02  # 1 + 0.1 U(0, 1)
    assert -0.1 <= fake.min() and fake.max() <= 0.0 and fake.std() > 0.02  # 0 - 0.1 U(0, 1)
    # outside [0, 1] the cross-entropy of a logit has no minimum; clipped as Keras does, it stops at a bound
    huge = torch.tensor([1e4])
    assert losses.noisy_label_cross_entropy(huge, torch.tensor([1.1])) == \
        losses.noisy_label_cross_entropy(2 * huge, torch.tensor([1.1]))


def test_the_penalty_is_taken_between_each_real_image_and_its_fake(monkeypatch):
    class Quadratic:  # critic(x) = ½‖x‖², whose gradient at x is x itself
        def criticise(self, images, labels=None):
            return 0.5 * images.flatten(1).square().sum(dim=1)

    real, fake = torch.rand(4, 1, 3, 3), torch.rand(4, 1, 3, 3) + 1.0
    epsilon = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(4, 1, 1, 1)
    monkeypatch.setattr(losses, "mixing_weights", lambda n, device: epsilon)
    mixed = real + epsilon * (fake - real)
    expected = (mixed.flatten(1).norm(dim=1) - 1.0).square().mean()
    assert torch.allclose(losses.gradient_penalty(Quadratic(), real, fake), expected)


def test_the_mixing_weights_are_uniform_on_0_1_one_per_image(registry, digits, monkeypatch):
    drawn = []
    honest = losses.mixing_weights
    monkeypatch.setattr(losses, "mixing_weights", lambda n, device: drawn.append(honest(n, device)) or drawn[-1])
    trainer = make_trainer(registry, "wgan-gp", digits, batch_size=64)
    list(trainer.steps(0, 10))
    assert len(drawn) == 30 and all(e.shape == (64, 1, 1, 1) for e in drawn)  # 3 critic steps of 10
    epsilon = torch.cat(drawn).flatten().numpy().astype(np.float64)
    assert 0.0 <= epsilon.min() and epsilon.max() < 1.0
    assert abs(epsilon.mean() - 0.5) < 0.03 and abs(epsilon.var() - 1 / 12) < 0.01
    assert stats.kstest(epsilon, "uniform").pvalue > 1e-3


def _frozen(trainer, network):
    for group in trainer.optimizers[network].param_groups:
        group["lr"] = 0.0


@pytest.mark.parametrize("name", NAMES)
def test_each_network_learns_against_the_other_held_still(registry, digits, name):
    """First the generator is held still (learning rate 0): the critic's (or discriminator's) loss on a fixed
    real batch and a fixed batch of fakes falls. Then the critic is held still: the generator's loss on
    fixed latents falls. Losses are measured in train mode (as training sees them) without dropout."""
    trainer = make_trainer(registry, name, digits, dropout=0.0, batch_size=32, learning_rate=LR)
    model = trainer.model
    batch = trainer.make_batch(np.arange(32))
    real, labels = batch.images, batch.labels
    latents = torch.from_numpy(model.latents(range(32)))
    with torch.no_grad():
        fake = model.generate(latents, labels)

    critic_losses = []  # the Wasserstein estimates of the WGANs' critic losses

    def critic_loss():
        with torch.random.fork_rng():
            torch.manual_seed(0)  # the same mixing weights every time
            real_scores, fake_scores = model.criticise(real, labels), model.criticise(fake, labels)
            if name == "dcgan":
                return ((F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                         + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))) / 2).item()
            wasserstein = real_scores.mean() - fake_scores.mean()
            critic_losses.append(wasserstein.item())
            return (10.0 * losses.gradient_penalty(model, real, fake, labels) - wasserstein).item()

    def generator_loss():
        with torch.no_grad():
            scores = model.criticise(model.generate(latents, labels), labels)
            if name == "dcgan":
                return F.binary_cross_entropy_with_logits(scores, torch.ones_like(scores)).item()
            return -scores.mean().item()

    generator = [p.detach().clone() for p in model.generator.parameters()]
    _frozen(trainer, "generator")
    before = critic_loss()
    list(trainer.steps(0, STEPS))
    after = critic_loss()
    assert all(torch.equal(a, b) for a, b in zip(generator, model.generator.parameters(), strict=True))
    assert after < before - (0.2 if name == "dcgan" else 5.0), (before, after)
    if name != "dcgan":  # not the penalty alone: the critic tells the real images from the fakes better
        assert critic_losses[1] > critic_losses[0] + 1.0, critic_losses

    for group in trainer.optimizers["generator"].param_groups:
        group["lr"] = trainer.config.learning_rate
    _frozen(trainer, "critic")
    critic = [p.detach().clone() for p in model.critic.parameters()]
    before = generator_loss()
    list(trainer.steps(STEPS, 2 * STEPS))
    after = generator_loss()
    assert all(torch.equal(a, b) for a, b in zip(critic, model.critic.parameters(), strict=True))
    assert after < before - 0.3, (before, after)


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("name", NAMES)
def test_resume_through_a_checkpoint_continues_exactly(registry, digits, name, tmp_path):
    straight = make_trainer(registry, name, digits, seed=7)
    uninterrupted = [p.losses for p in straight.steps(0, 6)]

    first = make_trainer(registry, name, digits, seed=7)
    assert [p.losses for p in first.steps(0, 3)] == uninterrupted[:3]
    first.validate()  # a checkpoint validates: that must not move the training random stream
    first.preview(seed=3)
    path = tmp_path / "gan.safetensors"
    save_checkpoint(path, name, first.config, 3, first.state())  # before the next trainer seeds torch
    state = read_checkpoint(path).state
    names = set(state.tensors)
    assert {"optim.generator.0.exp_avg", "optim.critic.0.exp_avg_sq"} <= names
    assert not any(k.split(".")[1].isdigit() for k in names if k.startswith("optim."))
    assert set(state.meta) == {"optimizers"} and set(state.meta["optimizers"]) == {"generator", "critic"}

    resumed = make_trainer(registry, name, digits, seed=7)
    resumed.restore(state)
    assert [p.losses for p in resumed.steps(3, 6)] == uninterrupted[3:]
    expected = _weights(straight)
    assert all(torch.equal(expected[k], v) for k, v in resumed.model.state_dict().items())


def test_a_starter_of_weights_alone_trains_further_with_new_optimizers(registry, digits):
    trainer = make_trainer(registry, "wgan-gp", digits)
    list(trainer.steps(0, 2))
    weights = {k: v for k, v in trainer.state().tensors.items() if k.startswith("model.")}
    further = make_trainer(registry, "wgan-gp", digits, seed=1)
    further.restore(TrainState(weights, {}))
    assert all(not optimizer.state for optimizer in further.optimizers.values())
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in further.model.state_dict().items())
    assert np.isfinite(next(iter(further.steps(2, 3))).losses["g_loss"])


def test_the_studio_samples_a_checkpoint_as_the_trainer_did(registry, digits, tmp_path):
    trainer = make_trainer(registry, "cgan", digits)
    list(trainer.steps(0, 3))
    path = tmp_path / "cgan.safetensors"
    save_checkpoint(path, "cgan", trainer.config, 3, trainer.state())
    loaded = load_model(registry, "cgan", path)
    assert not loaded.training and loaded.class_names == tuple(str(d) for d in range(10))
    assert np.array_equal(loaded.sample(4, seed=9, condition={"label": 7}),
                          trainer.model.sample(4, seed=9, condition={"label": 7}))
