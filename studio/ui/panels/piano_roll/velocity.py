"""The velocity lane under the note grid: a bar per note at its start, as tall as it is loud.

Press on a bar (or near it) and drag up or down to change that note's velocity, or the velocity of
the whole selection when the note is selected; one drag is one undo step.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from studio.ui.panels.piano_roll.roll import MUTED, RollView, rects

HEIGHT = 72
PAD = 4
BACKGROUND, GUIDE = QColor("#24272d"), QColor("#3a3f47")
SELECTED = QColor("#ffffff")
#: how far from a bar (pixels) a press still takes it
REACH_PX = 5
#: above this many bars in view, they are drawn without the round heads
MAX_DOTS = 600


class VelocityLane(QWidget):
    def __init__(self, view: RollView, parent=None) -> None:
        super().__init__(parent)
        self.view, self.state = view, view.state
        self.setFixedHeight(HEIGHT)
        self.setToolTip("Drag a bar up or down to change how loud its note is (the selection's, when selected)")
        view.view_changed.connect(self.update)
        for event in (self.state.events.notes, self.state.events.selection, self.state.events.tracks):
            event.connect(lambda *_: self.update())
        self._targets: Optional[list[int]] = None

    def velocity_at(self, y: float) -> int:
        return round(1 + 126 * (1 - (y - PAD) / (HEIGHT - 2 * PAD)))

    def note_at(self, x: float) -> Optional[int]:
        """The note whose bar is nearest ``x`` (within reach), the selected or the active track's first."""
        state, view = self.state, self.view
        best, best_key = None, None
        for i, note in state.notes.items():
            distance = abs(view.viewport_x(note.start) - x)
            if distance <= REACH_PX:
                key = (i not in state.selection, note.voice != state.active_track, distance, -i)
                if best_key is None or key < best_key:
                    best, best_key = i, key
        return best

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.LeftButton:
            return
        note = self.note_at(event.position().x())
        if note is None:
            return
        self._targets = sorted(self.state.selection) if note in self.state.selection else [note]
        self.state.begin_batch()
        self.state.set_velocity(self._targets, self.velocity_at(event.position().y()))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._targets is not None:
            self.state.set_velocity(self._targets, self.velocity_at(event.position().y()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._targets is not None:
            self._targets = None
            self.state.end_batch("Change velocity")

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setPen(QPen(GUIDE, 0))
        for level in (0.25, 0.5, 0.75):
            y = round(PAD + (HEIGHT - 2 * PAD) * level)
            painter.drawLine(0, y, self.width(), y)
        state, view, a = self.state, self.view, self.view.notes_item.arrays
        first, last = view.visible_beats()
        shown = np.flatnonzero((a.starts >= first - 1) & (a.starts <= last))
        if len(shown):
            xs = a.starts[shown] * view.geometry.px_per_beat - view.horizontalScrollBar().value()
            heights = (HEIGHT - 2 * PAD) * a.velocities[shown] / 127
            voices = a.voices[shown]
            chosen = np.isin(a.ids[shown], np.fromiter(state.selection, dtype=np.int64, count=len(state.selection)))
            audible = state.audible_tracks()
            # other tracks first, then the active track, then the selection on top
            order = [v for v in np.unique(voices).tolist() if v != state.active_track] + [state.active_track]
            dots = len(shown) <= MAX_DOTS
            for voice, selected in [(v, False) for v in order] + [(None, True)]:
                m = chosen if selected else (voices == voice) & ~chosen
                if not m.any():
                    continue
                colour = SELECTED if selected else QColor(state.tracks[voice].colour) if voice in audible else MUTED
                painter.setPen(Qt.NoPen)
                painter.setBrush(colour)
                painter.drawRects(rects(xs[m] - 1, HEIGHT - PAD - heights[m], np.full(m.sum(), 3.0), heights[m]))
                if dots:
                    for x, h in zip(xs[m].tolist(), heights[m].tolist(), strict=True):
                        painter.drawEllipse(QRectF(x - 3, HEIGHT - PAD - h - 3, 6, 6))
        painter.end()
