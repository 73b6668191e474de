"""The Dream Simulator's drive view: the real frame, V's reconstruction and the dream side by side, scaled up
smoothly, and the keyboard that drives.

:class:`DriveView` takes the keys while it has focus (click it, or it takes focus when the dream
starts): Left and Right steer, Up is gas, Down or Space brakes, as CarRacing's human play has them.
It tells the state which keys are held (a key held down repeats nothing: only presses and releases
count) and lets them all go when it loses focus, so the car never keeps a key nobody holds.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.ui.panels.dream_simulator.session import DREAM, DreamFrame
from studio.ui.panels.dream_simulator.state import DreamState
from studio.ui.widgets.image_view import to_qimage

#: the Qt keys that drive, and what each is
DRIVING_KEYS = {Qt.Key_Left: "left", Qt.Key_Right: "right", Qt.Key_Up: "gas", Qt.Key_Down: "brake",
                Qt.Key_Space: "brake"}
#: how much a 64x64 frame is scaled up at the panes' preferred size
SCALE = 4
NO_REAL_FRAME = "In the dream there is no real frame — Reset to a real track to see one."
CAPTIONS = ("Real frame (CarRacing)", "V's reconstruction", "Dream: M's prediction, decoded by V")
PANE_BACKGROUND = QColor(28, 28, 28)
KEY_LEGEND = (("left", "← steer"), ("gas", "↑ gas"), ("brake", "↓ / Space brake"), ("right", "steer →"))


class FramePane(QWidget):
    """One frame, scaled up smoothly to fit a square (or a word on why there is none)."""

    def __init__(self, placeholder: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.placeholder = placeholder
        self.image: Optional[QImage] = None
        self.setMinimumSize(128, 128)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(64 * SCALE, 64 * SCALE)

    def set_frame(self, frame: Optional[np.ndarray], placeholder: Optional[str] = None) -> None:
        self.image = None if frame is None else to_qimage(frame)
        if placeholder is not None:
            self.placeholder = placeholder
        self.update()

    def target(self) -> QRect:
        """Where the frame is drawn: the largest square that fits, centred."""
        side = min(self.width(), self.height())
        return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), PANE_BACKGROUND)
        if self.image is not None:
            painter.setRenderHint(QPainter.SmoothPixmapTransform)
            painter.drawImage(self.target(), self.image)
        elif self.placeholder:
            painter.setPen(QColor(190, 190, 190))
            painter.drawText(self.target().adjusted(16, 16, -16, -16), Qt.AlignCenter | Qt.TextWordWrap,
                             self.placeholder)


class DriveView(QFrame):
    """The three panes with their captions, the keys held, and a hint while it has no focus."""

    def __init__(self, state: DreamState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("DriveView")
        self.setFocusPolicy(Qt.StrongFocus)
        self.setFrameShape(QFrame.StyledPanel)
        self.real = FramePane(NO_REAL_FRAME)
        self.reconstruction = FramePane(NO_REAL_FRAME)
        self.dream = FramePane("Choose a world model to dream.")
        self.captions = []
        panes = QHBoxLayout()
        for caption, pane in zip(CAPTIONS, (self.real, self.reconstruction, self.dream), strict=True):
            column = QVBoxLayout()
            label = QLabel(caption)
            label.setAlignment(Qt.AlignCenter)
            label.setStyleSheet("font-weight: 600;")
            self.captions.append(label)
            column.addWidget(label)
            column.addWidget(pane, 1)
            panes.addLayout(column, 1)
        self.key_labels = {}
        keys = QHBoxLayout()
        keys.addStretch(1)
        for name, text in KEY_LEGEND:
            label = QLabel(text)
            label.setAlignment(Qt.AlignCenter)
            label.setMinimumWidth(90)
            self.key_labels[name] = label
            keys.addWidget(label)
        keys.addStretch(1)
        self.hint = QLabel()
        self.hint.setObjectName("DriveHint")
        self.hint.setAlignment(Qt.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addLayout(panes, 1)
        layout.addLayout(keys)
        layout.addWidget(self.hint)
        self._down: set[int] = set()
        state.events.frame.connect(self.show_frame)
        state.events.keys.connect(lambda _keys: self.show_keys())
        state.events.settings.connect(self.show_keys)
        state.events.model.connect(lambda _choice: self.clear())
        self.show_keys()

    # -- frames ------------------------------------------------------------------------------------
    def show_frame(self, frame: DreamFrame) -> None:
        """The frame's panes (the GUI only turns the arrays into images)."""
        self.dream.set_frame(frame.dream)
        if frame.mode == DREAM:
            self.real.set_frame(None, NO_REAL_FRAME)
            self.reconstruction.set_frame(None, NO_REAL_FRAME)
        else:
            self.real.set_frame(frame.real)
            self.reconstruction.set_frame(frame.reconstruction)

    def clear(self) -> None:
        for pane in (self.real, self.reconstruction):
            pane.set_frame(None, NO_REAL_FRAME)
        self.dream.set_frame(None, "Loading the model…" if self.state.choice is not None
                             else "Choose a world model to dream.")

    # -- keys ----------------------------------------------------------------------------------------
    def show_keys(self) -> None:
        held = self.state.keys
        for name, label in self.key_labels.items():
            lit = name in held and self.state.driver == "keyboard"
            label.setStyleSheet("border: 1px solid #888; border-radius: 4px; padding: 2px 6px;"
                                + ("background: #2d7be0; color: white;" if lit else "color: #555;"))
        if self.state.driver != "keyboard":
            self.hint.setText("The controller drives (C or the Driver menu gives you the wheel).")
        elif self.hasFocus():
            self.hint.setText("Driving: arrows steer and accelerate, Space or ↓ brakes.")
        else:
            self.hint.setText("Click here to drive with the keyboard.")

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key not in DRIVING_KEYS or event.modifiers() & (Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier):
            super().keyPressEvent(event)
            return
        event.accept()
        if event.isAutoRepeat():
            return
        self._down.add(key)
        self._hold()

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key not in DRIVING_KEYS:
            super().keyReleaseEvent(event)
            return
        event.accept()
        if event.isAutoRepeat():
            return
        self._down.discard(key)
        self._hold()

    def _hold(self) -> None:
        self.state.hold({DRIVING_KEYS[k] for k in self._down})

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.setFocus(Qt.MouseFocusReason)
        super().mousePressEvent(event)

    def focusInEvent(self, event) -> None:  # noqa: N802
        super().focusInEvent(event)
        self.show_keys()

    def focusOutEvent(self, event) -> None:  # noqa: N802
        """Nobody holds the keys any more: let them all go."""
        super().focusOutEvent(event)
        self._down.clear()
        self.state.release_all()
        self.show_keys()
