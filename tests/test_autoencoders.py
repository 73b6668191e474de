"""The chapter-3 autoencoders: discovery, the capability protocols, training, checkpoints, resuming.

Models train on scikit-learn's digits at 16x16 so each test takes seconds on a small CPU.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from studio.core.capabilities import ImageSampler, LatentCodec, ModelError, Trainer
from studio.core.checkpoint import load_model, save_checkpoint
from studio.core.data.images import load_digits
from studio.core.plugins import discover
from studio.core.specs import resolve

SMALL = {"image_size": 16, "batch_size": 32}


@pytest.fixture(scope="module")
def registry():
    return discover().registry


@pytest.fixture(scope="module")
def digits():
    return load_digits(size=16, channels=1).split(seed=0)


def make_trainer(registry, name, data, seed=0, **overrides):
    spec = registry.model(name)
    config = dataclasses.replace(spec.config(), **{**SMALL, **overrides})
    return resolve(spec.trainer)(config, data, device="cpu", seed=seed)


def test_discovery_registers_three_models_without_importing_torch():
    code = (
        "import sys; from studio.core.plugins import discover; r = discover().registry; "
        "assert 'torch' not in sys.modules, 'discovery imported torch'; "
        "print(sorted((n, s.family, s.config().kind, s.config().kl_weight) for n, s in r.models.items() "
        "if s.plugin == 'autoencoders'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([
        ("autoencoder", "autoencoder", "ae", 0.0), ("beta-vae", "vae", "vae", 4.0), ("vae", "vae", "vae", 1.0),
    ])


def test_spec_defaults_are_the_books(registry):
    ae, vae = registry.model("autoencoder"), registry.model("vae")
    assert ae.title == "Autoencoder" and vae.title == "Variational autoencoder"
    assert registry.model("beta-vae").title == "β-VAE"
    for spec in (ae, vae):
        assert set(spec.capabilities) == {"LatentCodec", "ImageSampler", "Trainer"} and spec.data_kind == "images"
    assert (ae.config().latent_dim, ae.config().image_size, ae.config().batch_size) == (2, 32, 100)
    assert (vae.config().reconstruction_weight, ae.config().reconstruction_weight) == (500.0, 1.0)


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
def test_codec_and_sampler_shapes_ranges_and_seeds(registry, name):
    spec = registry.model(name)
    model = resolve(spec.factory)(spec.config())
    assert isinstance(model, LatentCodec) and isinstance(model, ImageSampler)
    assert model.image_shape == (32, 32, 1) and model.latent_dim == 2 and model.conditions == ()
    images = np.random.default_rng(0).random((600, 32, 32, 1), dtype=np.float32)
    steps = []
    latents = model.encode(images, on_step=lambda step, total, _: steps.append((step, total)))
    assert latents.shape == (600, 2) and latents.dtype == np.float32
    assert steps == [(1, 2), (2, 2)]  # batched: 512 then 88
    decoded = model.decode(latents)
    assert decoded.shape == (600, 32, 32, 1) and decoded.dtype == np.float32
    assert 0.0 <= decoded.min() and decoded.max() <= 1.0
    assert np.array_equal(model.sample(5, seed=7), model.sample(5, seed=7))
    assert not np.array_equal(model.sample(5, seed=7), model.sample(5, seed=8))
    assert model.sample_prior(4, seed=1).shape == (4, 2)
    with pytest.raises(ModelError, match=r"encodes images shaped \(n, 32, 32, 1\)"):
        model.encode(np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ModelError, match=r"decodes latents shaped \(n, 2\)"):
        model.decode(np.zeros((1, 3), np.float32))
    with pytest.raises(ModelError, match="takes no conditions"):
        model.sample(1, seed=0, condition={"label": 3})


def test_bad_settings_are_model_errors(registry):
    spec = registry.model("vae")
    with pytest.raises(ModelError, match="multiple of 8"):
        resolve(spec.factory)(dataclasses.replace(spec.config(), image_size=28))


def test_training_lowers_the_vae_validation_loss(registry, digits):
    trainer = make_trainer(registry, "vae", digits)
    assert isinstance(trainer, Trainer)
    before = trainer.validate()
    assert set(before) == {"loss", "reconstruction", "kl", "bce"}
    assert trainer.validate() == before  # validation is repeatable and changes nothing
    progress = list(trainer.steps(0, 150))
    assert progress[-1].step == 150 and progress[-1].items == 32
    after = trainer.validate()
    assert after["loss"] < 0.8 * before["loss"] and after["bce"] < before["bce"] - 0.1
    assert after["kl"] > 0.1  # the encoder uses its latent space
    preview = trainer.preview(seed=0)
    assert preview.shape == (4 * 18 + 2, 8 * 18 + 2, 1) and 0.0 <= preview.min() and preview.max() <= 1.0


def test_the_autoencoder_trains_and_fits_its_prior_to_the_latents(registry, digits):
    trainer = make_trainer(registry, "autoencoder", digits)
    before = trainer.validate()
    assert set(before) == {"loss", "bce"}
    for _ in trainer.steps(0, 150):
        pass
    assert trainer.validate()["bce"] < before["bce"] - 0.1
    model = trainer.model
    latents = model.encode(digits.train.as_float())
    prior = model.sample_prior(5000, seed=0)
    spread = latents.std(axis=0)
    assert np.all(np.abs(prior.mean(axis=0) - latents.mean(axis=0)) < 0.5 * spread)
    assert np.all(np.abs(prior.std(axis=0) / spread - 1) < 0.5)


def test_checkpoint_round_trip_gives_the_same_images(registry, digits, tmp_path):
    trainer = make_trainer(registry, "autoencoder", digits)
    for _ in trainer.steps(0, 5):
        pass
    path = tmp_path / "ae.safetensors"
    save_checkpoint(path, "autoencoder", trainer.config, 5, trainer.state())
    loaded = load_model(registry, "autoencoder", path)
    latents = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    assert np.array_equal(loaded.decode(latents), trainer.model.decode(latents))
    assert np.array_equal(loaded.sample(4, seed=3), trainer.model.sample(4, seed=3))  # fitted prior saved too
    assert not loaded.training


def test_resume_continues_exactly_like_an_uninterrupted_run(registry, digits):
    def losses(progress):
        return [p.losses for p in progress]

    uninterrupted = losses(make_trainer(registry, "vae", digits, seed=5).steps(0, 6))
    first = make_trainer(registry, "vae", digits, seed=5)
    assert losses(first.steps(0, 3)) == uninterrupted[:3]
    state = first.state()
    resumed = make_trainer(registry, "vae", digits, seed=5)
    resumed.restore(state)
    assert losses(resumed.steps(3, 6)) == uninterrupted[3:]
