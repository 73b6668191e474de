"""The Dream Simulator's stage list: Collect, V, M, C and Evaluate, each with its state, its job, what it was
made from, and a button to run it (Resume after a stop, Cancel while it runs).

The list shows one pipeline (:mod:`.pipeline`): the one through the model chosen in the panel, or through the
job last started here. It follows the jobs' events; Run opens the stage's settings with a time estimate
(:mod:`.stage_dialog`) and starts a job built on the stage before's checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.errors import UserError
from studio.engine.events import format_duration
from studio.ui.kit.messages import warn
from studio.ui.kit.panel import PanelContext
from studio.ui.panels.dream_simulator import pipeline
from studio.ui.panels.dream_simulator.pipeline import Pipeline, Stage

#: the colour of each state's word
STATE_COLOURS = {pipeline.DONE: "#2e7d32", pipeline.RUNNING: "#1565c0", pipeline.QUEUED: "#1565c0",
                 pipeline.FAILED: "#c62828", pipeline.INTERRUPTED: "#ef6c00", pipeline.NOT_STARTED: "#757575"}
#: at most this often is the list redrawn for progress alone, in seconds
REDRAW_EVERY_S = 0.5


class StagesView(QWidget):
    """The pipeline's stages, one row each; follows ``context.jobs`` and, inside a model panel, its picker."""

    def __init__(self, context: PanelContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("DreamStages")
        self.context = context
        self.pipeline = Pipeline(self._jobs, _EpisodeCounter(context.registry))
        self.anchor: Optional[str] = None  #: the checkpoint or folder whose pipeline is shown
        self.stages: list[Stage] = []
        self._live: dict[str, dict] = {}  #: each job's last progress event
        self._drawn_at = 0.0
        self._rows: dict[str, _StageRow] = {}
        self._detached = False
        self._stale = True  #: the jobs changed while the list was hidden

        title = QLabel("<b>Pipeline</b>")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #555;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        for key in pipeline.ORDER:
            row = _StageRow(key, self)
            self._rows[key] = row
            layout.addWidget(row)
        layout.addStretch(1)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self.refresh)
        if context.jobs is not None:
            context.jobs.job_event.connect(self._job_event)
            context.jobs.jobs_changed.connect(self.refresh)
        self._models = getattr(getattr(parent, "state", None), "models", None)  # inside a model panel: its picker
        if self._models is not None:
            self._models.events.chosen.connect(self._chosen)
            if self._models.current is not None:
                self.anchor = self._models.current.ref.checkpoint
        self.refresh()

    def detach(self) -> None:
        """Stop following the jobs and the picker (the panel is shutting down: the workspace may close next)."""
        if self._detached:
            return
        self._detached = True
        self._redraw_timer.stop()
        if self.context.jobs is not None:
            self.context.jobs.job_event.disconnect(self._job_event)
            self.context.jobs.jobs_changed.disconnect(self.refresh)
        if self._models is not None:
            self._models.events.chosen.disconnect(self._chosen)

    # -- what is shown --------------------------------------------------------------------
    def show_pipeline_of(self, path: Optional[str]) -> None:
        """Show the pipeline through ``path`` (a checkpoint, a run or rollouts folder); None: the newest job's."""
        self.anchor = path
        self.refresh()

    def stage(self, key: str) -> Stage:
        return next(s for s in self.stages if s.key == key)

    def refresh(self) -> None:
        """Work the stages out again and draw them; while the list is hidden (another panel shown, the window
        closed), only once it is shown again."""
        if self._detached:
            return
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        self._drawn_at = time.monotonic()
        self.stages = self.pipeline.stages(self.anchor, self._live)
        for stage in self.stages:
            self._rows[stage.key].show(stage)
        self.summary.setText(_summary(self.stages))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _chosen(self, choice: Any) -> None:
        self.show_pipeline_of(choice.ref.checkpoint if choice is not None else None)

    def _jobs(self) -> list[Any]:
        return self.context.jobs.manager.jobs() if self.context.jobs is not None else \
            self.context.workspace.store.jobs()

    def _job_event(self, job_id: str, event: dict) -> None:
        kind = event["event"]
        if kind == "progress":
            self._live[job_id] = event
        if kind == "ended":
            self._live.pop(job_id, None)
        if not any(s.job_id == job_id for s in self.stages) and kind != "ended":
            return
        if kind == "progress" and time.monotonic() - self._drawn_at < REDRAW_EVERY_S:
            if not self._redraw_timer.isActive():
                self._redraw_timer.start(int(REDRAW_EVERY_S * 1000))
            return
        self.refresh()

    # -- what the buttons do --------------------------------------------------------------
    def act(self, key: str) -> None:
        """The stage's button: run it (its settings first), resume it, or cancel it."""
        stage = self.stage(key)
        jobs = self.context.jobs
        try:
            if stage.action == "cancel":
                jobs.cancel(stage.job_id)
            elif stage.action == "resume":
                jobs.resume(stage.job_id)
            else:
                self.open_run_dialog(key)
        except UserError as exc:
            warn(self, f"{stage.title}", str(exc))

    def open_run_dialog(self, key: str) -> Optional[str]:
        """The stage's settings and time estimate; starts its job when accepted. Returns the job's id."""
        from studio.ui.panels.dream_simulator.stage_dialog import StageDialog

        dialog = StageDialog(self.context, self.stage(key), self._jobs(), self)
        if not dialog.exec():
            return None
        return self.start(dialog.options())

    def start(self, options: Any) -> str:
        """Start a stage's job and show its pipeline."""
        job_id = self.context.jobs.start(options)
        self.show_pipeline_of(self.context.jobs.manager.store.job(job_id).out_dir)
        return job_id


class _StageRow(QFrame):
    """One stage: its name and state, what it was made from, and its button."""

    BUTTON_TEXT = {"run": "Run…", "resume": "Resume", "cancel": "Cancel"}

    def __init__(self, key: str, view: StagesView) -> None:
        super().__init__(view)
        self.key = key
        self.setObjectName(f"Stage_{key}")
        self.setFrameShape(QFrame.StyledPanel)
        self.title = QLabel(f"<b>{pipeline.TITLES[key]}</b>")
        self.title.setToolTip(pipeline.ABOUT[key])
        self.state = QLabel()
        self.state.setObjectName("StageState")
        self.details = QLabel()
        self.details.setObjectName("StageDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setStyleSheet("color: #555; font-size: 11px;")
        self.button = QPushButton()
        self.button.setObjectName("StageButton")
        self.button.clicked.connect(lambda: view.act(key))
        self.state.setWordWrap(True)
        heading = QHBoxLayout()  # the name and its state, wrapping in a narrow column
        heading.setSpacing(6)
        heading.addWidget(self.title)
        heading.addWidget(self.state, 1)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.addLayout(heading, 0, 0)
        grid.addWidget(self.button, 0, 1)
        grid.addWidget(self.details, 1, 0, 1, 2)
        grid.setColumnStretch(0, 1)

    def show(self, stage: Stage) -> None:
        colour = STATE_COLOURS.get(stage.state, "#333")
        self.state.setText(f"<span style='color: {colour}'>{state_text(stage)}</span>")
        self.details.setText(details_text(stage))
        self.button.setText(self.BUTTON_TEXT[stage.action])
        self.button.setEnabled(stage.action != "run" or stage.runnable)
        tip = {"cancel": "Stop after the current step; it can be resumed",
               "resume": "Continue from where it stopped"}.get(stage.action, "Choose its settings and start it")
        self.button.setToolTip(tip if stage.action != "run" or stage.runnable else stage.why_not)
        self.setToolTip(stage.message if stage.message else "")


def state_text(stage: Stage) -> str:
    """The state's word, with how far a running stage is and when it will be done."""
    if stage.state == pipeline.DONE and stage.shipped:
        return "done · shipped with the studio"
    if stage.state == pipeline.RUNNING:
        eta = f", {format_duration(stage.eta_s)} left" if stage.eta_s is not None else ""
        return f"running: {stage.unit} {stage.step:,} of {stage.total:,}{eta}"
    if stage.state == pipeline.INTERRUPTED:
        return f"interrupted at {stage.unit} {stage.step:,} of {stage.total:,}"
    return stage.state


def details_text(stage: Stage) -> str:
    """What the stage was made from (and of): its job, its rollouts, the checkpoint it is built on; why it
    cannot run yet."""
    parts = []
    if stage.job_id:
        parts.append(f"job {stage.job_id}")
    if stage.shipped and stage.episodes is None:
        parts.append("made where the starter was trained")
    elif stage.key == pipeline.COLLECT and stage.rollouts:
        count = f"{stage.episodes:,} episodes in " if stage.episodes is not None else ""
        parts.append(f"{count}{stage.rollouts}")
    elif stage.rollouts and stage.key != pipeline.EVALUATE:
        name = Path(stage.rollouts).name
        parts.append(f"trained on {stage.episodes:,} episodes ({name})" if stage.episodes is not None else
                     f"trained on the rollouts in {name}")
    if stage.key == pipeline.CONTROLLER and stage.settings.get("in_dream") is not None:
        in_dream = str(stage.settings["in_dream"]).lower() in ("true", "1")
        parts.append("evolved in M's dream" if in_dream else "evolved in the real CarRacing")
    if stage.built_on:
        before = pipeline.TITLES[pipeline.ORDER[pipeline.ORDER.index(stage.key) - 1]].split(" · ")[0]
        parts.append(f"built on {before} of {Path(stage.built_on).parent.name}")
    if stage.result.get("mean") is not None:
        parts.append(f"score {stage.result['mean']:.1f} ± {stage.result['std']:.1f} over "
                     f"{len(stage.result['scores'])} tracks")
    if stage.state == pipeline.FAILED and stage.message:
        parts.append(stage.message.splitlines()[0])
    if not stage.runnable and stage.why_not and stage.action == "run":
        parts.append(stage.why_not)
    return " · ".join(parts)


def _summary(stages: list[Stage]) -> str:
    done = sum(s.state == pipeline.DONE for s in stages)
    running = [s.title for s in stages if s.state in pipeline.ACTIVE_STATES]
    text = f"{done} of {len(stages)} stages done"
    return text + (f"; running: {', '.join(running)}" if running else "")


class _EpisodeCounter:
    """The readable episodes of a rollouts folder, through the rollouts source's loader (counted again only
    when the folder changes: a collect job adds episodes as it goes)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._counted: dict[str, tuple[int, Optional[int]]] = {}

    def __call__(self, folder: str) -> Optional[int]:
        from studio.core.data import DataError
        from studio.core.specs import resolve
        from studio.engine.job_kinds import ROLLOUTS_SOURCE

        try:
            version = Path(folder).stat().st_mtime_ns
        except OSError:
            return None
        if folder in self._counted and self._counted[folder][0] == version:
            return self._counted[folder][1]
        try:
            count: Optional[int] = len(resolve(self.registry.dataset_source(ROLLOUTS_SOURCE).loader)(folder))
        except DataError:
            count = 0
        except (KeyError, UserError):  # no plugin offers the source
            count = None
        self._counted[folder] = (version, count)
        return count
