"""What the Latent Explorer exports, and restoring a view from an exported PNG (Qt-free).

An export's parameters are the provenance of every result (the model, its
checkpoint's path, SHA-256 and step; :func:`~studio.core.provenance.result_params`),
the data of the map, the ``mode`` (point, attribute, morph, walk, prior) with
that mode's settings, for a single image the ``latent`` decoded (and where it
is on the map), and how much larger than the model's images it was drawn
(``scale``). Restoring drives the state's own methods, so a restored view
behaves exactly like one made by hand.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from studio.core.artifacts import ImageArtifact, ImageSequenceArtifact
from studio.core.errors import UserError
from studio.core.provenance import RestoreError, check_made_here
from studio.ui.panels.latent_explorer.scaling import scale_factor, upscale
from studio.ui.panels.latent_explorer.state import LatentState
from studio.ui.panels.latent_explorer.tool_states import MorphSettings, PriorSettings, WalkSettings
from studio.ui.panels.latent_explorer.work import Endpoint

MODES = ("point", "attribute", "morph", "walk", "prior")
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


def artifact(state: LatentState, what: str, export_side: int) -> Optional[Any]:
    """The artifact of ``what`` (see :data:`EXPORTS`) with its parameters, enlarged to at least
    ``export_side`` pixels on its long side (0: as it is), or None if there is none."""
    if state.choice is None:
        return None
    data = state.data_map.argument if state.data_map else state.data_argument
    params = state.result_params(**({"data": data} if data else {}))
    if what == "image":
        shown = state.shown
        if shown is None:
            return None
        params.update(shown.origin, latent=shown.latent.tolist())
        if state.data_map is not None:
            params["map"] = state.data_map.projection.to_map(shown.latent).tolist()
        return _scaled_image(shown.image, params, export_side)
    if what == "prior":
        grid = state.prior.grid
        return None if grid is None else _scaled_image(grid.picture, {**params, **grid.params}, export_side)
    strip = {"morph": state.morph.strip, "walk": state.walk.strip}[what]
    if strip is None:
        return None
    params.update(strip.params)
    params["scale"] = factor = scale_factor(strip.frames[0].shape, export_side)
    return ImageSequenceArtifact([upscale(frame, factor) for frame in strip.frames], params)


def _scaled_image(pixels: np.ndarray, params: dict[str, Any], side: int) -> ImageArtifact:
    params["scale"] = factor = scale_factor(pixels.shape, side)
    return ImageArtifact(upscale(pixels, factor), params)


def restore(state: LatentState, params: dict[str, Any], name: str) -> None:
    """Restore the view a PNG exported from the Latent Explorer was made with: its model (found by its
    hash if it moved), its data, and the mode's settings. Raises :class:`RestoreError` at once for a
    file that is not one; a model that is nowhere arrives as the work's failure. Nothing changes then."""
    check_made_here(params, state.panel, state.title, name)
    if params.get("mode") not in MODES:
        raise RestoreError(f"{name} has Latent Explorer parameters, but they are incomplete or from a newer "
                           "studio (no known mode); nothing was changed.")
    state.restore(params, name, lambda restored, _name: _apply_checked(state, restored, name))


def _apply_checked(state: LatentState, params: dict[str, Any], name: str) -> None:
    """:func:`apply`, with a damaged file's settings (one missing, or of another type) told as the restore's
    failure rather than raised on the GUI thread."""
    try:
        apply(state, params, name)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, UserError) as exc:
        what = f"it has no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        state.work.events.failed.emit("Restore from an image", f"The Latent Explorer settings in {name} are "
                                      f"damaged ({what}); its model is chosen, the view may be restored in part.",
                                      "")


def apply(state: LatentState, params: dict[str, Any], name: str) -> None:
    """Set the state as ``params`` say, the model being chosen already."""
    if params.get("data") and isinstance(params["data"], str) and params["data"] != state.data_argument:
        state.choose_data(params["data"])
    mode, caption = params["mode"], f"restored from {name}"
    latent = None if params.get("latent") is None else np.asarray(params["latent"], np.float32)
    if mode == "morph":
        state.morph.settings = MorphSettings(int(params["steps"]), params["interpolation"])
        state.morph.pending_frame = int(params.get("frame", 0))
        ends = {role: Endpoint(np.asarray(params[role], np.float32), None, f"{role.upper()} ({name})")
                for role in ("a", "b")}
        state.morph.set_ends(ends)
        state.set_tool("morph")
        latent = ends["a"].latent if latent is None else latent
    elif mode == "walk":
        state.walk.settings = WalkSettings(params["direction"], float(params["extent"]), int(params["steps"]))
        state.set_base(np.asarray(params["centre"], np.float32), caption)
        if "frame" in params:
            state.walk.pending_frame = int(params["frame"])
        state.set_tool("walk")
    elif mode == "prior":
        state.prior.settings = PriorSettings(int(params["side"]), int(params["seed"]))
        state.prior.stale = True
        state.set_tool("prior")
    elif mode == "attribute":
        state.set_base(np.asarray(params["base"], np.float32), caption)
        attributes, attribute, saved = state.attributes, params["attribute"], params.get("vector")
        if saved is not None and attribute not in attributes.from_classes:  # a folder vector: it came in the file
            attributes.vectors[attribute] = np.asarray(saved, np.float32)
        attributes.set_vectors(attributes.vectors, attributes.from_classes, keep=attribute)
        attributes.strength = float(params["strength"])
        attributes.owner.events.attribute.emit()
        state.expect_attribute(attribute)
        state.set_tool("attributes")
    if latent is not None:
        if mode in ("point", "morph", "prior"):
            state.set_base(latent, caption)
        state.show_latent(latent, caption, {k: params[k] for k in ORIGIN_KEYS if k in params})
