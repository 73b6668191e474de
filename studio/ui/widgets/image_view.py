"""Shows a numpy image crisply: small model outputs are scaled by whole pixels."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from studio.core.imaging import to_uint8


def to_qimage(image: np.ndarray) -> QImage:
    """(H, W), (H, W, 1) or (H, W, 3) float [0, 1] or uint8 -> a QImage that owns its pixels."""
    pixels = np.ascontiguousarray(to_uint8(image))
    h, w = pixels.shape[:2]
    if pixels.ndim == 2:
        return QImage(pixels.data, w, h, w, QImage.Format_Grayscale8).copy()
    return QImage(pixels.data, w, h, 3 * w, QImage.Format_RGB888).copy()


class ImageView(QLabel):
    """A label that keeps an image scaled to fit, by an integer factor when it is enlarged."""

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self.setWordWrap(True)
        self._placeholder = placeholder  #: shown while there is no image
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(64, 64)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._image: Optional[QImage] = None
        self.array: Optional[np.ndarray] = None  #: the image shown, as given

    def set_image(self, image: Optional[np.ndarray]) -> None:
        self.array = image
        self._image = None if image is None else to_qimage(image)
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._rescale()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(256, 256)

    def _rescale(self) -> None:
        if self._image is None:
            self.setText(self._placeholder)  # (a label shows either its text or its pixmap)
            return
        w, h = self._image.width(), self._image.height()
        fit = min(self.width() / w, self.height() / h)
        factor = max(1, int(fit)) if fit >= 1 else fit
        size = QSize(max(1, int(w * factor)), max(1, int(h * factor)))
        mode = Qt.FastTransformation if fit >= 1 else Qt.SmoothTransformation
        self.setPixmap(QPixmap.fromImage(self._image.scaled(size, Qt.KeepAspectRatio, mode)))
