"""The note grid: a QGraphicsView of the state's notes over key rows and bar and beat lines, with the
loop region shaded and the playhead line.

Scene coordinates are pixels: ``x = beat * px_per_beat``, ``y = (127 - pitch) * row_height``; zooming
changes the two scales and repaints. All notes are painted by one item (:class:`NotesItem`), a batch
of rectangles per colour for the notes in the exposed area, so thousands of notes scroll smoothly.
Mouse input is the :class:`~.tools.RollTool`'s; the ruler, keyboard and velocity lane beside the
view follow :attr:`RollView.view_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem, QGraphicsScene, QGraphicsView, QStyleOptionGraphicsItem

from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.state import PianoRollState

KEYS = 128
#: zoom limits: pixels per beat, pixels per key row
BEAT_PX = (4.0, 400.0)
ROW_PX = (4.0, 40.0)
#: empty bars kept after the last note, to draw into
SPARE_BARS = 16
#: velocity levels a note's brightness is drawn in
LEVELS = 8

WHITE_ROW, BLACK_ROW, C_LINE = QColor("#33373f"), QColor("#26292f"), QColor("#4a505a")
BEAT_LINE, BAR_LINE, STEP_LINE = QColor("#3c414a"), QColor("#68707c"), QColor("#343840")
MUTED = QColor("#6c717a")
SELECTED_EDGE = QColor("#ffffff")
LOOP_ON, LOOP_OFF = QColor(90, 160, 255, 28), QColor(200, 200, 200, 14)
PLAYHEAD = QColor("#ff5a4f")


class Geometry:
    """Beats and pitches to scene pixels and back, at the current zoom."""

    def __init__(self, px_per_beat: float = 48.0, row_height: float = 12.0) -> None:
        self.px_per_beat, self.row_height = px_per_beat, row_height

    def x(self, beat: float) -> float:
        return beat * self.px_per_beat

    def beat(self, x: float) -> float:
        return x / self.px_per_beat

    def y(self, pitch: int) -> float:
        """The top of ``pitch``'s row."""
        return (KEYS - 1 - pitch) * self.row_height

    def pitch(self, y: float) -> int:
        return int(min(KEYS - 1, max(0, KEYS - 1 - y // self.row_height)))

    @property
    def height(self) -> float:
        return KEYS * self.row_height


def note_colour(colour: str, velocity: int, audible: bool) -> QColor:
    """A track's colour, paler the softer the note (velocity as brightness); grey on a silent track."""
    base = QColor(colour) if audible else MUTED
    level = round((LEVELS - 1) * velocity / 127) / (LEVELS - 1)
    mix = 0.25 + 0.75 * level  # full colour at 127, mostly the row's colour near 0
    row = WHITE_ROW
    return QColor(*(int(r + (b - r) * mix) for r, b in ((row.red(), base.red()), (row.green(), base.green()),
                                                         (row.blue(), base.blue()))))


@dataclass(frozen=True)
class NoteArrays:
    """The notes as columns (for culling and batched painting), made again after a change."""

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    pitches: np.ndarray
    voices: np.ndarray
    velocities: np.ndarray

    @classmethod
    def of(cls, notes: dict) -> NoteArrays:
        count = len(notes)
        values = list(notes.values())

        def column(get, dtype) -> np.ndarray:
            return np.fromiter((get(n) for n in values), dtype=dtype, count=count)

        starts = column(lambda n: n.start, np.float64)
        return cls(np.fromiter(notes, dtype=np.int64, count=count), starts,
                   starts + column(lambda n: n.duration, np.float64), column(lambda n: n.pitch, np.int64),
                   column(lambda n: n.voice, np.int64), column(lambda n: n.velocity, np.int64))


def rects(xs: np.ndarray, ys: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> list[QRectF]:
    return [QRectF(*r) for r in zip(xs.tolist(), ys.tolist(), widths.tolist(), heights.tolist(), strict=True)]


class NotesItem(QGraphicsItem):
    """Every note of the state, painted in one go (only those in the exposed area)."""

    def __init__(self, state: PianoRollState, geometry: Geometry) -> None:
        super().__init__()
        self.state, self.geometry = state, geometry
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption)
        self._width = 0.0
        self._arrays: Optional[NoteArrays] = None

    def set_width(self, width: float) -> None:
        self.prepareGeometryChange()
        self._width = width

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt naming)
        return QRectF(0, 0, self._width, self.geometry.height)

    def notes_changed(self) -> None:
        self._arrays = None
        self.update()

    @property
    def arrays(self) -> NoteArrays:
        if self._arrays is None:
            self._arrays = NoteArrays.of(self.state.notes)
        return self._arrays

    def visible_mask(self, rect: QRectF) -> np.ndarray:
        """Which notes (of :attr:`arrays`) overlap ``rect`` (scene pixels)."""
        a, g = self.arrays, self.geometry
        mask = (a.ends > g.beat(rect.left())) & (a.starts < g.beat(rect.right()))
        return mask & (a.pitches >= g.pitch(rect.bottom())) & (a.pitches <= g.pitch(rect.top()))

    def visible(self, rect: QRectF) -> list[int]:
        """Ids of the notes that overlap ``rect`` (scene pixels)."""
        return self.arrays.ids[self.visible_mask(rect)].tolist()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        state, g, a = self.state, self.geometry, self.arrays
        shown = np.flatnonzero(self.visible_mask(option.exposedRect))
        if not len(shown):
            return
        xs = a.starts[shown] * g.px_per_beat
        widths = np.maximum(2.0, (a.ends[shown] - a.starts[shown]) * g.px_per_beat - 1)
        ys = (KEYS - 1 - a.pitches[shown]) * g.row_height + 1
        heights = np.full(len(shown), g.row_height - 2)
        levels = np.rint((LEVELS - 1) * a.velocities[shown] / 127).astype(np.int64)
        keys = a.voices[shown] * LEVELS + levels
        audible = state.audible_tracks()
        painter.setPen(Qt.NoPen)
        for key in np.unique(keys).tolist():
            voice, level = divmod(key, LEVELS)
            colour = state.tracks[voice].colour if voice < len(state.tracks) else "#888888"
            painter.setBrush(note_colour(colour, round(level * 127 / (LEVELS - 1)), voice in audible))
            m = keys == key
            painter.drawRects(rects(xs[m], ys[m], widths[m], heights[m]))
        if state.selection:
            m = np.isin(a.ids[shown], np.fromiter(state.selection, dtype=np.int64, count=len(state.selection)))
            if m.any():
                painter.setBrush(QColor(255, 255, 255, 70))
                painter.setPen(QPen(SELECTED_EDGE, 1.5))
                painter.drawRects(rects(xs[m], ys[m], widths[m], heights[m]))


class RollView(QGraphicsView):
    """The grid of notes. ``view_changed()`` after a scroll or zoom; ``zoomed()`` after a zoom."""

    view_changed = Signal()
    zoomed = Signal()

    def __init__(self, state: PianoRollState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.geometry = Geometry()
        self.setScene(QGraphicsScene(self))
        self.notes_item = NotesItem(state, self.geometry)
        self.scene().addItem(self.notes_item)
        self.playhead_line = QGraphicsLineItem()
        self.playhead_line.setPen(QPen(PLAYHEAD, 0))
        self.playhead_line.setZValue(10)
        self.scene().addItem(self.playhead_line)
        self.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheBackground)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.tool = None  #: the :class:`~.tools.RollTool` that takes the mouse (set by the editor)
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(lambda _value: self.view_changed.emit())
        events = state.events
        events.notes.connect(self._notes_changed)
        events.selection.connect(self.notes_item.update)
        events.tracks.connect(self.notes_item.notes_changed)
        events.tempo.connect(self._redraw_grid)
        events.snap.connect(self._redraw_grid)
        events.loop.connect(self._redraw_grid)
        events.playhead.connect(self._playhead_moved)
        self._fit_scene()
        self.centre_on_pitch(64)

    # -- size and zoom ---------------------------------------------------------------------------
    def _fit_scene(self) -> None:
        g = self.geometry
        bars = max(self.state.length_beats, self.state.playhead) + SPARE_BARS * self.state.beats_per_bar
        width = max(g.x(bars), self.viewport().width() + 1.0)
        self.scene().setSceneRect(0, 0, width, g.height)
        self.notes_item.set_width(width)
        self._place_playhead()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_scene()
        self.view_changed.emit()

    def zoom(self, horizontal: float = 1.0, vertical: float = 1.0, anchor: Optional[QPointF] = None) -> None:
        """Scale the beats by ``horizontal`` and the rows by ``vertical``, keeping what is under
        ``anchor`` (viewport pixels; the centre by default) where it is."""
        g = self.geometry
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        at = self.mapToScene(anchor.toPoint())
        beat, row = g.beat(at.x()), at.y() / g.row_height
        g.px_per_beat = min(BEAT_PX[1], max(BEAT_PX[0], g.px_per_beat * horizontal))
        g.row_height = min(ROW_PX[1], max(ROW_PX[0], g.row_height * vertical))
        self._fit_scene()
        self.horizontalScrollBar().setValue(round(g.x(beat) - anchor.x()))
        self.verticalScrollBar().setValue(round(row * g.row_height - anchor.y()))
        self._redraw_grid()
        self.notes_item.update()
        self.zoomed.emit()
        self.view_changed.emit()

    def wheelEvent(self, event) -> None:  # noqa: N802
        """Ctrl+wheel zooms the time, Ctrl+Shift+wheel or Alt+wheel the keys; Shift+wheel scrolls in time."""
        mods = event.modifiers()
        delta = event.angleDelta().y() or event.angleDelta().x()  # Alt turns the wheel sideways on some systems
        factor = 1.15 ** (delta / 120)
        if mods & Qt.ControlModifier and mods & Qt.ShiftModifier or mods & Qt.AltModifier:
            self.zoom(vertical=factor, anchor=event.position())
        elif mods & Qt.ControlModifier:
            self.zoom(horizontal=factor, anchor=event.position())
        elif mods & Qt.ShiftModifier:
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - delta)
        else:
            super().wheelEvent(event)
        event.accept()

    def centre_on_pitch(self, pitch: int) -> None:
        self.verticalScrollBar().setValue(round(self.geometry.y(pitch) - self.viewport().height() / 2))

    def show_notes(self) -> None:
        """Show where the notes are: rows small enough for their pitch range to fit the view (within the
        zoom limits), centred on it, from the first note's bar."""
        notes = list(self.state.notes.values())
        if not notes:
            return
        low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
        rows = high - low + 5  # two rows' room above and below
        self.zoom(vertical=max(self.viewport().height(), 1) / rows / self.geometry.row_height)
        self.centre_on_pitch((low + high) // 2)
        self.horizontalScrollBar().setValue(round(self.geometry.x(min(n.start for n in notes))))

    # -- what the companions (ruler, keyboard, velocity lane) need ---------------------------------
    def viewport_x(self, beat: float) -> float:
        return self.geometry.x(beat) - self.horizontalScrollBar().value()

    def beat_at(self, viewport_x: float) -> float:
        return max(0.0, self.geometry.beat(viewport_x + self.horizontalScrollBar().value()))

    def viewport_y(self, pitch: int) -> float:
        return self.geometry.y(pitch) - self.verticalScrollBar().value()

    def pitch_at(self, viewport_y: float) -> int:
        return self.geometry.pitch(viewport_y + self.verticalScrollBar().value())

    def visible_beats(self) -> tuple[float, float]:
        return self.beat_at(0), self.beat_at(self.viewport().width())

    # -- following the state -----------------------------------------------------------------------
    def _notes_changed(self, _ids) -> None:
        self.notes_item.notes_changed()
        if self.geometry.x(self.state.length_beats + SPARE_BARS / 2 * self.state.beats_per_bar) > \
                self.sceneRect().width():
            self._fit_scene()

    def _redraw_grid(self) -> None:
        self.resetCachedContent()
        self.viewport().update()

    def _place_playhead(self) -> None:
        x = self.geometry.x(self.state.playhead)
        self.playhead_line.setLine(x, 0, x, self.geometry.height)

    def _playhead_moved(self, beat: float) -> None:
        """Move the line; when it leaves the view (playing on), the view turns the page."""
        if self.geometry.x(beat) > self.sceneRect().width() - self.viewport().width():
            self._fit_scene()
        self._place_playhead()
        first, last = self.visible_beats()
        if not first <= beat <= last:
            self.horizontalScrollBar().setValue(round(self.geometry.x(beat) - self.viewport().width() * 0.05))

    def show_span(self, start: float, end: float) -> None:
        """Scroll so that beats ``start`` to ``end`` are in view (what a continuation will fill), or as much
        of them as fits, from a bar before ``start``; nothing moves when they are in view already."""
        first, last = self.visible_beats()
        if first <= start and end <= last:
            return
        if self.geometry.x(end) > self.sceneRect().width():
            self._fit_scene()
        lead = min(self.state.beats_per_bar, max(0.0, (last - first) - (end - start)))
        self.horizontalScrollBar().setValue(round(self.geometry.x(max(0.0, start - lead))))

    # -- painting the grid ---------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        g, state = self.geometry, self.state
        top, bottom = g.pitch(rect.bottom()), g.pitch(rect.top())
        for pitch in range(top, bottom + 1):
            y = g.y(pitch)
            painter.fillRect(QRectF(rect.left(), y, rect.width(), g.row_height),
                             BLACK_ROW if grid.is_black(pitch) else WHITE_ROW)
        painter.setPen(QPen(C_LINE, 0))  # a line under each C: where the octaves are
        for pitch in range(top, bottom + 1):
            if pitch % 12 == 0:
                y = g.y(pitch) + g.row_height
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        first, last = g.beat(rect.left()), g.beat(rect.right())
        step = state.snap_beats
        if step is not None and g.x(step) >= 6:  # grid lines of the snap, where they are far enough apart
            painter.setPen(QPen(STEP_LINE, 0))
            n = int(first // step)
            while n * step <= last:
                x = g.x(n * step)
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
                n += 1
        for beat, _number, length in grid.bars(state.time_signatures, max(0.0, first - 32), last + 1):
            beats = [beat + k for k in range(1, int(np.ceil(length - 1e-9)))]
            painter.setPen(QPen(BEAT_LINE, 0))
            for b in beats:
                painter.drawLine(QPointF(g.x(b), rect.top()), QPointF(g.x(b), rect.bottom()))
            painter.setPen(QPen(BAR_LINE, 0))
            painter.drawLine(QPointF(g.x(beat), rect.top()), QPointF(g.x(beat), rect.bottom()))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        loop = self.state.loop
        if loop is not None:
            g = self.geometry
            painter.fillRect(QRectF(g.x(loop[0]), rect.top(), g.x(loop[1] - loop[0]), rect.height()),
                             QBrush(LOOP_ON if self.state.loop_enabled else LOOP_OFF))

    # -- the mouse goes to the tool --------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.tool is not None:
            self.setFocus()
            self.tool.press(self.mapToScene(event.position().toPoint()), event.button(), event.modifiers())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.tool is not None:
            self.tool.move(self.mapToScene(event.position().toPoint()), event.buttons(), event.modifiers())
        event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.tool is not None:
            self.tool.release(self.mapToScene(event.position().toPoint()), event.button(), event.modifiers())
        event.accept()
