"""A dream inside M: the MDN-RNN's own (z, h, c) state, stepped one action at a time.

Each step runs one LSTM step on [z, a], samples the next z from the mixture at temperature tau with the
dream's own seeded generator (numpy, so a seed dreams the same on every device), and decodes it with V.
The controller does not need frames: :meth:`LatentDream.advance` steps without decoding, and
:attr:`LatentDream.z` and :attr:`LatentDream.h` are what it reads. :meth:`LatentDream.see` puts a real frame
in place of the dreamt one, so the same object follows a real rollout; :meth:`LatentDream.observe` (the
``Dream`` protocol's name for it) also returns V's reconstruction of that frame.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from studio.core.capabilities import DreamStep, ModelError


class LatentDream:
    """One dream of an :class:`~studio_builtins.world_models.memory.MDNRNN` (the ``Dream`` protocol);
    it shares the model's weights, never its state, with other dreams."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._device = next(model.parameters()).device
        self._low = np.asarray(model.action_low, np.float32)
        self._high = np.asarray(model.action_high, np.float32)
        self._rng = np.random.default_rng(0)
        self._z = torch.zeros(1, 1, model.latent_dim, device=self._device)
        shape = (1, 1, model.hidden_size)
        self._state = (torch.zeros(shape, device=self._device), torch.zeros(shape, device=self._device))

    @property
    def z(self) -> np.ndarray:
        """The latent of the current frame, float32 (latent_dim,)."""
        return self._z[0, 0].cpu().numpy()

    @property
    def h(self) -> np.ndarray:
        """The LSTM's hidden state after the last step, float32 (hidden,): M's memory of the past."""
        return self._state[0][0, 0].cpu().numpy()

    def reset(self, *, seed: int, frame: Optional[np.ndarray] = None) -> np.ndarray:
        """Start again with a fresh memory: from a real frame ((64, 64, 3), uint8 or float in [0, 1]),
        encoded with V; without one, from the start of one of the training episodes chosen with ``seed``
        (a prior draw for an untrained model). Returns the first frame, decoded from z."""
        self._rng = np.random.default_rng(seed)
        self._state = tuple(torch.zeros_like(s) for s in self._state)
        if frame is not None:
            self.see(frame)
        else:
            starts = self.model.start_latents.cpu().numpy()
            z = starts[self._rng.integers(len(starts))] if starts.any() else \
                self._rng.standard_normal(self.model.latent_dim).astype(np.float32)
            self._z = torch.as_tensor(z, device=self._device).view(1, 1, -1)
        return self.frame()

    @torch.no_grad()
    def advance(self, action: np.ndarray, *, temperature: Optional[float] = None) -> tuple[float, bool]:
        """One step without decoding: the predicted reward and whether the episode ends (the done head
        gives it better than even odds). ``action`` is clipped to the action bounds; ``temperature``
        defaults to the model's tau."""
        tau = self.model.config.temperature if temperature is None else float(temperature)
        if not tau >= 0:
            raise ModelError(f"The dream's temperature must be 0 or more, not {temperature}.")
        action = np.asarray(action, np.float32)
        if action.shape != tuple(self.model.action_shape):
            raise ModelError(f"An action is {self.model.action_shape} (steering, gas, brake), not {action.shape}.")
        a = torch.from_numpy(np.clip(action, self._low, self._high)).to(self._device).view(1, 1, -1)
        out, self._state = self.model.lstm(torch.cat([self._z, a], dim=-1), self._state)
        mixture = self.model.heads(out[0, 0])
        z = sample_mixture(mixture.log_pi.cpu().numpy(), mixture.mu.cpu().numpy(),
                           mixture.log_sigma.cpu().numpy(), tau, self._rng)
        self._z = torch.from_numpy(z).to(self._device).view(1, 1, -1)
        return float(mixture.reward), bool(mixture.done_logit > 0)

    def see(self, frame: np.ndarray) -> None:
        """Follow the real environment: z becomes V's encoding of ``frame`` (what the car saw next), M's
        memory stays. :meth:`advance` then :meth:`see` is M observing a real rollout; :meth:`frame`
        between them shows what M predicted instead."""
        z = self.model.vae.encode(self._frame_batch(frame))[0]
        self._z = torch.as_tensor(z, device=self._device).view(1, 1, -1)

    def observe(self, frame: np.ndarray) -> np.ndarray:
        """The contract's ``Dream.observe``: :meth:`see` ``frame``, then V's reconstruction of it (:meth:`frame`)."""
        self.see(frame)
        return self.frame()

    def step(self, action: np.ndarray, *, temperature: Optional[float] = None) -> DreamStep:
        """One step and the frame it dreams."""
        reward, done = self.advance(action, temperature=temperature)
        return DreamStep(self.frame(), reward, done)

    def frame(self) -> np.ndarray:
        """The current latent decoded, float32 (64, 64, 3) in [0, 1]."""
        with torch.no_grad():
            return torch.sigmoid(self.model.vae.decode_logits(self._z[0]))[0].permute(1, 2, 0).cpu().numpy()

    def _frame_batch(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.shape != tuple(self.model.frame_shape):
            raise ModelError(f"A dream starts from a {self.model.frame_shape} frame (a rollout's), not {frame.shape}.")
        scaled = frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)
        return scaled[None]


def sample_mixture(log_pi: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, tau: float,
                   rng: np.random.Generator) -> np.ndarray:
    """A next latent from a mixture per dimension ((latent, gaussians) each), at temperature ``tau`` as in
    the paper: the mixture weights' logits divided by tau, each sigma times sqrt(tau). At tau 0: the
    mean of each dimension's likeliest component."""
    rows = np.arange(len(mu))
    if tau == 0:
        pick = log_pi.argmax(axis=1)
        return mu[rows, pick].astype(np.float32)
    logits = log_pi / tau
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    pick = np.minimum((cumulative < rng.random((len(mu), 1))).sum(axis=1), mu.shape[1] - 1)
    sigma = np.exp(log_sigma[rows, pick]) * np.sqrt(tau)
    return (mu[rows, pick] + sigma * rng.standard_normal(len(mu))).astype(np.float32)
