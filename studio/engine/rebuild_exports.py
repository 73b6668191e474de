"""Reading an exported file back for a catalogue rebuild: which files are exports, and the kind and
parameters each carries inside it (see :mod:`studio.core.artifacts` for how they are written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from studio.core.artifacts import sidecar_path
from studio.core.errors import UserError

#: the file endings the built-in exporters write, and the artifact kind each holds
KINDS = {".png": "image", ".gif": "image-sequence", ".txt": "text", ".md": "text", ".mid": "notes",
         ".midi": "notes", ".wav": "notes"}
SIDECAR_ENDING = ".studio.json"


def export_files(folder: Path) -> list[Path]:
    """The files under ``folder`` an exporter may have written (not the text sidecars), by name."""
    if not folder.is_dir():
        return []
    return sorted(p.resolve() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in KINDS and not p.name.endswith(SIDECAR_ENDING))


def read_export(path: Path) -> Optional[tuple[str, dict[str, Any]]]:
    """(artifact kind, parameters) of an exported file, or None when it carries no studio parameters.
    A file that cannot be read raises (:class:`UserError`, ``OSError`` or ``ValueError``)."""
    suffix = path.suffix.lower()
    kind = KINDS[suffix]
    if suffix == ".png":
        from studio.core.imaging import read_png_params

        params = read_png_params(path)
    elif suffix == ".gif":
        params = _gif_comment(path)
    elif suffix in (".mid", ".midi"):
        from studio.core.music.midi import read_midi

        params = read_midi(path).params
    elif kind == "text":
        params = _sidecar(path)
    else:
        params = {}  # a WAV render
    return (kind, params) if params else None


def _gif_comment(path: Path) -> dict[str, Any]:
    from PIL import Image

    with Image.open(path) as image:
        comment = image.info.get("comment", b"")
    try:
        value = json.loads(comment)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        value = json.loads(side.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"its sidecar {side.name} is not JSON ({exc})") from exc
    return value if isinstance(value, dict) else {}
