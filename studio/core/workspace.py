"""A workspace: one folder holding the catalogue and the files it lists.

Which folder: ``--workspace`` on the command line, else ``STUDIO_WORKSPACE``,
else the one chosen in the app's settings, else a folder in the user's data
directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from studio.core.store import Store

WORKSPACE_VARIABLE = "STUDIO_WORKSPACE"
CATALOGUE_NAME = "catalogue.sqlite"
FOLDERS = ("jobs", "checkpoints", "datasets", "exports")


def default_workspace() -> Path:
    import platformdirs

    return platformdirs.user_data_path("generative-studio", appauthor=False) / "workspace"


def choose_workspace(cli_value: Optional[str] = None, settings_value: Optional[str] = None) -> Path:
    for value in (cli_value, os.environ.get(WORKSPACE_VARIABLE), settings_value):
        if value:
            return Path(value).expanduser().resolve()
    return default_workspace()


class Workspace:
    """An open workspace: its folders and its catalogue."""

    def __init__(self, root: Path, store: Store) -> None:
        self.root = root
        self.store = store

    @classmethod
    def open(cls, root: Path) -> Workspace:
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            for name in FOLDERS:
                (root / name).mkdir(exist_ok=True)
        except OSError as exc:
            raise OSError(exc.errno, f"Cannot use {root} as a workspace: {exc.strerror}") from exc
        return cls(root, Store.open(root / CATALOGUE_NAME))

    def folder(self, name: str) -> Path:
        return self.root / name

    def close(self) -> None:
        self.store.close()
