"""The Piano Roll: draw and edit notes, continue a phrase, listen, export MIDI and WAV.

The editor works without a model (drawing, editing, importing and exporting need none), so the panel
always shows it; the model picker sits above it for Continue and Variations.

Rows, top to bottom: the model (picker and task bar), the Continue bar (:class:`~.controls.ContinueBar`),
the transport bar (:class:`~.controls.TransportBar`), then the editor (:class:`~.editor.RollEditor`) with
the variations to audition (:class:`~.variations.VariationsView`) at its right.

While a continuation streams into the roll, the panel's undo stack is inactive (Edit ▸ Undo is off):
the continuation becomes one undo step when it ends, and an undo in the middle would undo the edit
before it under the notes still arriving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QSplitter, QVBoxLayout, QWidget

from studio.core.errors import UserError
from studio.ui.bridge import GuiRelay
from studio.ui.export import export_artifact
from studio.ui.kit.model_panel import ModelPanel
from studio.ui.kit.state import PanelState
from studio.ui.panels.piano_roll.controls import NEW_SEED, SETTINGS, ContinueBar, TransportBar, make_transport
from studio.ui.panels.piano_roll.editor import RollEditor
from studio.ui.panels.piano_roll.files import IMPORT_FILTER, MIDI_SUFFIXES, import_midi, suggested_name
from studio.ui.panels.piano_roll.files import export_artifact as roll_artifact
from studio.ui.panels.piano_roll.generation import RollGeneration
from studio.ui.panels.piano_roll.state import PianoRollState
from studio.ui.panels.piano_roll.variations import VariationsView


class PianoRollPanel(ModelPanel):
    what_it_does = ("Draw and edit notes, continue a phrase note by note, audition variations, listen, and "
                    "export MIDI and WAV.")
    families = "Music transformers (the book's notes-and-durations model, a polyphonic event model)"
    import_filter = IMPORT_FILTER
    dropped_kinds = MIDI_SUFFIXES
    declared_settings = SETTINGS
    state_class = PianoRollState
    cancel_description = "Stop writing (what was written stays)"
    cancel_text = "Stop"
    state: PianoRollState

    def make_state(self) -> PanelState:
        context = self.context
        return PianoRollState(context.inference, context.registry, context.workspace.store)

    def has_content(self) -> bool:
        return True

    def build_content(self) -> QWidget:
        settings = self.context.settings
        self.editor = RollEditor(self.state, self.undo_stack)
        self.generation = RollGeneration(self.state, new_seed_each_time=settings.get(NEW_SEED.key))
        self.relay = GuiRelay(self)
        self.transport = make_transport(self.state, settings, self.relay.wrap)
        self.continue_bar = ContinueBar(self.generation, settings)
        self.transport_bar = TransportBar(self.transport, self.generation, settings, self.context.show_status)
        self.variations = VariationsView(self.generation, self.transport)
        self.editor.keyboard.key_pressed.connect(self.transport.key_pressed)
        self.generation.events.started.connect(self._started)
        self.generation.events.finished.connect(self._finished)

        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.picker, 2)
        model_row.addStretch(1)
        model_row.addWidget(self.task_bar)
        body = QSplitter(Qt.Horizontal)
        body.addWidget(self.editor)
        body.addWidget(self.variations)
        body.setStretchFactor(0, 1)
        body.setSizes([1000, 220])
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(model_row)
        layout.addWidget(self.continue_bar)
        layout.addWidget(self.transport_bar)
        layout.addWidget(body, 1)
        self.add_shortcut(Qt.Key_Space, self.transport.toggle, "Play or stop", content)
        self.add_shortcut("Ctrl+Return", self.generation.continue_, "Continue the notes before the playhead",
                          content)
        return content

    def _started(self, run) -> None:
        """A continuation starts: in view where it will be written, and no undo while it is."""
        start = run.params["start_beat"]
        self.editor.roll.show_span(start, start + run.settings.bars * self.state.beats_per_bar)
        self._writing(True)

    def _writing(self, on: bool) -> None:
        """Edit ▸ Undo and Redo are off while a continuation streams in (see the module's docstring); on
        again after it when this panel is the one shown (the window activates the shown panel's stack)."""
        if on or self.isVisible():
            self.undo_stack.setActive(not on)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """The window activates a panel's stack when its tab is shown: not while a continuation streams
        (checked once the window is done with the tab change)."""
        super().showEvent(event)
        QTimer.singleShot(0, lambda: self.undo_stack.setActive(False) if self.generation.writing else None)

    def _finished(self, run, done: bool) -> None:
        self._writing(False)
        self.context.show_status(run.summary(done))

    # -- files ------------------------------------------------------------------------------------------
    def import_file(self, path: Path) -> None:
        """Open a MIDI file in the roll (one undo step); one the studio wrote restores its Continue settings."""
        try:
            status = import_midi(self.state, self.generation, Path(path), on_model_missing=self._model_missing)
        except UserError as exc:
            QMessageBox.warning(self, "Import MIDI", str(exc))
            return
        self.editor.roll.show_notes()
        self.context.show_status(status)

    def _model_missing(self, reason: str) -> None:
        QMessageBox.information(self, "Import MIDI", f"The notes are open; {reason.rstrip('.')}, so the "
                                "model that wrote them is not chosen.")

    def export(self) -> Optional[str]:
        if not self.state.notes:
            return "Draw, import or continue some notes first, then export them."
        artifact = roll_artifact(self.state, self.generation, sound=self.transport.sound)
        export_artifact(self, self.context, artifact, suggested_name(artifact))
        return None

    def shutdown(self) -> None:
        self.generation.cancel()
        self.transport.close()
        super().shutdown()
