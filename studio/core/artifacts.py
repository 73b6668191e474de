"""What leaves the studio: artifacts, and the writers the built-in exporters use.

An artifact is what a panel made plus the parameters that made it (model,
checkpoint hash, seed, ...). Exporters (registered by plugins) write artifacts
to files; the parameters travel inside the file where the format allows (PNG
text chunks, a JSON sidecar for text), so a file dropped back restores them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from studio.core.atomic import atomic_path, atomic_write
from studio.core.imaging import save_png, to_uint8


@dataclass
class ImageArtifact:
    kind = "image"
    pixels: np.ndarray  #: (H, W, C) float in [0, 1] or uint8
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImageSequenceArtifact:
    kind = "image-sequence"
    frames: list[np.ndarray]  #: each (H, W, C)
    params: dict[str, Any] = field(default_factory=dict)
    frame_ms: int = 120  #: how long each frame shows in an animation


@dataclass
class MusicArtifact:
    """Notes for a MIDI file or a WAV render (:mod:`studio.core.music`); ``params`` travel in the MIDI
    file's text meta event."""

    kind = "notes"
    score: Any  #: a :class:`studio.core.music.score.Score`
    params: dict[str, Any] = field(default_factory=dict)
    #: what a WAV render sounds like: a sound choice of :func:`studio.core.music.sound.for_sound`
    sound: str = ""


@dataclass
class TextArtifact:
    kind = "text"
    text: str
    params: dict[str, Any] = field(default_factory=dict)


PathLike = Union[str, Path]


def write_png(artifact: ImageArtifact, path: PathLike) -> None:
    save_png(artifact.pixels, path, artifact.params)


def write_sheet_png(artifact: ImageSequenceArtifact, path: PathLike) -> None:
    """The frames side by side in one PNG, with the parameters."""
    from studio.core.imaging import make_grid

    frames = np.stack([np.asarray(f, dtype=np.float32) if f.dtype != np.uint8 else f.astype(np.float32) / 255
                       for f in artifact.frames])
    save_png(make_grid(frames, columns=len(frames)), path, artifact.params)


def write_gif(artifact: ImageSequenceArtifact, path: PathLike) -> None:
    """An animated GIF that loops; the parameters go into its comment as JSON."""
    from PIL import Image

    frames = [Image.fromarray(to_uint8(f)) for f in artifact.frames]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=artifact.frame_ms,
                       loop=0, comment=json.dumps(artifact.params).encode())


def write_text(artifact: TextArtifact, path: PathLike) -> None:
    """The text, and beside it ``<name>.studio.json`` with what made it."""
    path = Path(path)
    atomic_write(path, artifact.text)
    if artifact.params:
        atomic_write(sidecar_path(path), json.dumps(artifact.params, indent=2))


def sidecar_path(path: PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".studio.json")
