"""The Image Canvas's undoable edits: each changes the :class:`~.state.CanvasState` only."""

from __future__ import annotations

from typing import Optional

from studio.ui.kit.undo import Edit
from studio.ui.panels.image_canvas.state import CanvasState, Grid


def new_grid(state: CanvasState, before: Optional[Grid], after: Grid) -> Edit:
    """A grid that arrived (already shown): undo shows the grid before it, with its settings."""
    n = len(after.images)
    return Edit(f"Sample {n} image{'s' if n != 1 else ''} (seed {after.params.get('seed')})", state.show, before,
                after, done=True)
