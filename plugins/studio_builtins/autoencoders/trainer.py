"""Training the chapter-3 autoencoders with the book's losses.

- AE: binary cross-entropy per pixel, averaged (Keras' ``loss="binary_crossentropy"``).
- VAE: ``reconstruction_weight`` x each image's mean per-pixel BCE, averaged over
  the batch (the book's ``500 * binary_crossentropy(axis=(1, 2, 3))``), plus
  ``kl_weight`` x the KL divergence from the standard normal, summed over latent
  dimensions and averaged over the batch.

Every model reports ``bce``, the plain per-pixel BCE, so runs of different models compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.imaging import make_grid
from studio.core.training import TorchTrainer, check_image_split
from studio_builtins.autoencoders.model import Autoencoder, Output

#: Held-out images a validation pass looks at, at most; enough for a stable figure.
VALIDATION_LIMIT = 10_000
VALIDATION_BATCH = 500
#: Seeds the VAE's posterior noise in validation, so the figure is repeatable and
#: validating does not disturb the training random state.
VALIDATION_SEED = 1234
PREVIEW_COLUMNS = 8


class AutoencoderTrainer(TorchTrainer):
    """Trains an :class:`Autoencoder` on a ``DataSplit`` of ``ImageSet``s."""

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        check_image_split(config, data)
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.train_images = torch.from_numpy(data.train.images)  # uint8 on the CPU; batches move
        self.validation_images = torch.from_numpy(data.validation.images[:VALIDATION_LIMIT])
        super().__init__(config, data, device, seed)

    def build_model(self) -> Autoencoder:
        return Autoencoder(self.config)

    def train_examples(self) -> int:
        return len(self.train_images)

    def make_batch(self, indices: np.ndarray) -> torch.Tensor:
        return self._to_model(self.train_images[torch.from_numpy(indices)])

    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, C) -> float (n, C, H, W) in [0, 1] on the device."""
        return images.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)

    def losses(self, x: torch.Tensor, out: Output) -> dict[str, torch.Tensor]:
        per_image = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").mean(dim=(1, 2, 3))
        bce = per_image.mean()
        reconstruction = self.config.reconstruction_weight * bce
        if out.z_log_var is None:
            return {"loss": reconstruction, "bce": bce}
        kl = (-0.5 * (1 + out.z_log_var - out.z_mean.square() - out.z_log_var.exp())).sum(dim=1).mean()
        loss = reconstruction + self.config.kl_weight * kl
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "bce": bce}

    def train_step(self, batch: torch.Tensor) -> Mapping[str, float]:
        losses = self.losses(batch, self.train_module(batch))
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    def validation_losses(self) -> Mapping[str, float]:
        """Mean losses over (up to :data:`VALIDATION_LIMIT`) validation images."""
        generator = torch.Generator(device=self.device).manual_seed(VALIDATION_SEED)
        totals: dict[str, float] = {}
        count = len(self.validation_images)
        for start in range(0, count, VALIDATION_BATCH):
            x = self._to_model(self.validation_images[start:start + VALIDATION_BATCH])
            for name, value in self.losses(x, self.model(x, generator)).items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(x)
        return {name: total / count for name, total in totals.items()}

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """A 4x8 grid: validation images, their reconstructions, then two rows of samples."""
        pick = np.random.default_rng(seed).choice(len(self.validation_images),
                                                  min(PREVIEW_COLUMNS, len(self.validation_images)),
                                                  replace=False)
        originals = self.validation_images[torch.from_numpy(pick)].numpy().astype(np.float32) / 255.0
        reconstructions = self.model.decode(self.model.encode(originals))
        samples = self.model.sample(2 * PREVIEW_COLUMNS, seed=seed)
        rows = [_row(originals), _row(reconstructions), samples]
        return make_grid(np.concatenate(rows), PREVIEW_COLUMNS)


def _row(images: np.ndarray) -> np.ndarray:
    """Pad a short row with blank (white) tiles so the next row starts on a new line."""
    blank = np.ones((PREVIEW_COLUMNS - len(images), *images.shape[1:]), images.dtype)
    return np.concatenate([images, blank])
