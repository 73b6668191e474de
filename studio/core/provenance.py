"""What made a result, and finding it again: the parameters every panel's results carry.

A result (an image, a strip, a text) travels with one flat JSON object of
parameters (in PNG text chunks, a text's sidecar): which panel and model made
it (the spec, its title, plugin and version), the checkpoint's path, SHA-256
and step, the seed, and every setting the panel used. :func:`result_params`
builds it, the same way for every panel; :func:`locate` finds the model again
when the file comes back, by the recorded path or, when the checkpoint has
moved, by its SHA-256 among the workspace's checkpoints and the starter models.

:func:`locate` may hash files: call it from a worker thread, not the GUI's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.digests import checkpoint_digest, weights_file
from studio.core.errors import UserError
from studio.core.starters import starters

#: The keys :func:`result_params` writes about the model; a panel's own settings are the rest.
MODEL_KEYS = ("panel", "model", "model_title", "plugin", "plugin_version", "checkpoint", "checkpoint_sha256",
              "step")


class RestoreError(UserError):
    """A result's parameters cannot be restored; the message says why and that nothing changed."""


def result_params(panel: str, spec: Any, checkpoint: str, step: int, sha256: Optional[str], *,
                  seed: Optional[int] = None, **settings: Any) -> dict[str, Any]:
    """The parameters of a result ``panel`` made with ``spec``'s model from ``checkpoint`` (at
    ``step``, with SHA-256 ``sha256``): the model's identity, the seed and every setting."""
    params: dict[str, Any] = {
        "panel": panel, "model": spec.name, "model_title": spec.title, "plugin": spec.plugin,
        "plugin_version": spec.plugin_version, "checkpoint": checkpoint, "checkpoint_sha256": sha256,
        "step": step,
    }
    if seed is not None:
        params["seed"] = seed
    params.update(settings)
    return params


def settings_of(params: dict[str, Any]) -> dict[str, Any]:
    """The panel's own settings in ``params``: everything but the model's identity."""
    return {k: v for k, v in params.items() if k not in MODEL_KEYS}


def check_made_here(params: dict[str, Any], panel: str, panel_title: str, name: str) -> None:
    """Raise :class:`RestoreError` unless ``params`` (read from the file ``name``) are a result of
    ``panel`` that names its model."""
    if not params:
        raise RestoreError(f"{name} carries no Generative Studio parameters (no {panel_title} settings), so "
                           f"there is nothing to restore. Open a file exported from the {panel_title} (File ▸ "
                           "Export); its settings travel inside the file.")
    if params.get("panel") != panel:
        made_by = params.get("model_title") or params.get("model") or "?"
        raise RestoreError(f"{name} was made by another part of the studio (model {made_by!r}), not the "
                           f"{panel_title}; open it in the panel that made it.")
    if not (params.get("checkpoint") and isinstance(params["checkpoint"], str) and params.get("model")
            and isinstance(params["model"], str)):
        raise RestoreError(f"{name} has {panel_title} parameters, but they name no model or checkpoint.")


@dataclass(frozen=True)
class Located:
    """Where the model that made a result is now."""

    spec: Any  #: its ModelSpec
    checkpoint: str  #: the checkpoint to load
    moved: bool = False  #: found by its SHA-256, elsewhere than recorded
    retrained: bool = False  #: the recorded checkpoint was trained further since: other weights
    note: str = ""  #: one sentence for the artist when it is not exactly as recorded


def locate(params: dict[str, Any], *, registry: Any, store: Any, name: str) -> Located:
    """The checkpoint that made a result: the recorded one if its weights are unchanged, else a
    catalogued checkpoint with the recorded SHA-256 (a moved copy), else the recorded one trained
    further since (with a note). Raises :class:`RestoreError` when the model is not installed or
    its weights are nowhere (the caller says what it left unchanged). Blocking (hashes files)."""
    title = params.get("model_title") or params["model"]
    spec = registry.models.get(params["model"])
    if spec is None:
        raise RestoreError(f"{name} was made by a {title} model, but no enabled plugin provides it (see "
                           "Plugins ▸ Plugin Manager).")
    recorded, sha = str(params["checkpoint"]), params.get("checkpoint_sha256")
    sha = sha if isinstance(sha, str) else None  # a damaged hash: find the checkpoint by its path alone
    here = weights_file(recorded) is not None
    if here and (not sha or checkpoint_digest(store, recorded) == sha):
        return Located(spec, recorded)
    copy = _with_digest(store, spec.name, sha, skip=recorded) if sha else None
    if copy is not None:
        where = "has been trained further since" if here else f"is no longer at {recorded}"
        return Located(spec, copy, moved=True, note=f"its checkpoint {where}; the weights that made it were found "
                                                    f"at {copy}")
    if here:
        return Located(spec, recorded, retrained=True,
                       note="its checkpoint has been trained further since, so the same settings may not give "
                            "the same result")
    raise RestoreError(f"The {title} checkpoint that made {name} is not here: {recorded} is missing"
                       + (f" and no catalogued checkpoint has its SHA-256 ({sha[:12]}…)" if sha else "")
                       + ". Train the model again, or use Open… beside the model list to point at a copy.")


def _with_digest(store: Any, spec: str, sha: str, skip: str) -> Optional[str]:
    """A catalogued checkpoint of ``spec`` on disk, or a starter the studio ships, whose SHA-256 is
    ``sha`` (hashing those not hashed yet), or None."""
    paths = [row["path"] for row in store.checkpoints([spec])] + [str(s.checkpoint) for s in starters(spec)]
    for path in paths:
        if path != skip and Path(path).exists() and checkpoint_digest(store, path) == sha:
            return path
    return None
