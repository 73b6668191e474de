"""World Models' M: the MDN-RNN on V's latents of tiny fake episodes (a square pushed by the action, so
the next latent follows from this one and the action), its copy baseline, and its dream."""

import copy

import numpy as np
import pytest
import torch
from test_world_vae import write_rollouts

from studio.core.capabilities import Dream, DreamStep, ModelError, TrainState, WorldModel
from studio.core.checkpoint import load_model, read_checkpoint, save_checkpoint
from studio.core.plugins import discover
from studio_builtins.world_models.config import MDNRNNConfig, WorldVAEConfig
from studio_builtins.world_models.memory import MDNRNNTrainer
from studio_builtins.world_models.rollouts import load_rollouts, read_episode
from studio_builtins.world_models.vision import WorldVAE

TINY = dict(hidden=32, seq_len=16, batch_size=16, learning_rate=3e-3)
STEPS = 150


def whitened_vae(split):
    """An untrained V whose latents are shifted and scaled to zero mean and unit spread over the training
    frames: random features of the frame, nearly linear in the ground's colour, so in the square's place."""
    torch.manual_seed(0)
    vae = WorldVAE(WorldVAEConfig(latent_dim=8, width=8)).eval()
    frames = np.concatenate([read_episode(p).frames for p in split.train.episodes]).astype(np.float32) / 255
    z = vae.encode(frames)
    mean, std = torch.from_numpy(z.mean(0)), torch.from_numpy(z.std(0))
    with torch.no_grad():
        vae.z_mean.weight.div_(std[:, None])
        vae.z_mean.bias.sub_(mean).div_(std)
    return vae


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """M trained on a V's latents, and the rollouts it learnt."""
    rollouts = load_rollouts(str(write_rollouts(tmp_path_factory.mktemp("m") / "rollouts", episodes=5, steps=60)))
    split = rollouts.split(seed=0)
    vae = whitened_vae(split)
    trainer = MDNRNNTrainer(MDNRNNConfig(**TINY), split, seed=0, upstream={"world-vae": vae})
    before = trainer.validate()
    losses = [progress.losses["loss"] for progress in trainer.steps(0, STEPS)]
    trainer.model.eval()
    return dict(rollouts=rollouts, split=split, vae=vae, trainer=trainer, before=before,
                after=trainer.validate(), losses=losses)


def drive(dream, seed, actions, temperature, frame=None):
    dream.reset(seed=seed, frame=frame)
    return [dream.step(a, temperature=temperature) for a in actions]


def test_the_loss_falls_and_m_beats_copying_the_latent(trained):
    losses, before, after = trained["losses"], trained["before"], trained["after"]
    assert np.mean(losses[-15:]) < np.mean(losses[:15])
    assert after["mdn_nll"] < before["mdn_nll"]
    assert after["copy_baseline_nll"] == pytest.approx(before["copy_baseline_nll"])  # the same held-out steps
    assert after["mdn_nll"] < after["copy_baseline_nll"]
    assert set(after) >= {"loss", "reward_mse", "done_bce"}
    assert (trained["trainer"].config.latent_dim, trained["trainer"].config.vae_width) == (8, 8)  # taken from V


def test_a_dream_with_a_fixed_seed_and_temperature_is_reproducible(trained):
    model = trained["trainer"].model
    actions = np.random.default_rng(0).uniform([-1, 0, 0], [1, 1, 1], (10, 3)).astype(np.float32)
    first, again = drive(model.dream(), 5, actions, 1.0), drive(model.dream(), 5, actions, 1.0)
    assert isinstance(first[0], DreamStep) and first[0].frame.shape == (64, 64, 3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.frame, b.frame)
        assert (a.reward, a.done) == (b.reward, b.done)
    other = drive(model.dream(), 6, actions, 1.0)
    assert not np.array_equal(first[-1].frame, other[-1].frame)


def test_a_higher_temperature_gives_more_varied_dreams(trained):
    model = trained["trainer"].model
    frame = read_episode(trained["split"].validation.episodes[0]).frames[0]
    actions = np.tile(np.float32([0.3, 0.5, 0.0]), (6, 1))

    def spread(temperature):
        dream = model.dream()
        ends = []
        for seed in range(12):
            drive(dream, seed, actions, temperature, frame)
            ends.append(dream.z)
        return np.std(ends, axis=0).mean()

    assert spread(1.5) > 1.5 * spread(0.2)
    assert spread(0.0) == pytest.approx(0.0, abs=1e-6)


def test_two_dreams_of_one_model_keep_their_own_state(trained):
    model = trained["trainer"].model
    a, b = model.dream(), model.dream()
    a.reset(seed=1)
    b.reset(seed=2)
    z = a.z.copy()
    b.advance(np.float32([1, 1, 0]))
    np.testing.assert_array_equal(a.z, z)
    a.advance(np.float32([1, 1, 0]))
    assert a.h.shape == (32,) and np.abs(a.h).sum() > 0


def test_a_checkpoint_of_m_alone_is_a_world_model_that_dreams(trained, tmp_path):
    trainer = trained["trainer"]
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, "mdn-rnn", trainer.config, STEPS, trainer.state())
    assert any(name.startswith("model.vae.") for name in read_checkpoint(path).state.tensors)
    model = load_model(discover().registry, "mdn-rnn", path)  # no V checkpoint anywhere
    assert isinstance(model, WorldModel) and isinstance(model.dream(), Dream)
    assert model.frame_shape == (64, 64, 3) and tuple(model.action_shape) == (3,)
    assert tuple(model.action_low) == (-1, 0, 0) and tuple(model.action_high) == (1, 1, 1)
    actions = np.tile(np.float32([0.0, 1.0, 0.0]), (5, 1))
    mine, theirs = drive(trainer.model.dream(), 3, actions, 1.0), drive(model.dream(), 3, actions, 1.0)
    np.testing.assert_allclose(mine[-1].frame, theirs[-1].frame, atol=1e-5)


def test_a_dream_reset_from_a_real_frame_starts_at_its_encoding(trained):
    model, vae = trained["trainer"].model, trained["vae"]
    frame = read_episode(trained["split"].validation.episodes[0]).frames[10]
    dream = model.dream()
    first = dream.reset(seed=0, frame=frame)
    encoded = vae.encode(frame[None].astype(np.float32) / 255)
    np.testing.assert_allclose(dream.z, encoded[0], atol=1e-5)
    np.testing.assert_allclose(first, vae.decode(encoded)[0], atol=1e-5)
    dream.advance(np.float32([0.5, 0.5, 0.0]))
    h = dream.h.copy()
    after = read_episode(trained["split"].validation.episodes[0]).frames[11]
    dream.see(after)  # following a real rollout: the real next frame replaces the dreamt one, M remembers
    np.testing.assert_allclose(dream.z, vae.encode(after[None].astype(np.float32) / 255)[0], atol=1e-5)
    np.testing.assert_array_equal(dream.h, h)
    with pytest.raises(ModelError, match="frame"):
        dream.reset(seed=0, frame=np.zeros((96, 96, 3), np.uint8))
    with pytest.raises(ModelError, match="action"):
        dream.step(np.zeros(2, np.float32))
    assert dream.reset(seed=4).shape == (64, 64, 3)  # without a frame: a training episode's start


def test_a_resumed_m_trains_as_if_it_had_never_stopped(trained):
    split, vae = trained["split"], trained["vae"]
    first = MDNRNNTrainer(MDNRNNConfig(**TINY), split, seed=1, upstream={"world-vae": vae})
    for _ in first.steps(0, 3):
        pass
    saved = first.state()  # as a checkpoint file holds it: a copy, not the live tensors
    state = TrainState({name: tensor.clone() for name, tensor in saved.tensors.items()}, copy.deepcopy(saved.meta))
    ahead = [p.losses for p in first.steps(3, 5)]
    resumed = MDNRNNTrainer(MDNRNNConfig(**TINY), split, seed=1, upstream={"world-vae": vae})
    resumed.restore(state)
    assert [p.losses for p in resumed.steps(3, 5)] == ahead


def test_m_without_a_trained_v_says_how_to_name_one(trained):
    with pytest.raises(ModelError, match="--from world-vae="):
        MDNRNNTrainer(MDNRNNConfig(**TINY), trained["split"])


def test_the_preview_sets_real_frames_beside_the_dream(trained):
    picture = trained["trainer"].preview(seed=0)
    assert picture.ndim == 3 and picture.shape[-1] == 3
    torch.testing.assert_close(torch.from_numpy(picture), torch.from_numpy(trained["trainer"].preview(seed=0)))
