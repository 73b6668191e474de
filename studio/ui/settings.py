"""The app's persistent settings, declared once as a typed table over QSettings.

They live in an INI file (``~/.config/GenerativeStudio/Generative Studio.ini`` on
Linux and macOS, the roaming AppData folder on Windows); :func:`stored_settings`
reads the same file without a running application, for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings


@dataclass(frozen=True)
class Setting:
    key: str
    type: type
    default: Any
    doc: str


#: Where QSettings keeps the file: make_qapplication() sets these on the application.
ORGANIZATION = "GenerativeStudio"
APPLICATION = "Generative Studio"

SETTINGS = {
    s.key: s
    for s in (
        Setting("device", str, "auto", "Compute device: auto, cuda, mps or cpu (--device overrides)"),
        Setting("workspace", str, "", "Workspace folder; empty means the default in the user's data folder"),
        Setting("window/geometry", bytes, b"", "Main window position and size"),
        Setting("window/state", bytes, b"", "Dock and toolbar layout"),
        Setting("window/panel", str, "", "The panel shown when the studio last closed"),
        Setting("text-composer/new-seed-each-time", bool, True, "Text Composer: a new seed after each Generate"),
        Setting("latent-explorer/export-side", int, 256,
                "Latent Explorer: exports are enlarged to at least this many pixels on their long side (0: as is)"),
    )
}


class Settings:
    """Typed access to :data:`SETTINGS`; unknown keys are a programming error."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._q = qsettings or QSettings()

    def get(self, key: str) -> Any:
        setting = SETTINGS[key]
        value = self._q.value(key, setting.default)
        if setting.type is bytes:
            return bytes(value) if value else b""
        if setting.type is bool and isinstance(value, str):  # the INI file keeps "true"/"false"
            return value.lower() in ("true", "1")
        try:
            return setting.type(value)
        except (TypeError, ValueError):  # a hand-edited settings file
            return setting.default

    def set(self, key: str, value: Any) -> None:
        setting = SETTINGS[key]
        if not isinstance(value, setting.type):
            raise TypeError(f"setting {key} takes {setting.type.__name__}, got {type(value).__name__}")
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()


def stored_settings() -> Settings:
    """The app's settings without a QApplication (``studio doctor`` reads the saved workspace)."""
    return Settings(QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION))
