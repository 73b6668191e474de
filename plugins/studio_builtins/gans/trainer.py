"""Training the chapter-4 GANs as the book does; one ``TrainProgress`` per generator step.

- DCGAN: the discriminator and the generator learn together from one forward pass (the book's two
  gradient tapes): the discriminator's binary cross-entropy on noisy labels (the book's ``NOISE_PARAM``:
  a real image's label is 1 + 0.1·U(0, 1), a fake's 0 - 0.1·U(0, 1)), the generator's cross-entropy of
  its fakes labelled real. Reports ``d_loss``, ``g_loss`` and the discriminator's accuracy on the real
  and the fake images, ``d_real_acc`` and ``d_fake_acc``.
- WGAN-GP: ``critic_steps`` critic updates, each on fresh fakes and the step's real batch (as the book),
  minimising ``-wasserstein + gp_weight * gradient_penalty``; then one generator update raising the
  critic's score of its fakes. Reports the critic steps' means of ``critic_loss``, ``wasserstein`` (the
  critic's estimate of the distance: its mean score of the real images minus the fakes') and
  ``gradient_penalty``, and the generator's ``g_loss``.
- The conditional GAN: WGAN-GP with each real image's class given to the critic, and given to the
  generator for the fakes it is compared with.

The Jobs dock plots every reported loss as it comes. Validation scores the held-out images against as
many fakes made from fixed seeds, in eval mode, so the figures of two checkpoints compare.

The GANs train on one process: a step is several forward and backward passes through two networks (a
critic's gradient penalty differentiates twice), which ``DistributedDataParallel``'s one wrapped module
does not fit, so under ``torchrun`` with several processes the trainer refuses to start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from studio.core.capabilities import Cancelled, ModelError
from studio.core.imaging import make_grid
from studio.core.training import TorchTrainer, check_image_split
from studio_builtins.gans.losses import gradient_penalty, noisy_label_cross_entropy
from studio_builtins.gans.model import DCGAN, GAN, WGANGP, ConditionalWGANGP

#: Held-out images a validation looks at, at most: a stable figure without a long pause on a CPU.
VALIDATION_LIMIT = 2000
VALIDATION_BATCH = 500
#: The fakes of a validation come from the seeds from this one on: the same fakes every time, and no
#: draw from the training random stream (which a resume restores).
VALIDATION_SEED = 1234
PREVIEW_IMAGES = 16
PREVIEW_COLUMNS = 8


class Batch(NamedTuple):
    images: torch.Tensor  #: (n, C, H, W) in [-1, 1] on the device
    labels: Optional[torch.Tensor]  #: (n,) int64 class labels, for the conditional GAN; else None


class GANTrainer(TorchTrainer):
    """What the three trainers share: the images as tensors (and the labels, for the conditional GAN),
    an Adam for the generator and one for the critic, validation and the preview."""

    model_class: type[GAN]
    model: GAN

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise ModelError("The GANs train on one process: start the run without torchrun (or with one process).")
        check_image_split(config, data)
        if config.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, not {config.batch_size}.")
        conditional = self.model_class.conditional
        if conditional:
            config = with_class_names(config, data)
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.train_images = torch.from_numpy(data.train.images)  # uint8 on the CPU; batches move
        self.validation_images = torch.from_numpy(data.validation.images[:VALIDATION_LIMIT])
        self.train_labels = torch.from_numpy(data.train.labels) if conditional else None
        self.validation_labels = torch.from_numpy(data.validation.labels[:VALIDATION_LIMIT]) if conditional else None
        super().__init__(config, data, device, seed)
        self.generator_parameters = list(self.model.generator.parameters())
        self.critic_parameters = list(self.model.critic.parameters())

    # -- TorchTrainer --------------------------------------------------------------------------------
    def build_model(self) -> GAN:
        return self.model_class(self.config)

    def build_optimizers(self) -> Mapping[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {name: torch.optim.Adam(getattr(self.model, name).parameters(), lr=self.learning_rate, betas=betas)
                for name in ("generator", "critic")}

    def train_examples(self) -> int:
        return len(self.train_images)

    def make_batch(self, indices: np.ndarray) -> Batch:
        picked = torch.from_numpy(indices)
        labels = None if self.train_labels is None else self.train_labels[picked].to(self.device)
        return Batch(self._to_model(self.train_images[picked]), labels)

    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, C) to float (n, C, H, W) in [-1, 1] on the device: the book's (x - 127.5) / 127.5."""
        return images.to(self.device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)

    def noise(self, n: int) -> torch.Tensor:
        """Latents for ``n`` fakes, from torch's training random stream (which a checkpoint keeps)."""
        return torch.randn(n, self.config.latent_dim, device=self.device)

    def validation_losses(self) -> Mapping[str, float]:
        """:meth:`held_out_losses` averaged over the validation images (up to :data:`VALIDATION_LIMIT`),
        each batch against as many fakes of the same classes, made from fixed seeds."""
        totals: dict[str, float] = {}
        count = len(self.validation_images)
        for start in range(0, count, VALIDATION_BATCH):
            if self.stop_requested():
                raise Cancelled()
            stop = min(count, start + VALIDATION_BATCH)
            real = self._to_model(self.validation_images[start:stop])
            labels = None if self.validation_labels is None else self.validation_labels[start:stop].to(self.device)
            seeds = range(VALIDATION_SEED + start, VALIDATION_SEED + stop)
            fake = self.model.generate(torch.from_numpy(self.model.latents(seeds)).to(self.device), labels)
            for name, value in self.held_out_losses(real, fake, labels).items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(real)
        return {name: total / count for name, total in totals.items()}

    def held_out_losses(self, real: torch.Tensor, fake: torch.Tensor,
                        labels: Optional[torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """The figures of one batch of held-out images and fakes (eval mode, no gradients)."""
        raise NotImplementedError

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """A grid of 16 samples (of every class in turn, for the conditional GAN)."""
        return make_grid(self.model.sample(PREVIEW_IMAGES, seed=seed), PREVIEW_COLUMNS)


class DCGANTrainer(GANTrainer):
    model_class = DCGAN

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        real = batch.images
        fake = self.model.generate(self.noise(len(real)))
        real_logits, fake_logits = self.model.criticise(real), self.model.criticise(fake)
        noise = self.config.label_noise
        d_loss = (noisy_label_cross_entropy(real_logits, 1.0 + noise * torch.rand_like(real_logits))
                  + noisy_label_cross_entropy(fake_logits, -noise * torch.rand_like(fake_logits))) / 2
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        # each network's gradient of its own loss, both from the discriminator as it was before this step
        d_loss.backward(inputs=self.critic_parameters, retain_graph=True)
        g_loss.backward(inputs=self.generator_parameters)
        for optimizer in self.optimizers.values():
            optimizer.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), **_accuracies(real_logits, fake_logits)}

    def held_out_losses(self, real: torch.Tensor, fake: torch.Tensor,
                        labels: Optional[torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """The discriminator's cross-entropy on plain labels (1 real, 0 fake), the generator's, and the
        discriminator's accuracies."""
        real_logits, fake_logits = self.model.criticise(real), self.model.criticise(fake)
        ones, zeros = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, ones)
                  + F.binary_cross_entropy_with_logits(fake_logits, zeros)) / 2
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        return {"d_loss": d_loss, "g_loss": g_loss, **_accuracies(real_logits, fake_logits)}


def _accuracies(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, float]:
    """The shares of real images the discriminator calls real, and of fakes it calls fake."""
    return {"d_real_acc": (real_logits > 0).float().mean().item(),
            "d_fake_acc": (fake_logits < 0).float().mean().item()}


class WGANGPTrainer(GANTrainer):
    model_class = WGANGP

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        if config.critic_steps < 1:
            raise ModelError(f"critic_steps must be at least 1, not {config.critic_steps}.")
        if config.gp_weight < 0:
            raise ModelError(f"gp_weight cannot be negative ({config.gp_weight}).")
        super().__init__(config, data, device, seed)

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        real, labels = batch
        steps = self.config.critic_steps
        sums = dict.fromkeys(("critic_loss", "wasserstein", "gradient_penalty"), 0.0)
        critic_optimizer, generator_optimizer = self.optimizers["critic"], self.optimizers["generator"]
        for _ in range(steps):
            with torch.no_grad():
                fake = self.model.generate(self.noise(len(real)), labels)
            wasserstein = self.model.criticise(real, labels).mean() - self.model.criticise(fake, labels).mean()
            penalty = gradient_penalty(self.model, real, fake, labels)
            critic_loss = self.config.gp_weight * penalty - wasserstein
            critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward(inputs=self.critic_parameters)
            critic_optimizer.step()
            for name, value in (("critic_loss", critic_loss), ("wasserstein", wasserstein),
                                ("gradient_penalty", penalty)):
                sums[name] += value.item() / steps
        g_loss = -self.model.criticise(self.model.generate(self.noise(len(real)), labels), labels).mean()
        generator_optimizer.zero_grad(set_to_none=True)
        g_loss.backward(inputs=self.generator_parameters)
        generator_optimizer.step()
        return {**sums, "g_loss": g_loss.item()}

    def held_out_losses(self, real: torch.Tensor, fake: torch.Tensor,
                        labels: Optional[torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """The critic's Wasserstein estimate between the held-out images and the fakes, and the generator's
        loss (the fakes' mean score, negated)."""
        fake_scores = self.model.criticise(fake, labels)
        return {"wasserstein": self.model.criticise(real, labels).mean() - fake_scores.mean(),
                "g_loss": -fake_scores.mean()}


class ConditionalWGANGPTrainer(WGANGPTrainer):
    model_class = ConditionalWGANGP


def with_class_names(config: Any, data: Any) -> Any:
    """``config`` with the training data's class names. Both parts need labels; a config that already has
    class names (training further) must name the data's, or its labels would mean other classes."""
    names = tuple(data.train.class_names)
    for part, images in (("training", data.train), ("validation", data.validation)):
        if images.labels is None:
            raise ModelError(f"The conditional GAN learns the images of each class, but the {part} images of "
                             f"{data.name or 'this dataset'} have no labels. Train it on Fashion-MNIST, or on a "
                             "folder with a sub-folder of images per class.")
        if images.labels.min() < 0 or images.labels.max() >= len(names):
            raise ModelError(f"The {part} labels go from {images.labels.min()} to {images.labels.max()}, but "
                             f"the data names {len(names)} classes.")
    if config.class_names and tuple(config.class_names) != names:
        raise ModelError(f"This model was trained on the classes {', '.join(config.class_names)}; the data's are "
                         f"{', '.join(names)}. Train a new model on this data.")
    return dataclasses.replace(config, class_names=names)
