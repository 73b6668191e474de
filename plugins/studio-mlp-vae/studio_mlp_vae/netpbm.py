"""The exporter: an image as a binary Netpbm file, greyscale ``.pgm`` (P5) or colour ``.ppm`` (P6).

A writer gets an artifact and a path. An ``ImageArtifact`` holds ``pixels``,
``(H, W, C)`` with C 1 or 3, either float in [0, 1] or uint8 (``to_uint8`` takes
both), and ``params``: what made it (the model, the checkpoint's SHA-256, the
seed ...). Formats that can carry text should keep the params; Netpbm has
header comments, so they go into one as JSON. Write atomically, so a failed
export never leaves half a file where an artist's file was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

import numpy as np

from studio.core.artifacts import ImageArtifact
from studio.core.atomic import atomic_write
from studio.core.imaging import to_uint8

#: The header comment that holds the parameters: ``# studio-params {...}``.
PARAMS_COMMENT = "# studio-params "
#: ITU-R BT.601 luma: the grey a colour image becomes in a .pgm.
LUMA = np.array([0.299, 0.587, 0.114])


def write_netpbm(artifact: ImageArtifact, path: Union[str, Path]) -> None:
    pixels = to_uint8(artifact.pixels)  # (H, W) for one channel, else (H, W, 3)
    colour = Path(path).suffix.lower() == ".ppm"
    if colour and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif not colour and pixels.ndim == 3:
        pixels = np.rint(pixels.astype(np.float64) @ LUMA).astype(np.uint8)
    height, width = pixels.shape[:2]
    header = f"{'P6' if colour else 'P5'}\n"
    if artifact.params:
        header += PARAMS_COMMENT + json.dumps(artifact.params, ensure_ascii=True) + "\n"
    header += f"{width} {height}\n255\n"
    atomic_write(path, header.encode("ascii") + np.ascontiguousarray(pixels).tobytes())


def read_netpbm(path: Union[str, Path]) -> tuple[np.ndarray, dict[str, Any]]:
    """A file :func:`write_netpbm` wrote: uint8 pixels ``(H, W, C)`` and its parameters."""
    data = Path(path).read_bytes()
    fields, params, position = [], {}, 0
    while len(fields) < 4:  # magic, width, height, maxval; comments between them
        end = data.index(b"\n", position)
        line = data[position:end].decode("ascii")
        position = end + 1
        if line.startswith(PARAMS_COMMENT):
            params = json.loads(line[len(PARAMS_COMMENT):])
        elif not line.startswith("#"):
            fields += line.split()
    magic, width, height = fields[0], int(fields[1]), int(fields[2])
    channels = 3 if magic == "P6" else 1
    pixels = np.frombuffer(data, np.uint8, height * width * channels, position)
    return pixels.reshape(height, width, channels), params
