"""The trainer: the VAE's loss on the images the studio hands over.

``data`` is a ``DataSplit``: ``data.train`` and ``data.validation`` are
``ImageSet``s whose ``images`` are uint8 ``(n, H, W, C)``, already loaded at the
config's ``image_size`` and ``channels`` (``labels`` and ``class_names`` may be
there too; a VAE does not use them).

``TorchTrainer`` (``studio.core.training``) does the rest of the Trainer
protocol: batches drawn from the seed and the step, so a resumed run sees the
batches it would have seen; the model's, the optimizer's and torch's random
state in ``state()``; data parallelism under ``torchrun``; a cancel between the
forward passes of a validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.capabilities import ModelError
from studio.core.imaging import make_grid
from studio.core.training import TorchTrainer
from studio_mlp_vae.model import MLPVAE

#: Seeds the posterior noise while validating, so the figure is repeatable and does not draw
#: from the training random stream (which a resume restores).
VALIDATION_SEED = 1234
VALIDATION_BATCH = 1000


class MLPVAETrainer(TorchTrainer):
    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        for part in (data.train, data.validation):
            if len(part) == 0:
                raise ModelError(f"{part.name or 'The dataset'} has no images to train or validate on.")
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.train_images = torch.from_numpy(data.train.images)  # uint8 on the CPU; each batch moves
        self.validation_images = torch.from_numpy(data.validation.images)
        super().__init__(config, data, device, seed)

    def build_model(self) -> MLPVAE:
        return MLPVAE(self.config)

    def train_examples(self) -> int:
        return len(self.train_images)

    def make_batch(self, indices: np.ndarray) -> torch.Tensor:
        return self._flat(self.train_images[torch.from_numpy(indices)])

    def _flat(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(n, H, W, C)`` to float ``(n, pixels)`` in [0, 1] on the device."""
        return images.to(self.device).reshape(len(images), -1).float().div_(255.0)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The negative ELBO per image: reconstruction (BCE summed over pixels) plus the KL
        divergence from the prior; ``bce`` per pixel, to compare with other image models."""
        logits, z_mean, z_log_var = self.train_module(x) if self.model.training else self.model(x)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
        kl = -0.5 * (1 + z_log_var - z_mean.square() - z_log_var.exp()).sum(dim=1)
        loss = (reconstruction + self.config.kl_weight * kl).mean()
        return {"loss": loss, "kl": kl.mean(), "bce": reconstruction.mean() / x.shape[1]}

    def train_step(self, batch: torch.Tensor) -> Mapping[str, float]:
        losses = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    def validation_losses(self) -> Mapping[str, float]:
        """Mean losses over the validation images (eval mode, no gradients: the base class)."""
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        totals: dict[str, float] = {}
        with torch.random.fork_rng(devices=cuda):  # the training stream goes on as if this never ran
            torch.manual_seed(VALIDATION_SEED)
            for start in range(0, len(self.validation_images), VALIDATION_BATCH):
                x = self._flat(self.validation_images[start:start + VALIDATION_BATCH])
                for name, value in self.losses(x).items():
                    totals[name] = totals.get(name, 0.0) + float(value) * len(x)
        return {name: total / len(self.validation_images) for name, total in totals.items()}

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """One picture for the Jobs dock and the run's samples folder: a grid ``(H, W, C)`` in
        [0, 1] of 16 samples from the prior."""
        return make_grid(self.model.sample(16, seed=seed), columns=8)
