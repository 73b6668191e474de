"""The book's U-Net (chapter 8), in PyTorch, with an optional class embedding.

As the book's Keras model: a 1x1 convolution of the image, concatenated with a
sinusoidal embedding of the noise variance spread over every pixel; down blocks
of residual blocks (each block's output kept as a skip) and 2x average pooling;
residual blocks in the middle; up blocks of bilinear 2x upsampling and, per
residual block, a concatenated skip; a last 1x1 convolution initialised to zero,
so the untrained model predicts no noise. A residual block is batch
normalisation without scale or offset, a 3x3 convolution with swish, a 3x3
convolution, plus the input (through a 1x1 convolution where the width changes).

Beyond the book: a class label (one more index than classes, the last meaning
"no class") is embedded and spread over the pixels like the noise embedding.

Why not diffusers' ``UNet2DModel`` with these widths: it is another network
(a time embedding added inside every residual block, group normalisation,
strided-convolution downsampling, an attention block in the middle, an extra
skip per level), and it takes integer-like timesteps, where the book's takes
the noise variance itself. Written out, the U-Net is the book's, and training
needs no diffusers at all.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

#: The embedding's frequencies run geometrically from 1 to this, as the book's.
MAX_FREQUENCY = 1000.0


def sinusoidal_embedding(values: torch.Tensor, size: int) -> torch.Tensor:
    """``(n,)`` values to ``(n, size)``: sines and cosines at ``size // 2`` frequencies."""
    frequencies = torch.exp(torch.linspace(0.0, math.log(MAX_FREQUENCY), size // 2, device=values.device))
    angles = 2.0 * math.pi * frequencies * values[:, None].float()
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, in_width: int, width: int) -> None:
        super().__init__()
        self.residual = nn.Identity() if in_width == width else nn.Conv2d(in_width, width, 1)
        # Keras' BatchNormalization(center=False, scale=False) with its momentum and epsilon
        self.norm = nn.BatchNorm2d(in_width, affine=False, momentum=0.01, eps=1e-3)
        self.conv1 = nn.Conv2d(in_width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.silu(self.conv1(self.norm(x)))) + self.residual(x)


class UNet(nn.Module):
    """Predicts the noise in ``images`` (n, C, H, W) given each image's noise variance (n,)."""

    def __init__(self, channels: int, widths: tuple[int, ...], middle_width: int, block_depth: int,
                 embedding_size: int, num_labels: int = 0) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.stem = nn.Conv2d(channels, widths[0], 1)
        #: one row per class and a last one for "no class"; None for an unconditional model
        self.label_embedding = nn.Embedding(num_labels + 1, embedding_size) if num_labels else None
        width = widths[0] + embedding_size * (2 if num_labels else 1)
        skip_widths = []
        self.down = nn.ModuleList()
        for level in widths:
            blocks = nn.ModuleList()
            for _ in range(block_depth):
                blocks.append(ResidualBlock(width, level))
                width = level
                skip_widths.append(width)
            self.down.append(blocks)
        self.middle = nn.ModuleList()
        for _ in range(block_depth):
            self.middle.append(ResidualBlock(width, middle_width))
            width = middle_width
        self.up = nn.ModuleList()
        for level in reversed(widths):
            blocks = nn.ModuleList()
            for _ in range(block_depth):
                blocks.append(ResidualBlock(width + skip_widths.pop(), level))
                width = level
            self.up.append(blocks)
        self.head = nn.Conv2d(width, channels, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, images: torch.Tensor, noise_variances: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        n, _, height, width = images.shape
        maps = [self.stem(images), sinusoidal_embedding(noise_variances, self.embedding_size)]
        if self.label_embedding is not None:
            maps.append(self.label_embedding(labels))
        x = torch.cat([maps[0]] + [m[:, :, None, None].expand(n, -1, height, width) for m in maps[1:]], dim=1)
        skips = []
        for blocks in self.down:
            for block in blocks:
                x = block(x)
                skips.append(x)
            x = F.avg_pool2d(x, 2)
        for block in self.middle:
            x = block(x)
        for blocks in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            for block in blocks:
                x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)
