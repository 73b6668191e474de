"""Training the diffusion model as the book does, on discrete timesteps.

Each step noises a batch of images (scaled to [-1, 1]) to a random trained
timestep each and teaches the U-Net to predict the noise, with the book's mean
absolute error. A class-conditional model sees each image's label, hidden
(replaced by the "no class" label) ``label_dropout`` of the time, so the same
network also learns the unconditional model that classifier-free guidance
compares against.

The weights an artist samples from are an exponential moving average (EMA) of
the trained ones, as the book's. The average warms up (decay
``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates, as diffusers'
``EMAModel``): with 0.999 from the start, the average of a short run would still
be mostly its random initial weights. A checkpoint's ``model.*`` tensors are the
EMA weights (what the canvas loads); the trained weights, the optimizer and the
random state travel under other names, so a resumed run trains on exactly.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import torch

from studio.core.capabilities import Cancelled, ModelError, SampleOptions, TrainState
from studio.core.imaging import make_grid
from studio.core.training import TorchTrainer, check_image_split
from studio_builtins.diffusion.model import DiffusionModel

#: Where a checkpoint keeps the trained (not averaged) weights.
TRAINED_PREFIX = "trained."
MODEL_PREFIX = "model."
#: Held-out images a validation pass looks at, at most: each costs a pass of the U-Net.
VALIDATION_LIMIT = 512
VALIDATION_BATCH = 128
#: Seeds the timesteps and noise of validation, so the figure is repeatable and validating does not
#: draw from the training random stream (which a resume restores).
VALIDATION_SEED = 1234
PREVIEW_IMAGES = 16
PREVIEW_COLUMNS = 8
PREVIEW_STEPS = 10


class DiffusionTrainer(TorchTrainer):
    """Trains a :class:`DiffusionModel` on a ``DataSplit`` of ``ImageSet``s."""

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        check_image_split(config, data)
        labelled = config.class_conditioning and data.train.labels is not None
        names = _class_names(data.train) if labelled else []
        if config.class_names and names != list(config.class_names):
            # training further: the class embedding's rows mean the classes it was trained on
            raise ModelError(f"This model draws the classes {', '.join(config.class_names)}; the data's are "
                             f"{', '.join(names) or 'none (it has no labels)'}. Train a new model on this data.")
        config = dataclasses.replace(config, class_names=names)
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.train_images = torch.from_numpy(data.train.images)  # uint8 on the CPU; batches move
        self.train_labels = torch.from_numpy(data.train.labels) if labelled else None
        self.validation_images = torch.from_numpy(data.validation.images[:VALIDATION_LIMIT])
        held_out = data.validation.labels
        self.validation_labels = torch.from_numpy(held_out[:VALIDATION_LIMIT]) if labelled and held_out is not None \
            else None
        super().__init__(config, data, device, seed)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.ema_updates = 0

    def build_model(self) -> DiffusionModel:
        return DiffusionModel(self.config)

    def build_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.learning_rate,
                                 weight_decay=self.config.weight_decay)

    def train_examples(self) -> int:
        return len(self.train_images)

    def make_batch(self, indices: np.ndarray) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        picked = torch.from_numpy(indices)
        labels = None if self.train_labels is None else self.train_labels[picked].to(self.device)
        return self._to_model(self.train_images[picked]), labels

    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, C) -> float (n, C, H, W) in [-1, 1] on the device."""
        return images.to(self.device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)

    def noise_loss(self, network: Any, x: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """The book's loss: the mean absolute error of the noise ``network`` predicts in ``x``
        noised to a random timestep per image (drawn from torch's random stream)."""
        n = len(x)
        timesteps = torch.randint(0, self.model.timesteps, (n,), device=self.device)
        noise = torch.randn_like(x)
        signal = self.model.alphas_cumprod[timesteps].view(n, 1, 1, 1)
        noisy = signal.sqrt() * x + (1 - signal).sqrt() * noise
        return (network(noisy, timesteps, labels) - noise).abs().mean()

    def train_step(self, batch: tuple[torch.Tensor, Optional[torch.Tensor]]) -> Mapping[str, float]:
        x, labels = batch
        if labels is not None:
            hidden = torch.rand(len(labels), device=self.device) < self.config.label_dropout
            labels = labels.masked_fill(hidden, self.model.null_label)
        loss = self.noise_loss(self.train_module, x, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._update_ema()
        return {"loss": loss.item()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_updates += 1
        decay = min(self.config.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        for average, trained in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
            if average.dtype.is_floating_point:
                average.lerp_(trained, 1 - decay)
            else:  # batch normalisation's count of batches
                average.copy_(trained)

    def validation_losses(self) -> Mapping[str, float]:
        """The noise loss of the averaged (sampled) model on the held-out images, labels shown."""
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        total = 0.0
        with torch.random.fork_rng(devices=cuda):  # the training stream goes on as if this never ran
            torch.manual_seed(VALIDATION_SEED)
            for start in range(0, len(self.validation_images), VALIDATION_BATCH):
                if self.stop_requested():
                    raise Cancelled()
                x = self._to_model(self.validation_images[start:start + VALIDATION_BATCH])
                labels = None if self.validation_labels is None else \
                    self.validation_labels[start:start + VALIDATION_BATCH].to(self.device)
                total += float(self.noise_loss(self.ema, x, labels)) * len(x)
        return {"loss": total / len(self.validation_images)}

    def preview(self, *, seed: int) -> Optional[np.ndarray]:
        """A grid of 16 samples of the averaged model, unconditional, in a few DDIM steps."""
        images = self.ema.sample(PREVIEW_IMAGES, seed=seed, options=SampleOptions(steps=PREVIEW_STEPS))
        return make_grid(images, PREVIEW_COLUMNS)

    def state(self) -> TrainState:
        saved = super().state()
        tensors = {(TRAINED_PREFIX + name[len(MODEL_PREFIX):] if name.startswith(MODEL_PREFIX) else name): value
                   for name, value in saved.tensors.items()}
        tensors.update({MODEL_PREFIX + name: value for name, value in self.ema.state_dict().items()})
        return TrainState(tensors, {**saved.meta, "ema_updates": self.ema_updates})

    def restore(self, state: TrainState) -> None:
        """Continue from ``state``; a checkpoint of weights alone (a starter) trains on from its
        (averaged) weights."""
        average = {name[len(MODEL_PREFIX):]: value for name, value in state.tensors.items()
                   if name.startswith(MODEL_PREFIX)}
        trained = {name[len(TRAINED_PREFIX):]: value for name, value in state.tensors.items()
                   if name.startswith(TRAINED_PREFIX)} or average
        tensors = {name: value for name, value in state.tensors.items()
                   if not name.startswith((MODEL_PREFIX, TRAINED_PREFIX))}
        tensors.update({MODEL_PREFIX + name: value for name, value in trained.items()})
        super().restore(TrainState(tensors, state.meta))
        self.ema.load_state_dict(average)
        self.ema_updates = int(state.meta.get("ema_updates", 0))


def _class_names(images: Any) -> list[str]:
    """The classes of a labelled set; numbers where the set names none."""
    count = int(images.labels.max()) + 1 if len(images.labels) else 0
    names = [str(name) for name in images.class_names]
    if count > len(names):
        if names:
            raise ModelError(f"The images have labels up to {count - 1} but only {len(names)} class names.")
        names = [str(label) for label in range(count)]
    return names
