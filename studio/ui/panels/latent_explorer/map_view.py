"""The latent map: the encoded dataset as a scatter coloured by class, to hover, click and drag on.

Left click or drag chooses a point of the map (decoded live); double-click on an
image chooses that image's own latent; Shift-click and Ctrl-click set the morph's
ends A and B (the image under the cursor if there is one, else the map point).
The wheel zooms, middle-drag pans, right-drag zooms an axis, right-click has the view menu.
The plot itself (pyqtgraph) is built when the map is first shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from studio.core.latent import nearest
from studio.ui.loss_plot import PALETTE
from studio.ui.widgets.image_view import to_qimage

HOVER_RADIUS_PX = 6
PREVIEW_PX = 96
#: the line under the legend that says how to work the map
HINT = ("Click or drag to decode · double-click a point for its image's own latent · "
        "Shift/Ctrl-click sets A/B · right-drag or wheel to zoom")


@dataclass(frozen=True)
class Pick:
    """A point the user chose on the map."""

    x: float
    y: float
    role: str  #: "current" (click, drag, double-click), "a" (Shift) or "b" (Ctrl)
    index: Optional[int]  #: the dataset image chosen (double-click, or Shift/Ctrl on an image), else None
    final: bool  #: False while a drag is still moving


class _Preview(QFrame):
    """The hovered image, floating beside the cursor."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("MapPreview")
        self.setStyleSheet("#MapPreview { background: white; border: 1px solid #9a9a9a; border-radius: 3px; }")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignCenter)
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignCenter)
        self.caption.setStyleSheet("color: #333; font-size: 11px; border: none;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 3)
        layout.setSpacing(2)
        layout.addWidget(self.image)
        layout.addWidget(self.caption)
        self.hide()

    def show_at(self, image: np.ndarray, caption: str, pos: QPointF) -> None:
        picture = to_qimage(image)
        factor = max(1, PREVIEW_PX // max(picture.width(), picture.height()))
        self.image.setPixmap(QPixmap.fromImage(picture).scaled(picture.width() * factor, picture.height() * factor,
                                                               Qt.KeepAspectRatio, Qt.FastTransformation))
        self.caption.setText(caption)
        self.adjustSize()
        parent = self.parentWidget()
        x = min(int(pos.x()) + 16, parent.width() - self.width() - 2)
        y = min(int(pos.y()) + 16, parent.height() - self.height() - 2)
        if x < int(pos.x()) + 16 and y < int(pos.y()) + 16:  # cornered: go to the other side of the cursor
            x = max(2, int(pos.x()) - self.width() - 16)
        self.move(max(2, x), max(2, y))
        self.show()
        self.raise_()


class LatentMap(QWidget):
    picked = Signal(object)  #: a :class:`Pick`

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._plot = None  #: the MapPlot, once built
        # the legend sits under the plot, so it never hides points; a class name toggles its points
        self.legend = QLabel()
        self.legend.setObjectName("MapLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.RichText)
        self.legend.linkActivated.connect(self._toggle_class)
        self.hint = QLabel(HINT)
        self.hint.setObjectName("MapHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #888; font-size: 11px;")
        self.hint.hide()  # until there is a map to work
        self.preview = _Preview(self)
        self.message = QLabel(self)
        self.message.setObjectName("MapMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setStyleSheet("background: rgba(255,255,255,225); color: #333; font-size: 14px; padding: 16px;")
        self.message.hide()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addStretch(1)
        self._layout.addWidget(self.legend)
        self._layout.addWidget(self.hint)
        self._colours: dict[str, str] = {}
        self._members: dict[str, np.ndarray] = {}  #: indices of each class's points
        self._hidden = np.zeros(0, bool)  #: points of classes switched off in the legend
        self.points = np.zeros((0, 2), np.float32)
        self.images: Optional[np.ndarray] = None
        self.captions: list[str] = []
        self.hovered: Optional[int] = None

    def _built(self):
        """The plot, built on first use."""
        if self._plot is None:
            from studio.ui.panels.latent_explorer.plot_items import MapPlot

            self._plot = MapPlot(self)
            self._layout.takeAt(0)  # the stretch that held its place
            self._layout.insertWidget(0, self._plot.widget, 1)
            self._plot.widget.scene().sigMouseMoved.connect(self._hover)
        return self._plot

    def showEvent(self, event) -> None:  # noqa: N802
        self._built()
        super().showEvent(event)

    @property
    def plot(self):
        """The pyqtgraph PlotWidget."""
        return self._built().widget

    @property
    def viewbox(self):
        return self._built().viewbox

    @property
    def marker(self):
        """The ring on the current point."""
        return self._built().marker

    # -- content ------------------------------------------------------------------------
    def set_data(self, points: np.ndarray, labels: Optional[np.ndarray], class_names: list[str],
                 images: np.ndarray, captions: list[str], axis_labels: tuple[str, str]) -> None:
        self.clear()
        plot = self._built()
        self.points, self.images, self.captions = points, images, captions
        self._hidden = np.zeros(len(points), bool)
        groups = [("", np.arange(len(points)), "#7f7f7f")] if labels is None else [
            (name, np.flatnonzero(labels == c), PALETTE[c % len(PALETTE)]) for c, name in enumerate(class_names)]
        for name, members, colour in groups:
            if len(members):
                plot.add_class(name, points[members], colour)
                self._colours[name], self._members[name] = colour, members
        self._draw_legend()
        self.hint.show()
        plot.show_axes(axis_labels)

    def clear(self, message: str = "") -> None:
        if self._plot is not None:
            self._plot.clear()
        self._colours, self._members, self._hidden = {}, {}, np.zeros(0, bool)
        self.legend.clear()
        self.hint.hide()
        self.points, self.images, self.captions, self.hovered = np.zeros((0, 2), np.float32), None, [], None
        self.preview.hide()
        self.show_message(message)

    @property
    def class_names(self) -> list[str]:
        """The classes in the legend (none for an unlabelled dataset)."""
        return [name for name in self._members if name]

    def _draw_legend(self) -> None:
        entries = []
        for n, name in enumerate(self.class_names):
            shown = self._plot.scatters[name].isVisible()
            colour = self._colours[name] if shown else "#c8c8c8"
            style = "color:#222; text-decoration:none" if shown else "color:#aaa; text-decoration:line-through"
            entries.append(f"<a href='{n}' style='{style}'><span style='color:{colour}'>●</span>&nbsp;{name}</a>")
        self.legend.setText("&nbsp;&nbsp; ".join(entries))
        self.legend.setToolTip("Click a class to hide or show its points" if entries else "")

    def _toggle_class(self, link: str) -> None:
        name = self.class_names[int(link)]
        scatter = self._plot.scatters[name]
        scatter.setVisible(not scatter.isVisible())
        self._hidden[self._members[name]] = not scatter.isVisible()
        self._draw_legend()

    def show_message(self, text: str) -> None:
        """A message over the map (loading, an error); "" hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        if text:
            self.message.setGeometry(24, self.height() // 3, max(100, self.width() - 48), 120)
            self.message.raise_()

    # -- overlays ----------------------------------------------------------------------------
    def set_current(self, point: Optional[np.ndarray]) -> None:
        self._built().set_current(point)

    def set_end(self, role: str, point: Optional[np.ndarray]) -> None:
        self._built().set_end(role, point)

    def set_path(self, points: Optional[np.ndarray]) -> None:
        """A dashed line through ``points`` (a morph's or walk's frames on the map), or none."""
        self._built().set_path(points)

    def set_samples(self, points: Optional[np.ndarray]) -> None:
        self._built().set_samples(points)

    # -- the mouse -------------------------------------------------------------------------------
    def scene_point(self, x: float, y: float) -> QPoint:
        """Where the map point (x, y) is in the plot's viewport (for simulated clicks)."""
        return self.plot.mapFromScene(self.viewbox.mapViewToScene(QPointF(x, y)))

    def click(self, point: QPointF, modifiers, double: bool = False) -> None:
        """A left click at a map point: the same whatever produced it (the mouse, a test)."""
        index = self._nearest(point)
        if modifiers & Qt.ShiftModifier:
            self.picked.emit(Pick(point.x(), point.y(), "a", index, True))
        elif modifiers & (Qt.ControlModifier | Qt.MetaModifier):
            self.picked.emit(Pick(point.x(), point.y(), "b", index, True))
        else:
            self.picked.emit(Pick(point.x(), point.y(), "current", index if double else None, True))

    def dragged(self, point: QPointF, finished: bool) -> None:
        self.picked.emit(Pick(point.x(), point.y(), "current", None, finished))

    def _nearest(self, point: QPointF) -> Optional[int]:
        width, height = self._built().pixel_size()
        if not width or not height:
            return None
        shown = np.flatnonzero(~self._hidden)
        index = nearest(self.points[shown], (point.x(), point.y()), (width, height), HOVER_RADIUS_PX)
        return None if index is None else int(shown[index])

    def _hover(self, scene_pos: QPointF) -> None:
        point = None if self.images is None else self._plot.view_point(scene_pos)
        self.hovered = None if point is None else self._nearest(point)
        if self.hovered is None:
            self.preview.hide()
            return
        cursor = self.plot.mapTo(self, self.plot.mapFromScene(scene_pos))
        self.preview.show_at(self.images[self.hovered], self.captions[self.hovered], QPointF(cursor))

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.preview.hide()
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.message.isVisible():
            self.show_message(self.message.text())
