"""Text files coming into the composer, with the settings saved beside them (Qt-free).

A text the composer saved carries its settings in a ``<file>.studio.json``
sidecar (see :func:`studio.core.artifacts.write_text`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.core.artifacts import sidecar_path
from studio.core.errors import UserError

PANEL = "text-composer"


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
