"""The piano roll editor as one widget: the edit bar (snap, Quantize, zoom), the track list, and the
ruler, keyboard, note grid and velocity lane kept in line with one another; plus its keys.

The keys work while the grid has the focus (click it once), so a text field elsewhere in the panel
keeps its own arrows, Delete and Ctrl+A.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from studio.ui.panels.piano_roll.commands import record_on
from studio.ui.panels.piano_roll.grid import SNAPS
from studio.ui.panels.piano_roll.keyboard import Keyboard
from studio.ui.panels.piano_roll.roll import RollView
from studio.ui.panels.piano_roll.ruler import Ruler
from studio.ui.panels.piano_roll.state import PianoRollState
from studio.ui.panels.piano_roll.tools import RollTool
from studio.ui.panels.piano_roll.tracks import TrackList
from studio.ui.panels.piano_roll.velocity import VelocityLane
from studio.ui.widgets.fields import button

#: how much one press of a zoom button zooms
ZOOM_STEP = 1.25


class RollEditor(QWidget):
    """Edits ``state`` through ``undo_stack``. ``keyboard.key_pressed(pitch)`` when a key is clicked."""

    def __init__(self, state: PianoRollState, undo_stack: QUndoStack, parent=None) -> None:
        super().__init__(parent)
        self.state, self.undo_stack = state, undo_stack
        record_on(undo_stack, state)
        self.roll = RollView(state)
        self.roll.setFrameShape(QFrame.NoFrame)
        self.tool = self.roll.tool = RollTool(self.roll)
        self.ruler = Ruler(self.roll)
        self.keyboard = Keyboard(self.roll)
        self.velocity = VelocityLane(self.roll)
        self.tracks = TrackList(state)
        self.edit_bar = self._edit_bar()

        area = QWidget()  # the ruler, keys, grid and lane: where the editor's keys work
        cells = QGridLayout(area)
        cells.setContentsMargins(0, 0, 0, 0)
        cells.setSpacing(0)
        corner = QLabel()
        corner.setStyleSheet("background: #1f2227;")
        lane_label = QLabel("Velocity")
        lane_label.setAlignment(Qt.AlignCenter)
        lane_label.setStyleSheet("background: #24272d; color: #9aa0a8; font-size: 10px;")
        cells.addWidget(corner, 0, 0)
        cells.addWidget(self.ruler, 0, 1)
        cells.addWidget(self.keyboard, 1, 0)
        cells.addWidget(self.roll, 1, 1)
        cells.addWidget(lane_label, 2, 0)
        cells.addWidget(self.velocity, 2, 1)
        cells.setRowStretch(1, 1)
        self.area = area
        body = QHBoxLayout()
        body.addWidget(self.tracks)
        body.addWidget(area, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit_bar)
        layout.addLayout(body, 1)
        self._add_keys()

    def _edit_bar(self) -> QWidget:
        self.snap = QComboBox()
        self.snap.addItems(list(SNAPS))
        self.snap.setCurrentText(self.state.snap)
        self.snap.setToolTip("Snap: where notes land when drawn, moved, resized or quantized (T: triplets)")
        self.snap.currentTextChanged.connect(self.state.set_snap)
        self.state.events.snap.connect(lambda: self.snap.setCurrentText(self.state.snap))
        self.quantize_button = button("Quantize", "Starts and ends of the selection (or of every note) onto "
                                      "the grid (Q)", self.state.quantize)
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Snap"))
        row.addWidget(self.snap)
        row.addWidget(self.quantize_button)
        row.addSpacing(16)
        for label, tip, horizontal, vertical in (
                ("Time", "time (Ctrl+wheel)", ZOOM_STEP, 1.0), ("Keys", "keys (Ctrl+Shift+wheel or Alt+wheel)",
                                                                1.0, ZOOM_STEP)):
            row.addWidget(QLabel(label))
            for text, power in (("−", -1), ("+", 1)):
                zoom = QToolButton()
                zoom.setText(text)
                zoom.setToolTip(f"Zoom {'out' if power < 0 else 'in'} on the {tip}")
                zoom.setObjectName(f"Zoom{label}{'Out' if power < 0 else 'In'}")
                zoom.clicked.connect(lambda _=False, h=horizontal ** power, v=vertical ** power:
                                     self.roll.zoom(h, v))
                row.addWidget(zoom)
        row.addStretch(1)
        return bar

    def _add_keys(self) -> None:
        state = self.state
        keys = (
            (("Delete", "Backspace"), lambda: state.delete_notes(), "Delete the selected notes"),
            (("Ctrl+A",), state.select_all, "Select every note"),
            (("Ctrl+C",), state.copy, "Copy the selected notes"),
            (("Ctrl+X",), state.cut, "Cut the selected notes"),
            (("Ctrl+V",), lambda: state.paste(), "Paste at the playhead"),
            (("Up",), lambda: state.transpose(1), "Transpose the selection a semitone up"),
            (("Down",), lambda: state.transpose(-1), "Transpose the selection a semitone down"),
            (("Shift+Up",), lambda: state.transpose(12), "Transpose the selection an octave up"),
            (("Shift+Down",), lambda: state.transpose(-12), "Transpose the selection an octave down"),
            (("Q",), lambda: state.quantize(), "Quantize the selection (or every note) to the grid"),
        )
        self.shortcuts = []
        for sequences, slot, description in keys:
            for sequence in sequences:
                shortcut = QShortcut(QKeySequence(sequence), self.area, slot)
                shortcut.setContext(Qt.WidgetWithChildrenShortcut)
                shortcut.setWhatsThis(f"Piano roll: {description}")
                self.shortcuts.append(shortcut)
