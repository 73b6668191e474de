"""Starter models: small trained models the studio ships, so its panels work on first launch.

Each lives in a folder of the top-level ``resources/starters/`` (the
``studio_resources`` package): ``checkpoint.safetensors`` (its weights, without
the optimizer's state), the ``job.json`` of the run that trained it, and
``starter.json`` saying what it is and the ``studio train`` command that made it.
Every workspace lists them beside its own models, read-only: training one
further (``studio train --start-from``) makes a new run in the workspace.
``packaging/make_starter.py`` makes one from a finished run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

STARTER_FILE = "starter.json"


@dataclass(frozen=True)
class Starter:
    name: str  #: its folder's name
    title: str  #: what the model lists call it
    spec: str  #: the model spec it is a checkpoint of
    step: int
    checkpoint: Path
    command: str  #: the `studio train` command that trained it
    description: str = ""


def starters_folder() -> Path:
    return Path(str(resources.files("studio_resources") / "starters"))


def starters(spec: Optional[str] = None) -> list[Starter]:
    """The starters shipped (of ``spec`` only, when given), by folder name; a folder whose files are
    incomplete or damaged is left out."""
    found = []
    root = starters_folder()
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        try:
            about = json.loads((folder / STARTER_FILE).read_text())
            starter = Starter(folder.name, about["title"], about["spec"], int(about["step"]),
                              folder / "checkpoint.safetensors", about["command"], about.get("description", ""))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if starter.checkpoint.is_file() and spec in (None, starter.spec):
            found.append(starter)
    return found
