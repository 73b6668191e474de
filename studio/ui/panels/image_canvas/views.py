"""The canvas's two pictures: the grid (a tile under a click; each tile's class, when the judge says)
and the image a sample starts from, with the mask painted over it."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from studio.ui.panels.image_canvas.state import GRID_PADDING, Grid
from studio.ui.widgets.image_view import ImageView, to_qimage


class GridView(ImageView):
    """The grid, scaled by whole pixels; under each tile its class and the judge's confidence."""

    tile_clicked = Signal(int)

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self.grid: Optional[Grid] = None  #: the grid shown (None while a sample forms)
        self.labels: list[str] = []  #: a caption per tile, or none

    def show_grid(self, grid: Optional[Grid], labels: Optional[list[str]] = None) -> None:
        self.grid, self.labels = grid, list(labels or [])
        self.set_image(None if grid is None else grid.picture())

    def show_forming(self, picture: np.ndarray) -> None:
        self.grid, self.labels = None, []
        self.set_image(picture)

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.update()

    def _geometry(self) -> Optional[tuple[float, float, float]]:
        """(left, top, scale) of the picture in the widget, or None without one."""
        pixmap = self.pixmap()
        if self.array is None or pixmap.isNull():
            return None
        return ((self.width() - pixmap.width()) / 2, (self.height() - pixmap.height()) / 2,
                pixmap.width() / self.array.shape[1])

    def tile_at(self, x: float, y: float) -> Optional[int]:
        """The tile under a point of the widget, if any."""
        geometry = self._geometry()
        if geometry is None or self.grid is None:
            return None
        left, top, scale = geometry
        return self.grid.tile_at((x - left) / scale, (y - top) / scale)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        index = self.tile_at(event.position().x(), event.position().y())
        if index is not None:
            self.tile_clicked.emit(index)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        geometry = self._geometry()
        if not self.labels or self.grid is None or geometry is None:
            return
        left, top, scale = geometry
        n, h, w = self.grid.images.shape[:3]
        painter = QPainter(self)
        font = painter.font()
        font.setPointSizeF(max(6.0, min(9.0, w * scale / 9)))
        painter.setFont(font)
        band = painter.fontMetrics().height() + 2
        for index, text in enumerate(self.labels[:n]):
            row, column = divmod(index, self.grid.columns)
            x = left + (GRID_PADDING + column * (w + GRID_PADDING)) * scale
            y = top + (GRID_PADDING + row * (h + GRID_PADDING) + h) * scale - band
            rect = QRectF(x, y, w * scale, band)
            painter.fillRect(rect, QColor(0, 0, 0, 150))
            painter.setPen(Qt.white)
            painter.drawText(rect, Qt.AlignCenter, painter.fontMetrics().elidedText(text, Qt.ElideRight,
                                                                                     int(w * scale) - 2))
        painter.end()


class MaskView(QWidget):
    """The image a sample starts from, enlarged, with the mask in translucent red over it. With
    painting on, a drag paints the mask (a right-drag, or the eraser, clears it); each finished
    stroke is handed to ``on_stroke(points, erase)`` in image pixels."""

    def __init__(self, on_stroke: Callable[[list[tuple[float, float]], bool], None], parent=None) -> None:
        super().__init__(parent)
        self.on_stroke = on_stroke
        self.setMinimumSize(96, 96)
        self.setMouseTracking(True)
        self.image: Optional[QImage] = None
        self.mask: Optional[np.ndarray] = None
        self.painting = False  #: whether a drag paints
        self.erasing = False  #: whether a left-drag erases
        self.brush = 3.0  #: the brush's radius in image pixels
        self._stroke: list[tuple[float, float]] = []
        self._stroke_erases = False
        self._hover: Optional[QPointF] = None
        self.placeholder = ""

    def show_start(self, pixels: Optional[np.ndarray], mask: Optional[np.ndarray]) -> None:
        self.image = None if pixels is None else to_qimage(pixels)
        self.mask = mask
        self.update()

    def _geometry(self) -> Optional[tuple[float, float, float]]:
        if self.image is None:
            return None
        w, h = self.image.width(), self.image.height()
        fit = min(self.width() / w, self.height() / h)
        scale = max(1, int(fit)) if fit >= 1 else fit
        return (self.width() - w * scale) / 2, (self.height() - h * scale) / 2, scale

    def to_image(self, point: QPointF) -> Optional[tuple[float, float]]:
        geometry = self._geometry()
        if geometry is None:
            return None
        left, top, scale = geometry
        return (point.x() - left) / scale, (point.y() - top) / scale

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        geometry = self._geometry()
        if geometry is None:
            painter.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        left, top, scale = geometry
        target = QRectF(left, top, self.image.width() * scale, self.image.height() * scale)
        painter.drawImage(target, self.image)
        mask = self._shown_mask()
        if mask is not None and mask.any():
            overlay = np.zeros((*mask.shape, 4), np.uint8)
            overlay[mask > 0.5] = (230, 40, 40, 140)
            image = QImage(overlay.data, mask.shape[1], mask.shape[0], 4 * mask.shape[1], QImage.Format_RGBA8888)
            painter.drawPixmap(target, QPixmap.fromImage(image.copy()), QRectF(0, 0, mask.shape[1], mask.shape[0]))
        if self.painting and self._hover is not None:
            painter.setPen(QColor(255, 255, 255) if not self.erasing else QColor(120, 200, 255))
            painter.drawEllipse(self._hover, self.brush * scale, self.brush * scale)
        painter.end()

    def _shown_mask(self) -> Optional[np.ndarray]:
        """The mask with the stroke being drawn in it, so a stroke shows as it is made."""
        if self.mask is None or not self._stroke:
            return self.mask
        from studio.ui.panels.image_canvas.source import paint

        return paint(self.mask, self._stroke, self.brush, erase=self._stroke_erases)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        point = self.to_image(event.position())
        if not self.painting or point is None or self.mask is None:
            return
        self._stroke_erases = self.erasing or event.button() == Qt.RightButton
        self._stroke = [point]
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        self._hover = event.position()
        point = self.to_image(event.position())
        if self._stroke and point is not None:
            self._stroke.append(point)
        self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._stroke:
            stroke, erase, self._stroke = self._stroke, self._stroke_erases, []
            self.on_stroke(stroke, erase)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self._hover = None
        self.update()
