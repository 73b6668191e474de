"""The composer's editor: plain text where generated tokens remember what made them.

Each generated token is inserted with a character format carrying its
generation id, its index and its probability. The format travels with the
text through edits, undo and redo, so a click or a tooltip finds the token
under the mouse wherever it has moved. Probability tints and the chosen
token's highlight are *extra selections*, drawn over the text without
changing the document (toggling them is not an edit to undo).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QToolTip

GENERATION = QTextFormat.UserProperty + 1
TOKEN = QTextFormat.UserProperty + 2
PROBABILITY = QTextFormat.UserProperty + 3
PARAGRAPH_SEPARATOR = "\u2029"
#: tokens likelier than this are not tinted; this unlikely or less get the full tint (log scale between)
NO_TINT_ABOVE, FULL_TINT_BELOW = 0.3, 0.01
TINT = QColor(255, 120, 60)
CHOSEN = QColor(60, 110, 220, 110)
DROPPED_FILES = (".txt", ".md")
REDRAW_MS = 120

Token = tuple[int, int]  #: (generation id, token index)


class ComposerEditor(QPlainTextEdit):
    """Streams tokens at a cursor; a click on a generated token emits :attr:`token_clicked`."""

    token_clicked = Signal(int, int)  #: generation id, token index
    files_dropped = Signal(list)  #: local paths of .txt/.md files or folders dropped on the editor

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ComposerEditor")
        self.colour_probabilities = True
        self.chosen: Optional[Token] = None
        self._stream: Optional[QTextCursor] = None  #: where the running generation writes
        self._first_in_stream = True
        # highlights are redrawn at most this often while text changes: a walk over every token
        self._rebuild = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._rebuild.timeout.connect(self.rebuild_highlights)
        self.document().contentsChanged.connect(self._changed)
        self.cursorPositionChanged.connect(self._type_plainly)

    # -- streaming ---------------------------------------------------------------------------
    def prompt(self) -> str:
        """The text before the cursor: what a generation continues."""
        cursor = self.textCursor()
        cursor.setPosition(cursor.selectionStart())
        cursor.movePosition(QTextCursor.Start, QTextCursor.KeepAnchor)
        return cursor.selectedText().replace(PARAGRAPH_SEPARATOR, "\n")

    def start_stream(self) -> None:
        """Tokens written from now on go where the cursor is (a selection is kept, not replaced)."""
        self._stream = QTextCursor(self.document())
        self._stream.setPosition(self.textCursor().selectionStart())
        self._first_in_stream = True

    def write_token(self, generation_id: int, index: int, text: str, probability: float) -> None:
        """Insert one token at the stream's cursor, as part of the generation's single undo step.
        The view follows when the editor's cursor was at the stream's end."""
        if self._stream is None or not text:
            return
        follow = self.textCursor().position() == self._stream.position()
        token = QTextCharFormat()
        token.setProperty(GENERATION, generation_id)
        token.setProperty(TOKEN, index)
        token.setProperty(PROBABILITY, float(probability))
        if self._first_in_stream:
            self._stream.beginEditBlock()
            self._first_in_stream = False
        else:
            self._stream.joinPreviousEditBlock()
        self._stream.insertText(text, token)
        self._stream.endEditBlock()
        if follow:
            self.setTextCursor(self._stream)
            self.ensureCursorVisible()

    def end_stream(self) -> None:
        self._stream = None
        self.rebuild_highlights()

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def _type_plainly(self) -> None:
        """Typing next to a generated token would inherit its format and pass for generated text."""
        cursor = self.textCursor()
        if not cursor.hasSelection() and cursor.charFormat().hasProperty(GENERATION):
            self.setCurrentCharFormat(QTextCharFormat())

    # -- finding tokens -------------------------------------------------------------------------
    def token_at(self, point: QPoint) -> Optional[tuple[Token, float]]:
        """The generated token under a point of the viewport, and its probability."""
        cursor = self.cursorForPosition(point)
        position = cursor.position()
        if point.x() < self.cursorRect(cursor).x():
            position -= 1  # the character left of the nearest gap
        return self.token_at_position(position)

    def token_at_position(self, position: int) -> Optional[tuple[Token, float]]:
        """The generated token holding the character at ``position`` of the document, if any."""
        document = self.document()
        if not 0 <= position < document.characterCount() - 1 or document.characterAt(position) == PARAGRAPH_SEPARATOR:
            return None
        probe = QTextCursor(document)
        probe.setPosition(position)
        probe.setPosition(position + 1, QTextCursor.KeepAnchor)
        fmt = probe.charFormat()  # of the character before the cursor's position: the one selected
        if not fmt.hasProperty(GENERATION):
            return None
        return (int(fmt.property(GENERATION)), int(fmt.property(TOKEN))), float(fmt.property(PROBABILITY))

    def token_spans(self) -> list[tuple[int, int, Token, float]]:
        """(start, end, token, probability) of every generated token in the document, in order."""
        spans = []
        block = self.document().begin()
        while block.isValid():
            for item in block:
                fragment = item.fragment()
                fmt = fragment.charFormat()
                if fmt.hasProperty(GENERATION):
                    token = (int(fmt.property(GENERATION)), int(fmt.property(TOKEN)))
                    start = fragment.position()
                    spans.append((start, start + fragment.length(), token, float(fmt.property(PROBABILITY))))
            block = block.next()
        return spans

    # -- highlights -------------------------------------------------------------------------------
    def set_colour_probabilities(self, on: bool) -> None:
        self.colour_probabilities = on
        self.rebuild_highlights()

    def choose(self, token: Optional[Token]) -> None:
        """Outline ``token`` (the one the attention view shows)."""
        self.chosen = token
        self.rebuild_highlights()

    def rebuild_highlights(self) -> None:
        """Tint each generated token by its probability and outline the chosen one."""
        self._rebuild.stop()
        document, tints, chosen = self.document(), [], []
        for start, end, token, probability in self.token_spans():
            if self.colour_probabilities:
                tints.append(_selection(document, start, end, tint(probability)))
            if token == self.chosen:
                chosen.append(_selection(document, start, end, CHOSEN, underline=True))
        self.setExtraSelections(tints + chosen)

    def _changed(self) -> None:
        if not self._rebuild.isActive():
            self._rebuild.start()

    # -- mouse and drops ------------------------------------------------------------------------------
    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().mouseReleaseEvent(event)
        if event.button() == Qt.LeftButton and not self.textCursor().hasSelection():
            hit = self.token_at(event.position().toPoint())
            if hit is not None:
                self.choose(hit[0])
                self.token_clicked.emit(*hit[0])

    def viewportEvent(self, event) -> bool:  # noqa: N802
        if event.type() == QEvent.ToolTip:
            hit = self.token_at(event.pos())
            if hit is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), probability_text(hit[1]), self.viewport())
            return True
        return super().viewportEvent(event)

    def _dropped(self, event) -> list[Path]:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        return [p for p in paths if p.is_dir() or p.suffix.lower() in DROPPED_FILES]

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if self._dropped(event):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self._dropped(event):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = self._dropped(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            super().dropEvent(event)


def tint(probability: float) -> QColor:
    """Stronger the less likely the token was, so the surprising choices stand out."""
    position = math.log(max(probability, 1e-12) / NO_TINT_ABOVE) / math.log(FULL_TINT_BELOW / NO_TINT_ABOVE)
    strength = min(1.0, max(0.0, position))
    colour = QColor(TINT)
    colour.setAlpha(int(round(170 * strength)))
    return colour


def probability_text(probability: float) -> str:
    odds = f" (about 1 in {round(1 / probability):,})" if 0 < probability < 0.5 else ""
    return f"The model gave this token a probability of {probability:.3f}{odds}"


def _selection(document, start: int, end: int, colour: QColor, underline: bool = False) -> QTextEdit.ExtraSelection:
    selection = QTextEdit.ExtraSelection()
    cursor = QTextCursor(document)
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.KeepAnchor)
    selection.cursor = cursor
    selection.format.setBackground(colour)
    if underline:
        selection.format.setUnderlineStyle(QTextCharFormat.SingleUnderline)
        selection.format.setUnderlineColor(QColor(40, 80, 200))
    return selection
