"""The parameters an exported image carries, and finding the model again when one is dropped back.

An export's parameters are one flat JSON object (PNG text chunks): which panel
and model made it (spec, checkpoint path and SHA-256, step), the data of the
map, the ``mode`` (point, attribute, morph, walk, prior) with that mode's
settings, and for a single image the ``latent`` decoded; and how much larger than
the model's images the export was drawn (``scale``). Qt-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from studio.core.checkpoint import checkpoint_sha256
from studio.core.errors import UserError

PANEL = "latent-explorer"
MODES = ("point", "attribute", "morph", "walk", "prior")


def model_params(choice, data: Optional[str]) -> dict[str, Any]:
    """What identifies the model (and the map's data) of a ``ModelChoice``."""
    params = {
        "panel": PANEL,
        "model": choice.spec.name,
        "model_title": choice.spec.title,
        "plugin_version": choice.spec.plugin_version,
        "checkpoint": choice.ref.checkpoint,
        "checkpoint_sha256": checkpoint_sha256(choice.ref.checkpoint),
        "step": choice.step,
    }
    if data:
        params["data"] = data
    return params


def check_params(params: dict[str, Any], name: str) -> None:
    """Raise a :class:`UserError` saying why ``params`` (read from the file ``name``) cannot be restored."""
    if not params:
        raise UserError(f"{name} carries no Generative Studio parameters, so there is nothing to restore. "
                        "Drop a PNG exported from the Latent Explorer (File ▸ Export); its settings travel "
                        "inside the file.")
    if params.get("panel") != PANEL:
        raise UserError(f"{name} was made by another part of the studio (model {params.get('model', '?')!r}), "
                        "not the Latent Explorer; open it in the panel that made it.")
    if params.get("mode") not in MODES or not params.get("checkpoint") or not params.get("model"):
        raise UserError(f"{name} has Latent Explorer parameters, but they are incomplete or from a newer "
                        "studio (no model, checkpoint or known mode); nothing was changed.")


def find_checkpoint(params: dict[str, Any], known: list[dict], name: str) -> str:
    """The checkpoint file that made the image: the recorded path if it is still there, else a
    catalogued checkpoint of the same model with the same SHA-256 (the file was moved)."""
    path, sha = params["checkpoint"], params.get("checkpoint_sha256")
    if Path(path).is_file():
        return path
    if sha:
        for row in known:
            if row["spec"] == params["model"] and Path(row["path"]).is_file() and \
                    checkpoint_sha256(row["path"]) == sha:
                return row["path"]
    title = params.get("model_title") or params["model"]
    raise UserError(f"The {title} checkpoint that made {name} is not here: {path} is missing"
                    + (f" and no catalogued checkpoint has its SHA-256 ({sha[:12]}…)" if sha else "")
                    + ". Train the model again, or use Open… beside the model list to point at a copy; "
                    "nothing was changed.")


def scale_factor(shape: tuple[int, ...], side: int) -> int:
    """The whole-number factor that makes an image of ``shape`` (H, W, ...) at least ``side`` pixels on
    its long side (1 for ``side`` 0, or an image already that large)."""
    longest = max(shape[0], shape[1])
    return max(1, -(-side // longest)) if side and longest else 1


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """``pixels`` (H, W, ...) enlarged ``factor`` times by nearest neighbour: each pixel a sharp square."""
    if factor == 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
