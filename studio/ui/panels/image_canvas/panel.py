"""The Image Canvas: sample grids from image models, fix a seed, condition, repaint, export PNG.

The view of a :class:`~.state.CanvasState`: its controls set the state's
settings, its grid shows the state's grid (or the sample forming, step by
step), each new grid is an undoable step (Edit ▸ Undo, or the history strip,
shows an earlier one), and the "Start from" tab holds the image a sample may
start from (image to image) with the mask painted over it (inpainting).
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.imaging import read_png_metadata
from studio.ui.export import export_artifact
from studio.ui.kit.model_panel import ModelPanel
from studio.ui.panels.image_canvas import commands
from studio.ui.panels.image_canvas.measuring import SAMPLES as MEASURE_SAMPLES
from studio.ui.panels.image_canvas.source import from_file
from studio.ui.panels.image_canvas.start_tab import StartTab
from studio.ui.panels.image_canvas.state import (
    MAX_IMAGES,
    MAX_SEED,
    OPTION_RANGES,
    SEED_MODES,
    CanvasState,
    Grid,
    picture_of,
)
from studio.ui.panels.image_canvas.views import GridView
from studio.ui.widgets.fields import int_spin
from studio.ui.widgets.image_view import ImageView, to_qimage

#: image files the canvas opens: its own PNGs restore their settings; any image can be started from
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
THUMBNAIL = 60
#: the class menu's first entry: no class asked for
ANY_CLASS = "Any class"
#: the panel the "Send to Latent Explorer" button hands an image to
LATENT_PANEL = "latent-explorer"


class ImageCanvasPanel(ModelPanel):
    what_it_does = ("Sample grids of images, fix a seed, condition on a class or a prompt, watch a "
                    "diffusion sample form step by step, repaint a masked region and export PNGs.")
    families = "GANs, diffusion models, PixelCNN, normalizing flows and energy-based models"
    import_filter = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
    dropped_kinds = (*IMAGE_SUFFIXES, "/", ".safetensors", ".ckpt")  #: images, and models to import
    state_class = CanvasState
    cancel_description = "Stop sampling"
    state: CanvasState

    def build_content(self) -> QWidget:
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(self._sampling_row())
        layout.addLayout(self._options_row())
        layout.addWidget(self._prompt_row())
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self._grid_side())
        splitter.addWidget(self._detail_side())
        splitter.setSizes([700, 460])
        layout.addWidget(splitter, 1)
        self.add_shortcut("Ctrl+Return", self.sample, "Sample a new grid", content)
        self._follow_state()
        return content

    # -- building ----------------------------------------------------------------------------------
    def _sampling_row(self) -> QHBoxLayout:
        self.count = int_spin(1, MAX_IMAGES, self.state.settings.count, "ImageCount")
        self.seed = int_spin(0, MAX_SEED, self.state.settings.seed, "Seed")
        self.seed_mode = QComboBox()
        self.seed_mode.setObjectName("SeedMode")
        for mode, text in SEED_MODES.items():
            self.seed_mode.addItem(text, mode)
        self.seed_mode.setToolTip("Fixed: Sample draws the same grid again. Random: a new seed each time. "
                                  "+1 per image: each grid goes on from where the last one ended")
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("A random seed; the same seed always gives the same images")
        self.new_seed.clicked.connect(lambda: (self.seed.setValue(random.randrange(MAX_SEED)), self.sample()))
        self.sample_button = QPushButton("Sample")
        self.sample_button.setObjectName("SampleButton")
        self.sample_button.setDefault(True)
        self.sample_button.setToolTip("Draw a grid from noise (Ctrl+Enter)")
        self.sample_button.clicked.connect(lambda: self.sample())
        self.count.valueChanged.connect(lambda value: self._set(count=value))
        self.seed.valueChanged.connect(lambda value: self._set(seed=value))
        self.seed_mode.currentIndexChanged.connect(lambda _i: self._set(seed_mode=self.seed_mode.currentData()))
        self.measured = QLabel()
        self.measured.setObjectName("Measured")
        row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        row.addWidget(self.picker, 2)
        self.importer.place(row)
        row.addWidget(self.measured)
        for caption, widget in (("Images", self.count), ("Seed", self.seed)):
            row.addWidget(QLabel(caption))
            row.addWidget(widget)
        for widget in (self.seed_mode, self.new_seed, self.sample_button):
            row.addWidget(widget)
        return row

    def _options_row(self) -> QHBoxLayout:
        self.label = QComboBox()
        self.label.setObjectName("ConditionLabel")
        self.width_spin = int_spin(*OPTION_RANGES["size"], 512, "ImageWidth")
        self.height_spin = int_spin(*OPTION_RANGES["size"], 512, "ImageHeight")
        for spin in (self.width_spin, self.height_spin):
            spin.setSingleStep(64)
            spin.setToolTip("The size of each image in pixels (Stable Diffusion: a multiple of 8; it was trained "
                            "at 512, 768 or 1024)")
            spin.valueChanged.connect(lambda _value: self._set(size=(self.width_spin.value(),
                                                                     self.height_spin.value())))
        self.size_box = QWidget()
        size_layout = QHBoxLayout(self.size_box)
        size_layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.width_spin, QLabel("×"), self.height_spin):
            size_layout.addWidget(widget)
        self.steps = int_spin(*OPTION_RANGES["steps"], 50, "SampleSteps")
        self.sampler = QComboBox()
        self.sampler.setObjectName("Sampler")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(*OPTION_RANGES["guidance_scale"])
        self.guidance.setSingleStep(0.5)
        self.guidance.setObjectName("Guidance")
        self.guidance.setToolTip("Classifier-free guidance: 1 is none; more follows the class more closely")
        self.steps.valueChanged.connect(lambda value: self._set(steps=value))
        self.guidance.valueChanged.connect(lambda value: self._set(guidance_scale=value))
        self.label.setToolTip("The class the images show; Any class leaves it to the model (a conditional GAN "
                              "draws every class in turn, a diffusion model its unconditional images)")
        self.label.currentIndexChanged.connect(lambda i: self._set(label=i - 1 if i > 0 else None) if i >= 0
                                               else None)
        self.sampler.currentTextChanged.connect(lambda text: self._set(sampler=text) if text else None)
        self.classes = QCheckBox("Classes")
        self.classes.setObjectName("ShowClasses")
        self.classes.setToolTip("Label each image with the class a trained classifier (the judge) sees in it")
        self.classes.toggled.connect(self.state.judging.set_show_classes)
        self.judge = QComboBox()
        self.judge.setObjectName("Judge")
        self.judge.setToolTip("The classifier that judges: it must take images of this model's size")
        self.judge.currentIndexChanged.connect(self._judge_chosen)
        self.measure_button = QPushButton("Measure")
        self.measure_button.setObjectName("MeasureButton")
        self.measure_button.clicked.connect(self.measure)
        row = QHBoxLayout()
        self.captions = {}
        for caption, widget in (("Class", self.label), ("Steps", self.steps), ("Sampler", self.sampler),
                                ("Guidance", self.guidance), ("Size", self.size_box)):
            self.captions[widget] = QLabel(caption)
            row.addWidget(self.captions[widget])
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.task_bar)  # where there is room for "Sampling 16 images 8% · 3m36s left"
        row.addWidget(self.classes)
        row.addWidget(self.judge)
        row.addWidget(self.measure_button)
        return row

    def _prompt_row(self) -> QWidget:
        """The prompt and the negative prompt, for a model that takes them (shown only then)."""
        self.prompt = QLineEdit()
        self.prompt.setObjectName("ConditionPrompt")
        self.prompt.setPlaceholderText("Describe the image (a LoRA as <lora:NAME:0.8>, where the model takes them)")
        self.prompt.textChanged.connect(lambda text: self._set(prompt=text))
        self.negative_prompt = QLineEdit()
        self.negative_prompt.setObjectName("NegativePrompt")
        self.negative_prompt.setPlaceholderText("What to keep out of the image")
        self.negative_prompt.textChanged.connect(lambda text: self._set(negative_prompt=text))
        self.prompt_row = QWidget()
        row = QHBoxLayout(self.prompt_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.negative_caption = QLabel("Negative")
        for widget, stretch in ((QLabel("Prompt"), 0), (self.prompt, 3), (self.negative_caption, 0),
                                (self.negative_prompt, 2)):
            row.addWidget(widget, stretch)
        for line in (self.prompt, self.negative_prompt):
            line.returnPressed.connect(lambda: self.sample())  # Enter in a prompt samples, as in other tools
        self._scoring_controls(row)
        return self.prompt_row

    def _scoring_controls(self, row: QHBoxLayout) -> None:
        """CLIP: score each image against its prompt, and show the grid best first."""
        scoring = self.state.scoring
        self.score_check = QCheckBox("CLIP score")
        self.score_check.setObjectName("ClipScore")
        self.score_check.setToolTip("Score each image against its prompt with a CLIP model (100 × the cosine of "
                                    "the two embeddings); the score goes into the exported PNG")
        self.score_check.toggled.connect(self._set_scoring)
        self.scorer = QComboBox()
        self.scorer.setObjectName("Scorer")
        self.scorer.setToolTip("The CLIP model that scores")
        self.scorer.currentIndexChanged.connect(
            lambda i: scoring.choose(scoring.scorers[i]) if 0 <= i < len(scoring.scorers) else None)
        self.best_first = QCheckBox("Best first")
        self.best_first.setObjectName("BestFirst")
        self.best_first.setToolTip("Show the grid's images in the order of their CLIP score, best first")
        self.best_first.toggled.connect(lambda _on: self._show_grid())
        self.import_scorer = QPushButton("Import CLIP…")
        self.import_scorer.setToolTip("A CLIP model folder you keep on disk (config.json, model.safetensors, "
                                      "tokenizer and preprocessor files)")
        self.import_scorer.clicked.connect(lambda: self.import_clip())
        for widget in (self.score_check, self.scorer, self.best_first, self.import_scorer):
            row.addWidget(widget)

    def _grid_side(self) -> QWidget:
        self.grid_view = GridView("Press Sample to draw a grid of images from the model.")
        self.grid_view.setObjectName("GridView")
        self.grid_view.tile_clicked.connect(lambda place: self.state.select(self.shown_order()[place]))
        self.undo_button = QToolButton()
        self.undo_button.setText("◀")
        self.undo_button.setToolTip("Undo: the grid before (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button = QToolButton()
        self.redo_button.setText("▶")
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self.history = QListWidget()
        self.history.setObjectName("History")
        self.history.setViewMode(QListWidget.IconMode)
        self.history.setFlow(QListWidget.LeftToRight)
        self.history.setWrapping(False)
        self.history.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.history.setFixedHeight(THUMBNAIL + 26)
        self.history.setToolTip("This session's grids: click one to show it again")
        self.history.itemClicked.connect(self._history_clicked)
        strip = QHBoxLayout()
        strip.addWidget(self.undo_button)
        strip.addWidget(self.history, 1)
        strip.addWidget(self.redo_button)
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid_view, 1)
        layout.addLayout(strip)
        return side

    def _detail_side(self) -> QTabWidget:
        self.detail_view = ImageView("Click an image of the grid to see it large.")
        self.detail_view.setObjectName("DetailView")
        self.detail_caption = QLabel()
        self.detail_caption.setAlignment(Qt.AlignCenter)
        self.export_grid_button = QPushButton("Export grid…")
        self.export_grid_button.clicked.connect(lambda: self.export(single=False))
        self.export_one_button = QPushButton("Export image…")
        self.export_one_button.clicked.connect(lambda: self.export(single=True))
        self.start_here_button = QPushButton("Start from this")
        self.start_here_button.setToolTip("Vary this image, or paint over part of it to make that part anew")
        self.start_here_button.clicked.connect(self.start_from_selection)
        self.send_button = QPushButton("To Latent Explorer")
        self.send_button.setToolTip("Show this image's point in the Latent Explorer's map of the same model")
        self.send_button.clicked.connect(self.send_to_latent_explorer)
        chosen = QWidget()
        layout = QVBoxLayout(chosen)
        layout.addWidget(self.detail_view, 1)
        layout.addWidget(self.detail_caption)
        for pair in ((self.export_one_button, self.export_grid_button), (self.start_here_button, self.send_button)):
            buttons = QHBoxLayout()
            for button in pair:
                buttons.addWidget(button)
            layout.addLayout(buttons)

        self.start_tab = StartTab(self.state, self.undo_stack, sample=self.sample, open_image=self.open_start_image,
                                  set_strength=lambda value: self._set(strength=value))
        self.detail_tabs = QTabWidget()
        self.detail_tabs.addTab(chosen, "Chosen image")
        self.detail_tabs.addTab(self.start_tab, "Start from")
        return self.detail_tabs

    def _follow_state(self) -> None:
        events = self.state.events
        events.info.connect(self._show_info)
        events.settings.connect(self._show_settings)
        events.grid.connect(self._show_grid)
        events.selection.connect(self._show_selection)
        events.preview.connect(lambda preview: self.grid_view.show_forming(picture_of(preview.images)))
        events.sampled.connect(self._sampled)
        events.history.connect(self._show_history)
        events.start.connect(self.start_tab.show_start)
        events.judges.connect(self._show_judges)
        events.verdicts.connect(self._show_verdicts)
        events.scorers.connect(self._show_scorers)
        events.scores.connect(self._show_verdicts)
        events.measured.connect(self._show_measured)
        events.restored.connect(lambda note: self.context.show_status("Restored the image's settings"
                                                                      + (f"; {note}" if note else "")))
        self._show_info()
        self._show_scorers()
        self._show_grid()
        self.start_tab.show_start()

    # -- actions ----------------------------------------------------------------------------------
    def sample(self, start: str = "noise") -> None:
        try:
            self.state.sample(start)
        except ValueError as exc:
            QMessageBox.information(self, "Sample", str(exc))

    def _set_scoring(self, on: bool) -> None:
        reason = self.state.scoring.unavailable() if on else ""
        if reason:
            self.context.show_status(reason)
        self.state.scoring.set_scoring(on)

    def import_clip(self, folder: Optional[str] = None) -> None:
        """Import a CLIP model folder (asked for when not given) to score with, and score with it."""
        folder = folder or QFileDialog.getExistingDirectory(self, "Import a CLIP model folder")
        if not folder:
            return
        self.import_scorer.setEnabled(False)

        def done(ok: bool) -> None:
            self.import_scorer.setEnabled(True)
            if ok:
                _quietly(self.score_check, lambda: self.score_check.setChecked(True))
                self.state.scoring.set_scoring(True)

        try:
            self.state.scoring.add(str(Path(folder).expanduser().resolve()), done)
        except ValueError as exc:
            self.import_scorer.setEnabled(True)
            QMessageBox.warning(self, "Import CLIP", str(exc))

    def _set(self, **changes) -> None:
        try:
            self.state.change(**changes)
        except ValueError as exc:
            self.context.show_status(str(exc))
            self._show_settings()

    def measure(self) -> None:
        try:
            self.state.judging.measure()
        except (ValueError, UserError) as exc:
            QMessageBox.information(self, "Measure", str(exc))

    def _judge_chosen(self, index: int) -> None:
        if 0 <= index < len(self.state.judging.judges):
            self.state.judging.choose(self.state.judging.judges[index])

    def _history_clicked(self, item: QListWidgetItem) -> None:
        grid = self.state.history[self.history.row(item)]
        if grid is not self.state.grid:
            self.undo_stack.push(commands.show_earlier(self.state, grid))

    def start_from_selection(self) -> None:
        try:
            source = self.state.source_from_selection()
        except ValueError as exc:
            QMessageBox.information(self, "Start from this", str(exc))
            return
        self.undo_stack.push(commands.start_from(self.state, source))
        self.detail_tabs.setCurrentIndex(1)

    def open_start_image(self, path: Optional[str] = None) -> None:
        """Start from any image file, fitted to the model's size (asked for when not given)."""
        if self.state.info is None:
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Start from an image", "", self.import_filter)
            if not path:
                return
        try:
            source = from_file(Path(path), self.state.info.image_shape)
        except UserError as exc:
            QMessageBox.warning(self, "Start from an image", str(exc))
            return
        self.undo_stack.push(commands.start_from(self.state, source))
        self.detail_tabs.setCurrentIndex(1)

    def send_to_latent_explorer(self) -> None:
        made = self.state.artifact(single=True)
        if made is None or self.state.selected is None or self.context.send is None:
            return
        artifact, _name = made
        artifact.params["caption"] = self.state.grid.caption(self.state.selected)
        reason = self.context.send(LATENT_PANEL, artifact)
        if reason:
            QMessageBox.information(self, "To Latent Explorer", reason)

    # -- state to widgets ------------------------------------------------------------------------
    def _show_info(self) -> None:
        info = self.state.info
        conditions = info.conditions if info else ()
        options = info.sampling_options if info else ()
        _quietly(self.label, lambda: (self.label.clear(), self.label.addItems([ANY_CLASS, *(info.class_names if info
                                                                                            else ())])))
        _quietly(self.sampler, lambda: (self.sampler.clear(), self.sampler.addItems(list(info.samplers if info
                                                                                          else ()))))
        shown = {self.label: "label" in conditions and bool(info and info.class_names),
                 self.steps: "steps" in options, self.sampler: "sampler" in options,
                 self.guidance: "guidance_scale" in options, self.size_box: "size" in options}
        for widget, visible in shown.items():
            widget.setVisible(visible)
            self.captions[widget].setVisible(visible)
        self.prompt_row.setVisible("prompt" in conditions)
        self.negative_prompt.setVisible("negative_prompt" in conditions)
        self.negative_caption.setVisible("negative_prompt" in conditions)
        self._show_settings()
        self.start_tab.show_start()
        self._show_history()

    def _show_settings(self) -> None:
        s = self.state.settings
        for spin, value in ((self.count, s.count), (self.seed, s.seed), (self.steps, s.steps),
                            (self.guidance, s.guidance_scale), (self.start_tab.strength, s.strength)):
            if value is not None:
                _quietly(spin, lambda sp=spin, v=value: sp.setValue(v))
        _quietly(self.label, lambda: self.label.setCurrentIndex(0 if s.label is None else s.label + 1))
        if s.sampler is not None:
            _quietly(self.sampler, lambda: self.sampler.setCurrentText(s.sampler))
        for line, text in ((self.prompt, s.prompt), (self.negative_prompt, s.negative_prompt)):
            if line.text() != text:
                _quietly(line, lambda ln=line, t=text: ln.setText(t))
        if s.size is not None:
            for spin, value in zip((self.width_spin, self.height_spin), s.size, strict=True):
                _quietly(spin, lambda sp=spin, v=value: sp.setValue(v))
        _quietly(self.seed_mode, lambda: self.seed_mode.setCurrentIndex(self.seed_mode.findData(s.seed_mode)))

    def _show_scorers(self) -> None:
        scoring = self.state.scoring
        _quietly(self.scorer, lambda: (self.scorer.clear(), self.scorer.addItems([s.title for s in scoring.scorers])))
        if scoring.scorer in scoring.scorers:
            _quietly(self.scorer, lambda: self.scorer.setCurrentIndex(scoring.scorers.index(scoring.scorer)))
        for widget in (self.score_check, self.scorer, self.best_first):
            widget.setEnabled(bool(scoring.scorers))

    def shown_order(self) -> list[int]:
        """The grid's images in the order the grid view shows them: best scored first when asked."""
        grid = self.state.grid
        if grid is None:
            return []
        return self.state.scoring.order() if self.best_first.isChecked() else list(range(len(grid.images)))

    def _show_grid(self) -> None:
        grid = self.state.grid
        order = self.shown_order()
        shown = grid if grid is None or order == list(range(len(grid.images))) else \
            dataclasses.replace(grid, images=grid.images[order])
        self.grid_view.show_grid(shown, self._labels())
        self.export_grid_button.setEnabled(grid is not None)
        if grid is not None:
            self.context.show_status(f"{len(grid.images)} images with seed {grid.params.get('seed')}")
        self._select_in_history()

    def _show_selection(self) -> None:
        grid, selected = self.state.grid, self.state.selected
        chosen = grid is not None and selected is not None
        self.detail_view.set_image(grid.images[selected] if chosen else None)
        caption = grid.caption(selected) if chosen else ""
        if chosen and selected < len(self.state.judging.verdicts):
            name, probability = self.state.judging.verdicts[selected]
            caption += f" · judged {name} ({probability:.0%})"
        scores = self.state.scoring.scores
        if chosen and scores is not None and selected < len(scores):
            caption += f" · CLIP score {scores[selected]:.1f}"
        self.detail_caption.setText(caption)
        can_start = self.state.can_start("image")
        for button, enabled in ((self.export_one_button, chosen), (self.start_here_button, chosen and can_start),
                                (self.send_button, chosen and self._has_latents())):
            button.setEnabled(enabled)
        self.send_button.setVisible(self._has_latents())

    def _has_latents(self) -> bool:
        choice = self.state.choice
        return choice is not None and "LatentCodec" in choice.spec.capabilities and self.context.send is not None

    def _sampled(self, before: Optional[Grid], after: Grid) -> None:
        self.undo_stack.push(commands.new_grid(self.state, before, after))

    def _show_history(self) -> None:
        self.history.clear()
        for grid in self.state.history:
            icon = QIcon(QPixmap.fromImage(to_qimage(grid.picture())).scaled(
                THUMBNAIL, THUMBNAIL, Qt.KeepAspectRatio, Qt.SmoothTransformation))
            item = QListWidgetItem(icon, f"{grid.params.get('seed')}")
            item.setToolTip(f"{len(grid.images)} images, seed {grid.params.get('seed')}"
                            + (f", {grid.params['start']}" if grid.params.get("start") else ""))
            self.history.addItem(item)
        self._select_in_history()

    def _select_in_history(self) -> None:
        grids = self.state.history
        index = next((i for i, g in enumerate(grids) if g is self.state.grid), -1)
        _quietly(self.history, lambda: self.history.setCurrentRow(index))
        if index >= 0:
            self.history.scrollToItem(self.history.item(index))

    def _show_judges(self) -> None:
        judges = self.state.judging.judges
        _quietly(self.judge, lambda: (self.judge.clear(), self.judge.addItems([j.title for j in judges])))
        if self.state.judging.judge in judges:
            _quietly(self.judge, lambda: self.judge.setCurrentIndex(judges.index(self.state.judging.judge)))
        self.classes.setEnabled(bool(judges))
        self.measure_button.setEnabled(bool(judges))
        self.measure_button.setToolTip(
            f"Sample {MEASURE_SAMPLES} images (with this sampler and steps, no class) and measure how far they "
            "are from as many real images the model did not train on, on the judge's features: the Fréchet "
            "distance (FD) and KID, lower is closer; kept with the model" if judges else
            "Measuring needs a judge: train a classifier (cnn-classifier) on this model's data")
        self.judge.setVisible(len(judges) > 1)
        self.classes.setToolTip("Label each image with the class a trained classifier (the judge) sees in it"
                                if judges else "Train a classifier (the judge) on this model's data to see the "
                                "class of each image")

    def _show_measured(self) -> None:
        reading = self.state.judging.reading
        self.measured.setText(f"FD {reading.fd:.3g} ± {reading.fd_error:.2g}" if reading else "")
        self.measured.setToolTip(f"{reading} on {reading.samples} samples against as many real images, "
                                 f"judged by {reading.judge}" if reading else "")

    def _labels(self) -> list[str]:
        """A caption per tile, in the order shown: the judge's class and confidence, and the CLIP score."""
        verdicts, scores = self.state.judging.verdicts, self.state.scoring.scores
        if not verdicts and scores is None:
            return []
        labels = []
        for index in self.shown_order():
            parts = [f"{verdicts[index][0]} {verdicts[index][1]:.0%}"] if index < len(verdicts) else []
            if scores is not None and index < len(scores):
                parts.append(f"CLIP {scores[index]:.1f}")
            labels.append(" · ".join(parts))
        return labels

    def _show_verdicts(self) -> None:
        if self.best_first.isChecked() and self.state.scoring.scores is not None:
            self._show_grid()  # the scores arrived: the order changes
        else:
            self.grid_view.set_labels(self._labels())
        self._show_selection()

    # -- picking a tile ------------------------------------------------------------------------
    def tile_at(self, x: float, y: float) -> Optional[int]:
        """The grid image under a point of the grid view, if any."""
        place = self.grid_view.tile_at(x, y)
        return None if place is None else self.shown_order()[place]

    # -- export and drop-back --------------------------------------------------------------------
    def export(self, single: Optional[bool] = None) -> Optional[str]:
        made = self.state.artifact(self.state.selected is not None if single is None else single)
        if made is None:
            return "Sample some images first (the Sample button), then export them."
        export_artifact(self, self.context, *made)
        return None

    def import_file(self, path: Path) -> None:
        """A PNG the studio exported: restore its settings and sample again. Another tool's PNG: take
        what its parameters give. Any other image: start from it, when the model can."""
        path = Path(path)
        try:
            metadata = read_png_metadata(path) if path.suffix.lower() == ".png" else None
            if metadata is not None and metadata.params:
                self.state.restore_file(metadata.params, path.name)
            elif metadata is not None and metadata.parameters:
                QMessageBox.information(self, "Open image", self.state.restore_foreign(metadata.parameters, path.name))
            elif self.state.can_start("image"):
                self.open_start_image(str(path))
            else:
                raise UserError(f"{path.name} carries no settings to restore (it was not made by the Image "
                                "Canvas), and this model cannot start from an image.")
        except (UserError, ValueError) as exc:
            QMessageBox.warning(self, "Open image", str(exc))


def _quietly(widget: QWidget, change) -> None:
    """Change a widget to show the state without it reporting the change back."""
    widget.blockSignals(True)
    try:
        change()
    finally:
        widget.blockSignals(False)
