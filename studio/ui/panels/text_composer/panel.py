"""The Text Composer: type a prompt, stream a continuation at the cursor, pick among
alternatives, see each token's probability and what it attended to, and save the
text with what wrote each passage in it (see :mod:`.record`).

The view of a :class:`~.state.ComposerState`: it hands the state the text before
the cursor and writes the tokens the state streams back into the editor. Models
run only on the inference thread: every token comes back as a step of a
request, so a Stop halts the model within one token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.artifacts import TextArtifact
from studio.core.errors import UserError
from studio.ui.export import export_artifact
from studio.ui.kit.model_panel import ModelPanel
from studio.ui.kit.state import PanelState
from studio.ui.panels.text_composer.alternatives import AlternativesView
from studio.ui.panels.text_composer.attention import AttentionView
from studio.ui.panels.text_composer.controls import NEW_SEED, SamplingControls
from studio.ui.panels.text_composer.editor import DROPPED_KINDS, ComposerEditor
from studio.ui.panels.text_composer.files import read_text
from studio.ui.panels.text_composer.state import COUNT, ComposerState, Run
from studio.ui.panels.text_composer.text_undo import share_undo
from studio.ui.widgets.fields import button


class TextComposerPanel(ModelPanel):
    what_it_does = ("Type a prompt and stream a continuation at the cursor, with temperature and top-k; pick "
                    "among alternatives; see how likely each token was and what it attended to; train a model "
                    "on your own text.")
    families = "LSTMs, GPT-style transformers and local Hugging Face language models"
    import_filter = "Text (*.txt *.md)"
    dropped_kinds = DROPPED_KINDS
    declared_settings = (NEW_SEED,)
    state_class = ComposerState
    cancel_description = "Stop writing (what was written stays)"
    cancel_text = "Stop"
    import_tip = ("A Hugging Face causal language model in a local folder (config.json, model.safetensors, "
                  "tokenizer files)")
    state: ComposerState

    def make_state(self) -> PanelState:
        context = self.context
        return ComposerState(context.inference, context.registry, context.workspace.store,
                             new_seed_each_time=context.settings.get(NEW_SEED.key))

    def build_content(self) -> QWidget:
        self.train_button = button("Train on your text…", "Train a GPT or an LSTM on a text file of yours",
                                   self.train)
        self.save_button = button("Save…", "Save the text as .txt or .md, with the settings that wrote it "
                                  "in a .studio.json beside it", self._save)
        self.controls = SamplingControls(self.state, self.context.settings)
        self.colour = QCheckBox("Colour by probability")
        self.colour.setToolTip("Tint the tokens the model found unlikely; hover a token for its probability")
        self.colour.setChecked(True)
        self.colour.toggled.connect(lambda on: self.editor.set_colour_probabilities(on))
        self.generate_button = button("Generate", "Continue the text at the cursor (Ctrl+Enter)", self.generate)
        self.generate_button.setObjectName("GenerateButton")
        self.alternatives_button = button("Alternatives", f"Write {COUNT} continuations with different seeds "
                                          "to pick from", self.write_alternatives)

        self.editor = ComposerEditor()
        self.editor.setPlaceholderText("Type a prompt, put the cursor where the model should write, "
                                       "and press Generate (Ctrl+Enter).")
        font = self.editor.font()
        font.setPointSize(font.pointSize() + 2)
        self.editor.setFont(font)
        self.editor.token_clicked.connect(self.show_attention)
        self.editor.files_dropped.connect(lambda paths: self.open_dropped(paths[0]))
        share_undo(self.editor, self.undo_stack)  # Edit ▸ Undo reaches the text
        self.alternatives = AlternativesView()
        self.alternatives.picked.connect(self.use_alternative)
        self.attention = AttentionView()

        events = self.state.events
        events.started.connect(self._started)
        events.token.connect(self.editor.write_token)
        events.alternative.connect(self.alternatives.append)
        events.finished.connect(self._finished)
        events.opened.connect(self._opened)
        events.retrained.connect(lambda choice: self.context.show_status(
            f"{choice.label}: the checkpoint was saved again; the next Generate uses the new weights"))
        events.restored.connect(self._restored)
        events.model_missing.connect(lambda reason: QMessageBox.information(
            self, "Open text", "The text and its settings are restored, but the model that wrote it is not on this "
            f"machine: {reason} Choose another model to continue it."))
        return self._lay_out()

    def _lay_out(self) -> QWidget:
        # two rows that fit a 1280-pixel window while it writes: the model and what to do with it, then
        # how to sample (a progress bar appearing must not make the window wider)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.picker, 2)
        self.importer.place(top)
        top.addWidget(self.train_button)
        top.addStretch(1)
        for widget in (self.task_bar, self.generate_button, self.alternatives_button, self.save_button):
            top.addWidget(widget)
        strip = QHBoxLayout()
        strip.addWidget(self.controls)
        strip.addStretch(1)
        strip.addWidget(self.colour)
        left = QSplitter(Qt.Vertical)
        left.addWidget(self.editor)
        left.addWidget(self.alternatives)
        left.setSizes([560, 190])
        attention_box = QWidget()
        box = QVBoxLayout(attention_box)
        box.setContentsMargins(6, 0, 0, 0)
        box.addWidget(QLabel("<b>Attention</b>"))
        box.addWidget(self.attention, 1)
        main = QSplitter(Qt.Horizontal)
        main.addWidget(left)
        main.addWidget(attention_box)
        main.setSizes([850, 400])
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(top)
        layout.addLayout(strip)
        layout.addWidget(main, 1)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            self.add_shortcut(keys, self.generate, "Generate a continuation at the cursor", content)
        return content

    # -- panel -----------------------------------------------------------------------------
    def empty_actions(self) -> list[tuple[str, Callable[[], Any]]]:
        return [("Train on your text…", self.train), (self.importer.title(), lambda: self.importer.run())]

    def empty_message(self) -> str:
        if not self.state.importers():
            return super().empty_message()
        return super().empty_message() + (
            "<p>Or use a Hugging Face language model you have on disk: <b>Import model folder…</b> takes a "
            "GPT-2-style folder with config.json, model.safetensors and its tokenizer files.</p>")

    # -- writing ---------------------------------------------------------------------------------
    def generate(self) -> None:
        """Continue the text before the cursor, streaming the tokens in at the cursor."""
        self.state.generate(self.editor.prompt())

    def write_alternatives(self) -> None:
        self.state.write_alternatives(self.editor.prompt())

    def cancel(self) -> None:
        """Stop writing; the text written so far stays and later tokens are dropped."""
        self.state.cancel()

    @property
    def writing(self) -> bool:
        """Whether a continuation or a round of alternatives is being written."""
        return self.state.writing

    def _started(self, run: Run) -> None:
        if run.alternatives:
            seed = run.generations[0].params["seed"]
            self.alternatives.begin(seed, greedy=run.generations[0].params["temperature"] == 0)
        else:
            self.editor.start_stream()

    def _finished(self, run: Run, done: bool) -> None:
        if run.alternatives:
            self.alternatives.finish(done)
        else:
            self.editor.end_stream()
        self.context.show_status(run.summary(done))

    def use_alternative(self, index: int) -> None:
        """Insert the ``index``-th alternative at the cursor, as if it had just been generated."""
        generation = self.state.use_alternative(index)
        self.editor.start_stream()
        for i, (text, probability) in enumerate(zip(generation.texts, generation.probabilities, strict=True)):
            self.editor.write_token(generation.id, i, text, probability)
        self.editor.end_stream()
        self.editor.setFocus()

    # -- attention -----------------------------------------------------------------------------------
    def show_attention(self, generation_id: int, index: int) -> None:
        generation = self.state.generations.get(generation_id)
        if generation is None:
            return
        if generation.has_attention is False:
            spec = self.context.registry.models.get(generation.params["model"])
            name = spec.title if spec else generation.params["model"]
            self.attention.show_message(
                f"<b>{name}</b> has no attention to show. Only transformers (GPT, Hugging Face models) "
                "weigh the earlier tokens; a recurrent network such as an LSTM carries what it read in its "
                "hidden state instead.")
            return
        attended = generation.attended(index)
        if attended is None:
            self.attention.show_message("The attention of this token is no longer kept (only the most recent "
                                        "tokens' is, to save memory). Generate again to see it.")
            return
        self.attention.show_token(generation.texts[index], generation.probabilities[index], *attended)

    # -- models -----------------------------------------------------------------------------------------
    def train(self) -> None:
        """Train on a text of the artist's: the featured trainable model, on a source that takes a file."""
        from studio.ui.train_dialog import TrainDialog

        trainable = self.trainable()
        spec = trainable[0] if trainable else None
        sources = [s for s in self.context.registry.dataset_sources.values()
                   if spec is not None and s.kind == spec.data_kind and s.needs_location]
        sources.sort(key=lambda s: s.title)
        TrainDialog(self.context, self, model=spec.name if spec else None,
                    source=sources[0].name if sources else None).exec()

    # -- files ------------------------------------------------------------------------------------------
    def export(self) -> Optional[str]:
        text = self.editor.toPlainText()
        if not text.strip():
            return "Write or generate some text first, then save it."
        params = self.sidecar(text)
        name = f"{params['model']}-seed{params['seed']}.txt" if "model" in params else "text.txt"
        export_artifact(self, self.context, TextArtifact(text, params), name)
        return None

    def sidecar(self, text: str) -> dict[str, Any]:
        """What a save writes beside ``text`` (the editor's): a record of each generation in it."""
        return self.state.sidecar(text, self.editor.generation_spans())

    def _save(self) -> None:
        reason = self.export()
        if reason:
            self.context.show_status(reason)

    def import_file(self, path: Path) -> None:
        """Open a text; with the sidecar the studio saved beside it, restore the settings and model too."""
        try:
            text, params, note = read_text(Path(path))
        except UserError as exc:
            QMessageBox.warning(self, "Open text", str(exc))
            return
        status = self.state.open_text(text, params, Path(path).name)
        self.context.show_status(status or f"Opened {Path(path).name}; "
                                 f"{note or 'nothing in it was generated (the text only)'}")

    def _restored(self, note: str) -> None:
        """The model of an opened text is found: say so when it is not exactly the one that wrote it."""
        if note:
            QMessageBox.information(self, "Open text", f"The text and its settings are restored; {note}.")

    def _opened(self, text: str) -> None:
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.End)
        self.undo_stack.clear()  # a new text: the document's own history starts afresh too
