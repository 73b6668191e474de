"""Recording a dream or a real rollout (Qt-free): the frames kept in memory, up to a cap, and what they
become: an animated GIF through the exporter registry (an ``ImageSequenceArtifact``) and numbered PNGs.

What a frame is depends on what was shown when the recording started: in the dream, the dream frame
alone; on a real track, the three panes side by side (real frame, V's reconstruction, M's prediction),
so the GIF shows how well M follows the road. A recording keeps its layout to the end (all its frames
the same size): a dream frame in a real-track recording has empty real panes. Frames are kept at the
model's size and scaled up (smoothly, as the panel shows them) only when written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from studio.core.artifacts import ImageSequenceArtifact
from studio.core.errors import UserError
from studio.core.imaging import save_png, to_uint8
from studio.ui.panels.dream_simulator.session import REAL, STEPS_PER_S, DreamFrame

#: frames a recording keeps at most: a minute at the session's pace (on a real track, three 64x64 panes
#: each: about 37 KB a frame, 66 MB in all)
MAX_FRAMES = 60 * STEPS_PER_S
#: how much a written frame is scaled up from the model's size (as the panel shows it)
SCALE = 4
#: pixels between panes (at the written size), and their colour
GAP = 4
BACKGROUND = (40, 40, 40)
PNG_NAME = "frame-{:05d}.png"


@dataclass
class Recording:
    """The frames of one recording; ``layout`` is the mode shown when it started (dream or real)."""

    layout: str
    params: dict[str, Any] = field(default_factory=dict)  #: what made it (the model, seed, tau, driver...)
    limit: int = MAX_FRAMES
    panes: list[tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  #: the episode step of each frame
    stopped: str = ""  #: why it stopped, when the artist did not stop it (its cap, another model)

    def __len__(self) -> int:
        return len(self.panes)

    @property
    def full(self) -> bool:
        return len(self.panes) >= self.limit

    @property
    def seconds(self) -> float:
        """How long it plays."""
        return len(self.panes) / STEPS_PER_S

    def add(self, frame: DreamFrame) -> None:
        """Keep ``frame``'s images (the owner stops adding when it is :attr:`full`)."""
        real = None if frame.real is None else to_uint8(frame.real)
        reconstruction = None if frame.reconstruction is None else to_uint8(frame.reconstruction)
        self.panes.append((to_uint8(frame.dream), real, reconstruction))
        self.steps.append(frame.step)

    def image(self, index: int, scale: int = SCALE) -> np.ndarray:
        """Frame ``index`` as written: uint8 (H, W, 3)."""
        dream, real, reconstruction = self.panes[index]
        parts = [real, reconstruction, dream] if self.layout == REAL else [dream]
        height, width = dream.shape[0] * scale, dream.shape[1] * scale
        gap = np.full((height, GAP, 3), BACKGROUND, np.uint8)
        row: list[np.ndarray] = []
        for part in parts:
            if row:
                row.append(gap)
            row.append(_scaled(part, width, height) if part is not None
                       else np.full((height, width, 3), BACKGROUND, np.uint8))
        return np.concatenate(row, axis=1)

    def artifact(self, scale: int = SCALE) -> ImageSequenceArtifact:
        """The recording for the image-sequence exporters (an animated GIF plays it at the session's pace)."""
        if not self.panes:
            raise UserError("Nothing was recorded: start recording while the dream runs.")
        frames = [self.image(i, scale) for i in range(len(self.panes))]
        return ImageSequenceArtifact(frames, {**self.params, "frames": len(frames)},
                                     frame_ms=round(1000 / STEPS_PER_S))

    def save_pngs(self, folder: Path, scale: int = SCALE) -> list[Path]:
        """Every frame as a numbered PNG (``frame-00001.png`` ...) in ``folder`` (made if missing), each with
        the recording's parameters and its step; refuses a folder that already holds numbered frames."""
        folder = Path(folder)
        if not self.panes:
            raise UserError("Nothing was recorded: start recording while the dream runs.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            taken = sorted(p.name for p in folder.glob("frame-*.png"))
        except OSError as exc:
            raise UserError(f"The frames cannot be saved in {folder}: {exc}") from exc
        if taken:
            raise UserError(f"The folder {folder} already holds frames ({taken[0]} …); choose an empty folder, "
                            "so that no frame of another recording is overwritten.")
        paths = []
        for index, step in enumerate(self.steps):
            path = folder / PNG_NAME.format(index + 1)
            try:
                save_png(self.image(index, scale), path, {**self.params, "frame": index + 1, "step": step})
            except OSError as exc:
                raise UserError(f"Frame {index + 1} could not be written to {path}: {exc}") from exc
            paths.append(path)
        return paths


def _scaled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), np.uint8)
