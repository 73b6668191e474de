"""What the Latent Explorer works on (Qt-free): the model, the map of a dataset in its latent
space, the chosen point and the image shown large, and the tools (:mod:`.tool_states`).

Every model call (loading and encoding the data too) runs on the inference
thread through the state's work: the newest request of each kind wins, and what
arrives for a model or map that has since been replaced is dropped. What the
big view shows (:attr:`LatentState.shown`: the latent, its image, caption and
origin) changes only as a whole, when a decode arrives or a decoded frame is
chosen; a decode overtaken by a later choice never arrives. The map is encoded
only once someone looks at it (:meth:`LatentState.set_visible`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.data import resolve_data_argument
from studio.core.latent import class_vectors
from studio.engine.run_folder import training_job
from studio.ui.kit.state import PanelState
from studio.ui.panels.latent_explorer.tool_states import Attributes, Morph, Prior, Walk
from studio.ui.panels.latent_explorer.work import DatasetCache, Endpoint, MapData, decode_request, map_request

PANEL = "latent-explorer"
TOOLS = ("morph", "attributes", "walk", "prior")
#: the requests made from the map and the model's weights: dropped when either changes
MAP_WORK = ("map", "folders", "decode", "morph", "walk", "prior")


@dataclass(frozen=True)
class Shown:
    """The image in the big view and how it was made (its origin: the mode and its settings)."""

    latent: np.ndarray
    image: np.ndarray
    caption: str
    origin: dict[str, Any]


@dataclass(frozen=True)
class Point:
    """What an undoable change of the chosen point restores: the point, the attribute strength added
    to it, and the latent the big view shows (or is about to: its decode may be on its way)."""

    base: Optional[np.ndarray]
    base_caption: str
    strength: float
    latent: Optional[np.ndarray]
    caption: str = ""
    origin: Optional[dict[str, Any]] = None


def data_title(registry: Any, argument: str) -> str:
    """How a data argument reads in a message: the source's title, and its location."""
    name, _, location = argument.partition(":")
    source = registry.dataset_sources.get(name)
    title = source.title if source else name
    return f"{title}: {location}" if location else title


class LatentState(PanelState):
    """Events (besides the base's): ``data()`` (the map's data argument), ``map()`` (the map or its
    message), ``shown()`` (the big view), ``tool()``, ``warning(message)``, and the tools' ``morph``,
    ``attribute``, ``vectors``, ``walk``, ``prior``."""

    panel = PANEL
    title = "Latent Explorer"
    capability = "LatentCodec"
    EVENTS = ("data", "map", "shown", "tool", "warning", "morph", "attribute", "vectors", "walk", "prior")

    def __init__(self, executor, registry, store, capability: str = "") -> None:
        self.data_argument: Optional[str] = None  #: what the map shows (a --data argument)
        self.data_map: Optional[MapData] = None
        self.map_message = ""  #: what the map says instead of points (encoding, failed, cancelled)
        self.shown: Optional[Shown] = None
        #: what the big view was last asked to show (latent, caption, origin): ``shown`` once it is decoded
        self._asked: Optional[tuple[np.ndarray, str, dict[str, Any]]] = None
        self.base: Optional[np.ndarray] = None  #: the chosen point: where attributes and walks start
        self.base_caption = ""
        self.tool = "morph"
        self.visible = False
        self.morph, self.attributes = Morph(self), Attributes(self)
        self.walk, self.prior = Walk(self), Prior(self)
        self._wanted = False  #: a map to encode once the panel is visible
        self._split_seed = 0
        self._cache = DatasetCache()
        #: a restored attribute, until the map's vectors are known
        self._pending_attribute: Optional[str] = None
        super().__init__(executor, registry, store, capability)

    # -- the model and the map -------------------------------------------------------------------
    def model_changed(self) -> None:
        self._reset(keep_vectors=False)
        if self.choice is None:
            return
        job = training_job(self.choice.ref.checkpoint)
        self._split_seed = int(job.get("seed", 0))
        # what it was trained on (a starter names the data it ships for its map)
        argument = job.get("map_data") or job.get("data") or self.data_argument
        if argument and argument != self.data_argument:
            self.data_argument = argument
            self.events.data.emit()
        self._want_map()

    def model_retrained(self) -> None:
        """The checkpoint was saved again (training goes on): map again, keeping the chosen point, the
        ends and the settings; what the old weights made is gone."""
        self.work.drop(*MAP_WORK)
        self.data_map, self.morph.strip, self.walk.strip, self.prior.grid = None, None, None, None
        self.walk.stale = self.prior.stale = True
        if self._asked is not None:
            self.show_latent(*self._asked)
        self._want_map()

    def _reset(self, keep_vectors: bool) -> None:
        """Forget the map and what was made from it; ``keep_vectors`` keeps the folder vectors
        (they belong to the model, not to the map's data)."""
        self.data_map, self.shown, self._asked, self.base, self.base_caption = None, None, None, None, ""
        self.morph.ends, self.morph.strip, self.morph.pending_frame = {"a": None, "b": None}, None, None
        self.walk.strip, self.walk.pending_frame, self.walk.stale = None, None, False
        self.prior.grid, self.prior.stale = None, True
        self._pending_attribute = None
        attributes = self.attributes
        vectors = {k: v for k, v in attributes.vectors.items() if k not in attributes.from_classes} \
            if keep_vectors else {}
        attributes.set_vectors(vectors, set())
        self.map_message = ""
        for event in (self.events.map, self.events.shown, self.events.morph, self.events.walk, self.events.prior):
            event.emit()

    def choose_data(self, argument: str) -> None:
        """Map other data (a --data argument), keeping the folder vectors."""
        resolve_data_argument(self.registry, "images", argument)  # a clear error for data that cannot be used
        self.data_argument = argument
        self.events.data.emit()
        if self.choice is not None and (self.data_map is None or self.data_map.argument != argument):
            self.work.drop(*MAP_WORK)
            self._reset(keep_vectors=True)
            self._want_map()

    def set_visible(self, visible: bool) -> None:
        """The panel is shown (or hidden): a map is only encoded once someone looks at it."""
        self.visible = visible
        self._load_map_when_visible()

    def _want_map(self) -> None:
        self._wanted = True
        self._load_map_when_visible()

    def _load_map_when_visible(self) -> None:
        if not (self._wanted and self.visible and self.choice and self.data_argument):
            return
        self._wanted = False
        title = data_title(self.registry, self.data_argument)
        self._say(f"Encoding {title}…")
        self.run("map", map_request(self.registry, self.data_argument, self._split_seed, cache=self._cache),
                 on_result=self._map_loaded, on_error=lambda message, _detail: self._say(
                     f"The map could not be made: {message}\n\nChoose other data above."),
                 on_cancelled=lambda: self._say("Cancelled. Choose the data above again to make the map."),
                 label=f"Encoding {title}")

    def _say(self, message: str) -> None:
        self.map_message = message
        self.events.map.emit()

    def _map_loaded(self, data: MapData) -> None:
        self.data_map, self.map_message = data, ""
        vectors: dict[str, np.ndarray] = {}
        if data.labels is not None and data.class_names:
            vectors = {data.class_names[c]: v for c, v in class_vectors(data.latents, data.labels).items()
                       if c < len(data.class_names)}
        from_classes = set(vectors)
        for name, vector in self.attributes.vectors.items():  # folder vectors stay; a class's own vector wins
            vectors.setdefault(name, vector)
        self.attributes.set_vectors(vectors, from_classes, keep=self._pending_attribute)
        self._check_restored_attribute()
        self.walk.set_directions(data.latents.shape[1], None if data.principal is None else data.principal.explained)
        self.events.map.emit()
        if self.shown is None and not self.work.running("decode"):  # nothing chosen yet (nor restored)
            self.choose(data.latents[0], data.caption(0))
        ends = dict(self.morph.ends)
        for role, index in (("a", 0), ("b", _other_class(data))):
            if ends[role] is None:
                ends[role] = Endpoint(data.latents[index], data.images[index], data.caption(index))
        self.morph.ends = ends
        self.events.morph.emit()
        if self.morph.strip is None:
            self.morph.compute()
        self.walk.stale = True
        self._tool_work()

    # -- tools ------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"The tools are {', '.join(TOOLS)}; not {tool!r}.")
        self.tool = tool
        self.events.tool.emit()
        self._tool_work()

    def _tool_work(self) -> None:
        """The tool shown computes what is out of date."""
        if self.tool == "walk" and self.walk.stale:
            self.walk.compute()
        if self.tool == "prior" and self.prior.stale:
            self.prior.compute()

    # -- the chosen point and the big view ------------------------------------------------------
    def pick(self, x: float, y: float, role: str, index: Optional[int]) -> Any:
        """What a pick on the map chooses: (latent, image or None, caption)."""
        data = self.data_map
        if index is not None:
            return data.latents[index], data.images[index], data.caption(index)
        return data.projection.to_latent(np.array([x, y])), None, f"map point ({x:.2f}, {y:.2f})"

    def choose(self, latent: np.ndarray, caption: str, origin: Optional[dict] = None) -> None:
        """Make ``latent`` the chosen point, decode it and show it."""
        self.set_base(latent, caption)
        self.show_latent(latent, caption, origin or {"mode": "point"})

    def place(self, image: np.ndarray, caption: str) -> None:
        """Encode an image (another panel's) and make its latent the chosen point."""
        image = np.asarray(image, np.float32)

        def work(model, _ctx) -> np.ndarray:
            return np.asarray(model.encode(image[None]), np.float32)[0]

        self.run("place", work, on_result=lambda latent: self.choose(latent, caption),
                 title="The image could not be encoded")

    def set_base(self, latent: np.ndarray, caption: str) -> None:
        self.base, self.base_caption = np.asarray(latent, np.float32), caption
        self.attributes.reset_strength()
        self.walk.stale = True
        if self.tool == "walk":
            self.walk.compute()

    def show_latent(self, latent: np.ndarray, caption: str, origin: dict[str, Any]) -> None:
        """Decode ``latent`` into the big view (while dragging only the newest request runs); it
        becomes :attr:`shown` with its image when that arrives."""
        latent = np.asarray(latent, np.float32)
        self._asked = (latent, caption, origin)
        self.run("decode", decode_request(latent[None]),
                 on_result=lambda images: self._show(Shown(latent, images[0], caption, origin)),
                 title="The point could not be decoded")

    def show_frame(self, latent: np.ndarray, image: np.ndarray, caption: str, origin: dict[str, Any]) -> None:
        """Show an already decoded frame (of a strip or grid) large; a decode still on its way is
        stopped, so it cannot paint over the frame."""
        self.work.cancel("decode")
        self._asked = (np.asarray(latent, np.float32), caption, origin)
        self._show(Shown(self._asked[0], image, caption, origin))

    def _show(self, shown: Shown) -> None:
        self.shown = shown
        self.events.shown.emit()

    def point(self) -> Point:
        """The chosen point as it is now, for an undoable edit."""
        latent, caption, origin = self._asked or (None, "", None)
        return Point(self.base, self.base_caption, self.attributes.strength, latent, caption, origin)

    def set_point(self, point: Point) -> None:
        """Put the chosen point back as it was (an undo, a redo): its image is decoded again."""
        self.base, self.base_caption = point.base, point.base_caption
        self.attributes.strength = point.strength
        self.events.attribute.emit()
        self.walk.stale = True
        if point.latent is not None:
            self.show_latent(point.latent, point.caption, point.origin or {"mode": "point"})
        self._tool_work()

    def end_from_shown(self) -> Optional[Endpoint]:
        """The image in the big view as an end of the morph."""
        if self.shown is None:
            return None
        return Endpoint(self.shown.latent, self.shown.image, self.shown.caption or "current point")

    def to_map(self, latents: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if latents is None or self.data_map is None else self.data_map.projection.to_map(latents)

    # -- restore ------------------------------------------------------------------------------------
    def expect_attribute(self, name: str) -> None:
        """A restored attribute vector: checked once the map's vectors are known."""
        self._pending_attribute = name
        if self.data_map is not None:
            self._check_restored_attribute()

    def _check_restored_attribute(self) -> None:
        """Once the map's vectors are known: a restored attribute vector that is not among them (an
        export from before vectors travelled in the file) is explained, and its strength reset."""
        name, self._pending_attribute = self._pending_attribute, None
        if name is None or name in self.attributes.vectors:
            return
        self.attributes.reset_strength()
        self.events.warning.emit(
            f"The image is restored, but its attribute vector “{name}” is not known here (a vector made from two "
            "folders that the file does not carry, or a class of other data), so the strength is back to 0. Make "
            "the vector again to go on with it.")


def _other_class(data: MapData) -> int:
    """An image of another class than the first (a morph worth watching), else the second image."""
    if data.labels is not None:
        others = np.flatnonzero(data.labels != data.labels[0])
        if len(others):
            return int(others[0])
    return min(1, len(data.latents) - 1)
