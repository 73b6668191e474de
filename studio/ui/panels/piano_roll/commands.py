"""The Piano Roll's undo glue: every change of the document the state records becomes one
:class:`~studio.ui.kit.undo.Edit` on the panel's undo stack, already applied (``done=True``);
undo and redo give the state back its snapshot before or after."""

from __future__ import annotations

from typing import Optional

from PySide6.QtGui import QUndoStack

from studio.ui.kit.undo import Edit
from studio.ui.panels.piano_roll.state import PianoRollState, Snapshot


def record_on(stack: QUndoStack, state: PianoRollState) -> None:
    """From now on ``state``'s edits are pushed on ``stack`` (consecutive ones with the same merge name,
    a slider dragged say, become one step)."""
    def push(text: str, before: Snapshot, after: Snapshot, merge: Optional[str]) -> None:
        stack.push(Edit(text, state.restore, before, after, merge, done=True))

    state.recorder = push
