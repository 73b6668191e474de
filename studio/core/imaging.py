"""Images leaving the studio: PNG files that carry the parameters that made them.

Parameters go into PNG text chunks (``studio:<name>``, JSON-encoded values) so a
PNG dropped back onto a panel restores the exact settings, and other tools see
them as ordinary PNG metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from studio.core.atomic import atomic_path
from studio.core.errors import UserError

PREFIX = "studio:"


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or uint8) as uint8, (H, W) for one channel, else (H, W, C)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return array


def save_png(image: np.ndarray, path: Union[str, Path], params: Optional[Mapping[str, Any]] = None) -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (params or {}).items():
        info.add_text(PREFIX + key, json.dumps(value))
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="PNG", pnginfo=info)


def read_png_params(path: Union[str, Path]) -> dict[str, Any]:
    """The studio parameters stored in a PNG (empty if it has none)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"{Path(path).name} is not a readable PNG image ({exc}).") from exc
    params = {}
    for key, value in text.items():
        if key.startswith(PREFIX):
            try:
                params[key[len(PREFIX):]] = json.loads(value)
            except ValueError:
                params[key[len(PREFIX):]] = value
    return params


def make_grid(images: np.ndarray, columns: int, padding: int = 2, fill: float = 1.0) -> np.ndarray:
    """Tile ``(n, H, W, C)`` images into one ``(rows*H + ..., columns*W + ..., C)`` image.

    ``padding`` pixels of ``fill`` (a fraction of full brightness: 1.0 is white)
    surround every tile; an incomplete last row is filled too. Keeps the dtype.
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"make_grid needs a non-empty (n, H, W, C) array, got shape {images.shape}")
    if columns < 1:
        raise ValueError(f"make_grid needs at least one column, got {columns}")
    n, h, w, c = images.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    value = round(fill * 255) if images.dtype == np.uint8 else fill
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), value, images.dtype)
    for i, image in enumerate(images):
        top, left = padding + (i // columns) * (h + padding), padding + (i % columns) * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid
