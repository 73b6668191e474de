"""Variations: a few continuations of the same primer, each from its own seed, listed to audition
(played with the transport, from a bar before they begin) and pick; the one picked becomes a new
track (one undo step). The model writes them a note of each in turn, so the rows fill together."""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui.panels.piano_roll.generation import RollGeneration, Run
from studio.ui.panels.piano_roll.grid import pitch_name
from studio.ui.panels.piano_roll.transport import Transport
from studio.ui.panels.piano_roll.writing import MAX_VARIATIONS


class VariationsView(QWidget):
    """A row per variation: its seed, how many notes and which range, *Play* and *Use this*."""

    def __init__(self, generation: RollGeneration, transport: Transport, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("Variations")
        self.generation, self.transport = generation, transport
        self.caption = QLabel("<b>Variations</b>: press Variations to write a few continuations of the notes "
                              "before the playhead, each with its own seed; play them, and use the one you like.")
        self.caption.setWordWrap(True)
        self.labels: list[QLabel] = []
        self.play_buttons: list[QPushButton] = []
        self.use_buttons: list[QPushButton] = []
        rows = QVBoxLayout()
        rows.setSpacing(2)
        for index in range(MAX_VARIATIONS):
            label = QLabel()
            play = QPushButton("Play")
            play.setObjectName(f"PlayVariation{index}")
            play.setToolTip("Hear the roll with this variation, from a bar before it begins")
            play.clicked.connect(lambda _=False, i=index: self.audition(i))
            use = QPushButton("Use this")
            use.setObjectName(f"UseVariation{index}")
            use.setToolTip("Keep this variation as a new track")
            use.clicked.connect(lambda _=False, i=index: generation.pick(i))
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(play)
            row.addWidget(use)
            rows.addLayout(row)
            self.labels.append(label)
            self.play_buttons.append(play)
            self.use_buttons.append(use)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(rows)
        layout.addStretch(1)
        generation.events.started.connect(self._started)
        generation.events.variation.connect(lambda index, _note: self.show_row(index))
        generation.events.finished.connect(self._finished)
        generation.events.picked.connect(self._picked)
        self._show_rows(0)

    def _show_rows(self, count: int) -> None:
        for index, widgets in enumerate(zip(self.labels, self.play_buttons, self.use_buttons, strict=True)):
            for widget in widgets:
                widget.setVisible(index < count)

    def _started(self, run: Run) -> None:
        if run.kind != "variations":
            return
        self.caption.setText(f"<b>Variations</b>: writing {run.settings.count} continuations of "
                             f"{run.settings.bars} bars…")
        self._show_rows(run.settings.count)
        for index in range(run.settings.count):
            self.show_row(index)

    def show_row(self, index: int) -> None:
        """A row as its variation is now: seed, notes, range; playable once it has notes."""
        variation = self.generation.choices[index]
        notes = variation.notes
        range_ = f", {pitch_name(min(n.pitch for n in notes))}–{pitch_name(max(n.pitch for n in notes))}" \
            if notes else ""
        self.labels[index].setText(f"{index + 1}. Seed {variation.seed}: {len(notes)} notes{range_}")
        self.play_buttons[index].setEnabled(bool(notes) and (self.transport.available or
                                                             self.transport.live is not None))
        self.use_buttons[index].setEnabled(bool(notes) and not self.generation.writing)

    def _finished(self, run: Run, done: bool) -> None:
        if run.kind != "variations":
            return
        self.caption.setText("<b>Variations</b>: play them, and use the one you like." if done else
                             "<b>Variations</b>: stopped; the variations so far can still be played and used.")
        for index in range(len(self.generation.choices)):
            self.show_row(index)

    def _picked(self, index: int) -> None:
        self.caption.setText(f"<b>Variations</b>: variation {index + 1} is now a track; another can be used too, "
                             "or press Variations for new ones.")

    def audition(self, index: int) -> None:
        """Play the roll with the ``index``-th variation in it (Stop, or Space, ends it)."""
        self.transport.play_score(self.generation.variation_score(index), self.generation.audition_start())
