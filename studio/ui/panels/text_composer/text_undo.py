"""The editor's own undo steps on the composer's undo stack, so Edit ▸ Undo and Redo (and Ctrl+Z,
Ctrl+Shift+Z and the editor's context menu) reach the text as in every other panel.

Each undo step the document adds (typing, a paste, a whole generation) becomes a
:class:`DocumentEdit` on the panel's stack; the stack then undoes and redoes
through the document, and the editor's keys and menu go through the stack.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QPlainTextEdit


class DocumentEdit(QUndoCommand):
    """One of the document's undo steps (already done when it is pushed)."""

    def __init__(self, document) -> None:
        super().__init__("Edit the text")
        self.document = document
        self._done = True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        if self.document.isRedoAvailable():
            self.document.redo()

    def undo(self) -> None:
        if self.document.isUndoAvailable():
            self.document.undo()


def _keys(*sequences) -> set[int]:
    return {binding[0].toCombined() for sequence in sequences
            for binding in (QKeySequence.keyBindings(sequence) if isinstance(sequence, QKeySequence.StandardKey)
                            else [QKeySequence(sequence)])}


class _Keys(QObject):
    """Sends the editor's undo and redo keys and menu entries to the stack."""

    def __init__(self, editor: QPlainTextEdit, stack: QUndoStack) -> None:
        super().__init__(editor)
        self.editor, self.stack = editor, stack
        # the platform's keys (read once an application is running)
        self.undo_keys = _keys(QKeySequence.Undo)
        self.redo_keys = _keys(QKeySequence.Redo, "Ctrl+Shift+Z")

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind in (QEvent.ShortcutOverride, QEvent.KeyPress):
            combined = event.keyCombination().toCombined()
            act = self.stack.undo if combined in self.undo_keys else self.stack.redo if combined in self.redo_keys \
                else None
            if act is None:
                return False
            event.accept()  # the editor takes the key (not the window's Edit menu) ...
            if kind == QEvent.KeyPress:
                act()  # ... and the stack does it
            return True
        if kind == QEvent.ContextMenu:
            menu = self.editor.createStandardContextMenu(event.pos())
            for action in menu.actions():
                if action.objectName() in ("edit-undo", "edit-redo"):
                    action.triggered.disconnect()
                    action.triggered.connect(self.stack.undo if action.objectName() == "edit-undo" else self.stack.redo)
            menu.exec(event.globalPos())
            menu.deleteLater()
            return True
        return False


def share_undo(editor: QPlainTextEdit, stack: QUndoStack) -> None:
    """Put ``editor``'s undo steps on ``stack`` from now on."""
    document = editor.document()
    document.undoCommandAdded.connect(lambda: stack.push(DocumentEdit(document)))
    keys = _Keys(editor, stack)
    editor.installEventFilter(keys)  # its keys
    editor.viewport().installEventFilter(keys)  # its context menu
