"""The Image Canvas's undoable edits: each changes the :class:`~.state.CanvasState` only."""

from __future__ import annotations

from typing import Optional

import numpy as np

from studio.ui.kit.undo import Edit
from studio.ui.panels.image_canvas.source import Source, paint
from studio.ui.panels.image_canvas.state import CanvasState, Grid


def new_grid(state: CanvasState, before: Optional[Grid], after: Grid) -> Edit:
    """A grid that arrived (already shown): undo shows the grid before it, with its settings."""
    n = len(after.images)
    return Edit(f"Sample {n} image{'s' if n != 1 else ''} (seed {after.params.get('seed')})", state.show, before,
                after, done=True)


def show_earlier(state: CanvasState, grid: Grid) -> Edit:
    """Show a grid of the history strip again, with its settings."""
    return Edit(f"Show the grid of seed {grid.params.get('seed')}", state.show, state.grid, grid)


def start_from(state: CanvasState, source: Optional[Source]) -> Edit:
    """Start samples from ``source`` (None: from noise again), with nothing masked."""
    text = f"Start from {source.caption}" if source is not None else "Start from noise"
    return Edit(text, state.set_start, (state.source, state.mask), (source, None))


def stroke(state: CanvasState, points: list[tuple[float, float]], radius: float, erase: bool) -> Edit:
    """One brush stroke on the mask (or the eraser's)."""
    after = paint(state.mask, points, radius, erase=erase)
    return Edit("Erase the mask" if erase else "Paint the mask", state.set_mask, state.mask, after)


def clear_mask(state: CanvasState) -> Edit:
    return Edit("Clear the mask", state.set_mask, state.mask, np.zeros_like(state.mask))
