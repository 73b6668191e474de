"""A strip of decoded frames (a morph, a walk) with a slider to scrub through them."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from studio.core.imaging import make_grid, to_uint8
from studio.ui.widgets.image_view import ImageView

PADDING = 3
HIGHLIGHT = (228, 87, 46)


class TileView(ImageView):
    """An image view of a grid of ``rows`` x ``columns`` tiles that tells which tile was clicked."""

    tile_clicked = Signal(int)

    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder)
        self.rows, self.columns = 1, 0
        self.setStyleSheet("color: #777;")

    def mousePressEvent(self, event) -> None:  # noqa: N802
        pixmap = self.pixmap()
        if self.columns and pixmap is not None and not pixmap.isNull():
            x = (event.position().x() - (self.width() - pixmap.width()) / 2) / max(1, pixmap.width())
            y = (event.position().y() - (self.height() - pixmap.height()) / 2) / max(1, pixmap.height())
            if 0 <= x < 1 and 0 <= y < 1:
                self.tile_clicked.emit(int(y * self.rows) * self.columns + int(x * self.columns))
        super().mousePressEvent(event)


def strip_image(frames: np.ndarray, selected: int) -> np.ndarray:
    """The frames side by side (RGB uint8) with the selected one framed in the highlight colour."""
    pixels = np.stack([to_uint8(f).reshape(f.shape[0], f.shape[1], -1) for f in frames])
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    grid = make_grid(pixels, columns=len(pixels), padding=PADDING)
    h, w = pixels.shape[1:3]
    left, right, bottom = selected * (w + PADDING), selected * (w + PADDING) + w + 2 * PADDING, h + 2 * PADDING
    grid[:PADDING, left:right] = grid[h + PADDING:bottom, left:right] = HIGHLIGHT
    grid[:bottom, left:left + PADDING] = grid[:bottom, right - PADDING:right] = HIGHLIGHT
    return grid


class FrameStrip(QWidget):
    frame_chosen = Signal(int)  #: the user scrubbed or clicked to a frame

    def __init__(self, placeholder: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.view = TileView(placeholder)
        self.view.setMinimumHeight(72)
        self.view.tile_clicked.connect(self.slider_set)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._moved)
        self.position = QLabel("")
        self.position.setMinimumWidth(90)
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.position)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        self.frames: Optional[np.ndarray] = None

    @property
    def selected(self) -> int:
        return self.slider.value()

    def set_frames(self, frames: np.ndarray, selected: int = 0) -> None:
        self.frames = frames
        self.view.columns = len(frames)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(frames) - 1)
        self.slider.setValue(min(selected, len(frames) - 1))
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self._draw()

    def clear(self) -> None:
        self.frames = None
        self.view.columns = 0
        self.view.set_image(None)
        self.slider.setEnabled(False)
        self.position.setText("")

    def slider_set(self, index: int) -> None:
        if self.slider.value() == index:
            self._moved(index)  # clicking the shown frame shows it again in the big view
        self.slider.setValue(index)

    def _moved(self, index: int) -> None:
        if self.frames is None:
            return
        self._draw()
        self.frame_chosen.emit(index)

    def _draw(self) -> None:
        self.view.set_image(strip_image(self.frames, self.selected))
        self.position.setText(f"frame {self.selected + 1} of {len(self.frames)}")
