"""The Image Canvas: sample grids from image models, fix a seed, condition, export PNG.

The view of a :class:`~.state.CanvasState`: its controls set the state's
settings, its grid shows the state's grid (or the sample forming, step by
step), and each new grid is an undoable step (Edit ▸ Undo shows the one before).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.imaging import read_png_params
from studio.ui.export import export_artifact
from studio.ui.kit.model_panel import ModelPanel
from studio.ui.panels.image_canvas.commands import new_grid
from studio.ui.panels.image_canvas.state import MAX_IMAGES, MAX_SEED, OPTION_RANGES, CanvasState, Grid, picture_of
from studio.ui.widgets.fields import int_spin
from studio.ui.widgets.image_view import ImageView


class ImageCanvasPanel(ModelPanel):
    what_it_does = ("Sample grids of images, fix a seed, condition on a class or a prompt, watch a "
                    "diffusion sample form step by step, repaint a masked region and export PNGs.")
    families = "GANs, diffusion models, PixelCNN, normalizing flows and energy-based models"
    import_filter = "Images made by the studio (*.png)"
    dropped_kinds = (".png",)
    state_class = CanvasState
    cancel_description = "Stop sampling"
    state: CanvasState

    def build_content(self) -> QWidget:
        self.count = int_spin(1, MAX_IMAGES, self.state.settings.count, "ImageCount")
        self.seed = int_spin(0, MAX_SEED, self.state.settings.seed, "Seed")
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("A random seed; the same seed always gives the same images")
        self.new_seed.clicked.connect(lambda: (self.seed.setValue(random.randrange(MAX_SEED)), self.state.sample()))
        self.label = QComboBox()
        self.label.setObjectName("ConditionLabel")
        self.prompt = QLineEdit()
        self.prompt.setObjectName("ConditionPrompt")
        self.prompt.setPlaceholderText("Describe the image")
        self.steps = int_spin(*OPTION_RANGES["steps"], 50, "SampleSteps")
        self.sampler = QComboBox()
        self.sampler.setObjectName("Sampler")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(*OPTION_RANGES["guidance_scale"])
        self.guidance.setSingleStep(0.5)
        self.guidance.setObjectName("Guidance")
        self.sample_button = QPushButton("Sample")
        self.sample_button.setObjectName("SampleButton")
        self.sample_button.setDefault(True)
        self.sample_button.clicked.connect(self.state.sample)
        for signal, field in ((self.count.valueChanged, "count"), (self.seed.valueChanged, "seed"),
                              (self.steps.valueChanged, "steps"), (self.guidance.valueChanged, "guidance_scale")):
            signal.connect(lambda value, f=field: self._set(**{f: value}))
        self.label.currentIndexChanged.connect(lambda i: self._set(label=i) if i >= 0 else None)
        self.sampler.currentTextChanged.connect(lambda text: self._set(sampler=text) if text else None)
        self.prompt.textChanged.connect(lambda text: self._set(prompt=text))

        strip = QHBoxLayout()
        strip.addWidget(QLabel("Model"))
        strip.addWidget(self.picker, 2)
        self.captions = {}
        for caption, widget in (("Images", self.count), ("Seed", self.seed), (None, self.new_seed),
                                ("Class", self.label), ("Prompt", self.prompt), ("Steps", self.steps),
                                ("Sampler", self.sampler), ("Guidance", self.guidance)):
            if caption:
                self.captions[widget] = QLabel(caption)
                strip.addWidget(self.captions[widget])
            strip.addWidget(widget)
        strip.addWidget(self.sample_button)
        strip.addWidget(self.task_bar)

        self.grid_view = ImageView("Press Sample to draw a grid of images from the model.")
        self.grid_view.setObjectName("GridView")
        self.grid_view.mousePressEvent = self._grid_clicked
        self.detail_view = ImageView("Click an image of the grid to see it large.")
        self.detail_view.setObjectName("DetailView")
        self.export_grid_button = QPushButton("Export grid…")
        self.export_grid_button.clicked.connect(lambda: self.export(single=False))
        self.export_one_button = QPushButton("Export image…")
        self.export_one_button.clicked.connect(lambda: self.export(single=True))
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.addWidget(self.detail_view, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_grid_button)
        buttons.addWidget(self.export_one_button)
        detail_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.grid_view)
        splitter.addWidget(detail)
        splitter.setSizes([700, 400])

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(strip)
        layout.addWidget(splitter, 1)
        self.add_shortcut("Ctrl+Return", self.state.sample, "Sample a new grid", content)

        events = self.state.events
        events.info.connect(self._show_info)
        events.settings.connect(self._show_settings)
        events.grid.connect(self._show_grid)
        events.selection.connect(self._show_selection)
        events.preview.connect(lambda preview: self.grid_view.set_image(picture_of(preview.images)))
        events.sampled.connect(self._sampled)
        events.restored.connect(lambda note: self.context.show_status("Restored the image's settings"
                                                                      + (f"; {note}" if note else "")))
        self._show_info()
        self._show_grid()
        return content

    # -- state to widgets ------------------------------------------------------------------------
    def _set(self, **changes) -> None:
        try:
            self.state.change(**changes)
        except ValueError as exc:
            self.context.show_status(str(exc))
            self._show_settings()

    def _show_info(self) -> None:
        info = self.state.info
        conditions = info.conditions if info else ()
        options = info.sampling_options if info else ()
        _quietly(self.label, lambda: (self.label.clear(), self.label.addItems(list(info.class_names if info else ()))))
        _quietly(self.sampler, lambda: (self.sampler.clear(), self.sampler.addItems(list(info.samplers if info
                                                                                          else ()))))
        shown = {self.label: "label" in conditions and bool(info and info.class_names),
                 self.prompt: "prompt" in conditions, self.steps: "steps" in options,
                 self.sampler: "sampler" in options, self.guidance: "guidance_scale" in options}
        for widget, visible in shown.items():
            widget.setVisible(visible)
            self.captions[widget].setVisible(visible)
        self._show_settings()

    def _show_settings(self) -> None:
        s = self.state.settings
        for spin, value in ((self.count, s.count), (self.seed, s.seed), (self.steps, s.steps),
                            (self.guidance, s.guidance_scale)):
            if value is not None:
                _quietly(spin, lambda sp=spin, v=value: sp.setValue(v))
        if s.label is not None:
            _quietly(self.label, lambda: self.label.setCurrentIndex(s.label))
        if s.sampler is not None:
            _quietly(self.sampler, lambda: self.sampler.setCurrentText(s.sampler))
        if self.prompt.text() != s.prompt:
            _quietly(self.prompt, lambda: self.prompt.setText(s.prompt))

    def _show_grid(self) -> None:
        grid = self.state.grid
        self.grid_view.set_image(None if grid is None else grid.picture())
        self.export_grid_button.setEnabled(grid is not None)
        if grid is not None:
            self.context.show_status(f"{len(grid.images)} images with seed {grid.params.get('seed')}")

    def _show_selection(self) -> None:
        grid, selected = self.state.grid, self.state.selected
        self.detail_view.set_image(None if grid is None or selected is None else grid.images[selected])
        self.export_one_button.setEnabled(selected is not None)

    def _sampled(self, before: Optional[Grid], after: Grid) -> None:
        self.undo_stack.push(new_grid(self.state, before, after))

    # -- picking a tile ------------------------------------------------------------------------
    def _grid_clicked(self, event) -> None:
        index = self.tile_at(event.position().x(), event.position().y())
        if index is not None:
            self.state.select(index)

    def tile_at(self, x: float, y: float) -> Optional[int]:
        """The grid image under a point of the grid view, if any."""
        grid, pixmap = self.state.grid, self.grid_view.pixmap()
        if grid is None or pixmap.isNull() or self.grid_view.array is None:
            return None
        left = (self.grid_view.width() - pixmap.width()) / 2
        top = (self.grid_view.height() - pixmap.height()) / 2
        scale = pixmap.width() / self.grid_view.array.shape[1]
        return grid.tile_at((x - left) / scale, (y - top) / scale)

    # -- export and drop-back --------------------------------------------------------------------
    def export(self, single: Optional[bool] = None) -> Optional[str]:
        made = self.state.artifact(self.state.selected is not None if single is None else single)
        if made is None:
            return "Sample some images first (the Sample button), then export them."
        export_artifact(self, self.context, *made)
        return None

    def import_file(self, path: Path) -> None:
        """Restore the settings stored in a PNG the studio exported, and sample again."""
        try:
            self.state.restore_file(read_png_params(path), Path(path).name)
        except UserError as exc:
            QMessageBox.warning(self, "Open image", str(exc))


def _quietly(widget: QWidget, change) -> None:
    """Change a widget to show the state without it reporting the change back."""
    widget.blockSignals(True)
    try:
        change()
    finally:
        widget.blockSignals(False)
