"""The composer's editor: plain text where generated tokens remember what made them.

Generated text is inserted in *runs*: consecutive tokens of one generation whose
probabilities fall in the same tint level share one character format, which
names the run. The run keeps each token's length and probability, so a click
or a tooltip finds the token under the mouse from its offset in the run. The
format travels with the text through edits, undo and redo; text typed into a
run has another format and is skipped when counting. (A format per token made
every token its own fragment, and a long paragraph re-laid out every fragment
for each new token: quadratic.)

Tokens arrive one by one but are inserted in batches: each insertion lays out
the whole paragraph again, so batches come at most every :data:`FLUSH_MS`, and
further apart when laying out takes long (a very long paragraph). Probability
tints are painted under the visible text, and the chosen token's outline is an
*extra selection*: neither changes the document (toggling them is not an edit to
undo). Qt's extra selections would do for the tints too, but drawing a thousand of
them took about a second a frame.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QTextCharFormat, QTextCursor, QTextFormat, QTextLine
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QToolTip

from studio.ui.kit.panel import dropped_paths
from studio.ui.panels.text_composer.runs import Run, level_colour, tint_level

RUN = QTextFormat.UserProperty + 1
PARAGRAPH_SEPARATOR = "\u2029"
CHOSEN = QColor(60, 110, 220, 110)
DROPPED_KINDS = (".txt", ".md", "/")  #: texts, and model folders
REDRAW_MS = 120
#: streamed tokens wait this long to be inserted together, or FLUSH_SHARE times the last insertion's
#: duration if that is longer: laying out text then takes at most 1 / FLUSH_SHARE of the time
FLUSH_MS, FLUSH_SHARE = 40, 5

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
        self.runs: dict[int, Run] = {}  #: by the id in their format's RUN property
        self.tints: list[tuple[int, int, QColor]] = []  #: (start, end, colour) of the visible tinted text
        self._run_ids = itertools.count(1)
        self._stream: Optional[QTextCursor] = None  #: where the running generation writes
        self._open: Optional[tuple[int, Run, QTextCharFormat]] = None  #: the run new tokens may join
        self._pending: list[tuple[QTextCharFormat, str]] = []  #: tokens still to insert
        self._first_in_stream = True
        self._flush = QTimer(self, singleShot=True, interval=FLUSH_MS)
        self._flush.timeout.connect(self.flush)
        # highlights are redrawn at most this often while text changes: a walk over every run
        self._rebuild = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._rebuild.timeout.connect(self.rebuild_highlights)
        self.document().contentsChanged.connect(self._changed)
        self.verticalScrollBar().valueChanged.connect(self._changed)
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
        self.flush()
        self._stream = QTextCursor(self.document())
        self._stream.setPosition(self.textCursor().selectionStart())
        self._first_in_stream = True
        self._open = None

    def write_token(self, generation_id: int, index: int, text: str, probability: float) -> None:
        """Add one token at the stream's cursor, as part of the generation's single undo step.
        It joins the open run when it follows it at the same tint level; it shows within
        :data:`FLUSH_MS` (or at :meth:`flush`)."""
        if self._stream is None:
            return
        level = tint_level(probability)
        if self._open is not None:
            run_id, run, fmt = self._open
            if (run.generation, run.level, run.first + len(run.lengths)) != (generation_id, level, index):
                self._open = None
        if self._open is None:
            run_id, run = next(self._run_ids), Run(generation_id, index, level)
            fmt = QTextCharFormat()
            fmt.setProperty(RUN, run_id)
            self.runs[run_id] = run
            self._open = (run_id, run, fmt)
        run.add(text, probability)
        if text:
            self._pending.append((fmt, text))
            if not self._flush.isActive():
                self._flush.start()

    def flush(self) -> None:
        """Insert the tokens waiting: one insertion per run. The view follows when the editor's
        cursor was at the stream's end."""
        self._flush.stop()
        if self._stream is None or not self._pending:
            self._pending = []
            return
        started = time.perf_counter()
        follow = self.textCursor().position() == self._stream.position()
        if self._first_in_stream:
            self._stream.beginEditBlock()
            self._first_in_stream = False
        else:
            self._stream.joinPreviousEditBlock()
        for fmt, group in itertools.groupby(self._pending, key=lambda item: item[0]):
            self._stream.insertText("".join(text for _fmt, text in group), fmt)
        self._stream.endEditBlock()
        self._pending = []
        if follow:
            self.setTextCursor(self._stream)
            self.ensureCursorVisible()
        took_ms = (time.perf_counter() - started) * 1000
        self._flush.setInterval(max(FLUSH_MS, int(FLUSH_SHARE * took_ms)))

    def end_stream(self) -> None:
        self.flush()
        self._stream = self._open = None
        self.rebuild_highlights()

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def _type_plainly(self) -> None:
        """Typing next to a generated token would inherit its format and pass for generated text."""
        cursor = self.textCursor()
        if not cursor.hasSelection() and cursor.charFormat().hasProperty(RUN):
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
        run = self.runs.get(int(fmt.property(RUN))) if fmt.hasProperty(RUN) else None
        if run is None or not run.lengths:
            return None
        offset = 0  # characters of this run before ``position``: text typed into it does not count
        for start, end, run_id in self.run_fragments():
            if run_id == int(fmt.property(RUN)):
                if start <= position < end:
                    k = run.token_at(offset + position - start)
                    return (run.generation, run.first + k), run.probabilities[k]
                offset += end - start
        return None

    def run_fragments(self, low: int = 0, high: Optional[int] = None) -> list[tuple[int, int, int]]:
        """(start, end, run id) of every piece of generated text in the document (or in the paragraphs
        from position ``low`` to ``high``), in order. Line breaks between pieces are not in them (nor
        counted in a run's lengths)."""
        return [(start, start + length, int(fmt.property(RUN)))
                for start, length, fmt in _fragments(self.document(), low, high) if fmt.hasProperty(RUN)]

    def visible_range(self) -> tuple[int, int]:
        """The first and last document positions shown in the viewport."""
        viewport = self.viewport().rect()
        return (self.cursorForPosition(viewport.topLeft()).position(),
                self.cursorForPosition(viewport.bottomRight()).position() + 1)

    def generation_spans(self) -> dict[int, tuple[int, int]]:
        """The first and last position of each generation's text still in the document, by its id."""
        spans: dict[int, tuple[int, int]] = {}
        for start, end, run_id in self.run_fragments():
            run = self.runs.get(run_id)
            if run is not None:
                low, high = spans.get(run.generation, (start, end))
                spans[run.generation] = (min(low, start), max(high, end))
        return spans

    def token_spans(self) -> list[tuple[int, int, Token, float]]:
        """(start, end, token, probability) of every generated token in the document, in order
        (for tests and tools: the editor itself works with runs)."""
        spans = []
        offsets: dict[int, int] = {}
        for start, end, run_id in self.run_fragments():
            run = self.runs.get(run_id)
            if run is None:
                continue
            offset = offsets.get(run_id, 0)
            for k in range(run.token_at(offset) if run.ends else 0, len(run.ends)):
                first, last = run.span(k)
                if first >= offset + end - start:
                    break
                if run.lengths[k]:
                    spans.append((start + max(first - offset, 0), start + min(last - offset, end - start),
                                  (run.generation, run.first + k), run.probabilities[k]))
            offsets[run_id] = offset + end - start
        return spans

    def token_ranges(self, token: Token) -> list[tuple[int, int]]:
        """The document ranges of ``token`` (more than one if its text was inserted twice)."""
        generation, index = token
        wanted = {run_id: run.span(index - run.first) for run_id, run in self.runs.items()
                  if run.generation == generation and run.first <= index < run.first + len(run.lengths)}
        ranges, offsets = [], {}
        for start, end, run_id in self.run_fragments():
            if run_id not in wanted:
                continue
            offset, (first, last) = offsets.get(run_id, 0), wanted[run_id]
            low, high = max(first, offset), min(last, offset + end - start)
            if low < high:
                ranges.append((start + low - offset, start + high - offset))
            offsets[run_id] = offset + end - start
        return _joined(self.document(), ranges)

    # -- highlights -------------------------------------------------------------------------------
    def set_colour_probabilities(self, on: bool) -> None:
        self.colour_probabilities = on
        self.rebuild_highlights()

    def choose(self, token: Optional[Token]) -> None:
        """Outline ``token`` (the one the attention view shows)."""
        self.chosen = token
        self.rebuild_highlights()

    def rebuild_highlights(self) -> None:
        """Tint the visible generated runs by their level and outline the chosen token."""
        self._rebuild.stop()
        document, tints, chosen = self.document(), [], []
        if self.colour_probabilities and self.runs:
            low, high = self.visible_range()
            by_level: dict[int, list[tuple[int, int]]] = {}
            for start, end, run_id in self.run_fragments(low, high):
                run = self.runs.get(run_id)
                if run is not None and run.level and start < high and end > low:
                    by_level.setdefault(run.level, []).append((max(start, low), min(end, high)))
            for level, ranges in by_level.items():
                colour = level_colour(level)
                tints.extend((start, end, colour) for start, end in _joined(document, ranges))
        self.tints = tints
        if self.chosen is not None:
            chosen = [_selection(document, start, end, CHOSEN, underline=True)
                      for start, end in self.token_ranges(self.chosen)]
        self.setExtraSelections(chosen)
        self.viewport().update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.tints:
            painter = QPainter(self.viewport())
            for start, end, colour in self.tints:
                for rect in self._rectangles(start, end):
                    painter.fillRect(rect, colour)
            painter.end()
        super().paintEvent(event)

    def _rectangles(self, start: int, end: int) -> Iterator[QRectF]:
        """The viewport rectangles the text from ``start`` to ``end`` (within one paragraph) covers."""
        block = self.document().findBlock(start)
        layout = block.layout()
        if layout is None or not block.isVisible():
            return
        origin = self.blockBoundingGeometry(block).translated(self.contentOffset()).topLeft()
        first, last = start - block.position(), end - block.position()
        line = layout.lineForTextPosition(first)
        while line.isValid() and line.textStart() < last:
            low, high = max(first, line.textStart()), min(last, line.textStart() + line.textLength())
            number = line.lineNumber()
            if low < high:
                left, right = line.cursorToX(low)[0], line.cursorToX(high)[0]
                yield QRectF(origin.x() + left, origin.y() + line.y(), right - left, line.height())
            line = layout.lineAt(number + 1) if number + 1 < layout.lineCount() else QTextLine()

    def _changed(self) -> None:
        if not self._rebuild.isActive():
            self._rebuild.start()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._changed()  # other text comes into view

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
        return dropped_paths(event.mimeData(), DROPPED_KINDS)

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


def _fragments(document, low: int = 0, high: Optional[int] = None) -> Iterator[tuple[int, int, QTextCharFormat]]:
    """(start, length, format) of the fragments of the paragraphs from position ``low`` to ``high``."""
    block = document.findBlock(low) if low else document.begin()
    while block.isValid() and (high is None or block.position() <= high):
        for item in block:
            fragment = item.fragment()
            yield fragment.position(), fragment.length(), fragment.charFormat()
        block = block.next()


def _joined(document, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with those that touch (or are only a line break apart) made one."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if joined and (start <= joined[-1][1] or start == joined[-1][1] + 1
                       and document.characterAt(joined[-1][1]) == PARAGRAPH_SEPARATOR):
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


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
