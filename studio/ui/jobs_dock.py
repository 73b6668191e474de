"""The Jobs dock: every job with its progress, ETA, cancel/resume, and for training its loss curves and samples
(collecting rollouts and evaluating a controller have neither: their log shows how they go)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import UserError
from studio.engine import job_kinds
from studio.engine.catalogue import death_message
from studio.engine.events import describe, format_duration
from studio.engine.stages import stage_of
from studio.ui.kit.panel import EmptyState, PanelContext
from studio.ui.loss_plot import LossPlot

COLUMNS = ("Job", "Status", "Progress", "ETA", "")
STATUS_TEXT = {"queued": "starting…", "running": "running", "finished": "finished", "cancelled": "cancelled",
               "failed": "failed", "interrupted": "interrupted"}
RESUMABLE = ("cancelled", "failed", "interrupted")


class JobsDock(QDockWidget):
    def __init__(self, context: PanelContext, parent=None) -> None:
        super().__init__("Jobs", parent)
        self.setObjectName("JobsDock")
        self.context = context
        self.jobs = context.jobs
        self._rows: dict[str, int] = {}
        self._eta: dict[str, str] = {}
        self._selected: Optional[str] = None
        self._shown_until = 0.0  #: the time of the last event of the selected job shown from its history
        self._error_shown = False  #: the selected job's current run logged its error
        self._logged_step: Optional[int] = None  #: the step of the selected job's last progress logged
        self._detached = False

        self.train_button = QPushButton("Train…")
        self.train_button.setObjectName("TrainButton")
        self.train_button.clicked.connect(self.open_train_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected job from the list (its files stay on disk)")
        self.remove_button.clicked.connect(self._remove_selected)
        bar = QHBoxLayout()
        bar.addWidget(self.train_button)
        bar.addWidget(self.remove_button)
        bar.addStretch(1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("JobTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.plot = LossPlot()
        self.samples = QLabel("Sample grids appear here as the model trains.")
        self.samples.setAlignment(Qt.AlignCenter)
        self.samples.setObjectName("JobSamples")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setObjectName("JobLog")
        self.details = QTabWidget()
        self.details.addTab(self.plot, "Losses")
        self.details.addTab(self.samples, "Samples")
        self.details.addTab(self.log, "Log")

        splitter = QSplitter(Qt.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.table)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setSizes([520, 600])

        self.empty = EmptyState("No training jobs yet")
        self.empty.show_message(
            "Training runs here in the background, with progress, loss curves and samples; it survives a crash "
            "of the studio and can be resumed after being stopped. Start with <b>Train…</b>, or on the command "
            "line: <code>studio train vae --data fashion-mnist --steps 3000 --out runs/vae</code>.",
            [("Train…", self.open_train_dialog)],
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(splitter)
        self.setWidget(self.stack)

        self.jobs.job_event.connect(self._on_event)
        self.jobs.jobs_changed.connect(self.reload)
        # after the window is painted: showing a job's history imports pyqtgraph
        QTimer.singleShot(0, self.reload)

    def detach(self) -> None:
        """The window is closing: stop following the jobs (the workspace may close next)."""
        if self._detached:
            return
        self._detached = True
        self.jobs.job_event.disconnect(self._on_event)
        self.jobs.jobs_changed.disconnect(self.reload)

    # -- the list ---------------------------------------------------------------------
    def reload(self) -> None:
        if self._detached:
            return
        records = list(reversed(self.jobs.manager.jobs()))
        self.stack.setCurrentIndex(1 if records else 0)
        selected = self._selected
        self.table.blockSignals(True)
        self.table.setRowCount(len(records))
        self._rows = {}
        for row, job in enumerate(records):
            self._rows[job.id] = row
            stage, built_on = stage_of(job, records)
            name = job.args.get("title", job.spec)
            title = QTableWidgetItem(f"stage {stage} · {name}" if stage > 1 else name)
            title.setData(Qt.UserRole, job.id)
            on = "".join(f"\nbuilt on: {parent.args.get('title', parent.spec)}" for parent in built_on)
            title.setToolTip((job.error or job.out_dir) + on)
            self.table.setItem(row, 0, title)
            missing = not _installed(self.context.registry, job)
            status = f"{STATUS_TEXT.get(job.status, job.status)}, model's plugin missing" if missing else \
                STATUS_TEXT.get(job.status, job.status)
            self.table.setItem(row, 1, QTableWidgetItem(status))
            bar = QProgressBar()
            bar.setRange(0, max(job.total_steps, 1))
            bar.setValue(job.step)
            bar.setFormat(f"%v / {job.total_steps}")
            self.table.setCellWidget(row, 2, bar)
            self.table.setItem(row, 3, QTableWidgetItem(self._eta.get(job.id, "") if job.status == "running" else ""))
            button = None if missing and job.status not in ("queued", "running") else self._action_button(job)
            if button is None:  # a finished job (or one whose model is gone) has nothing to act on
                self.table.removeCellWidget(row, 4)
            else:
                self.table.setCellWidget(row, 4, button)
        self.table.blockSignals(False)
        if selected in self._rows:
            self.table.selectRow(self._rows[selected])
        elif records:
            self.table.selectRow(0)
        self._selection_changed()

    def _action_button(self, job) -> Optional[QPushButton]:
        if job.status in ("queued", "running"):
            button = QPushButton("Cancel")
            button.setToolTip("Stop after the current step; a checkpoint is saved so it can be resumed")
            button.clicked.connect(lambda: self.jobs.cancel(job.id))
        elif job.status in RESUMABLE:
            button = QPushButton("Resume")
            button.setToolTip("Continue from the last checkpoint")
            button.clicked.connect(lambda: self._resume(job.id))
        else:
            return None
        button.setObjectName(f"JobAction_{button.text()}")
        return button

    def _resume(self, job_id: str) -> None:
        try:
            self.jobs.resume(job_id)
        except UserError as exc:
            QMessageBox.warning(self, "Resume", str(exc))

    def _remove_selected(self) -> None:
        if self._selected is None:
            return
        try:
            self.jobs.delete(self._selected)
        except UserError as exc:
            QMessageBox.information(self, "Remove job", str(exc))

    # -- the selected job -------------------------------------------------------------
    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        job_id = self.table.item(rows[0].row(), 0).data(Qt.UserRole) if rows else None
        if job_id == self._selected and job_id is not None:
            return
        self._selected = job_id
        self.plot.clear()
        self.log.clear()
        self.samples.setText("Sample grids appear here as the model trains.")
        self._shown_until = 0.0
        self._error_shown = False
        self._logged_step = None
        if job_id is None:
            return
        history = self.jobs.manager.history(job_id)
        # drawn at once: a long job has thousands of events
        self.plot.replay(e for e in history if _plotted(e))
        job = self.jobs.manager.store.job(job_id)
        trains = job is not None and job_kinds.kind_of(job) == job_kinds.TRAIN
        self.details.setTabEnabled(0, trains)
        self.details.setTabEnabled(1, trains)
        if not trains:
            self.details.setCurrentWidget(self.log)
        lines = []
        for event in history:
            self._note_run(event)
            text = self._log_line(event)
            if text is not None:
                lines.append(text)
        if lines:
            self.log.setPlainText("\n".join(lines))
        samples = [e for e in history if e["event"] == "samples"]
        if samples:
            self._show_samples(samples[-1]["path"])
        if history:
            self._shown_until = history[-1]["time"]  # live events up to here are already shown
        if job and job.status not in ("queued", "running"):
            self._show_end(job)

    def _on_event(self, job_id: str, event: dict) -> None:
        kind = event["event"]
        if kind == "progress":
            if event.get("eta_s") is not None:
                self._eta[job_id] = format_duration(event["eta_s"])
            row = self._rows.get(job_id)
            if row is not None:
                bar = self.table.cellWidget(row, 2)
                if isinstance(bar, QProgressBar):
                    bar.setValue(event["step"])
                self.table.setItem(row, 3, QTableWidgetItem(self._eta.get(job_id, "")))
        if job_id != self._selected or event["time"] <= self._shown_until:
            return
        if kind == "ended":
            job = self.jobs.manager.store.job(job_id)
            if job:
                self._show_end(job)
        else:
            self._show(event)

    def _show(self, event: dict) -> None:
        kind = event["event"]
        if kind == "progress" and _plotted(event):
            self.plot.add(event["step"], event["losses"])
        elif kind == "validation":
            self.plot.add(event["step"], event["losses"], validation=True)
        elif kind == "started":
            self.plot.restart_at(event["step"])
        elif kind == "samples":
            self._show_samples(event["path"])
        self._note_run(event)
        text = self._log_line(event)
        if text is not None:
            self.log.appendPlainText(text)

    def _note_run(self, event: dict) -> None:
        """Whether the current run has written its error (then its end need not repeat it)."""
        if event["event"] == "started":
            self._error_shown = False
            self._logged_step = None
        elif event["event"] == "error":
            self._error_shown = True

    def _log_line(self, event: dict) -> Optional[str]:
        """The event's line in the log; a progress event that is logged (an episode collected, a track driven)
        only when its step moved on: between two, the events only bring the ETA up to date."""
        if event["event"] == "progress" and not _plotted(event):
            if event["step"] == self._logged_step:
                return None
            self._logged_step = event["step"]
        return _log_text(event)

    def _show_end(self, job) -> None:
        """How the job ended, when it did not end well: its error was in the log already (then
        only the exit code is added), or it died and the store says how."""
        if job.status not in ("failed", "interrupted"):
            return
        if self._error_shown:
            text = death_message(job.exit_code) if job.exit_code is not None else ""
        else:
            text = job.error
        if text:
            self.log.appendPlainText(text)

    def _show_samples(self, path: str) -> None:
        pixmap = QPixmap(path)
        if not pixmap.isNull():
            self.samples.setPixmap(pixmap.scaled(480, 480, Qt.KeepAspectRatio, Qt.FastTransformation))

    def open_train_dialog(self) -> None:
        from studio.ui.train_dialog import TrainDialog

        TrainDialog(self.context, self).exec()


def _installed(registry, job) -> bool:
    """Whether the plugin a job needs is loaded (its model's, or for collect and evaluate their source's)."""
    try:
        job_kinds.check_installed(registry, job_kinds.job_needs(job))
    except UserError:
        return False
    return True


def _plotted(event: dict) -> bool:
    """Events with losses are plotted (collecting and evaluating report none)."""
    return event["event"] not in ("progress", "validation") or "losses" in event


def _log_text(event: dict) -> Optional[str]:
    """An event's lines in the job's log (a training's progress is plotted, not logged; a track's or an
    episode's is logged); an error with its traceback."""
    kind = event["event"]
    if kind == "progress" and _plotted(event):
        return None
    text = describe(event)
    if kind == "error" and event.get("detail"):
        text = event["detail"].rstrip() + "\n" + text
    return text
