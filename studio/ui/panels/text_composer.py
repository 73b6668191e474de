"""The Text Composer: type a prompt, stream a continuation at the cursor, pick among
alternatives, see each token's probability and what it attended to, and save the
text with what wrote each passage in it (see :mod:`studio.ui.panels.text.record`).

The parts live in :mod:`studio.ui.panels.text`; this module wires them to the
model picker, the inference thread and the files. Models run only on the
inference thread: every token comes back as a step of a request, so a cancel
stops the model within one token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.artifacts import TextArtifact
from studio.core.errors import UserError
from studio.ui.export import export_artifact
from studio.ui.panels.base import ModelPanel
from studio.ui.panels.text import record
from studio.ui.panels.text.alternatives import COUNT, AlternativesView
from studio.ui.panels.text.attention import AttentionView
from studio.ui.panels.text.controls import SamplingControls
from studio.ui.panels.text.editor import DROPPED_KINDS, ComposerEditor
from studio.ui.panels.text.files import HF_SPEC, PANEL, import_model_folder, read_text
from studio.ui.panels.text.generation import (
    Alternative,
    Generation,
    Generations,
    PromptTokens,
    Sampling,
    alternatives,
    continuation,
)
from studio.ui.params import changed_since
from studio.ui.widgets.fields import button
from studio.ui.widgets.model_picker import ModelChoice

#: what Train on your text… preselects: chapter 9's GPT on a text file of the artist's
TRAIN_MODEL, TRAIN_SOURCE = "gpt", "text-file"


@dataclass
class _Run:
    """One request in flight: a continuation (one generation) or a round of alternatives."""

    generations: list[Generation]
    alternatives: bool = False
    request: Any = None
    started: float = field(default_factory=time.monotonic)
    unreadable: int = 0  #: characters of the prompt the model could not read


class TextComposerPanel(ModelPanel):
    what_it_does = ("Type a prompt and stream a continuation at the cursor, with temperature and top-k; pick "
                    "among alternatives; see how likely each token was and what it attended to; train a model "
                    "on your own text.")
    families = "LSTMs, GPT-style transformers and local Hugging Face language models"
    import_filter = "Text (*.txt *.md)"
    dropped_kinds = DROPPED_KINDS

    def build_content(self) -> QWidget:
        self.generations = Generations()
        self.last_params: dict[str, Any] = {}  #: what wrote the latest text
        self.opened: list[dict[str, Any]] = []  #: the generation records of the text as it was opened
        self.choices: list[Generation] = []  #: the latest round of alternatives
        self._run: Optional[_Run] = None

        self.import_folder_button = button("Import model folder…", "A Hugging Face causal language model "
                                            "in a local folder (config.json, model.safetensors, tokenizer files)",
                                            lambda: self.import_model_folder())
        self.train_button = button("Train on your text…", "Train a GPT or an LSTM on a text file of yours",
                                    self.train)
        self.save_button = button("Save…", "Save the text as .txt or .md, with the settings that wrote it "
                                   "in a .studio.json beside it", self._save)
        self.controls = SamplingControls()
        self.colour = QCheckBox("Colour by probability")
        self.colour.setToolTip("Tint the tokens the model found unlikely; hover a token for its probability")
        self.colour.setChecked(True)
        self.colour.toggled.connect(lambda on: self.editor.set_colour_probabilities(on))
        self.generate_button = button("Generate", "Continue the text at the cursor (Ctrl+Enter)", self.generate)
        self.generate_button.setObjectName("GenerateButton")
        self.alternatives_button = button("Alternatives", f"Write {COUNT} continuations with different seeds "
                                           "to pick from", self.write_alternatives)
        self.cancel_button = button("Stop", "Stop writing and keep what was written (Esc)", self.cancel)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.hide()

        self.editor = ComposerEditor()
        self.editor.setPlaceholderText("Type a prompt, put the cursor where the model should write, "
                                       "and press Generate (Ctrl+Enter).")
        font = self.editor.font()
        font.setPointSize(font.pointSize() + 2)
        self.editor.setFont(font)
        self.editor.token_clicked.connect(self.show_attention)
        self.editor.files_dropped.connect(lambda paths: self.open_dropped(paths[0]))
        self.alternatives = AlternativesView()
        self.alternatives.picked.connect(self.use_alternative)
        self.attention = AttentionView()
        return self._lay_out()

    def _lay_out(self) -> QWidget:
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.picker, 2)
        for widget in (self.import_folder_button, self.train_button):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.save_button)
        strip = QHBoxLayout()
        strip.addWidget(self.controls)
        strip.addWidget(self.colour)
        strip.addStretch(1)
        for widget in (self.progress, self.generate_button, self.alternatives_button, self.cancel_button):
            strip.addWidget(widget)
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
        self.add_shortcut(Qt.Key_Escape, self.cancel, "Stop writing (what was written stays)", content)
        self._update_buttons()
        return content

    # -- panel -----------------------------------------------------------------------------
    def empty_actions(self) -> list[tuple[str, Callable[[], Any]]]:
        return [("Train on your text…", self.train), ("Import model folder…", lambda: self.import_model_folder())]

    def empty_message(self) -> str:
        if HF_SPEC not in self.context.registry.models:
            return super().empty_message()
        return super().empty_message() + (
            "<p>Or use a Hugging Face language model you have on disk: <b>Import model folder…</b> takes a "
            "GPT-2-style folder with config.json, model.safetensors and its tokenizer files.</p>")

    # -- writing ---------------------------------------------------------------------------------
    def generate(self) -> None:
        """Continue the text before the cursor, streaming the tokens in at the cursor."""
        choice = self.picker.current()
        if choice is None:
            return
        self.cancel()
        prompt, sampling = self.editor.prompt(), self.controls.sampling()
        run = _Run([self.generations.new(self._params(choice, prompt, sampling))])
        self.editor.start_stream()
        self._submit(choice, run, lambda model, ctx: continuation(model, ctx, prompt, sampling, choice.ref.checkpoint))
        self.controls.used()

    def write_alternatives(self) -> None:
        """Write ``COUNT`` continuations side by side, with seeds seed, seed + 1, ..."""
        choice = self.picker.current()
        if choice is None:
            return
        self.cancel()
        prompt, sampling = self.editor.prompt(), self.controls.sampling()
        params = self._params(choice, prompt, sampling)
        self.choices = [self.generations.new({**params, "seed": sampling.seed + i}) for i in range(COUNT)]
        self.alternatives.begin(sampling.seed, greedy=sampling.temperature == 0)
        self._submit(choice, _Run(self.choices, alternatives=True),
                     lambda model, ctx: alternatives(model, ctx, prompt, sampling, COUNT, choice.ref.checkpoint))
        self.controls.used()

    def _submit(self, choice: ModelChoice, run: _Run, work: Callable[[Any, Any], Any]) -> None:
        self._run = run
        run.request = self.context.inference.submit(
            choice.ref, work, key=PANEL,
            on_step=lambda step, total, payload: self._stepped(run, step, total, payload),
            on_result=lambda _count: self._finish(run, done=True),
            on_error=lambda message, _detail: self._failed(run, message),
            on_cancelled=lambda: self._finish(run, done=False))
        self.progress.setRange(0, 0)
        self.progress.show()
        self._update_buttons()

    def cancel(self) -> None:
        """Stop the request in flight; the text written so far stays and later tokens are dropped."""
        run = self._run
        if run is not None:
            run.request.cancel()
            self._finish(run, done=False)

    def _stepped(self, run: _Run, step: int, total: int, payload: Any) -> None:
        if run is not self._run:
            return  # stopped: tokens still on their way are dropped
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        if isinstance(payload, PromptTokens):
            run.unreadable = payload.unreadable
            for generation in run.generations:
                generation.prompt_pieces = payload.pieces
                generation.params["checkpoint_sha256"] = payload.checkpoint_sha256
                generation.params["prompt"] = payload.prompt  # the end of it the model was given
        elif isinstance(payload, Alternative):
            self.generations.add(run.generations[payload.index], payload.step)
            self.alternatives.append(payload.index, payload.step.text)
        elif payload is not None:
            generation = run.generations[0]
            index = self.generations.add(generation, payload)
            self.editor.write_token(generation.id, index, payload.text, payload.probability)

    def _finish(self, run: _Run, done: bool) -> None:
        if run is not self._run:
            return
        self._run = None
        written = sum(len(g.texts) for g in run.generations)
        seconds = time.monotonic() - run.started
        if run.alternatives:
            self.alternatives.finish(done)
        else:
            self.editor.end_stream()
            self.last_params = {**run.generations[0].params, "tokens": written}
        self.progress.hide()
        self._update_buttons()
        unreadable = (f"; {run.unreadable} character{'s' if run.unreadable != 1 else ''} before the cursor "
                      f"the model never saw {'were' if run.unreadable != 1 else 'was'} replaced by similar ones "
                      "or skipped" if run.unreadable else "")
        if done:
            self.context.show_status(f"Wrote {written} tokens in {seconds:.1f} s ({written / max(seconds, 1e-3):.0f} "
                                     f"tokens/s){unreadable}")
        else:
            self.context.show_status(f"Stopped after {written} tokens; what was written is kept{unreadable}")

    def _failed(self, run: _Run, message: str) -> None:
        if run is self._run:
            self._finish(run, done=False)
            QMessageBox.warning(self, "Writing failed", message)

    @property
    def writing(self) -> bool:
        """Whether a continuation or a round of alternatives is being written."""
        return self._run is not None

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(self.writing)

    def model_retrained(self, choice: ModelChoice) -> None:
        self.context.show_status(f"{choice.label}: the checkpoint was saved again; the next Generate uses "
                                 "the new weights")

    def use_alternative(self, index: int) -> None:
        """Insert the ``index``-th alternative at the cursor, as if it had just been generated."""
        self.cancel()
        generation = self.choices[index]
        self.editor.start_stream()
        for i, (text, probability) in enumerate(zip(generation.texts, generation.probabilities, strict=True)):
            self.editor.write_token(generation.id, i, text, probability)
        self.editor.end_stream()
        self.last_params = {**generation.params, "tokens": len(generation.texts)}
        self.editor.setFocus()

    def _params(self, choice: ModelChoice, prompt: str, sampling: Sampling) -> dict[str, Any]:
        return {"panel": PANEL, "model": choice.spec.name, "plugin_version": choice.spec.plugin_version,
                "checkpoint": choice.ref.checkpoint, "checkpoint_sha256": None, "prompt": prompt,
                **sampling.params()}

    # -- attention -----------------------------------------------------------------------------------
    def show_attention(self, generation_id: int, index: int) -> None:
        generation = self.generations.get(generation_id)
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
        from studio.ui.train_dialog import TrainDialog

        TrainDialog(self.context, self, model=TRAIN_MODEL, source=TRAIN_SOURCE).exec()

    def import_model_folder(self, folder: Optional[str] = None) -> None:
        """Import a Hugging Face model folder (asked for when not given) and choose it once it loads."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Import a Hugging Face model folder")
            if not folder:
                return
        folder = str(Path(folder).expanduser().resolve())
        self.import_folder_button.setEnabled(False)
        import_model_folder(self, self.context, folder, lambda ok: self._folder_imported(folder, ok))

    def _folder_imported(self, folder: str, ok: bool) -> None:
        self.import_folder_button.setEnabled(True)
        if ok:
            self.refresh()
            self.picker.select(folder)

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
        live = record.live_records(text, self.editor.generation_spans(), self.generations.get)
        return record.sidecar(PANEL, record.merged(self.opened, live, text))

    def _save(self) -> None:
        reason = self.export()
        if reason:
            self.context.show_status(reason)

    def open_dropped(self, path: Path) -> None:
        """A text opens in the editor; a folder is imported as a Hugging Face model."""
        if path.is_dir():
            self.import_model_folder(str(path))
        else:
            self.import_file(path)

    def import_file(self, path: Path) -> None:
        """Open a text; with the sidecar the studio saved beside it, restore the settings and model too."""
        try:
            text, params, note = read_text(Path(path))
        except UserError as exc:
            QMessageBox.warning(self, "Open text", str(exc))
            return
        self.cancel()
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.End)
        self.opened = record.opened_records(params)
        self.last_params = {k: v for k, v in params.items() if k != "generations"} if self.opened else {}
        if not self.opened:
            self.context.show_status(f"Opened {Path(path).name}; "
                                     f"{note or 'nothing in it was generated (the text only)'}")
            return
        self.controls.restore(params)
        self.context.show_status(f"Opened {Path(path).name} with the settings that wrote it")
        self._restore_model(params)

    def _restore_model(self, params: dict[str, Any]) -> None:
        checkpoint, model = params.get("checkpoint"), params.get("model")
        if not checkpoint:
            return
        if not self.picker.select(checkpoint):
            if not Path(checkpoint).exists():
                QMessageBox.information(self, "Open text", f"The text and its settings are restored, but the model "
                                        f"that wrote it ({model}, {checkpoint}) is not on this machine. Choose "
                                        "another model to continue it.")
                return
            if model == HF_SPEC:
                self.import_model_folder(checkpoint)
            else:
                self.picker.add_checkpoint(checkpoint)
        self._warn_if_retrained(params)

    def _warn_if_retrained(self, params: dict[str, Any]) -> None:
        checkpoint = params["checkpoint"]
        if Path(checkpoint).exists() and changed_since(params, checkpoint):
            QMessageBox.information(self, "Open text", f"The text and its settings are restored, but the model "
                                    f"that wrote it ({params.get('model')}, {checkpoint}) has been trained further "
                                    "since: the same seed and settings will not write the same text again.")
