"""The Image Canvas: sample grids from image models, fix a seed, condition, export PNG."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.artifacts import ImageArtifact
from studio.core.capabilities import ModelError
from studio.core.checkpoint import checkpoint_sha256
from studio.core.errors import UserError
from studio.core.imaging import make_grid, read_png_params
from studio.ui.export import export_artifact
from studio.ui.panels.base import ModelPanel
from studio.ui.widgets.fields import int_spin
from studio.ui.widgets.image_view import ImageView
from studio.ui.widgets.model_picker import ModelChoice

GRID_PADDING = 2


class ImageCanvasPanel(ModelPanel):
    what_it_does = ("Sample grids of images, fix a seed, condition on a class or a prompt, watch a "
                    "diffusion sample form step by step, repaint a masked region and export PNGs.")
    families = "GANs, diffusion models, PixelCNN, normalizing flows and energy-based models"
    import_filter = "Images made by the studio (*.png)"
    dropped_kinds = (".png",)

    def build_content(self) -> QWidget:
        self.images: Optional[np.ndarray] = None  #: the last grid's images (n, H, W, C)
        self.params: dict[str, Any] = {}  #: what made them
        self.selected: Optional[int] = None
        self._request = None
        self._serial = 0  #: counts Sample requests: only the newest one's images are shown
        self._class_names: tuple[str, ...] = ()
        self._conditions: tuple[str, ...] = ()

        self.picker.changed.connect(self._model_changed)
        self.count = int_spin(1, 256, 16, "ImageCount")
        self.seed = int_spin(0, 2**31 - 1, 0, "Seed")
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("A random seed; the same seed always gives the same images")
        self.new_seed.clicked.connect(lambda: (self.seed.setValue(random.randrange(2**31)), self.sample()))
        self.label = QComboBox()
        self.label.setObjectName("ConditionLabel")
        self.prompt = QLineEdit()
        self.prompt.setObjectName("ConditionPrompt")
        self.prompt.setPlaceholderText("Describe the image")
        self.sample_button = QPushButton("Sample")
        self.sample_button.setObjectName("SampleButton")
        self.sample_button.setDefault(True)
        self.sample_button.clicked.connect(self.sample)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()

        strip = QHBoxLayout()
        strip.addWidget(QLabel("Model"))
        strip.addWidget(self.picker, 2)
        strip.addWidget(QLabel("Images"))
        strip.addWidget(self.count)
        strip.addWidget(QLabel("Seed"))
        strip.addWidget(self.seed)
        strip.addWidget(self.new_seed)
        self.label_caption, self.prompt_caption = QLabel("Class"), QLabel("Prompt")
        for w in (self.label_caption, self.label, self.prompt_caption, self.prompt):
            strip.addWidget(w)
        strip.addWidget(self.sample_button)
        strip.addWidget(self.cancel_button)
        strip.addWidget(self.progress)

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
        self.add_shortcut("Ctrl+Return", self.sample, "Sample a new grid", content)
        self.add_shortcut(Qt.Key_Escape, self.cancel, "Stop sampling", content)
        self._update_conditions()
        self._update_buttons()
        return content

    # -- the model ---------------------------------------------------------------------
    def _model_changed(self, choice: Optional[ModelChoice]) -> None:
        self._class_names, self._conditions = (), ()
        self._update_conditions()
        if choice is None:
            return
        self.context.inference.submit(
            choice.ref, lambda model, ctx: (tuple(model.conditions), tuple(getattr(model, "class_names", ()))),
            on_result=lambda result, ref=choice.ref: self._conditions_known(ref, *result),
            on_error=lambda message, _detail: self.context.show_status(message))

    def _conditions_known(self, ref, conditions: tuple, class_names: tuple) -> None:
        current = self.picker.current()
        if current is None or current.ref != ref:
            return  # the artist chose another model meanwhile
        self._conditions, self._class_names = conditions, class_names
        self._update_conditions()
        if self._request is None and self.params.get("checkpoint") != ref.checkpoint:
            self.sample()  # a model just chosen: show what it makes

    def _update_conditions(self) -> None:
        labels = "label" in self._conditions and bool(self._class_names)
        self.label.clear()
        self.label.addItems(list(self._class_names))
        for w in (self.label_caption, self.label):
            w.setVisible(labels)
        for w in (self.prompt_caption, self.prompt):
            w.setVisible("prompt" in self._conditions)

    def condition(self) -> dict[str, Any]:
        condition: dict[str, Any] = {}
        if self.label.isVisible() and self.label.currentIndex() >= 0:
            condition["label"] = self.label.currentIndex()
        if self.prompt.isVisible() and self.prompt.text().strip():
            condition["prompt"] = self.prompt.text().strip()
        return condition

    # -- sampling ------------------------------------------------------------------------
    def sample(self) -> None:
        choice = self.picker.current()
        if choice is None:
            return
        if self._request is not None:
            self._request.cancel()
        n, seed, condition = self.count.value(), self.seed.value(), self.condition()
        params = {"panel": "image-canvas", "model": choice.spec.name, "plugin_version": choice.spec.plugin_version,
                  "checkpoint": choice.ref.checkpoint, "seed": seed, "n": n, "condition": condition}

        def work(model, ctx):
            images = model.sample(n, seed=seed, condition=condition or None, on_step=ctx.step)
            return images, checkpoint_sha256(choice.ref.checkpoint)

        self.progress.setRange(0, 0)
        self.progress.show()
        self._serial += 1
        serial = self._serial
        self._request = self.context.inference.submit(
            choice.ref, work, key="image-canvas",
            on_result=lambda result: self._sampled(result, params) if serial == self._serial else None,
            on_step=self._stepped, on_error=self._failed, on_cancelled=self._finished)
        self._update_buttons()

    def cancel(self) -> None:
        if self._request is not None:
            self._request.cancel()

    def _stepped(self, step: int, total: int, preview: Any) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(step)
        if isinstance(preview, np.ndarray) and preview.ndim == 4:
            self.grid_view.set_image(_grid(preview))  # a diffusion sample forming, step by step

    def _sampled(self, result, params: dict[str, Any]) -> None:
        images, digest = result
        self.images = np.asarray(images)
        self.params = {**params, "checkpoint_sha256": digest}
        self.selected = None
        self.grid_view.set_image(_grid(self.images))
        self.detail_view.set_image(None)
        self.context.show_status(f"Sampled {len(self.images)} images with seed {params['seed']}")
        self._finished()

    def _failed(self, message: str, _detail: str) -> None:
        self._finished()
        QMessageBox.warning(self, "Sampling failed", message)

    def _finished(self) -> None:
        self._request = None
        self.progress.hide()
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self._request is not None
        self.cancel_button.setEnabled(running)
        self.export_grid_button.setEnabled(self.images is not None)
        self.export_one_button.setEnabled(self.selected is not None)

    # -- picking a tile ------------------------------------------------------------------
    def _grid_clicked(self, event) -> None:
        index = self.tile_at(event.position().x(), event.position().y())
        if index is not None:
            self.select(index)

    def tile_at(self, x: float, y: float) -> Optional[int]:
        """The grid image under a point of the grid view, if any."""
        if self.images is None or self.grid_view.pixmap().isNull():
            return None
        pixmap = self.grid_view.pixmap()
        left = (self.grid_view.width() - pixmap.width()) / 2
        top = (self.grid_view.height() - pixmap.height()) / 2
        grid = self.grid_view.array
        scale = pixmap.width() / grid.shape[1]
        gx, gy = (x - left) / scale, (y - top) / scale
        n, h, w = self.images.shape[:3]
        column, row = int((gx - GRID_PADDING) // (w + GRID_PADDING)), int((gy - GRID_PADDING) // (h + GRID_PADDING))
        index = row * _columns(n) + column
        inside = 0 <= column < _columns(n) and 0 <= gx and 0 <= gy
        return index if inside and 0 <= index < n else None

    def select(self, index: int) -> None:
        self.selected = index
        self.detail_view.set_image(self.images[index])
        self._update_buttons()

    # -- export and drop-back --------------------------------------------------------------
    def export(self, single: Optional[bool] = None) -> Optional[str]:
        if self.images is None:
            return "Sample some images first (the Sample button), then export them."
        if single is None:
            single = self.selected is not None
        if single and self.selected is not None:
            artifact = ImageArtifact(self.images[self.selected], {**self.params, "index": self.selected})
            name = f"{self.params['model']}-seed{self.params['seed']}-{self.selected}.png"
        else:
            artifact = ImageArtifact(_grid(self.images), self.params)
            name = f"{self.params['model']}-seed{self.params['seed']}-grid.png"
        export_artifact(self, self.context, artifact, name)
        return None

    def import_file(self, path: Path) -> None:
        """Restore the settings stored in a PNG the studio exported, and sample again."""
        try:
            params = read_png_params(path)
            self.restore(params)
        except UserError as exc:
            QMessageBox.warning(self, "Open image", str(exc))
            return
        self.sample()

    def restore(self, params: dict[str, Any]) -> None:
        if params.get("panel") != "image-canvas" or "checkpoint" not in params:
            raise ModelError("This PNG carries no Image Canvas settings (it was not exported from this panel).")
        checkpoint = params["checkpoint"]
        if not Path(checkpoint).exists():
            raise ModelError(f"The model that made this image ({checkpoint}) is no longer on this machine.")
        if not self.picker.select(checkpoint) and not self.picker.add_checkpoint(checkpoint):
            raise ModelError(f"The model that made this image ({params.get('model')}) cannot be used here.")
        self.count.setValue(int(params.get("n", self.count.value())))
        self.seed.setValue(int(params.get("seed", 0)))
        condition = params.get("condition") or {}
        if "prompt" in condition:
            self.prompt.setText(condition["prompt"])
        if "label" in condition:
            self.label.setCurrentIndex(int(condition["label"]))


def _columns(n: int) -> int:
    return math.ceil(math.sqrt(n))


def _grid(images: np.ndarray) -> np.ndarray:
    return make_grid(np.asarray(images), _columns(len(images)), GRID_PADDING)

