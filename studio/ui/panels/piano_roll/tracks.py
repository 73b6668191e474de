"""The track list: each track's colour, name (edit it to rename), Mute and Solo; click a track to
make it the active one (where new notes are drawn); Add and Remove below."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.panels.piano_roll.state import PianoRollState

WIDTH = 210


class TrackRow(QFrame):
    """One track: a swatch, its name, M and S."""

    def __init__(self, tracks: TrackList, index: int) -> None:
        super().__init__()
        self.tracks, self.index = tracks, index
        self.setObjectName("TrackRow")
        self.swatch = QLabel()
        self.swatch.setFixedSize(12, 22)
        self.name = QLineEdit()
        self.name.setFrame(False)
        self.name.setToolTip("The track's name (edit to rename); click the row to draw in this track")
        self.name.editingFinished.connect(self._renamed)
        self.mute = self._toggle("M", "Mute: leave this track out of playback")
        self.solo = self._toggle("S", "Solo: play only the solo tracks")
        self.mute.toggled.connect(lambda on: self._set("muted", on))
        self.solo.toggled.connect(lambda on: self._set("solo", on))
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(4)
        for widget in (self.swatch, self.name, self.mute, self.solo):
            row.addWidget(widget)

    def _toggle(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setCheckable(True)
        button.setToolTip(tip)
        button.setFixedSize(24, 22)
        return button

    def show_track(self) -> None:
        state = self.tracks.state
        track = state.tracks[self.index]
        active = self.index == state.active_track
        self.swatch.setStyleSheet(f"background: {track.colour}; border-radius: 2px;")
        if not self.name.hasFocus():
            self.name.setText(track.track.name)
        for button, on, colour in ((self.mute, track.muted, "#d9a400"), (self.solo, track.solo, "#2f9e44")):
            button.blockSignals(True)
            button.setChecked(on)
            button.blockSignals(False)
            button.setStyleSheet(f"QToolButton:checked {{ background: {colour}; color: white; font-weight: 600; }}")
        self.setStyleSheet("#TrackRow { background: %s; border-radius: 3px; }" % ("#dbe7fb" if active else
                                                                                  "transparent"))

    def _renamed(self) -> None:
        state = self.tracks.state
        name = self.name.text().strip()
        if self.index < len(state.tracks) and name and name != state.tracks[self.index].track.name:
            state.rename_track(self.index, name)
        elif self.index < len(state.tracks):
            self.name.setText(state.tracks[self.index].track.name)

    def _set(self, what: str, on: bool) -> None:
        state = self.tracks.state
        (state.set_muted if what == "muted" else state.set_solo)(self.index, on)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.tracks.state.set_active_track(self.index)
        super().mousePressEvent(event)


class TrackList(QWidget):
    def __init__(self, state: PianoRollState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.setFixedWidth(WIDTH)
        self.rows: list[TrackRow] = []
        self._column = QVBoxLayout()
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(2)
        self._column.addStretch(1)
        inner = QWidget()
        inner.setLayout(self._column)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(inner)
        self.add_button = QPushButton("Add track")
        self.add_button.setToolTip("A new empty track to draw in")
        self.add_button.clicked.connect(self.add_track)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the active track and its notes")
        self.remove_button.clicked.connect(self.remove_track)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Tracks</b>")
        title.setAlignment(Qt.AlignLeft)
        layout.addWidget(title)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        state.events.tracks.connect(self.show_tracks)
        self.show_tracks()

    def show_tracks(self) -> None:
        """Rows for the state's tracks: made or dropped when the count changes, refreshed in place else."""
        while len(self.rows) > len(self.state.tracks):
            self.rows.pop().deleteLater()
        while len(self.rows) < len(self.state.tracks):
            row = TrackRow(self, len(self.rows))
            self._column.insertWidget(len(self.rows), row)
            self.rows.append(row)
        for row in self.rows:
            row.show_track()
        self.remove_button.setEnabled(len(self.state.tracks) > 1)

    def add_track(self) -> None:
        index = self.state.add_track(f"Track {len(self.state.tracks) + 1}")
        self.state.set_active_track(index)

    def remove_track(self) -> None:
        state = self.state
        index = state.active_track
        track = state.tracks[index].track
        count = sum(1 for n in state.notes.values() if n.voice == index)
        if count and QMessageBox.question(
                self, "Remove track", f"Remove {track.name} and its {count} note{'s' if count != 1 else ''}? "
                "(Edit ▸ Undo brings them back.)") != QMessageBox.Yes:
            return
        state.remove_track(index)
