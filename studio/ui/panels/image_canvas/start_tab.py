"""The canvas's "Start from" tab: the image a sample may start from, the mask painted over it, and
what starts from them (Vary: image to image; Repaint masked: inpainting)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui.panels.image_canvas import commands
from studio.ui.panels.image_canvas.state import OPTION_RANGES, CanvasState
from studio.ui.panels.image_canvas.views import MaskView
from studio.ui.widgets.fields import int_spin


class StartTab(QWidget):
    """Shows the state's source image and mask; strokes and clearing go through ``undo_stack``;
    ``sample(start)``, ``open_image()`` and ``set_strength(value)`` are the panel's."""

    def __init__(self, state: CanvasState, undo_stack: Any, *, sample: Callable[[str], None],
                 open_image: Callable[[], None], set_strength: Callable[[float], None]) -> None:
        super().__init__()
        self.state, self.undo_stack = state, undo_stack
        self.mask_view = MaskView(self._stroke)
        self.mask_view.setObjectName("MaskView")
        self.mask_view.placeholder = ("Start from an image: click one in the grid and press Start from this, "
                                      "or open any image file.")
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignCenter)
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(lambda: open_image())
        self.noise_button = QPushButton("From noise")
        self.noise_button.setToolTip("Forget the image: samples start from noise again")
        self.noise_button.clicked.connect(lambda: undo_stack.push(commands.start_from(state, None)))
        self.strength = QDoubleSpinBox()
        self.strength.setObjectName("Strength")
        self.strength.setRange(*OPTION_RANGES["strength"])
        self.strength.setSingleStep(0.05)
        self.strength.setValue(state.settings.strength)
        self.strength.setToolTip("How much is made anew, for Vary and for Repaint masked: 0 keeps the image, 1 "
                                 "ignores it (a masked part then comes from noise alone)")
        self.strength.valueChanged.connect(set_strength)
        self.vary_button = QPushButton("Vary")
        self.vary_button.setObjectName("VaryButton")
        self.vary_button.setToolTip("Image to image: a grid of variations of this image, as strong as the strength")
        self.vary_button.clicked.connect(lambda: sample("image"))
        self.paint_button = QPushButton("Paint mask")
        self.paint_button.setCheckable(True)
        self.paint_button.setToolTip("Drag over the image to mark what to make anew (right-drag erases)")
        self.paint_button.toggled.connect(self._painting)
        self.eraser = QCheckBox("Eraser")
        self.eraser.toggled.connect(lambda on: setattr(self.mask_view, "erasing", on))
        self.brush = int_spin(1, 32, 3, "BrushSize")
        self.brush.setToolTip("The brush's radius, in the image's pixels")
        self.brush.valueChanged.connect(lambda value: setattr(self.mask_view, "brush", float(value)))
        self.clear_mask_button = QPushButton("Clear mask")
        self.clear_mask_button.clicked.connect(lambda: undo_stack.push(commands.clear_mask(state)))
        self.repaint_button = QPushButton("Repaint masked")
        self.repaint_button.setObjectName("RepaintButton")
        self.repaint_button.setToolTip("Inpainting: make the masked part anew, as strong as the strength; every other "
                                       "pixel stays as it is")
        self.repaint_button.clicked.connect(lambda: sample("inpaint"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.mask_view, 1)
        layout.addWidget(self.caption)
        for row_widgets in ((self.open_button, self.noise_button),
                            (QLabel("Strength"), self.strength, self.vary_button),
                            (self.paint_button, self.eraser, QLabel("Brush"), self.brush, self.clear_mask_button),
                            (self.repaint_button,)):
            row = QHBoxLayout()
            for widget in row_widgets:
                row.addWidget(widget)
            layout.addLayout(row)

    def _stroke(self, points: list[tuple[float, float]], erase: bool) -> None:
        if self.state.mask is not None:
            self.undo_stack.push(commands.stroke(self.state, points, self.mask_view.brush, erase))

    def _painting(self, on: bool) -> None:
        self.mask_view.painting = on
        self.mask_view.setCursor(Qt.CrossCursor if on else Qt.ArrowCursor)

    def show_start(self) -> None:
        state = self.state
        source = state.source
        self.mask_view.show_start(None if source is None else source.pixels, state.mask)
        masked = state.mask is not None and bool(state.mask.any())
        self.caption.setText("" if source is None else f"Starting from {source.caption}"
                             + (f" · {int(state.mask.sum())} pixels masked" if masked else ""))
        can_vary, can_repaint = state.can_start("image"), state.can_start("inpaint")
        self.open_button.setEnabled(can_vary)
        for widget, enabled in ((self.noise_button, source is not None), (self.strength, can_vary),
                                (self.vary_button, can_vary and source is not None),
                                (self.paint_button, can_repaint and source is not None),
                                (self.clear_mask_button, masked), (self.repaint_button, can_repaint and masked)):
            widget.setEnabled(enabled)
        if state.info is not None and not can_vary:
            self.mask_view.placeholder = "This model cannot start from an image: it only samples from noise."
        self.mask_view.update()
