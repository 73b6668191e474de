"""Model folders and text files coming into the composer.

A Hugging Face model folder is loaded on the inference thread before it is
listed, so a bad folder is refused with the loader's own message and leaves
the workspace as it was. A text the composer saved carries its settings in a
``<file>.studio.json`` sidecar (see :func:`studio.core.artifacts.write_text`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.artifacts import sidecar_path
from studio.core.errors import UserError
from studio.engine.inference import ModelRef

PANEL = "text-composer"
HF_SPEC = "hf-causal-lm"


def import_model_folder(parent: QWidget, context, folder: str, on_done: Callable[[bool], None]) -> None:
    """Load ``folder`` (resolved) on the inference thread; if it loads, record it in the workspace (a model
    named after the folder, a checkpoint at step 0). ``on_done(ok)`` runs on the GUI thread either way."""
    if HF_SPEC not in context.registry.models:
        QMessageBox.warning(parent, "Import model folder", "The Hugging Face model loader is not installed "
                            "(its plugin is disabled or failed: see Plugins ▸ Plugin Manager).")
        on_done(False)
        return

    def loaded(_none) -> None:
        store = context.workspace.store
        if not any(row["path"] == folder for row in store.checkpoints([HF_SPEC])):
            store.add_checkpoint(HF_SPEC, folder, 0, store.add_model(Path(folder).name, HF_SPEC, {"folder": folder}))
        context.show_status(f"Imported the model in {folder}")
        on_done(True)

    def failed(message: str, _detail: str) -> None:
        context.show_status("The model folder could not be imported")
        QMessageBox.warning(parent, "Import model folder", message)
        on_done(False)

    context.show_status(f"Loading the model in {folder}… (the first Hugging Face model takes a while)")
    context.inference.submit(ModelRef(HF_SPEC, folder), lambda _model, _ctx: None, on_result=loaded,
                             on_error=failed)


def read_text(path: Path) -> tuple[str, dict[str, Any], str]:
    """A text file, the composer settings saved beside it (or {}), and a note when there are none.
    Raises :class:`UserError` when the file cannot be read as UTF-8 text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} cannot be opened as UTF-8 text: {exc}") from exc
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return text, {}, "no settings were saved beside it (the text only)"
    try:
        params = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return text, {}, f"its settings ({sidecar.name}) cannot be read: {exc}"
    if not isinstance(params, dict) or params.get("panel") != PANEL:
        return text, {}, f"{sidecar.name} holds no Text Composer settings"
    return text, params, ""
