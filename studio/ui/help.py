"""Help ▸ About and Help ▸ Keyboard Shortcuts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from studio import __version__
from studio.core.specs import CONTRACT_VERSION


def about_text(workspace: Path) -> str:
    return (
        f"<h3>Generative Studio {__version__}</h3>"
        "<p>An offline studio for the models of <i>Generative Deep Learning</i>: train them on your own "
        "data, play with them, and export what they make. Nothing here uses the network.</p>"
        f"<p>Plugin contract version {CONTRACT_VERSION}.<br>Workspace: {workspace}</p>"
    )


def shortcuts_dialog(window: QWidget) -> QDialog:
    """A table of every menu action that has a shortcut, read from the window itself."""
    actions = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty() and a.text()]
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard Shortcuts")
    table = QTableWidget(len(actions), 2, dialog)
    table.setObjectName("ShortcutTable")
    table.setHorizontalHeaderLabels(("Action", "Shortcut"))
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    for row, action in enumerate(sorted(actions, key=lambda a: a.text())):
        table.setItem(row, 0, QTableWidgetItem(action.text().replace("&", "")))
        table.setItem(row, 1, QTableWidgetItem(action.shortcut().toString(QKeySequence.NativeText)))
    table.resizeColumnsToContents()
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(420, 360)
    return dialog
