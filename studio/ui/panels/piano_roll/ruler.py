"""The ruler over the note grid: bar numbers, the loop region, and the playhead's marker.

A click sets the playhead (on the snap grid); a drag sets the loop region and turns looping on; a
double-click turns looping on or off. It follows the grid's horizontal scroll and zoom.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.roll import PLAYHEAD, RollView

HEIGHT = 24
BACKGROUND, TEXT, TICK = QColor("#1f2227"), QColor("#c9ced6"), QColor("#6a717c")
LOOP_ON, LOOP_OFF = QColor(90, 160, 255, 120), QColor(160, 160, 160, 60)
#: fewest pixels between two bar numbers written
LABEL_PX = 36


class Ruler(QWidget):
    def __init__(self, view: RollView, parent=None) -> None:
        super().__init__(parent)
        self.view, self.state = view, view.state
        self.setFixedHeight(HEIGHT)
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Click: move the playhead · drag: set the loop · double-click: loop on or off")
        view.view_changed.connect(self.update)
        for event in (self.state.events.playhead, self.state.events.loop, self.state.events.tempo):
            event.connect(lambda *_: self.update())
        self._press_beat = None
        self._dragging = False

    def _beat(self, x: float) -> float:
        return grid.nearest(self.view.beat_at(x), self.state.snap_beats)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            self._press_x = event.position().x()
            self._press_beat, self._dragging = self._beat(self._press_x), False

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._press_beat is None:
            return
        if abs(event.position().x() - self._press_x) >= 4:
            self._dragging = True
        beat = self._beat(event.position().x())
        if self._dragging and beat != self._press_beat:
            self.state.set_loop(self._press_beat, beat)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._press_beat is not None and not self._dragging:
            self.state.set_playhead(self._press_beat)
        self._press_beat = None

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self.state.set_loop_enabled(not self.state.loop_enabled)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        view, state, width = self.view, self.state, self.width()
        if state.loop is not None:
            left, right = (view.viewport_x(b) for b in state.loop)
            painter.fillRect(QRectF(left, 0, right - left, HEIGHT / 2),
                             LOOP_ON if state.loop_enabled else LOOP_OFF)
        first, last = view.visible_beats()
        bars = list(grid.bars(state.time_signatures, max(0.0, first - 32), last + 1))
        bar_px = min((view.geometry.x(length) for _b, _n, length in bars), default=LABEL_PX)
        every = max(1, int(-(-LABEL_PX // max(bar_px, 1))))  # write every n-th bar number when bars are narrow
        painter.setPen(QPen(TICK, 0))
        for beat, number, length in bars:
            x = view.viewport_x(beat)
            labelled = (number - 1) % every == 0
            painter.drawLine(QPointF(x, HEIGHT * (0.35 if labelled else 0.65)), QPointF(x, HEIGHT))
            if view.geometry.x(1) >= 10:  # beat ticks, where there is room
                for k in range(1, int(-(-length // 1))):
                    bx = view.viewport_x(beat + k)
                    painter.drawLine(QPointF(bx, HEIGHT * 0.8), QPointF(bx, HEIGHT))
        painter.setPen(TEXT)
        for beat, number, _length in bars:
            if (number - 1) % every == 0:
                x = view.viewport_x(beat)
                if -LABEL_PX < x < width:
                    painter.drawText(QRectF(x + 3, 0, LABEL_PX * every, HEIGHT * 0.7), Qt.AlignLeft | Qt.AlignVCenter,
                                     str(number))
        x = view.viewport_x(state.playhead)
        painter.setPen(Qt.NoPen)
        painter.setBrush(PLAYHEAD)
        painter.drawPolygon(QPolygonF([QPointF(x - 5, HEIGHT - 8), QPointF(x + 5, HEIGHT - 8), QPointF(x, HEIGHT)]))
        painter.end()
