"""The keyboard at the left of the note grid: a key per row, the octaves named on their C (C4 is
middle C), and a click sounds the key (``key_pressed(pitch)``; the panel's player plays it)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.roll import RollView

WIDTH = 64
WHITE, BLACK, EDGE = QColor("#f4f4f2"), QColor("#26282c"), QColor("#9a9ea6")
PRESSED, LABEL = QColor("#ffb347"), QColor("#50545c")
#: the black keys reach this share of the keyboard's width
BLACK_SHARE = 0.62


class Keyboard(QWidget):
    key_pressed = Signal(int)  #: a MIDI pitch, when a key is clicked (or dragged onto)

    def __init__(self, view: RollView, parent=None) -> None:
        super().__init__(parent)
        self.view = view
        self.setFixedWidth(WIDTH)
        self.setToolTip("Click a key to hear it")
        self.pressed: Optional[int] = None
        view.view_changed.connect(self.update)

    def pitch_at(self, y: float) -> int:
        return self.view.pitch_at(y)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            self._press(self.pitch_at(event.position().y()))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.pressed is not None:  # a glissando: each new key sounds
            pitch = self.pitch_at(event.position().y())
            if pitch != self.pressed:
                self._press(pitch)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self.pressed = None
        self.update()

    def _press(self, pitch: int) -> None:
        self.pressed = pitch
        self.update()
        self.key_pressed.emit(pitch)

    def wheelEvent(self, event) -> None:  # noqa: N802
        self.view.wheelEvent(event)  # scrolling over the keys scrolls (and zooms) the grid

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), WHITE)
        view, row = self.view, self.view.geometry.row_height
        top, bottom = view.pitch_at(self.height()), view.pitch_at(0)
        font = painter.font()
        font.setPixelSize(max(7, min(11, int(row - 2))))
        painter.setFont(font)
        for pitch in range(top, bottom + 1):
            y = view.viewport_y(pitch)
            if grid.is_black(pitch):
                painter.fillRect(QRectF(0, y, WIDTH * BLACK_SHARE, row), PRESSED if pitch == self.pressed else BLACK)
                continue
            if pitch == self.pressed:
                painter.fillRect(QRectF(0, y, WIDTH, row), PRESSED)
            if pitch % 12 in (0, 5):  # the white keys' borders: below C and below F, where no black key sits
                painter.setPen(QPen(EDGE, 0))
                painter.drawLine(0, round(y + row), WIDTH, round(y + row))
            if pitch % 12 == 0 and row >= 7:
                painter.setPen(LABEL)
                painter.drawText(QRectF(0, y, WIDTH - 4, row), Qt.AlignRight | Qt.AlignVCenter, grid.pitch_name(pitch))
        painter.setPen(QPen(EDGE, 0))
        painter.drawLine(WIDTH - 1, 0, WIDTH - 1, self.height())
        painter.end()
