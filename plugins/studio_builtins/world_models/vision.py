"""V, the vision model of World Models: the paper's convolutional VAE on 64x64 RGB frames.

:class:`WorldVAE` is the chapter-3 :class:`~studio_builtins.autoencoders.model.Autoencoder` (its posterior
sampling, ``encode`` / ``decode`` / ``sample`` with numpy in and out) with Ha & Schmidhuber's layers in
place of the book's: four 4x4 stride-2 convolutions 32/64/128/256 down to 2x2x256, and four transposed
convolutions (5, 5, 6, 6) back up from a 1x1x1024 column. ``width`` scales every layer (the paper's is 32;
16 has a quarter of the weights, what the shipped starter uses). The chapter-3 layers cannot be set to these,
so the subclass builds its own and keeps the rest.

:class:`WorldVAETrainer` trains it on frames of the training episodes with the paper's loss: the summed
squared error of each frame plus the KL divergence, the KL held at least at ``kl_tolerance`` nats per
latent dimension ("free bits", as the paper's code does) so the latents do not collapse early. A rollouts
folder of thousands of episodes does not fit in memory, so batches come from a rotating group of
``episodes_in_memory`` episodes (see :class:`FrameSampler`).
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError
from studio.core.training import TorchTrainer
from studio_builtins.autoencoders.model import Autoencoder, Output
from studio_builtins.autoencoders.trainer import AutoencoderTrainer

#: The side of a stored frame; the layers are the paper's and fit this size only.
FRAME_SIZE = 64
#: Held-out frames validation looks at: evenly spread frames of evenly spread validation episodes.
VALIDATION_EPISODES = 50
VALIDATION_FRAMES_PER_EPISODE = 40


class WorldVAE(Autoencoder):
    """The paper's V; a LatentCodec (``encode`` gives the posterior mean) and an ImageSampler."""

    def __init__(self, config: Any) -> None:
        nn.Module.__init__(self)  # the parent's layers are the book's; these are the paper's
        if config.image_size != FRAME_SIZE:
            raise ModelError(f"World Models' V works on {FRAME_SIZE}x{FRAME_SIZE} frames (the rollouts' size), "
                             f"not {config.image_size}.")
        if config.width < 1:
            raise ModelError(f"V's width (channels of its first convolution) must be at least 1, not {config.width}.")
        if config.latent_dim < 1:
            raise ModelError(f"The latent space needs at least one dimension, not {config.latent_dim}.")
        self.config = config
        self.variational = True
        self.latent_dim = config.latent_dim
        self.image_shape = (FRAME_SIZE, FRAME_SIZE, 3)
        w = config.width
        self.flat = 32 * w  #: 2x2x(8 w) after the encoder; the decoder starts from a (32 w)x1x1 column
        layers: list[nn.Module] = []
        previous = 3
        for width in (w, 2 * w, 4 * w, 8 * w):
            layers += [nn.Conv2d(previous, width, 4, stride=2), nn.ReLU()]
            previous = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.z_mean = nn.Linear(self.flat, config.latent_dim)
        self.z_log_var = nn.Linear(self.flat, config.latent_dim)
        self.decoder_input = nn.Linear(config.latent_dim, self.flat)
        layers = []
        previous = self.flat
        for width, kernel in ((4 * w, 5), (2 * w, 5), (w, 6)):
            layers += [nn.ConvTranspose2d(previous, width, kernel, stride=2), nn.ReLU()]
            previous = width
        self.decoder = nn.Sequential(*layers, nn.ConvTranspose2d(previous, 3, 6, stride=2))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decoder_input(z).view(-1, self.flat, 1, 1))


def episodes_of(part: Any) -> tuple[list[Path], list[int]]:
    """The episode files of one part of a rollouts split and their steps (from the headers when the part
    does not carry them: a plain list of paths)."""
    from studio_builtins.world_models.rollouts import episode_steps

    paths = [Path(p) for p in getattr(part, "episodes", part)]
    lengths = list(getattr(part, "lengths", None) or [episode_steps(p) for p in paths])
    return paths, lengths


def read_frames(path: Path) -> np.ndarray:
    """An episode's frames, uint8 (T, 64, 64, 3) (the reader checks the shape)."""
    from studio_builtins.world_models.rollouts import read_episode

    return read_episode(path).frames


class FrameSampler:
    """Seeded, resumable batches of frames from many episodes, with a bounded number in memory.

    The episodes are read in a stream of seeded permutations (one per pass); the stream is cut into
    groups of ``in_memory`` episodes, and each group serves enough steps to show about
    ``per_episode`` frames of each of its episodes (all of them when 0), each step drawing its frames
    uniformly from the group with a generator seeded by (seed, step). So a batch depends only on the
    seed and the step, and only one group's episodes are held at once.
    """

    def __init__(self, paths: Sequence[Path], lengths: Sequence[int], *, batch_size: int, per_episode: int,
                 in_memory: int, seed: int) -> None:
        if not paths:
            raise ModelError("There are no training episodes: collect some rollouts first (studio dream collect).")
        self.paths = list(paths)
        self.lengths = np.asarray(lengths, np.int64)
        self.batch_size, self.seed = batch_size, seed
        self.group_size = max(1, min(in_memory, len(self.paths)))
        usable = np.minimum(self.lengths, per_episode) if per_episode > 0 else self.lengths
        #: frames one pass over the episodes shows (the trainer's epoch)
        self.frames_per_epoch = int(usable.sum())
        self.steps_per_group = max(1, math.ceil(self.group_size * usable.mean() / batch_size))
        self._offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def group(self, step: int) -> np.ndarray:
        """The episodes (indices) that serve ``step``."""
        n = len(self.paths)
        first = (step // self.steps_per_group) * self.group_size
        positions = range(first, first + self.group_size)
        return np.unique([_pass_order(self.seed, p // n, n)[p % n] for p in positions])

    def draw(self, step: int) -> np.ndarray:
        """Frame ids (into all frames of all episodes, in order) of ``step``'s batch."""
        episodes = self.group(step)
        lengths = self.lengths[episodes]
        picks = np.random.default_rng((self.seed, step)).integers(0, lengths.sum(), self.batch_size)
        owner = np.searchsorted(np.cumsum(lengths), picks, side="right")
        within = picks - np.concatenate([[0], np.cumsum(lengths)])[owner]
        return self._offsets[episodes[owner]] + within

    def frames(self, ids: np.ndarray) -> np.ndarray:
        """The frames of ``ids``, uint8 (n, 64, 64, 3), reading each episode once into a bounded cache."""
        episodes = np.searchsorted(self._offsets, ids, side="right") - 1
        out = np.empty((len(ids), FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        for episode in np.unique(episodes):
            rows = episodes == episode
            out[rows] = self._episode(int(episode))[ids[rows] - self._offsets[episode]]
        return out

    def _episode(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frames = read_frames(self.paths[index])
        if len(frames) != self.lengths[index]:
            raise ModelError(f"The episode {self.paths[index]} changed while training: it held "
                             f"{self.lengths[index]} frames and now holds {len(frames)}.")
        self._cache[index] = frames
        while len(self._cache) > self.group_size:
            self._cache.popitem(last=False)
        return frames


@functools.lru_cache(maxsize=4)
def _pass_order(seed: int, round_: int, n: int) -> np.ndarray:
    return np.random.default_rng((seed, round_)).permutation(n)


def held_out_frames(paths: Sequence[Path]) -> np.ndarray:
    """Evenly spread frames of evenly spread validation episodes, uint8 (n, 64, 64, 3)."""
    if not paths:
        raise ModelError("There are no held-out episodes to validate on: collect at least two episodes.")
    chosen = np.unique(np.linspace(0, len(paths) - 1, min(len(paths), VALIDATION_EPISODES)).round().astype(int))
    parts = []
    for index in chosen:
        frames = read_frames(paths[index])
        keep = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), VALIDATION_FRAMES_PER_EPISODE))
                         .round().astype(int))
        parts.append(frames[keep])
    return np.concatenate(parts)


class WorldVAETrainer(AutoencoderTrainer):
    """Trains :class:`WorldVAE` on a rollouts ``DataSplit``. Validation (and the preview's originals and
    reconstructions) use held-out frames of whole held-out episodes; ``mse`` is the per-pixel mean
    squared error of the reconstruction, ``kl`` the KL divergence summed over latent dimensions."""

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        if config.episodes_in_memory < 1:
            raise ModelError(f"episodes_in_memory must be at least 1, not {config.episodes_in_memory}.")
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.sampler = FrameSampler(*episodes_of(data.train), batch_size=config.batch_size,
                                    per_episode=config.frames_per_episode, in_memory=config.episodes_in_memory,
                                    seed=seed)
        self.validation_images = torch.from_numpy(held_out_frames(episodes_of(data.validation)[0]))
        TorchTrainer.__init__(self, config, data, device, seed)  # the parent's __init__ reads an image set

    def build_model(self) -> WorldVAE:
        return WorldVAE(self.config)

    def train_examples(self) -> int:
        return self.sampler.frames_per_epoch

    def batch_indices(self, step: int) -> np.ndarray:
        return self.sampler.draw(step)

    def make_batch(self, indices: np.ndarray) -> torch.Tensor:
        return self._to_model(torch.from_numpy(self.sampler.frames(indices)))

    def losses(self, x: torch.Tensor, out: Output) -> dict[str, torch.Tensor]:
        squared = (torch.sigmoid(out.logits) - x).square()
        reconstruction = squared.sum(dim=(1, 2, 3)).mean()
        kl = (-0.5 * (1 + out.z_log_var - out.z_mean.square() - out.z_log_var.exp())).sum(dim=1).mean()
        floor = self.config.kl_tolerance * self.config.latent_dim
        loss = reconstruction + self.config.kl_weight * torch.clamp(kl, min=floor)
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "mse": squared.mean()}
