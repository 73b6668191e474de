"""How a panel tells the artist that something failed: a warning with the reason and, when there is
one, a Details button that shows the traceback (for a bug report), never a silent failure."""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QMessageBox, QWidget


def warn(parent: Optional[QWidget], title: str, message: str, detail: str = "") -> None:
    """A modal warning; with ``detail``, a Details… button shows it."""
    if not detail.strip():
        QMessageBox.warning(parent, title, message)
        return
    box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, parent)
    box.setObjectName("FailureBox")
    box.setDetailedText(detail.rstrip())
    box.exec()
