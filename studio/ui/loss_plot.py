"""Live loss curves (pyqtgraph), built on first use so start-up doesn't pay for the import."""

from __future__ import annotations

from typing import Mapping

from PySide6.QtWidgets import QVBoxLayout, QWidget

#: distinct colours (matplotlib's tab10); a validation series takes its training series' colour
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


class LossPlot(QWidget):
    """One curve per loss name against the step; validation losses as dots."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("LossPlot")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._plot = None
        self._curves: dict[str, object] = {}
        self._colours: dict[str, str] = {}
        self._data: dict[str, tuple[list[float], list[float]]] = {}

    def _ensure_plot(self):
        if self._plot is None:
            import pyqtgraph as pg

            self._pg = pg
            self._plot = pg.PlotWidget(background="w")
            self._plot.showGrid(x=True, y=True, alpha=0.3)
            self._plot.setLabel("bottom", "step")
            self._plot.setLabel("left", "loss")
            self._plot.addLegend(offset=(-10, 10))
            # losses of one model differ by orders of magnitude (a KL term and a per-pixel BCE)
            self._plot.setLogMode(y=True)
            self._layout.addWidget(self._plot)
        return self._plot

    def clear(self) -> None:
        if self._plot is not None:
            self._plot.clear()
        self._curves.clear()
        self._colours.clear()
        self._data.clear()

    def add(self, step: int, losses: Mapping[str, float], validation: bool = False) -> None:
        plot = self._ensure_plot()
        if any(float(v) <= 0 for v in losses.values()):
            plot.setLogMode(y=False)  # a log axis cannot show them
        for name, value in losses.items():
            key = f"validation {name}" if validation else name
            xs, ys = self._data.setdefault(key, ([], []))
            xs.append(step)
            ys.append(float(value))
            curve = self._curves.get(key)
            if curve is None:
                color = self._colours.setdefault(name, PALETTE[len(self._colours) % len(PALETTE)])
                if validation:
                    curve = plot.plot(xs, ys, pen=None, symbol="o", symbolBrush=color, symbolSize=7, name=key)
                else:
                    curve = plot.plot(xs, ys, pen=self._pg.mkPen(color, width=2), name=key)
                self._curves[key] = curve
            else:
                curve.setData(xs, ys)

    def series(self) -> dict[str, tuple[list[float], list[float]]]:
        """The plotted points by curve name (for tests and export)."""
        return {k: (list(x), list(y)) for k, (x, y) in self._data.items()}
