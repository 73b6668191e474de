"""The Latent Explorer: a model's latent space as a map to click, drag, morph and walk (chapter 3).

Layout: model and data on top; the map on the left at full height (it is what
one works on), the decoded image large on the right with the Morph / Attributes
/ Walk / Prior grid tools under it. Every model call (loading and encoding the
data too) goes through the inference thread; results for a model or map that
has since been replaced are dropped (``_generation``). What the big view shows
(``current``, ``origin``, the image and its caption) changes only together, when
a decode arrives or a decoded frame is chosen; a decode overtaken by a later
choice is dropped (``_shown_serial``). The tools' work lives in
:mod:`~studio.ui.panels.latent.tool_actions`, export and restore in
:mod:`~studio.ui.panels.latent.exchange`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.latent import class_vectors
from studio.ui.panels.base import ModelPanel
from studio.ui.panels.latent.data_chooser import DataChooser
from studio.ui.panels.latent.exchange import ExportRestore
from studio.ui.panels.latent.long_work import LongWork
from studio.ui.panels.latent.map_view import LatentMap, Pick
from studio.ui.panels.latent.tool_actions import ToolActions
from studio.ui.panels.latent.tools import AttributeTool, MorphTool, PriorTool, WalkTool
from studio.ui.panels.latent.work import Endpoint, MapData, decode_request, map_request, training_job
from studio.ui.widgets.image_view import ImageView
from studio.ui.widgets.model_picker import ModelChoice


class LatentExplorerPanel(ToolActions, ExportRestore, ModelPanel):
    what_it_does = ("See a dataset as a map of a model's latent space, click anywhere to decode it, "
                    "morph between two images and add attribute vectors.")
    families = "Autoencoders, VAEs and other latent-variable models"

    # -- building ---------------------------------------------------------------------------
    def build_content(self) -> QWidget:
        self.choice: Optional[ModelChoice] = None
        self.data_map: Optional[MapData] = None
        self.current: Optional[np.ndarray] = None  #: the latent of the image in the big view
        self.origin: dict[str, Any] = {}  #: how that image was made: mode and settings, for export
        self.base: Optional[np.ndarray] = None  #: the chosen point: where attributes and walks start
        self.base_caption = ""
        self.ends: dict[str, Optional[Endpoint]] = {"a": None, "b": None}
        self.vectors: dict[str, np.ndarray] = {}  #: the map's class vectors, then folder (and restored) ones
        self._class_vectors: set[str] = set()  #: which of ``vectors`` the map's labels made
        self.morph_latents = self.walk_latents = self.prior_latents = self.prior_images = None
        #: the strips and grid made so far, for export: {"morph": {"params": ..., "picture": ...}, ...}
        self.made: dict[str, dict[str, Any]] = {}
        self._generation = 0
        self._shown_serial = 0  #: bumped by every change of the big view; a decode for an older one is dropped
        self._decoding = None  #: the decode request for the big view, if one is on its way
        self.long = LongWork()  #: the map's and folder vectors' encodings, which Cancel stops
        self._map_wanted = False
        self._split_seed = 0
        self._stale = {"walk": False, "prior": True}
        #: settings a restore left for results still to come: {"morph": frame, "walk": frame, "attribute": name}
        self._pending: dict[str, Any] = {}
        self._restoring_data: Optional[str] = None
        self._key = f"latent-explorer-{id(self)}"

        self.picker.changed.connect(self._model_changed)
        self.data = DataChooser(self.context)
        self.data.chosen.connect(self._data_chosen)
        self.progress, self.cancel = self.long.progress, self.long.button
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.picker, 3)
        top.addSpacing(12)
        top.addWidget(QLabel("Map of"))
        top.addWidget(self.data, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel)
        top.addStretch(1)
        top.addWidget(self.export_button())

        self.map = LatentMap()
        self.map.picked.connect(self._picked)
        self.view = ImageView("Click the map to decode a point")
        self.view.setObjectName("LatentImage")
        self.view.setStyleSheet("background: #fafafa; color: #777;")
        self.caption = QLabel("")
        self.caption.setObjectName("LatentCaption")
        self.caption.setAlignment(Qt.AlignCenter)
        self.caption.setWordWrap(True)
        shown = QWidget()
        column = QVBoxLayout(shown)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.view, 1)
        column.addWidget(self.caption)

        self.morph, self.attributes = MorphTool(), AttributeTool()
        self.walk, self.prior = WalkTool(), PriorTool()
        self.tools = QTabWidget()
        self.tools.setObjectName("LatentTools")
        for tool, title in ((self.morph, "Morph"), (self.attributes, "Attributes"), (self.walk, "Walk"),
                            (self.prior, "Prior grid")):
            self.tools.addTab(tool, title)
        self.tools.currentChanged.connect(lambda _: self._tool_shown())
        self.morph.changed.connect(self._morph)
        self.morph.end_requested.connect(self._end_from_current)
        self.morph.swap_requested.connect(self._swap_ends)
        self.morph.strip.frame_chosen.connect(self._morph_frame)
        self.attributes.changed.connect(self._apply_attribute)
        self.attributes.folders_requested.connect(self._folder_vector)
        self.walk.changed.connect(self._walk)
        self.walk.strip.frame_chosen.connect(self._walk_frame)
        self.prior.changed.connect(self._prior)
        self.prior.cell_chosen.connect(self._prior_cell)
        for tool, what in ((self.morph, "morph"), (self.walk, "walk"), (self.prior, "prior")):
            tool.export_requested.connect(lambda w=what: self.export_clicked(w))

        right = QSplitter(Qt.Vertical)
        right.addWidget(shown)
        right.addWidget(self.tools)
        right.setSizes([480, 300])
        right.setStretchFactor(0, 1)  # a taller window makes the image larger, not the tools
        outer = QSplitter(Qt.Horizontal)  # the map keeps the whole height: it is what one works on
        outer.addWidget(self.map)
        outer.addWidget(right)
        outer.setSizes([640, 520])
        outer.setStretchFactor(0, 1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(top)
        layout.addWidget(outer, 1)
        return content

    # -- models and the map ---------------------------------------------------------------------
    def refresh(self) -> None:
        self.data.reload()
        super().refresh()
        if self.picker.current() != self.choice:
            self._model_changed(self.picker.current())

    def _model_changed(self, choice: Optional[ModelChoice]) -> None:
        if choice == self.choice:
            return
        if choice is not None and self.choice is not None and choice.ref == self.choice.ref:
            self.choice = choice  # saved again: model_retrained follows
            return
        self._generation += 1
        self._cancel_long()
        self.choice = choice
        self._reset(keep_vectors=False)
        if choice is None:
            return
        job = training_job(choice.ref.checkpoint)
        self._split_seed = int(job.get("seed", 0))
        argument = self._restoring_data or job.get("data") or self.data.argument()
        if argument:
            self.data.set_argument(argument)
        self._map_wanted = True
        self._load_map_when_visible()

    def model_retrained(self, choice: ModelChoice) -> None:
        """The same checkpoint file was saved again (its training goes on; the old weights are
        unloaded): map again, keeping the artist's point, morph ends and settings."""
        self.choice = choice
        self._generation += 1
        self._cancel_long()
        self.data_map = self.morph_latents = self.walk_latents = self.prior_latents = self.prior_images = None
        self.made, self._stale = {}, {"walk": True, "prior": True}
        if self.current is not None:
            self.show_latent(self.current, self.caption.text(), self.origin)
        self._map_wanted = True
        self._load_map_when_visible()

    def _reset(self, keep_vectors: bool) -> None:
        """Forget the map and what was made from it; ``keep_vectors`` keeps the folder vectors
        (they belong to the model, not to the map's data)."""
        self._shown_serial += 1
        self.data_map = self.current = self.base = None
        self.vectors = {k: v for k, v in self.vectors.items() if k not in self._class_vectors} if keep_vectors else {}
        self._class_vectors = set()
        self.origin, self.ends = {}, {"a": None, "b": None}
        self.morph_latents = self.walk_latents = self.prior_latents = self.prior_images = None
        self.made, self._pending = {}, {}
        self._stale = {"walk": False, "prior": True}
        self.map.clear()
        self.view.set_image(None)
        self.caption.setText("")
        for role in self.ends:
            self.morph.show_end(role, None, "")
        self.morph.strip.clear()
        self.walk.strip.clear()
        self.prior.show_grid(None)
        self.attributes.set_vectors(list(self.vectors))

    def _data_chosen(self, argument: str) -> None:
        if self.choice is not None and (self.data_map is None or self.data_map.argument != argument):
            self._generation += 1
            self._cancel_long()
            self._reset(keep_vectors=True)
            self._map_wanted = True
            self._load_map_when_visible()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._load_map_when_visible()  # a map is only encoded once someone looks at it

    def _load_map_when_visible(self) -> None:
        if not (self._map_wanted and self.isVisible() and self.choice and self.data.argument()):
            return
        self._map_wanted = False
        self.map.show_message(f"Encoding {self.data.currentText()}…")
        fn = map_request(self.context.registry, self.data.argument(), self._split_seed)
        self.long.start("map", f"Encoding {self.data.currentText()}",
                        lambda **callbacks: self.submit("map", fn, **callbacks),
                        on_result=self._map_loaded, on_error=self._map_failed, on_cancelled=self._map_cancelled)

    def _map_loaded(self, data: MapData) -> None:
        self.data_map = data
        self.map.set_data(data.points, data.labels, data.class_names, data.images,
                          [data.caption(i) for i in range(len(data.latents))], data.projection.labels)
        vectors = {}
        if data.labels is not None and data.class_names:
            vectors = {data.class_names[c]: v for c, v in class_vectors(data.latents, data.labels).items()
                       if c < len(data.class_names)}
        self._class_vectors = set(vectors)
        for name, vector in self.vectors.items():  # folder vectors stay; a class's own vector wins its name
            vectors.setdefault(name, vector)
        self.vectors = vectors
        self.attributes.set_vectors(list(self.vectors), keep=self._pending.get("attribute"))
        self._check_restored_attribute()
        explained = None if data.principal is None else data.principal.explained
        self.walk.set_directions(data.latents.shape[1], explained)
        if self.current is None and self._decoding is None:  # nothing chosen yet (nor restored, on its way)
            self._choose(data.latents[0], data.caption(0))
        for role, index in (("a", 0), ("b", _other_class(data))):
            if self.ends[role] is None:
                self.ends[role] = Endpoint(data.latents[index], data.images[index], data.caption(index))
                self.morph.show_end(role, data.images[index], data.caption(index))
        if self.morph_latents is None:
            self._morph()
        self._stale["walk"] = True
        self._tool_shown()

    def _map_failed(self, message: str, _detail: str = "") -> None:
        self.map.clear(f"The map could not be made: {message}\n\nChoose other data above.")

    def _map_cancelled(self) -> None:
        self.map.clear("Cancelled. Choose the data above again to make the map.")

    def _cancel_long(self) -> None:
        self.long.cancel_all()

    def submit(self, what: str, fn: Callable, on_result: Callable, **callbacks) -> Any:
        """Run ``fn(model, ctx)`` on the inference thread; the newest request of each kind wins,
        and callbacks for a model or map that has since been replaced are dropped."""
        generation = self._generation

        def current(callback):
            return None if callback is None else \
                lambda *args: callback(*args) if generation == self._generation else None

        callbacks.setdefault("on_error", self._failed)
        return self.context.inference.submit(self.choice.ref, fn, key=f"{self._key}:{what}",
                                             on_result=current(on_result),
                                             **{name: current(cb) for name, cb in callbacks.items()})

    def _failed(self, message: str, _detail: str = "") -> None:
        self.caption.setText(f"<span style='color:#b00020'>{message}</span>")
        self.context.show_status(message)

    # -- choosing and showing points -----------------------------------------------------------------
    def _picked(self, pick: Pick) -> None:
        data = self.data_map
        if data is None:
            return
        if pick.index is not None:
            latent, image, caption = data.latents[pick.index], data.images[pick.index], data.caption(pick.index)
        else:
            latent = data.projection.to_latent(np.array([pick.x, pick.y]))
            image, caption = None, f"map point ({pick.x:.2f}, {pick.y:.2f})"
        if pick.role == "current":
            self._choose(latent, caption)
        else:
            self.set_end(pick.role, Endpoint(latent, image, caption))

    def _choose(self, latent: np.ndarray, caption: str, origin: Optional[dict] = None) -> None:
        """Make ``latent`` the chosen point, decode it and show it."""
        self._set_base(latent, caption)
        self.show_latent(latent, caption, origin or {"mode": "point"})

    def _set_base(self, latent: np.ndarray, caption: str) -> None:
        self.base, self.base_caption = np.asarray(latent, np.float32), caption
        self.attributes.set_strength(0.0)
        self._stale["walk"] = True
        if self.tools.currentWidget() is self.walk:
            self._walk()

    def show_latent(self, latent: np.ndarray, caption: str, origin: dict[str, Any]) -> None:
        """Decode ``latent`` into the big view (while dragging only the newest request runs). The
        latent and origin become ``current`` and ``origin`` with the image, when it arrives."""
        latent = np.asarray(latent, np.float32)
        serial = self._next_shown()

        def arrived(images) -> None:
            if serial == self._shown_serial:  # else something newer was chosen meanwhile
                self._decoding = None
                self._shown(latent, images[0], caption, origin)

        def failed(message: str, detail: str = "") -> None:
            if serial == self._shown_serial:
                self._decoding = None
            self._failed(message, detail)

        self._decoding = self.submit("decode", decode_request(latent[None]), arrived, on_error=failed)

    def _show_frame(self, latent: np.ndarray, image: np.ndarray, caption: str, origin: dict[str, Any]) -> None:
        """Show an already decoded frame (of a strip or grid) in the big view; a decode still on its
        way is stopped, so it cannot paint over the frame."""
        self._next_shown()
        self._shown(np.asarray(latent, np.float32), image, caption, origin)

    def _next_shown(self) -> int:
        """A new serial for the big view, stopping the decode for the previous one."""
        if self._decoding is not None:
            self._decoding.cancel()
            self._decoding = None
        self._shown_serial += 1
        return self._shown_serial

    def _shown(self, latent: np.ndarray, image: np.ndarray, caption: str, origin: dict[str, Any]) -> None:
        self.current, self.origin = latent, origin
        self._mark_current()
        self.view.set_image(image)
        self.caption.setText(caption)

    def _mark_current(self) -> None:
        if self.data_map is not None and self.current is not None:
            self.map.set_current(self.data_map.projection.to_map(self.current))

    def _to_map(self, latents: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if latents is None or self.data_map is None else self.data_map.projection.to_map(latents)


def _other_class(data: MapData) -> int:
    """An image of another class than the first (a morph worth watching), else the second image."""
    if data.labels is not None:
        others = np.flatnonzero(data.labels != data.labels[0])
        if len(others):
            return int(others[0])
    return min(1, len(data.latents) - 1)
