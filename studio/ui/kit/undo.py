"""Undoable edits of a panel state, after Orange canvas's ``document/commands.py``.

An edit is a :class:`Edit` (a ``QUndoCommand``) that changes the panel's
*state* only, through one function of it: ``redo()`` applies the value after
the edit, ``undo()`` the value before; the views follow the state's events.
Consecutive edits with the same ``merge`` name (a slider being dragged, a
point dragged across the map) become one step. A result that has already been
applied when it is recorded (a grid that arrived) is pushed with ``done=True``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Optional

from PySide6.QtGui import QUndoCommand


class Edit(QUndoCommand):
    def __init__(self, text: str, apply: Callable[[Any], None], before: Any, after: Any,
                 merge: Optional[str] = None, done: bool = False) -> None:
        super().__init__(text)
        self.apply, self.before, self.after = apply, before, after
        self.merge = merge
        self._skip_redo = done

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self.apply(self.after)

    def undo(self) -> None:
        self.apply(self.before)

    def id(self) -> int:  # noqa: A003 (Qt's name)
        return -1 if self.merge is None else zlib.crc32(self.merge.encode()) & 0x7FFFFFFF

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt naming)
        if not isinstance(other, Edit) or other.merge is None or other.merge != self.merge:
            return False
        self.after = other.after
        return True
