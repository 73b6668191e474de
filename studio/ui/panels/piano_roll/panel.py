"""The Piano Roll: draw and edit notes, continue a phrase, listen, export MIDI and WAV.

The editor works without a model (drawing, editing, importing and exporting need none), so the panel
always shows it; the model picker sits above it for Continue and Variations.

Rows, top to bottom: the model (picker and task bar), then :attr:`PianoRollPanel.generation_row` and
:attr:`PianoRollPanel.transport_row` (empty here: Continue/Variations and the transport and files
are widgets of their own, added to these rows), then the editor (:class:`~.editor.RollEditor`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.ui.kit.model_panel import ModelPanel
from studio.ui.kit.state import PanelState
from studio.ui.panels.piano_roll.editor import RollEditor
from studio.ui.panels.piano_roll.state import PianoRollState


class PianoRollPanel(ModelPanel):
    what_it_does = ("Draw and edit notes, continue a phrase, generate bars with chord, style and groove "
                    "controls, listen, and export MIDI and WAV.")
    families = "Music transformers and MuseGAN"
    state_class = PianoRollState
    state: PianoRollState

    def make_state(self) -> PanelState:
        context = self.context
        return PianoRollState(context.inference, context.registry, context.workspace.store)

    def has_content(self) -> bool:
        return True

    def build_content(self) -> QWidget:
        self.editor = RollEditor(self.state, self.undo_stack)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.picker, 2)
        model_row.addStretch(1)
        model_row.addWidget(self.task_bar)
        #: Continue, Variations and their settings go here
        self.generation_row = QHBoxLayout()
        #: play, stop, loop, tempo, sound, MIDI ports and files go here
        self.transport_row = QHBoxLayout()
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(model_row)
        layout.addLayout(self.generation_row)
        layout.addLayout(self.transport_row)
        layout.addWidget(self.editor, 1)
        return content
