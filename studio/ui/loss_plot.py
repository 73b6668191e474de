"""Live loss curves (pyqtgraph), built on first use so start-up doesn't pay for the import."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

#: distinct colours (matplotlib's tab10); a validation series takes its training series' colour
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


class LossPlot(QWidget):
    """One curve per loss name against the step; validation losses as dots.

    A job's history is drawn with :meth:`replay` (each curve set once); live
    events with :meth:`add` and :meth:`restart_at`. When a run resumes from a
    checkpoint at step *s*, the points the previous run plotted after *s* are
    dropped: the resumed run trains those steps again, and the curve would
    otherwise double back. Curves are clipped to the view and downsampled, so
    a long history stays cheap to draw.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("LossPlot")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._plot = None
        self._curves: dict[str, object] = {}
        self._colours: dict[str, str] = {}
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        self._validation: set[str] = set()
        self._log_y = True  #: until a loss <= 0 arrives, which a log axis cannot show

    def _ensure_plot(self):
        if self._plot is None:
            import pyqtgraph as pg

            self._pg = pg
            self._plot = pg.PlotWidget(background="w")
            self._plot.showGrid(x=True, y=True, alpha=0.3)
            self._plot.setLabel("bottom", "step")
            self._plot.setLabel("left", "loss (dots: held-out data)")
            # one entry per loss (its validation dots share its colour), on a backdrop that keeps it readable
            self._plot.addLegend(offset=(-10, 10), brush=(255, 255, 255, 210), pen=(200, 200, 200),
                                 labelTextColor=(40, 40, 40), colCount=2)
            item = self._plot.getPlotItem()
            item.setClipToView(True)
            item.setDownsampling(auto=True, mode="peak")
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
        self._validation.clear()
        self._log_y = True
        if self._plot is not None:
            self._plot.setLogMode(y=True)

    # -- points ---------------------------------------------------------------------
    def add(self, step: int, losses: Mapping[str, float], validation: bool = False) -> None:
        """One event's losses, drawn now."""
        self._draw(self._append(step, losses, validation))

    def restart_at(self, step: int) -> None:
        """A run (re)started at ``step``: forget the points after it."""
        self._draw(self._drop_after(step))

    def replay(self, events: Iterable[Mapping]) -> None:
        """A job's events (``progress``, ``validation``, ``started``) in order, drawn once at the end."""
        touched: set[str] = set()
        for event in events:
            kind = event["event"]
            if kind == "progress":
                touched |= self._append(event["step"], event["losses"], False)
            elif kind == "validation":
                touched |= self._append(event["step"], event["losses"], True)
            elif kind == "started":
                touched |= self._drop_after(event["step"])
        self._draw(touched)

    def _append(self, step: int, losses: Mapping[str, float], validation: bool) -> set[str]:
        keys = set()
        for name, value in losses.items():
            key = f"validation {name}" if validation else name
            xs, ys = self._data.setdefault(key, ([], []))
            self._colours.setdefault(name, PALETTE[len(self._colours) % len(PALETTE)])
            if validation:
                self._validation.add(key)
            xs.append(step)
            ys.append(float(value))
            self._log_y = self._log_y and ys[-1] > 0
            keys.add(key)
        return keys

    def _drop_after(self, step: int) -> set[str]:
        touched = set()
        for key, (xs, ys) in self._data.items():
            keep = bisect.bisect_right(xs, step)  # steps only grow within a run
            if keep < len(xs):
                del xs[keep:], ys[keep:]
                touched.add(key)
        return touched

    def _draw(self, keys: Iterable[str]) -> None:
        keys = [k for k in keys if k in self._data]
        if not keys:
            return
        plot = self._ensure_plot()
        if not self._log_y:
            plot.setLogMode(y=False)
        # what a run reports need not be a loss: CMA-ES reports scores, where higher is better
        scores = any("score" in name for name in self._colours)
        plot.setLabel("left", "score (dots: held-out data)" if scores else "loss (dots: held-out data)")
        for key in keys:
            xs, ys = (np.asarray(v, dtype=float) for v in self._data[key])
            curve = self._curves.get(key)
            if curve is not None:
                curve.setData(xs, ys)
                continue
            name = key.removeprefix("validation ") if key in self._validation else key
            color = self._colours[name]
            if key in self._validation:
                curve = plot.plot(xs, ys, pen=None, symbol="o", symbolBrush=color, symbolSize=7)
            else:
                curve = plot.plot(xs, ys, pen=self._pg.mkPen(color, width=2), name=key)
            self._curves[key] = curve

    def series(self) -> dict[str, tuple[list[float], list[float]]]:
        """The plotted points by curve name (for tests and export)."""
        return {k: (list(x), list(y)) for k, (x, y) in self._data.items()}
