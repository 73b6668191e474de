"""The tool tabs under the map: Morph, Attributes, Walk and Prior grid.

These are only controls: they say what the artist set (signals, ``settings()``)
and show what they are given. The panel does the model work.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.ui.panels.latent_explorer.strip import FrameStrip, TileView
from studio.ui.widgets.image_view import ImageView

STRENGTH_SCALE = 100  #: slider units per unit of strength


def _spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _quietly(widget, setter, value) -> None:
    widget.blockSignals(True)
    setter(value)
    widget.blockSignals(False)


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666; font-size: 11px;")
    return label


def _footer(hint: str, export: str, signal) -> QHBoxLayout:
    """A hint on the left, an export button on the right."""
    button = QPushButton(export)
    button.clicked.connect(signal)
    row = QHBoxLayout()
    row.addWidget(_hint(hint), 1)
    row.addWidget(button)
    return row


class MorphTool(QWidget):
    """Two ends, A and B, and the frames between them."""

    changed = Signal()  #: steps or interpolation changed
    end_requested = Signal(str)  #: "a" or "b": set it to the current point
    swap_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ends: dict[str, ImageView] = {}
        self.end_captions: dict[str, QLabel] = {}
        ends = QGridLayout()
        ends.setSpacing(4)
        buttons = QVBoxLayout()
        for column, role in enumerate(("a", "b")):
            view = ImageView(role.upper())
            view.setFixedSize(64, 64)
            view.setStyleSheet("background: #f2f2f2; color: #888; font-size: 18px;")
            caption = QLabel("")
            caption.setStyleSheet("font-size: 11px; color: #444;")
            caption.setAlignment(Qt.AlignCenter)
            caption.setFixedWidth(88)
            ends.addWidget(view, 0, column, Qt.AlignCenter)
            ends.addWidget(caption, 1, column)
            self.ends[role], self.end_captions[role] = view, caption
            button = QPushButton(f"{role.upper()} ← current")
            button.setToolTip(f"Make the image in the big view end {role.upper()} of the morph")
            button.clicked.connect(lambda _=False, r=role: self.end_requested.emit(r))
            buttons.addWidget(button)
        swap = QPushButton("Swap")
        swap.clicked.connect(self.swap_requested)
        buttons.addWidget(swap)
        buttons.addStretch(1)
        self.steps = _spin(3, 32, 10, "frames from A to B, both included")
        self.steps.valueChanged.connect(self.changed)
        self.mode = QComboBox()
        self.mode.addItem("Linear", "linear")
        self.mode.addItem("Spherical (slerp)", "slerp")
        self.mode.setToolTip("Spherical interpolation keeps the in-between latents as far from the origin as "
                             "typical ones, which often gives crisper middle frames")
        self.mode.currentIndexChanged.connect(self.changed)
        form = QFormLayout()
        form.addRow("Frames", self.steps)
        form.addRow("Path", self.mode)
        top = QHBoxLayout()
        top.addLayout(ends)
        top.addLayout(buttons)
        top.addLayout(form, 1)
        self.strip = FrameStrip("Choose A and B to morph between them")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.strip, 1)
        layout.addLayout(_footer("Shift-click the map (or an image on it) for A, Ctrl-click for B.",
                                 "Export strip…", self.export_requested))

    def settings(self) -> tuple[int, str]:
        return self.steps.value(), self.mode.currentData()

    def set_settings(self, steps: int, mode: str) -> None:
        _quietly(self.steps, self.steps.setValue, steps)
        _quietly(self.mode, self.mode.setCurrentIndex, max(0, self.mode.findData(mode)))

    def show_end(self, role: str, image: Optional[np.ndarray], caption: str) -> None:
        self.ends[role].set_image(image)
        label = self.end_captions[role]
        label.setText(label.fontMetrics().elidedText(caption.split(" · ")[0], Qt.ElideRight, label.width()))
        label.setToolTip(caption)


class AttributeTool(QWidget):
    """An attribute vector (a class's, or two folders') and how much of it to add."""

    changed = Signal()  #: the vector or the strength changed
    folders_requested = Signal(str, str)  #: compute the vector from folder A to folder B

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.vector = QComboBox()
        self.vector.setObjectName("AttributeVector")
        self.vector.setMinimumContentsLength(18)
        self.vector.currentIndexChanged.connect(self.changed)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("AttributeStrength")
        self.slider.setRange(-3 * STRENGTH_SCALE, 3 * STRENGTH_SCALE)
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.slider.setTickInterval(STRENGTH_SCALE)
        self.slider.valueChanged.connect(self._strength_moved)
        self.value = QLabel("+0.00")
        self.value.setMinimumWidth(44)
        strength = QHBoxLayout()
        strength.addWidget(QLabel("−3"))
        strength.addWidget(self.slider, 1)
        strength.addWidget(QLabel("+3"))
        strength.addWidget(self.value)
        form = QFormLayout()
        form.addRow("Vector", self.vector)
        form.addRow("Strength", strength)
        form.addRow(_hint("A class's vector is mean(z | class) − mean(z) over the map's images. Adding it "
                          "moves the current image towards that class; subtracting moves it away."))
        self.folder_edits = [QLineEdit(), QLineEdit()]
        folders = QGroupBox("From two folders of images")
        folder_form = QFormLayout(folders)
        for label, edit in zip(("Without (A)", "With (B)"), self.folder_edits, strict=True):
            edit.setPlaceholderText("a folder of images")
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _=False, e=edit: self._browse(e))
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(browse)
            folder_form.addRow(label, row)
        compute = QPushButton("Make vector B − A")
        compute.clicked.connect(lambda: self.folders_requested.emit(*(e.text().strip() for e in self.folder_edits)))
        folder_form.addRow(compute)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(folders)
        layout.addStretch(1)

    def set_vectors(self, names: list[str], chosen: Optional[str]) -> None:
        self.vector.blockSignals(True)
        self.vector.clear()
        self.vector.addItems(names)
        if chosen in names:
            self.vector.setCurrentIndex(names.index(chosen))
        self.vector.blockSignals(False)

    def name(self) -> Optional[str]:
        return self.vector.currentText() or None

    def strength(self) -> float:
        return self.slider.value() / STRENGTH_SCALE

    def set_strength(self, value: float) -> None:
        """Show ``value`` without reporting it as a change."""
        _quietly(self.slider, self.slider.setValue, round(value * STRENGTH_SCALE))
        self.value.setText(f"{self.strength():+.2f}")

    def _strength_moved(self, _value: int) -> None:
        self.value.setText(f"{self.strength():+.2f}")
        self.changed.emit()

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images", edit.text())
        if folder:
            edit.setText(folder)


class WalkTool(QWidget):
    """Frames along one latent dimension or one principal direction, through the current point."""

    changed = Signal()
    export_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.direction = QComboBox()
        self.direction.setMinimumContentsLength(16)
        self.direction.currentIndexChanged.connect(self.changed)
        self.extent = QDoubleSpinBox()
        self.extent.setRange(0.25, 6.0)
        self.extent.setSingleStep(0.25)
        self.extent.setValue(2.0)
        self.extent.setPrefix("± ")
        self.extent.setSuffix(" std")
        self.extent.setToolTip("how far to walk each way, in standard deviations of the map's images")
        self.extent.valueChanged.connect(self.changed)
        self.steps = _spin(3, 32, 11, "frames in the walk")
        self.steps.valueChanged.connect(self.changed)
        top = QHBoxLayout()
        top.addWidget(QLabel("Along"))
        top.addWidget(self.direction, 1)
        top.addWidget(self.extent)
        top.addWidget(QLabel("Frames"))
        top.addWidget(self.steps)
        self.strip = FrameStrip("Click the map: the walk passes through the chosen point")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.strip, 1)
        layout.addLayout(_footer("One latent dimension, or a principal direction of the map's images, "
                                 "through the current point.", "Export strip…", self.export_requested))

    def set_directions(self, directions: list[tuple[str, str]], chosen: Optional[str]) -> None:
        """The directions a walk can take, as (name, label), with ``chosen`` selected."""
        if [(self.direction.itemData(i), self.direction.itemText(i)) for i in range(self.direction.count())] \
                != directions:
            self.direction.blockSignals(True)
            self.direction.clear()
            for name, label in directions:
                self.direction.addItem(label, name)
            self.direction.blockSignals(False)
        _quietly(self.direction, self.direction.setCurrentIndex, max(0, self.direction.findData(chosen)))

    def settings(self) -> dict[str, Any]:
        return {"direction": self.direction.currentData(), "extent": self.extent.value(),
                "steps": self.steps.value()}

    def set_settings(self, direction: Optional[str], extent: float, steps: int) -> None:
        if direction and self.direction.findData(direction) < 0:
            self.direction.addItem(direction, direction)  # until the map names it properly
        _quietly(self.direction, self.direction.setCurrentIndex, max(0, self.direction.findData(direction)))
        _quietly(self.extent, self.extent.setValue, extent)
        _quietly(self.steps, self.steps.setValue, steps)


class PriorTool(QWidget):
    """A grid of samples from the model's prior, with a seed."""

    changed = Signal()
    cell_chosen = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.side = _spin(2, 16, 8, "images per row and column")
        self.side.valueChanged.connect(self.changed)
        self.seed = _spin(0, 2**31 - 1, 0, "the same seed gives the same grid")
        self.seed.valueChanged.connect(self.changed)
        shuffle = QPushButton("Random seed")
        shuffle.clicked.connect(self.random_seed)
        export = QPushButton("Export grid…")
        export.clicked.connect(self.export_requested)
        form = QFormLayout()
        form.addRow("Grid", self.side)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(shuffle)
        form.addRow("Seed", seed_row)
        form.addRow(export)
        form.addRow(_hint("Latents drawn from the prior, decoded. Click an image to make it the current "
                          "point; the samples show as crosses on the map."))
        self.grid = TileView("Samples appear here")
        self.grid.tile_clicked.connect(self.cell_chosen)
        layout = QHBoxLayout(self)
        layout.addWidget(self.grid, 1)
        column = QVBoxLayout()
        column.addLayout(form)
        column.addStretch(1)
        layout.addLayout(column)

    def random_seed(self) -> None:
        self.seed.setValue(int(np.random.default_rng().integers(0, 2**31 - 1)))

    def set_settings(self, side: int, seed: int) -> None:
        _quietly(self.side, self.side.setValue, side)
        _quietly(self.seed, self.seed.setValue, seed)

    def show_grid(self, grid: Optional[np.ndarray], side: int = 0) -> None:
        self.grid.rows = self.grid.columns = side
        self.grid.set_image(grid)
