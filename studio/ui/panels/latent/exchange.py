"""Export from the Latent Explorer, and restore it from a PNG dropped back (or File ▸ Import).

A mix-in of :class:`~studio.ui.panels.latent_explorer.LatentExplorerPanel`: it
reads the panel's state to build artifacts, and drives the panel's own methods
to restore one, so a restored view behaves exactly like one made by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMenu, QMessageBox, QToolButton

from studio.core.artifacts import ImageArtifact, ImageSequenceArtifact
from studio.core.errors import UserError
from studio.core.imaging import read_png_params
from studio.ui.export import export_artifact
from studio.ui.panels.latent.params import (
    check_params,
    find_checkpoint,
    model_params,
    scale_factor,
    upscale,
)
from studio.ui.panels.latent.work import Endpoint
from studio.ui.params import changed_since
from studio.ui.settings import SETTINGS, Settings

#: what can be exported: (key, menu text, why not when there is nothing)
EXPORTS = (
    ("image", "Image…", "Click the map first: the decoded image is what gets exported."),
    ("morph", "Morph strip (PNG sheet or GIF)…", "Choose A and B first (Shift-click and Ctrl-click the map)."),
    ("walk", "Walk strip (PNG sheet or GIF)…", "Open the Walk tab and choose a point first."),
    ("prior", "Prior grid…", "Open the Prior grid tab first."),
)
#: the parameters that say how a single image was made (besides its latent)
ORIGIN_KEYS = ("mode", "base", "attribute", "strength", "vector", "a", "b", "steps", "interpolation", "frame",
               "centre", "direction", "extent", "seed", "side", "index")
#: export sizes: the long side an image (or each frame) is enlarged to at least, by whole pixels; 0 keeps it
EXPORT_SIDES = ((0, "Model size"), (256, "At least 256 px"), (512, "At least 512 px"), (1024, "At least 1024 px"))
#: where the chosen size is remembered
EXPORT_SIDE_KEY = "latent-explorer/export-side"


class ExportRestore:
    import_filter = "PNG images exported by the studio (*.png)"
    dropped_kinds = (".png",)

    # -- export -----------------------------------------------------------------------------------
    def export_button(self) -> QToolButton:
        button = QToolButton()
        button.setText("Export")
        button.setObjectName("LatentExport")
        button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(button)
        for what, label, _ in EXPORTS:
            menu.addAction(label, lambda w=what: self.export_clicked(w))
        menu.addSection("Size (nearest neighbour, sharp pixels)")
        self.export_side = Settings().get(EXPORT_SIDE_KEY)
        if self.export_side not in dict(EXPORT_SIDES):
            self.export_side = SETTINGS[EXPORT_SIDE_KEY].default
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
        Settings().set(EXPORT_SIDE_KEY, side)

    def export(self) -> Optional[str]:
        """File ▸ Export: the image in the big view, with what made it."""
        return self.export_what("image")

    def export_clicked(self, what: str) -> None:
        reason = self.export_what(what)
        if reason:
            QMessageBox.information(self, "Export", reason)

    def export_what(self, what: str) -> Optional[str]:
        artifact = self.artifact(what)
        if artifact is None:
            return dict((k, why) for k, _, why in EXPORTS)[what]
        mode = artifact.params.get("mode", what)
        # no extension: the chosen exporter adds its own (.png, .gif)
        export_artifact(self, self.context, artifact, f"{self.choice.spec.name}-{mode}")
        return None

    def artifact(self, what: str) -> Optional[Any]:
        """The artifact of ``what`` (see :data:`EXPORTS`) with its parameters, or None if there is none."""
        if self.choice is None:
            return None
        params = model_params(self.choice, self.data_map.argument if self.data_map else self.data.argument())
        if what == "image":
            if self.current is None or self.view.array is None:
                return None
            params.update(self.origin, latent=self.current.tolist())
            if self.data_map is not None:
                params["map"] = self.data_map.projection.to_map(self.current).tolist()
            return self._scaled_image(self.view.array, params)
        made = self.made.get(what)
        if made is None:
            return None
        params.update(made["params"])
        if what == "prior":
            return self._scaled_image(made["picture"], params)
        frames = list(made["picture"])
        params["scale"] = factor = scale_factor(frames[0].shape, self.export_side)
        return ImageSequenceArtifact([upscale(frame, factor) for frame in frames], params)

    def _scaled_image(self, pixels: np.ndarray, params: dict[str, Any]) -> ImageArtifact:
        params["scale"] = factor = scale_factor(pixels.shape, self.export_side)
        return ImageArtifact(upscale(pixels, factor), params)

    # -- restore ----------------------------------------------------------------------------------------
    def import_file(self, path: Path) -> None:
        """Restore the view a PNG exported from here was made with; explain and change nothing if it can't be."""
        path = Path(path)
        try:
            params = read_png_params(path)
            check_params(params, path.name)
            if params["model"] not in self.context.registry.models:
                raise UserError(f"{path.name} was made by a {params.get('model_title') or params['model']} "
                                "model, but no enabled plugin provides it (see Plugins ▸ Plugin Manager).")
            known = self.context.workspace.store.checkpoints([params["model"]])
            checkpoint = find_checkpoint(params, known, path.name)
        except UserError as exc:
            QMessageBox.warning(self, "Restore from an image", str(exc))
            return
        self._restoring_data = params.get("data")
        try:
            if not self.picker.select(checkpoint) and not self.picker.add_checkpoint(checkpoint):
                return
        finally:
            self._restoring_data = None
        self.refresh()
        if params.get("data") and params["data"] != self.data.argument():
            self.data.set_argument(params["data"])
            self._data_chosen(params["data"])
        self._apply(params, path.name)
        note = " (its checkpoint has been retrained since, so it may look different)" \
            if changed_since(params, checkpoint) else ""
        self.context.show_status(f"Restored {path.name}{note}")

    def _apply(self, params: dict[str, Any], name: str) -> None:
        mode, caption = params["mode"], f"restored from {name}"
        latent = None if params.get("latent") is None else np.asarray(params["latent"], np.float32)
        if mode == "morph":
            self.morph.set_settings(int(params["steps"]), params["interpolation"])
            self._pending["morph"] = int(params.get("frame", 0))
            for role in ("a", "b"):
                self.ends[role] = Endpoint(np.asarray(params[role], np.float32), None, f"{role.upper()} ({name})")
                self.morph.show_end(role, None, self.ends[role].caption)
            self.tools.setCurrentWidget(self.morph)
            self._morph()
            latent = self.ends["a"].latent if latent is None else latent
        elif mode == "walk":
            self.walk.set_settings(params["direction"], float(params["extent"]), int(params["steps"]))
            self._set_base(np.asarray(params["centre"], np.float32), caption)
            if "frame" in params:
                self._pending["walk"] = int(params["frame"])
            self.tools.setCurrentWidget(self.walk)
        elif mode == "prior":
            self.prior.set_settings(int(params["side"]), int(params["seed"]))
            self._stale["prior"] = True
            self.tools.setCurrentWidget(self.prior)
            self._tool_shown()
        elif mode == "attribute":
            self._set_base(np.asarray(params["base"], np.float32), caption)
            self.attributes.set_strength(float(params["strength"]))
            name, saved = params["attribute"], params.get("vector")
            if saved is not None and name not in self._class_vectors:  # a folder vector: it came in the file
                self.vectors[name] = np.asarray(saved, np.float32)
            self._pending["attribute"] = name
            self.attributes.set_vectors(list(self.vectors), keep=name)
            if self.data_map is not None:  # else the map's class vectors are still to come
                self._check_restored_attribute()
            self.tools.setCurrentWidget(self.attributes)
        if latent is not None:
            if mode in ("point", "morph", "prior"):
                self._set_base(latent, caption)
            self.show_latent(latent, caption, {k: params[k] for k in ORIGIN_KEYS if k in params})

    def _check_restored_attribute(self) -> None:
        """Once the map's vectors are known: a restored attribute vector that is not among them
        (an export from before vectors travelled in the file) is explained, and its strength reset."""
        name = self._pending.pop("attribute", None)
        if name is None or name in self.vectors:
            return
        self.attributes.set_strength(0.0)
        QMessageBox.warning(self, "Restore from an image",
                            f"The image is restored, but its attribute vector “{name}” is not known here (a "
                            "vector made from two folders that the file does not carry, or a class of other "
                            "data), so the strength is back to 0. Make the vector again to go on with it.")
