"""What a panel shows while it works: a progress bar with the time left, and a Cancel button.

It follows a panel state's :class:`~studio.ui.kit.work.Work`: hidden while no
shown request runs, busy (no percentage) until the first step with a known
total, then the share done and an estimate of the time left. Cancel stops
every request of the panel (Esc does the same through the panel's shortcut).
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from studio.engine.events import format_duration
from studio.ui.kit.work import Work

#: how often the time left is recomputed while a request runs, in ms
ETA_REFRESH_MS = 1000


class TaskBar(QWidget):
    def __init__(self, work: Work, cancel_text: str = "Cancel", cancel_tip: str = "Stop (Esc)",
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.work = work
        self.progress = QProgressBar()
        self.progress.setObjectName("TaskProgress")
        self.progress.setMinimumWidth(240)  # "Sampling 16 images 8% · 3m36s left" on one line
        self.progress.setMaximumWidth(320)
        self.cancel_button = QPushButton(cancel_text)
        self.cancel_button.setObjectName("TaskCancel")
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.clicked.connect(lambda: self.work.cancel())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel_button)
        self._timer = QTimer(self, interval=ETA_REFRESH_MS)
        self._timer.timeout.connect(self.update_progress)
        work.events.changed.connect(self.update_progress)
        self.update_progress()

    @property
    def busy(self) -> bool:
        return self.work.busy

    def update_progress(self) -> None:
        tasks = self.work.tasks
        self.setVisible(bool(tasks))
        if not tasks:
            self._timer.stop()
            return
        if not self._timer.isActive():
            self._timer.start()
        task = tasks[-1]  # the newest: what the artist just asked for
        labels = " · ".join(t.label for t in tasks)
        if task.total:
            self.progress.setRange(0, task.total)
            self.progress.setValue(min(task.step, task.total))
            eta = task.eta_s()
            left = f" · {format_duration(eta)} left" if eta is not None else ""
            self.progress.setFormat(f"{labels} %p%{left}")
        else:
            self.progress.setRange(0, 0)  # busy until it reports its steps
            self.progress.setFormat(labels)
        self.progress.setToolTip(labels)
