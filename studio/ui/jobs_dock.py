"""The Jobs dock: training jobs with their progress, losses and samples."""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QVBoxLayout, QWidget

from studio.ui.panel import EmptyState, PanelContext


class JobsDock(QDockWidget):
    def __init__(self, context: PanelContext, parent=None) -> None:
        super().__init__("Jobs", parent)
        self.setObjectName("JobsDock")
        self.context = context
        body = QWidget()
        layout = QVBoxLayout(body)
        self.empty = EmptyState("No training jobs")
        self.empty.show_message("Training runs here in the background, with progress, loss curves and "
                                "samples. Start one with <code>studio train</code>.")
        layout.addWidget(self.empty)
        self.setWidget(body)
