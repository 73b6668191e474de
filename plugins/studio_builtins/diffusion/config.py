"""The diffusion model's settings: a plain dataclass, cheap to import (no torch, no diffusers).

Every default makes a working model: the book's U-Net and schedule for Fashion-MNIST at 32x32.
An artist's RGB folder at 64x64 needs only ``channels=3`` and ``image_size=64``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Marks a field the trainer fills in: the Train dialog does not offer it.
LEARNED = {"learned": True}

#: The noise schedules the model trains on.
SCHEDULES = ("offset-cosine", "linear")


@dataclass
class DiffusionConfig:
    """Chapter 8's denoising diffusion model, with class conditioning added."""

    image_size: int = 32  # a multiple of 2 ** (number of widths): the U-Net halves it once per width
    channels: int = 1  # 1 (greyscale) or 3 (RGB)
    schedule: str = "offset-cosine"  # "offset-cosine" (the book's: signal rate 0.95 down to 0.02) or "linear"
    timesteps: int = 1000  # discrete noise levels trained on; every sampler picks its steps among them
    widths: str = "32,64,96"  # channels of the U-Net's levels, comma-separated (the book's)
    middle_width: int = 128  # channels of the blocks at the bottom of the U-Net
    block_depth: int = 2  # residual blocks per level (and in the middle)
    noise_embedding_size: int = 32  # length of the sinusoidal embedding of the noise variance
    class_conditioning: bool = True  # learn to draw a chosen class when the data has labels
    label_dropout: float = 0.1  # how often a label is hidden in training, so guidance has an unconditional model
    class_names: list = field(default_factory=list, metadata=LEARNED)  # the classes, filled in by the trainer
    ema_decay: float = 0.999  # the sampled weights follow the trained ones this slowly
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4  # AdamW's, as the book
