"""The chapter-4 GANs as one module each: a generator and its critic, offering ImageSampler.

The module holds both networks, so a checkpoint's weights (``model.*``) are both: sampling needs only
the generator, but a run trained further from a checkpoint (a starter the studio ships, say) needs the
critic that was trained with it, or the generator would face a critic that knows nothing.

Images cross the boundary as numpy float32 ``(n, H, W, C)`` in [0, 1]; inside, the networks work on
``(n, C, H, W)`` in [-1, 1] (the book's ``(x - 127.5) / 127.5``). Every image's latent is drawn with
numpy from its own seed, and image ``i`` of ``sample(n, seed=s)`` is ``sample(1, seed=s + i)[0]``, bit for
bit: sampling runs in eval mode (batch norm uses its running statistics, so an image does not depend on
the others in its batch), and the generator always runs on exactly :data:`IMAGES_PER_CALL` latents (a
short batch is padded), because a convolution's rounding may depend on the batch size (oneDNN takes
other paths for other sizes), never on the other images in the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.core.capabilities import ModelError, StepCallback
from studio_builtins.gans import networks

#: Latents the generator runs on in every call of :meth:`GAN.sample`, padded when fewer are left.
IMAGES_PER_CALL = 16


class GAN(nn.Module):
    """A generator (latents to images) and a critic (images to one score each). Subclasses choose the
    critic: a DCGAN's discriminator, whose score is a logit, or a WGAN-GP's unbounded critic."""

    title = "GAN"  #: how messages name the model
    #: whether the generator and the critic are told each image's class (the conditional GAN)
    conditional = False
    # ImageSampler (contract 2): no sampling options; the conditional GAN takes a "label"
    conditions: tuple[str, ...] = ()
    sampling_options: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    seed_per_image = True

    def __init__(self, config: Any) -> None:
        super().__init__()
        size, channels = config.image_size, config.channels
        if size < 16 or size & (size - 1):
            raise ModelError(f"The image size must be a power of two, at least 16 (the {self.title} halves it "
                             f"down to 4x4): 16, 32, 64, 128…, not {size}.")
        if channels not in (1, 3):
            raise ModelError(f"Images must have 1 (greyscale) or 3 (RGB) channels, not {channels}.")
        if config.latent_dim < 1 or config.features < 1:
            raise ModelError(f"latent_dim and features must be at least 1, not {config.latent_dim} and "
                             f"{config.features}.")
        if not 0.0 <= config.dropout < 1.0:
            raise ModelError(f"dropout is a fraction from 0 up to (not including) 1, not {config.dropout}.")
        self.config = config
        #: the classes a "label" chooses from, in label order (none for an unconditional GAN)
        self.class_names: tuple[str, ...] = self._class_names(config)
        self.latent_dim = config.latent_dim
        self.image_shape = (size, size, channels)
        classes = len(self.class_names)
        blocks = networks.blocks_for(size)
        self.generator = networks.generator(config.latent_dim + classes, channels, blocks, config.features)
        self.critic = self.build_critic(channels + classes, blocks)
        self.apply(networks.init_weights)

    def _class_names(self, config: Any) -> tuple[str, ...]:
        return ()

    def build_critic(self, inputs: int, blocks: int) -> nn.Module:
        raise NotImplementedError

    # -- for the trainer: torch in, torch out --------------------------------------------------------
    def generate(self, latents: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Latents ``(n, latent_dim)`` (and, for the conditional GAN, labels ``(n,)``) to images
        ``(n, C, H, W)`` in [-1, 1]; the book's generator takes the one-hot label beside the latent."""
        if self.conditional:
            latents = torch.cat([latents, self._one_hot(labels, latents)], dim=1)
        return self.generator(latents[:, :, None, None])

    def criticise(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Images ``(n, C, H, W)`` in [-1, 1] to one score each ``(n,)``; the book's conditional critic
        sees the one-hot label as extra channels, constant over the image."""
        if self.conditional:
            n, _, height, width = images.shape
            planes = self._one_hot(labels, images)[:, :, None, None].expand(n, -1, height, width)
            images = torch.cat([images, planes], dim=1)
        return self.critic(images).flatten()

    def _one_hot(self, labels: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        if labels is None:
            raise ModelError(f"The {self.title} needs each image's class label.")
        return F.one_hot(labels, len(self.class_names)).to(like.dtype)

    def latents(self, seeds: Iterable[int]) -> np.ndarray:
        """One standard-normal latent per seed, float32 ``(n, latent_dim)``, each from its own seed."""
        rows = [np.random.default_rng(seed).standard_normal(self.latent_dim, dtype=np.float32) for seed in seeds]
        return np.stack(rows) if rows else np.zeros((0, self.latent_dim), np.float32)

    # -- ImageSampler ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
               on_step: Optional[StepCallback] = None) -> np.ndarray:
        """``n`` images, image ``i`` from the latent of seed ``seed + i``; ``on_step`` after each batch
        (the call raises ``Cancelled`` when the artist cancels)."""
        labels = self._labels(n, seed, condition)
        device = next(self.parameters()).device
        total = -(-n // IMAGES_PER_CALL)
        images = [np.zeros((0, *self.image_shape), np.float32)]
        with self._evaluating():
            for step, start in enumerate(range(0, n, IMAGES_PER_CALL), 1):
                count = min(n - start, IMAGES_PER_CALL)
                latents = np.zeros((IMAGES_PER_CALL, self.latent_dim), np.float32)
                latents[:count] = self.latents(range(seed + start, seed + start + count))
                chunk = None
                if labels is not None:
                    chunk = torch.zeros(IMAGES_PER_CALL, dtype=torch.int64, device=device)
                    chunk[:count] = torch.from_numpy(labels[start:start + count])
                images.append(to_pixels(self.generate(torch.from_numpy(latents).to(device), chunk))[:count])
                if on_step is not None:
                    on_step(step, total, None)
        return np.concatenate(images)

    def _labels(self, n: int, seed: int, condition: Optional[Mapping[str, Any]]) -> Optional[np.ndarray]:
        """Each image's class: the condition's "label", or without one image ``i``'s is ``(seed + i)`` modulo
        the classes (a grid of every class, each image still made from its seed alone)."""
        condition = dict(condition or {})
        if not self.conditional:
            if condition:
                raise ModelError(f"The {self.title} takes no conditions (got {sorted(condition)}).")
            return None
        unknown = sorted(set(condition) - {"label"})
        if unknown:
            raise ModelError(f"The {self.title} is conditioned on a class label only, not {unknown}.")
        classes = len(self.class_names)
        label = condition.get("label")
        if label is None:
            return (np.arange(seed, seed + n) % classes).astype(np.int64)
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < classes:
            raise ModelError(f"The label chooses one of the {classes} classes by number, 0 to {classes - 1} "
                             f"({', '.join(self.class_names)}); {label!r} is not one of them.")
        return np.full(n, label, np.int64)

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode for the duration (batch norm's running statistics, no dropout), then as before."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """The networks' ``(n, C, H, W)`` in [-1, 1] as the studio's float32 ``(n, H, W, C)`` in [0, 1]."""
    return ((images.permute(0, 2, 3, 1).float() + 1.0) / 2.0).clamp_(0.0, 1.0).cpu().numpy()


class DCGAN(GAN):
    """The book's DCGAN: its critic is a discriminator with batch norm, scoring a logit of "real"."""

    title = "DCGAN"

    def build_critic(self, inputs: int, blocks: int) -> nn.Module:
        return networks.discriminator(inputs, blocks, self.config.features, self.config.dropout)


class WGANGP(GAN):
    """The book's WGAN-GP: its critic has no batch norm and scores without bounds."""

    title = "WGAN-GP"

    def build_critic(self, inputs: int, blocks: int) -> nn.Module:
        return networks.critic(inputs, blocks, self.config.features, self.config.dropout)


class ConditionalWGANGP(WGANGP):
    """The book's CGAN: a WGAN-GP told each image's class, ``class_names`` learned from the training data."""

    title = "conditional GAN"
    conditional = True
    conditions = ("label",)

    def _class_names(self, config: Any) -> tuple[str, ...]:
        if not config.class_names:
            raise ModelError("The conditional GAN has no classes yet: train it on labelled images (Fashion-MNIST, "
                             "or a folder with a sub-folder of images per class).")
        return tuple(config.class_names)
