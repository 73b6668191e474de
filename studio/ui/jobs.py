"""The Qt face of the job manager: its events as signals on the GUI thread."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, Signal

from studio.engine.jobs import JobManager, JobOptions
from studio.ui.bridge import GuiRelay


class JobsController(QObject):
    #: (job id, event) for every event a job writes, plus {"event": "ended", "status": ...} at its end
    job_event = Signal(str, dict)
    #: a job was added, removed, resumed or ended: the list should be redrawn
    jobs_changed = Signal()
    #: a job saved a checkpoint: panels may offer a new or better model
    checkpoints_changed = Signal()

    def __init__(self, workspace, registry, device: str = "auto", parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.relay = GuiRelay(self)
        self.manager = JobManager(workspace, registry, on_event=self.relay.wrap(self._event), device=device)

    def _event(self, job_id: str, event: dict) -> None:
        self.job_event.emit(job_id, event)
        if event["event"] == "checkpoint":
            self.checkpoints_changed.emit()
        if event["event"] in ("ended", "started"):
            self.jobs_changed.emit()

    def start(self, options: JobOptions) -> str:
        job_id = self.manager.start(options)
        self.jobs_changed.emit()
        return job_id

    def resume(self, job_id: str) -> None:
        self.manager.resume(job_id)
        self.jobs_changed.emit()

    def cancel(self, job_id: str) -> None:
        self.manager.cancel(job_id)

    def delete(self, job_id: str) -> None:
        self.manager.delete(job_id)
        self.jobs_changed.emit()

    def shutdown(self) -> None:
        self.manager.close()
