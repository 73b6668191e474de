"""Exports are enlarged by whole pixels (nearest neighbour), so a model's small images stay sharp.

Qt-free.
"""

from __future__ import annotations

import numpy as np


def scale_factor(shape: tuple[int, ...], side: int) -> int:
    """The whole-number factor that makes an image of ``shape`` (H, W, ...) at least ``side`` pixels on
    its long side (1 for ``side`` 0, or an image already that large)."""
    longest = max(shape[0], shape[1])
    return max(1, -(-side // longest)) if side and longest else 1


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """``pixels`` (H, W, ...) enlarged ``factor`` times by nearest neighbour: each pixel a sharp square."""
    if factor == 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
