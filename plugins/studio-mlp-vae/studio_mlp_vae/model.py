"""The model: a VAE of fully connected layers, offering ImageSampler and LatentCodec.

What the contract asks of an image model, and where it is met here:

- images cross the boundary as numpy ``float32`` arrays ``(n, H, W, C)`` with
  values in [0, 1], latents as ``(n, latent_dim)``; torch stays inside;
- ``sample`` gives the same images for the same seed on every device (the
  latents are drawn with numpy), and reports its work through ``on_step``,
  whose call raises ``Cancelled`` when the artist cancels;
- a problem the artist can act on is a ``ModelError`` with a sentence to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError, StepCallback

#: Images (or latents) run through the network at once by encode and decode.
BATCH = 1024


class MLPVAE(nn.Module):
    # ImageSampler's attributes: no conditions (a class, a prompt), no sampling options.
    conditions: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    sampling_options: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()

    def __init__(self, config: Any) -> None:
        super().__init__()
        if config.channels not in (1, 3):
            raise ModelError(f"Images must have 1 or 3 channels, not {config.channels}.")
        if config.image_size < 4 or config.latent_dim < 1 or config.hidden < 1:
            raise ModelError("image_size must be at least 4, and latent_dim and hidden at least 1.")
        self.config = config
        self.image_shape = (config.image_size, config.image_size, config.channels)
        self.latent_dim = config.latent_dim
        pixels = int(np.prod(self.image_shape))
        self.encoder = nn.Sequential(nn.Linear(pixels, config.hidden), nn.ReLU(),
                                     nn.Linear(config.hidden, config.hidden), nn.ReLU())
        self.z_mean = nn.Linear(config.hidden, config.latent_dim)
        self.z_log_var = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, config.hidden), nn.ReLU(),
                                     nn.Linear(config.hidden, config.hidden), nn.ReLU(),
                                     nn.Linear(config.hidden, pixels))  # logits; decode applies the sigmoid

    # -- for the trainer: torch in, torch out ----------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat images ``(n, pixels)`` in [0, 1] to (reconstruction logits, z mean, z log-variance)."""
        hidden = self.encoder(x)
        z_mean, z_log_var = self.z_mean(hidden), self.z_log_var(hidden)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)  # the reparameterisation trick
        return self.decoder(z), z_mean, z_log_var

    # -- LatentCodec ----------------------------------------------------------------------------
    def encode(self, images: np.ndarray, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to their posterior means ``(n, latent_dim)``."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ModelError(f"This model encodes images shaped (n, {', '.join(map(str, self.image_shape))}), "
                             f"not {images.shape}.")
        flat = images.reshape(len(images), -1)
        return self._batched(lambda x: self.z_mean(self.encoder(x)), flat, on_step)

    def decode(self, latents: np.ndarray, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """Latents ``(n, latent_dim)`` to images ``(n, H, W, C)``, float32 in [0, 1]."""
        latents = np.asarray(latents, np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ModelError(f"This model decodes latents shaped (n, {self.latent_dim}), not {latents.shape}.")
        flat = self._batched(lambda z: torch.sigmoid(self.decoder(z)), latents, on_step)
        return flat.reshape(len(latents), *self.image_shape)

    def sample_prior(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` points of the standard normal prior, drawn with numpy: a seed gives the same
        latents on every device."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    # -- ImageSampler ---------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
               options: Any = None, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """``n`` images decoded from the prior. ``options`` is passed only to a model that lists
        ``sampling_options``; this one lists none."""
        if condition:
            raise ModelError(f"The MLP VAE takes no conditions (got {sorted(condition)}).")
        return self.decode(self.sample_prior(n, seed=seed), on_step)

    @torch.no_grad()
    def _batched(self, run, array: np.ndarray, on_step: Optional[StepCallback]) -> np.ndarray:
        """``run`` over ``array`` in batches on the model's device, reporting each batch to
        ``on_step`` (which raises ``Cancelled`` when the artist cancels: nothing else to do)."""
        device = next(self.parameters()).device
        total = max(1, -(-len(array) // BATCH))
        outputs = []
        for step, start in enumerate(range(0, max(len(array), 1), BATCH), 1):  # an empty array: one empty batch
            batch = torch.from_numpy(array[start:start + BATCH]).to(device)
            outputs.append(run(batch).float().cpu().numpy())
            if on_step is not None:
                on_step(step, total, None)  # no picture of the work in progress: one pass is all there is
        return np.concatenate(outputs)
