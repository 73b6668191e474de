"""Reading the small files of a model kept on disk (a Hugging Face or diffusers folder's JSON), for the
plugins that load one: what is wrong with a file is a :class:`ModelError` naming it."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.capabilities import ModelError


def read_json_object(path: Path) -> dict:
    """The JSON object in ``path``; a :class:`ModelError` if it is not valid JSON or not an object."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{path} is not valid JSON.") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path} is not a JSON object.")
    return config
