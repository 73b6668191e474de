"""Which images the map shows: a combo of image dataset sources, as `--data` arguments.

Built-in sources need no location; folders and IDX files are chosen with a
file dialog; datasets this workspace trained on before are listed too. The
panel puts the data a checkpoint was trained on (its job.json) first.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog

from studio.core.specs import resolve

_BROWSE = "?"  #: data of the "choose a location…" items: "?image-folder"


class DataChooser(QComboBox):
    chosen = Signal(str)  #: a data argument: "fashion-mnist", "image-folder:/path", ...

    def __init__(self, context, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("MapData")
        self.setMinimumContentsLength(22)
        self.setToolTip("The images the map shows (their held-out part, at most 5,000)")
        self._previous = -1
        self.reload()
        self.activated.connect(self._activated)

    def reload(self) -> None:
        keep = self.argument()
        self.blockSignals(True)
        self.clear()
        sources = sorted((s for s in self.context.registry.dataset_sources.values() if s.kind == "images"),
                         key=lambda s: s.title)
        for source in sources:
            if not source.needs_location and _available(source):
                self.addItem(source.title, source.name)
        for row in self.context.workspace.store.datasets():
            if row["kind"] == "images" and row["location"]:
                self._add_argument(f"{row['source']}:{row['location']}")
        for source in sources:
            if source.needs_location:
                self.addItem(f"{source.title}…", _BROWSE + source.name)
        self.blockSignals(False)
        if keep:
            self.set_argument(keep)

    def argument(self) -> Optional[str]:
        data = self.currentData()
        return data if data and not data.startswith(_BROWSE) else None

    def set_argument(self, argument: str) -> None:
        """Show ``argument`` as the choice (adding it if it is not listed), without emitting."""
        self.blockSignals(True)
        index = self.findData(argument)
        if index < 0:
            index = self._add_argument(argument, first=True)
        self.setCurrentIndex(index)
        self._previous = index
        self.blockSignals(False)

    def _add_argument(self, argument: str, first: bool = False) -> int:
        if self.findData(argument) >= 0:
            return self.findData(argument)
        name, _, location = argument.partition(":")
        sources = self.context.registry.dataset_sources
        title = sources[name].title if name in sources else name
        label = f"{title}: {location}" if location else title
        index = 0 if first else self.count()
        self.insertItem(index, label, argument)
        return index

    def _activated(self, index: int) -> None:
        data = self.itemData(index)
        if data and data.startswith(_BROWSE):
            argument = self._browse(data[len(_BROWSE):])
            if argument is None:
                self.setCurrentIndex(self._previous)
                return
            self.set_argument(argument)
        self._previous = self.currentIndex()
        self.chosen.emit(self.argument())

    def _browse(self, source: str) -> Optional[str]:
        if source == "image-folder":
            location = QFileDialog.getExistingDirectory(self, "Choose a folder of images")
        else:
            location, _ = QFileDialog.getOpenFileName(self, "Choose an images file")
        return f"{source}:{location}" if location else None


def _available(source) -> bool:
    if source.available is None:
        return True
    try:
        return bool(resolve(source.available)())
    except Exception:  # a broken check hides the source rather than the panel
        return False
