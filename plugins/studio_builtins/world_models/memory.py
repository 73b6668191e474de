"""M, the memory of World Models: an MDN-RNN over V's latents, and the world model it makes with V.

:class:`MDNRNN` is an LSTM on [z_t, a_t] whose hidden state feeds a mixture density head: for each
latent dimension of z_{t+1}, ``gaussians`` Gaussians (log pi, mu, log sigma), as the paper's code has it,
plus a reward head (squared error) and a done head (binary cross-entropy). It holds V as its ``vae``
submodule, so its checkpoint carries V's weights (tensors ``model.vae.*``) and the loaded model dreams
frames by itself: it is the studio's ``WorldModel``.

:class:`MDNRNNTrainer` encodes every episode's frames once with the trained V (the posterior mean, not a
sample: the targets are then fixed and the copy baseline is measured on the same latents) and trains on
windows of ``seq_len`` steps starting anywhere in an episode. Validation reports the held-out NLL of
the next latent (``mdn_nll``, nats per latent dimension and step) beside ``copy_baseline_nll``: a
Gaussian centred on z_t with the per-dimension standard deviation of the training latents' steps, on
the same held-out steps. M is worth its weights when it is the lower.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.core.capabilities import ModelError
from studio.core.imaging import make_grid
from studio.core.training import TorchTrainer
from studio_builtins.world_models.config import WorldVAEConfig
from studio_builtins.world_models.dream import LatentDream
from studio_builtins.world_models.rollouts import ACTION_HIGH, ACTION_LOW, read_episode
from studio_builtins.world_models.vision import FRAME_SIZE, WorldVAE, episodes_of

ACTION_DIM = 3
#: Latents of the first frames of training episodes kept in the model, where a dream without a real
#: frame starts.
START_LATENTS = 32
#: Held-out windows a validation pass looks at, at most, and how many go through the LSTM at once.
VALIDATION_WINDOWS = 1024
VALIDATION_BATCH = 64
_LOG_2PI = math.log(2 * math.pi)
PREVIEW_STEPS = 8


class Mixture(NamedTuple):
    """M's prediction for one or more steps: the next latent's mixture, the reward, the end."""

    log_pi: torch.Tensor  #: (..., latent, gaussians) log mixture weights (normalised)
    mu: torch.Tensor  #: (..., latent, gaussians)
    log_sigma: torch.Tensor  #: (..., latent, gaussians)
    reward: torch.Tensor  #: (...)
    done_logit: torch.Tensor  #: (...) above 0: the episode ends


class MDNRNN(nn.Module):
    """M with V inside; a ``WorldModel`` whose :meth:`dream` decodes frames with V."""

    frame_shape = (FRAME_SIZE, FRAME_SIZE, 3)
    action_shape = (ACTION_DIM,)
    action_low = ACTION_LOW
    action_high = ACTION_HIGH

    def __init__(self, config: Any) -> None:
        super().__init__()
        for name in ("hidden", "gaussians", "latent_dim"):
            if getattr(config, name) < 1:
                raise ModelError(f"The MDN-RNN's {name} must be at least 1, not {getattr(config, name)}.")
        if not config.temperature >= 0:
            raise ModelError(f"The temperature must be 0 or more, not {config.temperature}.")
        self.config = config
        self.latent_dim, self.hidden_size, self.gaussians = config.latent_dim, config.hidden, config.gaussians
        self.vae = WorldVAE(WorldVAEConfig(latent_dim=config.latent_dim, width=config.vae_width))
        self.lstm = nn.LSTM(config.latent_dim + ACTION_DIM, config.hidden, batch_first=True)
        self.mdn = nn.Linear(config.hidden, 3 * config.latent_dim * config.gaussians + 2)
        self.register_buffer("start_latents", torch.zeros(START_LATENTS, config.latent_dim))

    def heads(self, hidden: torch.Tensor) -> Mixture:
        """The heads on LSTM outputs ``(..., hidden)``."""
        out = self.mdn(hidden)
        size = self.latent_dim * self.gaussians
        shape = (*hidden.shape[:-1], self.latent_dim, self.gaussians)
        log_pi = F.log_softmax(out[..., :size].reshape(shape), dim=-1)
        mu = out[..., size:2 * size].reshape(shape)
        log_sigma = out[..., 2 * size:3 * size].reshape(shape)
        return Mixture(log_pi, mu, log_sigma, out[..., -2], out[..., -1])

    def forward(self, z: torch.Tensor, actions: torch.Tensor) -> Mixture:
        """Predictions for sequences ``z`` (n, T, latent) under ``actions`` (n, T, 3), from a fresh memory."""
        out, _ = self.lstm(torch.cat([z, actions], dim=-1))
        return self.heads(out)

    def dream(self) -> LatentDream:
        return LatentDream(self)

    def environment(self) -> Any:
        """The real CarRacing M was learnt from (the contract's optional ``WorldModel.environment``)."""
        from studio_builtins.world_models.environment import CarRacing

        return CarRacing()


def mixture_nll(mixture: Mixture, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of ``target`` (..., latent) per latent dimension, (..., latent)."""
    t = target.unsqueeze(-1)
    log_prob = -0.5 * ((t - mixture.mu) * torch.exp(-mixture.log_sigma)).square() - mixture.log_sigma - 0.5 * _LOG_2PI
    return -torch.logsumexp(mixture.log_pi + log_prob, dim=-1)


def gaussian_nll(target: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood under independent Gaussians, per dimension."""
    return 0.5 * ((target - mean) / std).square() + torch.log(std) + 0.5 * _LOG_2PI


class Latents:
    """Episodes as V sees them, end to end: latents, actions, rewards and dones of every step, and the
    windows (start, length) that batches are cut from."""

    def __init__(self, vae: WorldVAE, paths: Sequence[Path], seq_len: int) -> None:
        parts = [_encoded(vae, path) for path in paths]
        self.z = np.concatenate([p[0] for p in parts])
        self.actions = np.concatenate([p[1] for p in parts])
        self.rewards = np.concatenate([p[2] for p in parts])
        self.dones = np.concatenate([p[3] for p in parts]).astype(np.float32)
        lengths = np.asarray([len(p[0]) for p in parts])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])  #: each episode's first step
        self.ends = self.starts + lengths
        self.seq_len = seq_len
        #: the first latent of each episode
        self.first = self.z[self.starts]

    def every_window(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, length) of a window starting at each step: the training examples."""
        owner = np.repeat(np.arange(len(self.starts)), self.ends - self.starts)
        begin = np.arange(len(self.z))
        return begin, np.minimum(self.seq_len, self.ends[owner] - begin)

    def tiling_windows(self, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, length) of windows tiling every episode, at most ``limit`` evenly spread: validation's."""
        begin = np.concatenate([np.arange(s, e, self.seq_len) for s, e in zip(self.starts, self.ends, strict=True)])
        keep = np.unique(np.linspace(0, len(begin) - 1, min(limit, len(begin))).round().astype(int))
        begin = begin[keep]
        owner = np.searchsorted(self.ends, begin, side="right")
        return begin, np.minimum(self.seq_len, self.ends[owner] - begin)

    def step_std(self) -> np.ndarray:
        """Per-dimension standard deviation of z_{t+1} - z_t within episodes (the copy baseline's)."""
        inside = np.ones(len(self.z), bool)
        inside[self.ends - 1] = False
        steps = self.z[1:][inside[:-1]] - self.z[:-1][inside[:-1]]
        if not len(steps):
            raise ModelError("The training episodes are one step long: M needs episodes of two steps or more.")
        return np.maximum(steps.std(axis=0), 1e-4).astype(np.float32)

    def batch(self, begin: np.ndarray, length: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
        """Padded windows: ``z``, ``actions``, ``next_z``, ``rewards``, ``dones``, ``step_mask`` (a real
        step) and ``next_mask`` (a real step whose next frame is in the episode)."""
        offsets = np.arange(self.seq_len)
        step_mask = offsets[None] < length[:, None]
        index = np.minimum(begin[:, None] + offsets[None], len(self.z) - 1)
        owner = np.searchsorted(self.ends, begin, side="right")
        next_mask = step_mask & (index + 1 < self.ends[owner][:, None])
        following = np.minimum(index + 1, len(self.z) - 1)
        arrays = dict(z=self.z[index], actions=self.actions[index], next_z=self.z[following],
                      rewards=self.rewards[index], dones=self.dones[index],
                      step_mask=step_mask.astype(np.float32), next_mask=next_mask.astype(np.float32))
        return {name: torch.from_numpy(np.ascontiguousarray(a)).to(device) for name, a in arrays.items()}


def _encoded(vae: WorldVAE, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    episode = read_episode(path)
    return (vae.encode(episode.frames.astype(np.float32) / 255.0), episode.actions, episode.rewards,
            episode.dones)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


class MDNRNNTrainer(TorchTrainer):
    """Trains :class:`MDNRNN` on V's latents of a rollouts ``DataSplit``; ``upstream["world-vae"]`` is
    the trained V, copied into the model and kept frozen."""

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0,
                 upstream: Optional[Mapping[str, Any]] = None) -> None:
        vae = (upstream or {}).get("world-vae")
        if vae is None:
            raise ModelError("M learns V's latents: train world-vae first and name it with --from world-vae=RUN.")
        if config.seq_len < 1:
            raise ModelError(f"seq_len must be at least 1, not {config.seq_len}.")
        config = dataclasses.replace(config, latent_dim=vae.latent_dim, vae_width=vae.config.width)
        self.batch_size, self.learning_rate, self.vae = config.batch_size, config.learning_rate, vae
        train_paths, validation_paths = episodes_of(data.train)[0], episodes_of(data.validation)[0]
        if not train_paths or not validation_paths:
            raise ModelError("M needs training and held-out episodes: collect at least two episodes.")
        self.train_set = Latents(vae, train_paths, config.seq_len)
        self.validation_set = Latents(vae, validation_paths, config.seq_len)
        self.validation_paths = validation_paths
        self.windows = self.train_set.every_window()
        self.validation_windows = self.validation_set.tiling_windows(VALIDATION_WINDOWS)
        self.step_std = torch.from_numpy(self.train_set.step_std())
        super().__init__(config, data, device, seed)
        self.step_std = self.step_std.to(self.device)

    def build_model(self) -> MDNRNN:
        model = MDNRNN(self.config)
        model.vae.load_state_dict(self.vae.state_dict())
        model.vae.requires_grad_(False)
        first = self.train_set.first
        model.start_latents.copy_(torch.from_numpy(first[np.arange(START_LATENTS) % len(first)]))
        return model

    def build_optimizer(self) -> torch.optim.Optimizer:
        trained = [p for name, p in self.model.named_parameters() if not name.startswith("vae.")]
        return torch.optim.Adam(trained, lr=self.learning_rate)

    def train_examples(self) -> int:
        return len(self.windows[0])

    def make_batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        return self.train_set.batch(self.windows[0][indices], self.windows[1][indices], self.device)

    def losses(self, batch: dict[str, torch.Tensor], mixture: Mixture) -> dict[str, torch.Tensor]:
        nll = _masked_mean(mixture_nll(mixture, batch["next_z"]).mean(-1), batch["next_mask"])
        reward = _masked_mean((mixture.reward - batch["rewards"]).square(), batch["step_mask"])
        done = _masked_mean(F.binary_cross_entropy_with_logits(mixture.done_logit, batch["dones"], reduction="none"),
                            batch["step_mask"])
        loss = nll + self.config.reward_weight * reward + self.config.done_weight * done
        return {"loss": loss, "mdn_nll": nll, "reward_mse": reward, "done_bce": done}

    def train_step(self, batch: dict[str, torch.Tensor]) -> Mapping[str, float]:
        losses = self.losses(batch, self.train_module(batch["z"], batch["actions"]))
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    def validation_losses(self) -> Mapping[str, float]:
        """Losses on windows tiling the held-out episodes, each name weighted by the steps it counts."""
        begin, length = self.validation_windows
        totals: dict[str, float] = {}
        weights: dict[str, float] = {}
        for start in range(0, len(begin), VALIDATION_BATCH):
            batch = self.validation_set.batch(begin[start:start + VALIDATION_BATCH],
                                              length[start:start + VALIDATION_BATCH], self.device)
            losses = self.losses(batch, self.model(batch["z"], batch["actions"]))
            copy = gaussian_nll(batch["next_z"], batch["z"], self.step_std).mean(-1)
            losses["copy_baseline_nll"] = _masked_mean(copy, batch["next_mask"])
            for name, value in losses.items():
                mask = batch["step_mask"] if name in ("reward_mse", "done_bce") else batch["next_mask"]
                weight = float(mask.sum()) if name != "loss" else float(batch["step_mask"].sum())
                totals[name] = totals.get(name, 0.0) + float(value) * weight
                weights[name] = weights.get(name, 0.0) + weight
        return {name: totals[name] / max(weights[name], 1.0) for name in totals}

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """Two rows: frames from the middle of a held-out episode (past CarRacing's opening zoom), and M's
        dream from the first of them under the same actions."""
        episode = read_episode(self.validation_paths[0])
        start = max(0, (len(episode) - PREVIEW_STEPS) // 2)
        real = episode.frames[start:start + PREVIEW_STEPS].astype(np.float32) / 255.0
        dream = self.model.dream()
        frames = [dream.reset(seed=seed, frame=real[0])]
        for action in episode.actions[start:start + len(real) - 1]:
            frames.append(dream.step(action).frame)
        return make_grid(np.concatenate([real, np.stack(frames)]), len(real))
