"""Dropping a file on a widget, as a file manager does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def drop(widget, path: Path) -> bool:
    """Drop ``path`` on ``widget``; True if the widget took it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    event.setDropAction(Qt.IgnoreAction)
    widget.dropEvent(event)
    return event.isAccepted() and event.dropAction() == Qt.CopyAction
