"""The image a sample starts from, and the mask of what to make anew (Qt-free).

Image to image starts from a :class:`Source` (an image of a grid, or any image
file fitted to the model's size) and a strength; inpainting adds a mask, 1
where the model makes the image anew. Both travel in a PNG's parameters, so a
result dropped back is made again exactly: the source as a PNG in base64, the
mask as packed bits.
"""

from __future__ import annotations

import base64
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from studio.core.errors import UserError
from studio.core.imaging import to_uint8


@dataclass(frozen=True)
class Source:
    pixels: np.ndarray  #: (H, W, C) float32 in [0, 1] at 8 bits (see :func:`quantized`), the model's shape
    caption: str  #: where it came from, for the artist ("image 3 of seed 42", "cat.jpg")
    params: dict[str, Any] = field(default_factory=dict)  #: how it was made, when the studio made it


def quantized(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` at the 8 bits a PNG keeps, as float32: a sample starts from exactly what its file
    records, so dropping the file back makes the same pixels."""
    return (np.clip(np.asarray(pixels, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).astype(np.float32) / 255.0


def from_file(path: Path, image_shape: tuple[int, int, int]) -> Source:
    """Any image file, its centre square fitted to the model's size and channels."""
    from studio.core.data.images import open_image

    height, width, channels = image_shape
    if height != width:
        raise UserError(f"This model makes {width}x{height} images; only square ones can start from a file.")
    try:
        pixels = open_image(Path(path), height, channels)
    except Exception as exc:  # PIL reports damage with many exception types
        raise UserError(f"{Path(path).name} is not an image the studio can read ({exc or type(exc).__name__}). "
                        "Use a PNG, JPEG, BMP or WebP file.") from exc
    return Source(pixels.astype(np.float32) / 255.0, Path(path).name, {"file": Path(path).name})


def empty_mask(image_shape: tuple[int, int, int]) -> np.ndarray:
    return np.zeros(image_shape[:2], np.float32)


def paint(mask: np.ndarray, points: list[tuple[float, float]], radius: float, erase: bool = False) -> np.ndarray:
    """``mask`` with a brush stroke through ``points`` (x, y in image pixels): discs of ``radius``
    along the path, set to 1 (or 0 to ``erase``). Returns a new mask."""
    result = mask.copy()
    if not points:
        return result
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width]
    centres = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        count = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / max(radius / 2, 0.5))))
        centres += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, count + 1)[1:]]
    for x, y in centres:  # pixel centres at +0.5
        result[(xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= radius ** 2] = 0.0 if erase else 1.0
    return result


def encode_image(pixels: np.ndarray) -> str:
    """An image as base64 PNG text (lossless at 8 bits, as every image the canvas shows)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(text: str, image_shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text))) as image:
            pixels = np.asarray(image, np.uint8)
    except Exception as exc:
        raise UserError(f"The image it started from is damaged in the file's parameters ({exc}).") from exc
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    if pixels.shape != tuple(image_shape):
        raise UserError(f"The image it started from is {pixels.shape}, but this model makes {tuple(image_shape)}.")
    return pixels.astype(np.float32) / 255.0


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    bits = np.packbits(np.asarray(mask) > 0.5)
    return {"shape": list(mask.shape), "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def decode_mask(saved: Any, image_shape: tuple[int, int, int]) -> Optional[np.ndarray]:
    try:
        shape = tuple(int(d) for d in saved["shape"])
        bits = np.frombuffer(base64.b64decode(saved["bits"]), np.uint8)
        mask = np.unpackbits(bits)[:shape[0] * shape[1]].reshape(shape).astype(np.float32)
    except Exception as exc:
        raise UserError(f"The mask in the file's parameters is damaged ({exc}).") from exc
    if shape != tuple(image_shape[:2]):
        raise UserError(f"The mask is {shape[1]}x{shape[0]}, but this model makes "
                        f"{image_shape[1]}x{image_shape[0]} images.")
    return mask
