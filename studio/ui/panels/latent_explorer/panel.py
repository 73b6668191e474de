"""The Latent Explorer: a model's latent space as a map to click, drag, morph and walk (chapter 3).

The view of a :class:`~.state.LatentState`. Layout: model and data on top; the
map on the left at full height (it is what one works on), the decoded image
large on the right with the Morph / Attributes / Walk / Prior grid tools under
it. Input becomes undoable edits of the state (:mod:`.commands`); the widgets
follow the state's events. Exports and restores are :mod:`.exchange`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.core.imaging import read_png_params
from studio.ui.export import export_artifact
from studio.ui.kit.messages import warn
from studio.ui.kit.model_panel import ModelPanel
from studio.ui.panels.latent_explorer import commands, exchange
from studio.ui.panels.latent_explorer.data_chooser import DataChooser
from studio.ui.panels.latent_explorer.map_view import LatentMap, Pick
from studio.ui.panels.latent_explorer.state import TOOLS, LatentState
from studio.ui.panels.latent_explorer.tool_states import MorphSettings, PriorSettings, WalkSettings
from studio.ui.panels.latent_explorer.tools import AttributeTool, MorphTool, PriorTool, WalkTool
from studio.ui.panels.latent_explorer.work import Endpoint
from studio.ui.settings import Setting
from studio.ui.widgets.image_view import ImageView

#: export sizes: the long side an image (or each frame) is enlarged to at least, by whole pixels; 0 keeps it
EXPORT_SIDES = ((0, "Model size"), (256, "At least 256 px"), (512, "At least 512 px"), (1024, "At least 1024 px"))
EXPORT_SIDE = Setting("latent-explorer/export-side", int, 256,
                      "Latent Explorer: exports are enlarged to at least this many pixels on their long side "
                      "(0: as is)")


class LatentExplorerPanel(ModelPanel):
    what_it_does = ("See a dataset as a map of a model's latent space, click anywhere to decode it, "
                    "morph between two images and add attribute vectors.")
    families = "Autoencoders, VAEs and other latent-variable models"
    import_filter = "PNG images exported by the studio (*.png)"
    dropped_kinds = (".png",)
    declared_settings = (EXPORT_SIDE,)
    state_class = LatentState
    cancel_description = "Stop encoding"
    state: LatentState

    # -- building ---------------------------------------------------------------------------
    def build_content(self) -> QWidget:
        self._drag = 0  #: counts finished drags: the moves of one drag are one undoable step
        self._drawn_map = None  #: the MapData the map widget shows
        self.data = DataChooser(self.context)
        self.data.chosen.connect(self._data_chosen)
        if self.data.argument():  # what is mapped for a model that does not say what it was trained on
            self.state.choose_data(self.data.argument())
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.picker, 3)
        top.addSpacing(12)
        top.addWidget(QLabel("Map of"))
        top.addWidget(self.data, 1)
        top.addWidget(self.task_bar)
        top.addStretch(1)
        top.addWidget(self._export_button())

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
        self._connect_tools()

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
        self._follow_state()
        return content

    def _connect_tools(self) -> None:
        state = self.state
        self.tools.currentChanged.connect(lambda index: state.set_tool(TOOLS[index]))
        self.morph.changed.connect(lambda: self.edit(lambda: commands.morph_settings(state, MorphSettings(
            *self.morph.settings()))))
        self.morph.end_requested.connect(self._end_from_shown)
        self.morph.swap_requested.connect(lambda: self.edit(lambda: commands.swap_ends(state)))
        self.morph.strip.frame_chosen.connect(lambda i: self._point("Choose a morph frame", state.morph.choose_frame,
                                                                    i))
        self.attributes.changed.connect(lambda: self.edit(lambda: commands.strength(
            state, self.attributes.name(), self.attributes.strength())))
        self.attributes.folders_requested.connect(self._folder_vector)
        self.walk.changed.connect(lambda: self.edit(lambda: commands.walk_settings(
            state, WalkSettings(**self.walk.settings()))))
        self.walk.strip.frame_chosen.connect(lambda i: self._point("Choose a walk frame", state.walk.choose_frame, i))
        self.prior.changed.connect(lambda: self.edit(lambda: commands.prior_settings(state, PriorSettings(
            self.prior.side.value(), self.prior.seed.value()))))
        self.prior.cell_chosen.connect(lambda i: self._point("Choose a prior sample", state.prior.choose, i))
        for tool, what in ((self.morph, "morph"), (self.walk, "walk"), (self.prior, "prior")):
            tool.export_requested.connect(lambda w=what: self.export_clicked(w))

    def _follow_state(self) -> None:
        events = self.state.events
        events.model.connect(lambda _choice: self.undo_stack.clear())  # latents of another model mean nothing
        events.data.connect(lambda: self.data.set_argument(self.state.data_argument))
        events.map.connect(self._show_map)
        events.shown.connect(self._show_point)
        events.tool.connect(self._show_tool)
        events.morph.connect(self._show_morph)
        events.attribute.connect(self._show_attribute)
        events.vectors.connect(lambda: self.attributes.set_vectors(list(self.state.attributes.vectors),
                                                                   self.state.attributes.name))
        events.walk.connect(self._show_walk)
        events.prior.connect(self._show_prior)
        events.warning.connect(lambda message: QMessageBox.warning(self, "Restore from an image", message))
        events.restored.connect(lambda note: self.context.show_status("Restored the image's view"
                                                                      + (f"; {note}" if note else "")))

    def _export_button(self) -> QToolButton:
        button = QToolButton()
        button.setText("Export")
        button.setObjectName("LatentExport")
        button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(button)
        for what, label, _ in exchange.EXPORTS:
            menu.addAction(label, lambda w=what: self.export_clicked(w))
        menu.addSection("Size (nearest neighbour, sharp pixels)")
        chosen = self.context.settings.get(EXPORT_SIDE.key)
        self.export_side = chosen if chosen in dict(EXPORT_SIDES) else EXPORT_SIDE.default
        self.export_sizes = {}  #: long side -> its menu action
        group = QActionGroup(menu)
        for side, label in EXPORT_SIDES:
            action = menu.addAction(label, lambda s=side: self._choose_export_side(s))
            action.setCheckable(True)
            action.setChecked(side == self.export_side)
            group.addAction(action)
            self.export_sizes[side] = action
        button.setMenu(menu)
        return button

    def _choose_export_side(self, side: int) -> None:
        self.export_side = side
        self.context.settings.set(EXPORT_SIDE.key, side)

    def refresh(self) -> None:
        self.data.reload()  # datasets trained on may have been added
        super().refresh()

    # -- input: edits of the state ------------------------------------------------------------
    def edit(self, make) -> None:
        """Apply the undoable edit ``make()`` builds; one the state refuses is explained, and nothing changes."""
        try:
            command = make()
        except ValueError as exc:
            self.context.show_status(str(exc))
            self._show_all()
            return
        self.undo_stack.push(command)

    def _point(self, text: str, change, *args, merge: Optional[str] = None) -> None:
        """Change the chosen point with ``change(*args)``, as one undoable step."""
        before = self.state.point()
        change(*args)
        self.undo_stack.push(commands.point(self.state, text, before, merge))

    def _picked(self, pick: Pick) -> None:
        if self.state.data_map is None:
            return
        latent, image, caption = self.state.pick(pick.x, pick.y, pick.role, pick.index)
        if pick.role == "current":
            self._point("Choose a point", self.state.choose, latent, caption, merge=f"drag-{self._drag}")
            if pick.final:
                self._drag += 1
        else:
            self.edit(lambda: commands.end(self.state, pick.role, Endpoint(latent, image, caption)))
            self.state.set_tool("morph")

    def _end_from_shown(self, role: str) -> None:
        end = self.state.end_from_shown()
        if end is not None:
            self.edit(lambda: commands.end(self.state, role, end))

    def _data_chosen(self, argument: str) -> None:
        try:
            self.state.choose_data(argument)
        except UserError as exc:
            QMessageBox.warning(self, "Map of", str(exc))

    def _folder_vector(self, folder_a: str, folder_b: str) -> None:
        try:
            self.state.attributes.from_folders(folder_a, folder_b)
        except ValueError as exc:
            QMessageBox.warning(self, "Attribute vector", str(exc))

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.state.set_visible(True)  # a map is only encoded once someone looks at it

    def hideEvent(self, event) -> None:  # noqa: N802
        super().hideEvent(event)
        self.state.set_visible(False)

    # -- the state, drawn ------------------------------------------------------------------------
    def _show_map(self) -> None:
        data = self.state.data_map
        if data is not None and data is not self._drawn_map:
            self.map.set_data(data.points, data.labels, data.class_names, data.images,
                              [data.caption(i) for i in range(len(data.latents))], data.projection.labels)
        elif data is None:
            self.map.clear(self.state.map_message)
        self._drawn_map = data
        self._show_overlays()

    def _show_point(self) -> None:
        shown = self.state.shown
        self.view.set_image(None if shown is None else shown.image)
        self.caption.setText("" if shown is None else shown.caption)
        self._show_overlays()

    def _show_tool(self) -> None:
        index = TOOLS.index(self.state.tool)
        if self.tools.currentIndex() != index:
            self.tools.blockSignals(True)
            self.tools.setCurrentIndex(index)
            self.tools.blockSignals(False)
        self._show_overlays()

    def _show_morph(self) -> None:
        morph = self.state.morph
        self.morph.set_settings(morph.settings.steps, morph.settings.mode)
        for role, end in morph.ends.items():
            self.morph.show_end(role, None if end is None else end.image, "" if end is None else end.caption)
        _show_strip(self.morph.strip, morph.strip)
        self._show_overlays()

    def _show_attribute(self) -> None:
        attributes = self.state.attributes
        if attributes.name is not None and self.attributes.name() != attributes.name:
            self.attributes.set_vectors(list(attributes.vectors), attributes.name)
        self.attributes.set_strength(attributes.strength)

    def _show_walk(self) -> None:
        walk = self.state.walk
        self.walk.set_directions(walk.directions, walk.settings.direction)
        self.walk.set_settings(walk.settings.direction, walk.settings.extent, walk.settings.steps)
        _show_strip(self.walk.strip, walk.strip)
        self._show_overlays()

    def _show_prior(self) -> None:
        prior = self.state.prior
        self.prior.set_settings(prior.settings.side, prior.settings.seed)
        self.prior.show_grid(None if prior.grid is None else prior.grid.picture,
                             prior.grid.params["side"] if prior.grid else 0)
        self._show_overlays()

    def _show_all(self) -> None:
        """Every widget as the state is (after the artist set something the state refused)."""
        self._show_morph()
        self._show_attribute()
        self._show_walk()
        self._show_prior()

    def _show_overlays(self) -> None:
        """On the map: the shown tool's path or samples, the morph's ends, the current point."""
        state = self.state
        if state.data_map is None:
            return
        tool = state.tool
        strip = {"morph": state.morph.strip, "walk": state.walk.strip}.get(tool)
        self.map.set_path(state.to_map(None if strip is None else strip.latents))
        prior = state.prior.grid
        self.map.set_samples(state.to_map(prior.latents) if tool == "prior" and prior is not None else None)
        for role, end in state.morph.ends.items():
            self.map.set_end(role, None if end is None else state.to_map(end.latent))
        if state.shown is not None:
            self.map.set_current(state.to_map(state.shown.latent))

    # -- export and restore ------------------------------------------------------------------------
    def export(self) -> Optional[str]:
        """File ▸ Export: the image in the big view, with what made it."""
        return self.export_what("image")

    def export_clicked(self, what: str) -> None:
        reason = self.export_what(what)
        if reason:
            QMessageBox.information(self, "Export", reason)

    def export_what(self, what: str) -> Optional[str]:
        artifact = exchange.artifact(self.state, what, self.export_side)
        if artifact is None:
            return dict((k, why) for k, _, why in exchange.EXPORTS)[what]
        mode = artifact.params.get("mode", what)
        # no extension: the chosen exporter adds its own (.png, .gif)
        export_artifact(self, self.context, artifact, f"{self.state.choice.spec.name}-{mode}")
        return None

    def receive(self, artifact) -> Optional[str]:
        """An image another panel made (the canvas's) with a model that works here: choose that model,
        and make the image's latent the chosen point."""
        pixels, params = getattr(artifact, "pixels", None), getattr(artifact, "params", {}) or {}
        checkpoint = params.get("checkpoint")
        if pixels is None or not checkpoint:
            return "The Latent Explorer takes an image a model made, with the model's checkpoint."
        if not self.picker.select(checkpoint):
            try:
                self.state.models.add_checkpoint(checkpoint)
            except UserError as exc:
                return f"The Latent Explorer cannot use the model that made this image: {exc}"
        caption = params.get("caption") or "an image from the Image Canvas"
        self.state.place(pixels, caption)
        return None

    def import_file(self, path: Path) -> None:
        """Restore the view a PNG exported from here was made with; explain and change nothing if it can't be."""
        path = Path(path)
        try:
            exchange.restore(self.state, read_png_params(path), path.name)
        except UserError as exc:
            warn(self, "Restore from an image", str(exc))


def _show_strip(widget, strip) -> None:
    """Show a tool's frames (a tool_states.Strip, or None) in its FrameStrip widget, if they changed."""
    if strip is None:
        widget.clear()
    elif widget.frames is not strip.frames or widget.selected != strip.selected:
        widget.set_frames(strip.frames, strip.selected)
