"""Plugins ▸ Plugin Manager: every plugin found, its status, and why any failed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from studio.core.plugins import ALLOW_LIST_VARIABLE, PluginHost
from studio.core.specs import CONTRACT_VERSION

COLUMNS = ("Plugin", "Version", "Package", "Status", "Contract", "Contributes")


class PluginsDialog(QDialog):
    def __init__(self, host: PluginHost, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(900, 560)
        # what needs attention first: failures, then allow-list names no plugin has
        attention = {"failed": 0, "not found": 1}
        self.plugins = sorted(host.plugins.values(), key=lambda p: (attention.get(p.status, 2), p.name))

        intro = QLabel(
            "Plugins are Python packages that add models, panels, datasets and exporters. Install one with "
            "<code>pip install</code> into the studio's environment and restart. A plugin that fails is "
            f"disabled and the studio carries on. <code>{ALLOW_LIST_VARIABLE}=a,b</code> loads only the named "
            "plugins (empty: none), to recover from one that breaks start-up."
        )
        intro.setWordWrap(True)

        self.table = QTableWidget(len(self.plugins), len(COLUMNS))
        self.table.setObjectName("PluginTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, info in enumerate(self.plugins):
            contributes = "; ".join(f"{kind.replace('_', ' ')}: {', '.join(names)}"
                                    for kind, names in info.contributes.items())
            contract = str(info.contract) if info.status != "not found" else "-"
            values = (info.name, info.version or "-", info.distribution or "-", info.summary, contract, contributes)
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if info.status == "failed":
                    item.setForeground(Qt.red)
                elif info.status == "not found":
                    item.setForeground(Qt.darkYellow)
                self.table.setItem(row, col, item)

        self.details = QPlainTextEdit()
        self.details.setObjectName("PluginDetails")
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a plugin to see its details.")
        self.table.currentCellChanged.connect(lambda row, *_: self._show(row))

        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        if self.plugins:
            self.table.selectRow(0)

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.plugins):
            return
        info = self.plugins[row]
        lines = [f"{info.name} {info.version}".strip(), f"module: {info.module or '-'}",
                 f"written for plugin contract {info.contract} (this studio speaks {CONTRACT_VERSION})",
                 f"status: {info.summary}"]
        if info.error:
            lines += ["", info.error]
        self.details.setPlainText("\n".join(lines))
