"""Help ▸ About and Help ▸ Keyboard Shortcuts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from studio import __version__
from studio.core.specs import CONTRACT_VERSION

#: the "Where" of shortcuts that work anywhere in the window
MENUS = "Menus"


def about_text(workspace: Path) -> str:
    return (
        f"<h3>Generative Studio {__version__}</h3>"
        "<p>An offline studio for the models of <i>Generative Deep Learning</i>: train them on your own "
        "data, play with them, and export what they make. Nothing here uses the network.</p>"
        f"<p>Plugin contract version {CONTRACT_VERSION}.<br>Workspace: {workspace}</p>"
    )


def _owner(obj: QObject, window: QWidget) -> str:
    """Where a shortcut works: the title of the panel it lives in, else the menus."""
    panels = {id(w): title for title, w in _panel_widgets(window)}
    node = obj.parent()
    while node is not None and node is not window:
        if id(node) in panels:
            return panels[id(node)]
        node = node.parent()
    return MENUS


def _panel_widgets(window: QWidget) -> list[tuple[str, QWidget]]:
    tabs = getattr(window, "tabs", None)
    if tabs is None:
        return []
    return [(tabs.tabText(i), tabs.widget(i)) for i in range(tabs.count())]


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(what it does, keys, where) for every menu action and panel shortcut in ``window``."""
    rows = set()
    for action in window.findChildren(QAction):
        if action.shortcut().isEmpty() or not action.text():
            continue
        keys = ", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts())
        rows.add((action.text().replace("&", ""), keys, _owner(action, window)))
    for shortcut in window.findChildren(QShortcut):
        keys = ", ".join(k.toString(QKeySequence.NativeText) for k in shortcut.keys() if not k.isEmpty())
        if not keys:
            continue
        where = _owner(shortcut, window)
        # a shortcut made without Panel.add_shortcut still lists its keys, under the panel's name
        rows.add((shortcut.whatsThis().strip() or f"{where} shortcut", keys, where))
    return sorted(rows, key=lambda r: (r[2] != MENUS, r[2], r[0], r[1]))


def shortcuts_dialog(window: QWidget) -> QDialog:
    """A table of every shortcut, read from the window itself: menu actions and the panels' own keys."""
    rows = shortcut_rows(window)
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard Shortcuts")
    table = QTableWidget(len(rows), 3, dialog)
    table.setObjectName("ShortcutTable")
    table.setHorizontalHeaderLabels(("Action", "Shortcut", "Where"))
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    for row, values in enumerate(rows):
        for col, value in enumerate(values):
            table.setItem(row, col, QTableWidgetItem(value))
    table.resizeColumnsToContents()
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(520, 420)
    return dialog
