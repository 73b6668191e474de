"""Images leaving the studio: PNG files that carry the parameters that made them.

Two text chunks hold them: ``studio``, every parameter as JSON, so a PNG dropped
back onto a panel restores the exact settings; and ``parameters``, the same
written as the most used Stable Diffusion web UI writes it
(:mod:`studio.core.png_parameters`), so other tools read the seed, steps and
sampler. PNGs of earlier studio versions kept each parameter in its own
``studio:<name>`` chunk; they are still read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from studio.core.atomic import atomic_path
from studio.core.errors import UserError

#: the chunk with every parameter, as JSON
STUDIO_CHUNK = "studio"
#: earlier versions' chunks: ``studio:<name>``, each a JSON value
LEGACY_PREFIX = "studio:"


@dataclass(frozen=True)
class PngMetadata:
    """What a PNG says of how it was made: the studio's parameters ({} when it has none) and another
    tool's ``parameters`` text ("" when it has none)."""

    params: dict[str, Any]
    parameters: str = ""


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or uint8) as uint8, (H, W) for one channel, else (H, W, C)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return array


def save_png(image: np.ndarray, path: Union[str, Path], params: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``image`` with ``params`` in the two chunks; ``params["size"]`` ([width, height] of one
    image) is the size the ``parameters`` text gives, else the image's own."""
    from PIL import Image, PngImagePlugin

    from studio.core.png_parameters import CHUNK, format_parameters

    pixels = to_uint8(image)
    info = PngImagePlugin.PngInfo()
    if params:
        size = tuple(params.get("size") or (pixels.shape[1], pixels.shape[0]))
        info.add_text(CHUNK, format_parameters(params, size))
        info.add_text(STUDIO_CHUNK, json.dumps(dict(params)))
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", pnginfo=info)


def read_png_metadata(path: Union[str, Path]) -> PngMetadata:
    """What a PNG says of how it was made; a :class:`UserError` for a file that is not a readable PNG."""
    from PIL import Image, UnidentifiedImageError

    from studio.core.png_parameters import CHUNK

    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                raise UserError(f"{Path(path).name} is a {im.format or 'non-PNG'} image, not a PNG: only PNGs "
                                "carry the settings that made them.")
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(f"{Path(path).name} is not a readable PNG image ({exc}).") from exc
    params: dict[str, Any] = {}
    try:
        saved = json.loads(text[STUDIO_CHUNK]) if STUDIO_CHUNK in text else {}
        params = saved if isinstance(saved, dict) else {}
    except ValueError:
        params = {}
    if not params:  # an earlier version's chunks
        for key, value in text.items():
            if key.startswith(LEGACY_PREFIX):
                try:
                    params[key[len(LEGACY_PREFIX):]] = json.loads(value)
                except ValueError:
                    params[key[len(LEGACY_PREFIX):]] = value
    return PngMetadata(params, str(text.get(CHUNK, "")))


def read_png_params(path: Union[str, Path]) -> dict[str, Any]:
    """The studio parameters stored in a PNG (empty if it has none)."""
    return read_png_metadata(path).params


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
