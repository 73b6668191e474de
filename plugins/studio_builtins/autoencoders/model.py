"""The book's chapter-3 convolutional autoencoder and VAE, in PyTorch.

One module serves both: ``config.kind`` says whether the encoder outputs a point
("ae") or a Gaussian ("vae"). The decoder outputs logits (the trainer's
cross-entropy is stabler on logits); :meth:`Autoencoder.decode` applies the
sigmoid. It offers ``LatentCodec`` and ``ImageSampler`` with numpy in and out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError, StepCallback

#: Images (or latents) run through the network at once by the inference methods.
INFERENCE_BATCH = 512
#: How fast the autoencoder's latent statistics follow the training batches.
LATENT_MOMENTUM = 0.02
_WIDTHS = (32, 64, 128)


class Output(NamedTuple):
    """What :meth:`Autoencoder.forward` gives the trainer."""

    logits: torch.Tensor  #: (n, C, H, W) reconstruction before the sigmoid
    z_mean: torch.Tensor  #: (n, latent_dim) the encoding (an AE's only one)
    z_log_var: Optional[torch.Tensor]  #: (n, latent_dim) for a VAE, None for an AE


class Autoencoder(nn.Module):
    """Conv encoder 32/64/128 (stride 2) -> latent -> mirrored transposed-conv decoder."""

    conditions: tuple[str, ...] = ()  #: ImageSampler: no class or prompt (contract 2 adds the next three)
    class_names: tuple[str, ...] = ()
    sampling_options: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    seed_per_image: bool = False  #: the seed makes the grid as a whole

    def __init__(self, config: Any) -> None:
        super().__init__()
        if config.kind not in ("ae", "vae"):
            raise ModelError(f"Unknown autoencoder kind {config.kind!r}; use 'ae' or 'vae'.")
        if config.image_size < 8 or config.image_size % 8:
            raise ModelError(f"The image size must be a multiple of 8 (the encoder halves it three times), "
                             f"not {config.image_size}.")
        if config.channels not in (1, 3):
            raise ModelError(f"Images must have 1 or 3 channels, not {config.channels}.")
        if config.latent_dim < 1:
            raise ModelError(f"The latent space needs at least one dimension, not {config.latent_dim}.")
        self.config = config
        self.variational = config.kind == "vae"
        self.latent_dim = config.latent_dim
        self.image_shape = (config.image_size, config.image_size, config.channels)
        self._inner = config.image_size // 8
        flat = _WIDTHS[-1] * self._inner ** 2

        layers: list[nn.Module] = []
        previous = config.channels
        for width in _WIDTHS:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU()]
            previous = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.z_mean = nn.Linear(flat, config.latent_dim)
        self.z_log_var = nn.Linear(flat, config.latent_dim) if self.variational else None

        self.decoder_input = nn.Linear(config.latent_dim, flat)
        layers = []
        previous = _WIDTHS[-1]
        for width in reversed(_WIDTHS):
            layers += [nn.ConvTranspose2d(previous, width, 3, stride=2, padding=1, output_padding=1), nn.ReLU()]
            previous = width
        self.decoder = nn.Sequential(*layers, nn.Conv2d(previous, config.channels, 3, padding=1))

        if not self.variational:
            # A Gaussian fitted to the training latents is the plain autoencoder's
            # "prior"; as buffers these are saved in checkpoints with the weights.
            self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
            self.register_buffer("latent_std", torch.ones(config.latent_dim))

    # -- for the trainer -------------------------------------------------------------------
    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder_input(z).view(-1, _WIDTHS[-1], self._inner, self._inner)
        return self.decoder(hidden)

    def forward(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> Output:
        """Reconstruct ``x`` ((n, C, H, W) in [0, 1]). A VAE decodes a sample of its
        posterior (noise from ``generator``, or torch's global generator). In
        training mode an AE updates its running latent statistics."""
        hidden = self.encoder(x)
        z_mean = self.z_mean(hidden)
        if self.z_log_var is None:
            if self.training and len(z_mean) > 1:
                with torch.no_grad():
                    self.latent_mean.lerp_(z_mean.mean(0), LATENT_MOMENTUM)
                    self.latent_std.lerp_(z_mean.std(0), LATENT_MOMENTUM)
            return Output(self.decode_logits(z_mean), z_mean, None)
        z_log_var = self.z_log_var(hidden)
        noise = torch.randn(z_mean.shape, generator=generator, device=z_mean.device, dtype=z_mean.dtype)
        z = z_mean + torch.exp(0.5 * z_log_var) * noise
        return Output(self.decode_logits(z), z_mean, z_log_var)

    # -- LatentCodec and ImageSampler --------------------------------------------------------
    def encode(self, images: np.ndarray, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to latents ``(n, latent_dim)`` (a VAE's posterior mean)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ModelError(f"This model encodes images shaped (n, {', '.join(map(str, self.image_shape))}), "
                             f"not {images.shape}.")

        def run(batch: torch.Tensor) -> torch.Tensor:
            return self.z_mean(self.encoder(batch.permute(0, 3, 1, 2)))

        return self._batched(run, images, on_step)

    def decode(self, latents: np.ndarray, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """Latents ``(n, latent_dim)`` to images ``(n, H, W, C)`` float32 in [0, 1]."""
        latents = np.asarray(latents, np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ModelError(f"This model decodes latents shaped (n, {self.latent_dim}), not {latents.shape}.")

        def run(batch: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.decode_logits(batch)).permute(0, 2, 3, 1)

        return self._batched(run, latents, on_step)

    def sample_prior(self, n: int, *, seed: int) -> np.ndarray:
        """A VAE's standard normal; an AE's Gaussian fitted to its training latents.
        Drawn with numpy, so a seed gives the same latents on every device."""
        latents = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        if not self.variational:
            latents = latents * self.latent_std.cpu().numpy() + self.latent_mean.cpu().numpy()
        return latents

    def sample(self, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
               on_step: Optional[StepCallback] = None) -> np.ndarray:
        if condition:
            raise ModelError(f"The {'VAE' if self.variational else 'autoencoder'} takes no conditions "
                             f"(got {sorted(condition)}).")
        return self.decode(self.sample_prior(n, seed=seed), on_step)

    @torch.no_grad()
    def _batched(self, run, array: np.ndarray, on_step: Optional[StepCallback]) -> np.ndarray:
        """Run ``run`` over ``array`` in batches on the model's device, reporting each batch."""
        device = next(self.parameters()).device
        total = max(1, -(-len(array) // INFERENCE_BATCH))
        outputs = []
        for step in range(total):
            batch = torch.from_numpy(array[step * INFERENCE_BATCH:(step + 1) * INFERENCE_BATCH]).to(device)
            outputs.append(run(batch).cpu().numpy())
            if on_step is not None:
                on_step(step + 1, total, None)
        return np.concatenate(outputs)
