"""World Models' V: the paper's conv VAE on 64x64 frames of rollout episodes, trained on tiny fake
episodes (a square that moves with the action) written in the agreed npz format."""

import numpy as np
import pytest
import torch

from studio.core.capabilities import ImageSampler, LatentCodec, ModelError
from studio_builtins.world_models.config import WorldVAEConfig
from studio_builtins.world_models.rollouts import Episode, load_rollouts, save_episode
from studio_builtins.world_models.vision import FrameSampler, WorldVAE, WorldVAETrainer

TINY = dict(latent_dim=8, batch_size=8)


def square_frames(positions: np.ndarray) -> np.ndarray:
    """uint8 (T, 64, 64, 3): a red 12-pixel square at each (x, y) (0 to 52) on a ground whose colour
    follows it, so most pixels tell where it is."""
    frames = np.empty((len(positions), 64, 64, 3), np.uint8)
    for frame, (x, y) in zip(frames, positions.round().astype(int), strict=True):
        frame[:] = (60 + 2 * x, 60 + 2 * y, 120)
        frame[y:y + 12, x:x + 12] = (220, 30, 30)
    return frames


def write_rollouts(folder, episodes: int = 3, steps: int = 40, seed: int = 0):
    """``episodes`` episode files of a square pushed by smooth random actions: its next position (so the
    next frame) follows from this one and the action; the reward is the square's height."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(episodes):
        actions = np.zeros((steps, 3), np.float32)
        actions[:, :2] = np.clip(np.cumsum(rng.normal(0, 0.3, (steps, 2)), axis=0), -1, 1)
        actions[:, 2] = rng.uniform(0, 1, steps)
        positions = np.empty((steps, 2))
        positions[0] = rng.uniform(10, 42, 2)
        for t in range(1, steps):
            positions[t] = np.clip(positions[t - 1] + 3 * actions[t - 1, :2], 0, 52)
        dones = np.zeros(steps, bool)
        dones[-1] = True
        save_episode(folder / f"episode-{index:05d}.npz",
                     Episode(frames=square_frames(positions), actions=actions,
                             rewards=(positions[:, 1] / 52).astype(np.float32), dones=dones))
    return folder


@pytest.fixture
def rollouts(tmp_path):
    return load_rollouts(str(write_rollouts(tmp_path / "rollouts")))


def test_the_paper_vae_codes_64x64_frames_into_its_latent():
    torch.manual_seed(0)
    vae = WorldVAE(WorldVAEConfig())
    assert isinstance(vae, LatentCodec) and isinstance(vae, ImageSampler)
    frames = square_frames(np.array([[5.0, 5.0], [40.0, 30.0]])).astype(np.float32) / 255
    z = vae.encode(frames)
    assert z.shape == (2, 32)
    assert vae.decode(z).shape == (2, 64, 64, 3)
    assert vae.sample(3, seed=1).shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(vae.sample_prior(2, seed=4), vae.sample_prior(2, seed=4))
    with pytest.raises(ModelError, match="64x64"):
        WorldVAE(WorldVAEConfig(image_size=96))


def test_a_narrower_v_has_a_quarter_of_the_paper_s_weights_and_the_same_shapes():
    def weights(vae):
        return sum(p.numel() for p in vae.parameters())

    paper, narrow = WorldVAE(WorldVAEConfig()), WorldVAE(WorldVAEConfig(width=16))
    assert 0.2 < weights(narrow) / weights(paper) < 0.3
    frames = np.zeros((2, 64, 64, 3), np.float32)
    assert narrow.decode(narrow.encode(frames)).shape == (2, 64, 64, 3)
    with pytest.raises(ModelError, match="width"):
        WorldVAE(WorldVAEConfig(width=0))


def test_a_few_steps_lower_the_held_out_reconstruction_error(rollouts):
    trainer = WorldVAETrainer(WorldVAEConfig(**TINY), rollouts.split(seed=0), seed=0)
    before = trainer.validate()
    assert set(before) >= {"mse", "kl", "loss"}
    for progress in trainer.steps(0, 40):
        assert progress.items == 8
    after = trainer.validate()
    assert after["mse"] < 0.75 * before["mse"]
    assert trainer.preview(seed=0).shape[-1] == 3


def test_batches_follow_from_the_seed_and_step_and_only_a_group_is_held(tmp_path):
    split = load_rollouts(str(write_rollouts(tmp_path / "r", episodes=6, steps=20))).split(seed=0)
    paths, lengths = split.train.episodes, split.train.lengths
    sampler = FrameSampler(paths, lengths, batch_size=8, per_episode=0, in_memory=2, seed=3)
    again = FrameSampler(paths, lengths, batch_size=8, per_episode=0, in_memory=2, seed=3)
    np.testing.assert_array_equal(sampler.draw(7), again.draw(7))
    assert sampler.steps_per_group == 5  # two episodes of 20 frames, 8 a batch
    seen = set()
    for step in range(3 * sampler.steps_per_group):
        sampler.frames(sampler.draw(step))
        assert len(sampler._cache) <= 2
        seen.update(sampler.group(step).tolist())
    assert len(seen) == len(paths)  # each group serves its steps, then the next takes over
    short = FrameSampler(paths, lengths, batch_size=8, per_episode=4, in_memory=2, seed=3)
    assert short.steps_per_group == 1 and short.frames_per_epoch == 4 * len(paths)


def test_a_split_without_held_out_episodes_is_refused_with_a_reason(tmp_path):
    one = load_rollouts(str(write_rollouts(tmp_path / "one", episodes=1)))
    with pytest.raises(ModelError, match="held-out episodes"):
        WorldVAETrainer(WorldVAEConfig(**TINY), one.split(seed=0))
