"""The pyqtgraph side of the latent map: the plot, its scatters and overlays.

Imported only when the map is first shown: pyqtgraph takes about 0.4 s to
import, which the window's first paint should not wait for.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

ACCENT = {"a": "#d62728", "b": "#1f77b4"}


class _MapViewBox(pg.ViewBox):
    """A view box whose left button chooses points instead of panning; ``owner`` is the LatentMap."""

    def __init__(self, owner) -> None:
        super().__init__()
        self._owner = owner

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph naming)
        if ev.button() != Qt.LeftButton:
            super().mouseClickEvent(ev)
            return
        ev.accept()
        self._owner.click(self.mapSceneToView(ev.scenePos()), ev.modifiers(), ev.double())

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        point = self.mapSceneToView(ev.scenePos())
        self._owner.dragged(point, ev.isFinish())


class _Scatter(pg.ScatterPlotItem):
    """A scatter that leaves clicks to the map: a click on a point chooses that place like any other."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()


class MapPlot:
    """The plot widget with one scatter per class and the overlays: current point, A and B,
    a morph's or walk's path, prior samples."""

    def __init__(self, owner) -> None:
        self.viewbox = _MapViewBox(owner)
        self.widget = pg.PlotWidget(viewBox=self.viewbox, background="w")
        self.widget.setObjectName("LatentMap")
        self.widget.setAcceptDrops(False)  # dropped PNGs go to the panel
        self.widget.viewport().setAcceptDrops(False)
        self.widget.showGrid(x=True, y=True, alpha=0.15)
        self.scatters: dict[str, _Scatter] = {}
        self.path = pg.PlotCurveItem(pen=pg.mkPen("#444", width=1.5, style=Qt.DashLine))
        self.path_dots = _Scatter(size=5, brush=pg.mkBrush("#444"), pen=None)
        self.samples = _Scatter(size=7, symbol="x", pen=pg.mkPen("#222", width=1.2), brush=None)
        self.ends = {role: pg.TextItem(role.upper(), color="w", fill=pg.mkBrush(colour), anchor=(0.5, 0.5))
                     for role, colour in ACCENT.items()}
        self.marker = _Scatter(size=18, symbol="o", pen=pg.mkPen("k", width=2.5), brush=pg.mkBrush(255, 255, 255, 60))
        for z, item in enumerate(self._overlays(), start=10):
            item.setZValue(z)
            self.widget.addItem(item, ignoreBounds=True)
            item.hide()

    def _overlays(self) -> tuple:
        return self.path, self.path_dots, self.samples, *self.ends.values(), self.marker

    def add_class(self, name: str, points: np.ndarray, colour: str) -> None:
        brush = pg.mkColor(colour)
        brush.setAlpha(170)
        scatter = _Scatter(points[:, 0], points[:, 1], size=5, pen=None, brush=pg.mkBrush(brush))
        self.scatters[name] = scatter
        self.widget.addItem(scatter)

    def show_axes(self, labels: tuple[str, str]) -> None:
        self.widget.setLabel("bottom", labels[0])
        self.widget.setLabel("left", labels[1])
        self.viewbox.autoRange(padding=0.05)

    def clear(self) -> None:
        for scatter in self.scatters.values():
            self.widget.removeItem(scatter)
        self.scatters = {}
        for item in self._overlays():
            item.hide()

    def set_current(self, point: Optional[np.ndarray]) -> None:
        _place(self.marker, None if point is None else np.asarray(point)[None])

    def set_path(self, points: Optional[np.ndarray]) -> None:
        _place(self.path, points)
        _place(self.path_dots, points)

    def set_samples(self, points: Optional[np.ndarray]) -> None:
        _place(self.samples, points)

    def set_end(self, role: str, point: Optional[np.ndarray]) -> None:
        item = self.ends[role]
        item.setVisible(point is not None)
        if point is not None:
            item.setPos(float(point[0]), float(point[1]))

    def pixel_size(self) -> tuple[float, float]:
        """The size of one screen pixel in map units."""
        return self.viewbox.viewPixelSize()

    def view_point(self, scene_pos: QPointF) -> Optional[QPointF]:
        """The map point under a scene position, or None outside the plot area."""
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        return self.viewbox.mapSceneToView(scene_pos)


def _place(item, points: Optional[np.ndarray]) -> None:
    """Show ``item`` at ``points`` ``(n, 2)``, or hide it for None or no points."""
    item.setVisible(points is not None and len(points) > 0)
    if points is not None and len(points):
        item.setData(points[:, 0], points[:, 1])
