"""The app's persistent settings: typed tables of declared settings over QSettings.

:data:`SETTINGS` declares the app's own; each panel declares its own beside its
code (``Panel.declared_settings``), which :meth:`Settings.declare` adds to the
window's table. A key nobody declared is a programming error. They live in an
INI file (``~/.config/GenerativeStudio/Generative Studio.ini`` on Linux and
macOS, the roaming AppData folder on Windows); :func:`stored_settings` reads the
same file without a running application, for the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    )
}


class Settings:
    """Typed access to the declared settings: the app's, and those panels :meth:`declare`."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._q = qsettings or QSettings()
        self._declared: dict[str, Setting] = dict(SETTINGS)

    def declare(self, settings: Iterable[Setting]) -> None:
        """Add settings a panel keeps; declaring one again the same way is fine, differently is an error."""
        for setting in settings:
            known = self._declared.get(setting.key)
            if known is not None and known != setting:
                raise ValueError(f"setting {setting.key} is declared twice, differently")
            self._declared[setting.key] = setting

    def declared(self) -> list[Setting]:
        return list(self._declared.values())

    def get(self, key: str) -> Any:
        setting = self._declared[key]
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
        setting = self._declared[key]
        if not isinstance(value, setting.type):
            raise TypeError(f"setting {key} takes {setting.type.__name__}, got {type(value).__name__}")
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()


def stored_settings() -> Settings:
    """The app's settings without a QApplication (``studio doctor`` reads the saved workspace)."""
    return Settings(QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION))
