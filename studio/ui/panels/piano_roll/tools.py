"""What the mouse does on the note grid, with the conventions of DAW piano rolls.

- Click empty grid: with notes selected, deselect; else draw a note one grid step long at the grid
  line before the click, in the active track (drag to the right: its end follows the pointer).
- Drag a note: move it (the whole selection when it is selected), snapped in time, by keys in pitch.
- Drag a note's left or right edge: resize it (or the selection).
- Ctrl-click a note: add it to the selection or take it out. Shift-drag: box selection
  (Ctrl+Shift adds to the selection). Right-click a note: delete it.

A gesture (press to release) is one undo step: the state batches what it changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from studio.core.capabilities import Note
from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.edits import moved, resized
from studio.ui.panels.piano_roll.roll import RollView

#: how near a note's edge (pixels) a press resizes instead of moving
EDGE_PX = 6.0


class RollTool:
    """Turns presses, moves and releases on a :class:`RollView` (scene pixels) into state edits."""

    def __init__(self, view: RollView) -> None:
        self.view, self.state, self.geometry = view, view.state, view.geometry
        self.band = QGraphicsRectItem()
        self.band.setPen(QPen(QColor("#9cc8ff"), 0))
        self.band.setBrush(QColor(120, 170, 255, 40))
        self.band.setZValue(20)
        self.band.hide()
        view.scene().addItem(self.band)
        self.mode: Optional[str] = None  #: "draw", "move", "start", "end", "box" during a gesture
        self._press = QPointF()
        self._grabbed: Optional[int] = None
        self._origin: dict[int, Note] = {}
        self._dragged = False
        self._text = ""

    # -- finding notes -------------------------------------------------------------------------------
    def hit(self, pos: QPointF) -> tuple[Optional[int], str]:
        """The note under ``pos`` (the topmost: the latest drawn) and which part: "start", "end" or "body"."""
        g = self.geometry
        pitch, beat = g.pitch(pos.y()), g.beat(pos.x())
        found = None
        for i in self.view.notes_item.visible(QRectF(pos.x() - 1, pos.y(), 2, 0.1)):
            note = self.state.notes[i]
            if note.pitch == pitch and note.start <= beat <= note.start + note.duration:
                found = i if found is None else max(found, i)
        if found is None:
            return None, ""
        note = self.state.notes[found]
        left, right = g.x(note.start), g.x(note.start + note.duration)
        edge = min(EDGE_PX, (right - left) / 3)
        if pos.x() >= right - edge:
            return found, "end"
        if pos.x() <= left + edge:
            return found, "start"
        return found, "body"

    def cursor_for(self, pos: QPointF) -> Qt.CursorShape:
        _note, part = self.hit(pos)
        return {"start": Qt.SizeHorCursor, "end": Qt.SizeHorCursor, "body": Qt.OpenHandCursor}.get(part,
                                                                                                  Qt.ArrowCursor)

    # -- the gesture -------------------------------------------------------------------------------------
    def press(self, pos: QPointF, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        state = self.state
        note, part = self.hit(pos)
        self._press, self._grabbed, self._dragged = pos, note, False
        if button == Qt.RightButton:
            if note is not None:
                state.delete_notes([note], text="Delete note")
            return
        if button != Qt.LeftButton:
            return
        if mods & Qt.ShiftModifier:
            self.mode = "box"
            self._box_add = bool(mods & Qt.ControlModifier)
            self._before_box = set(state.selection)
            self.band.setRect(QRectF(pos, pos))
            self.band.show()
            return
        if note is None:
            if state.selection:
                state.clear_selection()
                self.mode = None
                return
            self._draw(pos)
            return
        if mods & Qt.ControlModifier:
            state.toggle_selected(note)
            self.mode = None
            return
        if note not in state.selection:
            state.select([note])
        self.mode = "move" if part == "body" else part
        self._text = "Move notes" if part == "body" else "Resize notes"
        self._origin = {i: state.notes[i] for i in state.selection}
        state.begin_batch()

    def _draw(self, pos: QPointF) -> None:
        state = self.state
        start = grid.floor(self.geometry.beat(pos.x()), state.snap_beats)
        note = Note(self.geometry.pitch(pos.y()), start, state.draw_length, state.velocity, state.active_track)
        state.begin_batch()
        self.mode, self._text = "draw", "Draw note"
        (self._grabbed,) = state.add_notes([note])
        self._origin = {self._grabbed: state.notes[self._grabbed]}

    def move(self, pos: QPointF, buttons: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        if self.mode is None:
            self.view.viewport().setCursor(self.cursor_for(pos))
            return
        if (pos - self._press).manhattanLength() >= 3:
            self._dragged = True
        if not self._dragged:
            return
        state, g = self.state, self.geometry
        step = state.snap_beats
        if self.mode == "box":
            self.band.setRect(QRectF(self._press, pos).normalized())
            state.select(self._before_box if self._box_add else (), add=False)
            state.select_box(g.beat(self._press.x()), g.beat(pos.x()), g.pitch(self._press.y()), g.pitch(pos.y()),
                             add=self._box_add)
            return
        grabbed = self._origin[self._grabbed]
        shift = g.beat(pos.x()) - g.beat(self._press.x())
        if self.mode == "draw":
            end = max(grabbed.start + state.draw_length, grid.nearest(g.beat(pos.x()), step))  # the end follows
            state.update_notes({self._grabbed: replace(grabbed, duration=end - grabbed.start)}, text=self._text)
        elif self.mode == "move":
            beats = grid.nearest(grabbed.start + shift, step) - grabbed.start
            semitones = g.pitch(pos.y()) - g.pitch(self._press.y())
            state.update_notes(moved(self._origin, beats, semitones), text=self._text)
        elif self.mode == "end":
            end = grabbed.start + grabbed.duration
            state.update_notes(resized(self._origin, grid.nearest(end + shift, step) - end, "end"), text=self._text)
        elif self.mode == "start":
            beats = grid.nearest(grabbed.start + shift, step) - grabbed.start
            state.update_notes(resized(self._origin, beats, "start"), text=self._text)

    def release(self, pos: QPointF, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        mode, self.mode = self.mode, None
        if mode == "box":
            self.band.hide()
            if not self._dragged and not self._box_add:
                self.state.clear_selection()
            return
        if mode is None:
            return
        if mode == "move" and not self._dragged:  # a click on a note of the selection: just that note
            self.state.select([self._grabbed])
        self.state.end_batch(self._text)
