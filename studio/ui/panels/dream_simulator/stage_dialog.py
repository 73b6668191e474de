"""Run a stage: its main settings and how long they will take here, then the job built on the stage before
(:meth:`StageDialog.options`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout

from studio.engine.catalogue import JobOptions
from studio.engine.job_kinds import ROLLOUTS_SOURCE, CollectOptions, EvaluateOptions
from studio.ui.bridge import GuiRelay
from studio.ui.kit.panel import PanelContext
from studio.ui.panels.dream_simulator import estimate, pipeline
from studio.ui.panels.dream_simulator.pipeline import Stage

#: the processes a stage runs at once by default: the cores, at most 4 (each holds an environment or a dream)
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
WORKERS_TIP = ("Processes driving at once, each with its own environment (or dream) in memory: more than the "
               "cores gains nothing, and too many run out of memory")
#: (name, label, default, lowest, highest, tooltip) of each stage's number settings
NUMBERS = {
    pipeline.COLLECT: (("episodes", "Episodes", 200, 1, 1_000_000, "Rollouts to drive, one track each"),
                       ("steps", "Steps per episode", 1000, 1, 1000, "At most (CarRacing ends an episode at 1000)"),
                       ("workers", "Workers", DEFAULT_WORKERS, 1, 256, WORKERS_TIP)),
    pipeline.VISION: (("steps", "Training steps", 5000, 1, 10_000_000, "Batches of frames V learns from"),),
    pipeline.MEMORY: (("steps", "Training steps", 5000, 1, 10_000_000, "Batches of latent sequences M learns from"),),
    pipeline.CONTROLLER: (("steps", "Generations", 100, 1, 1_000_000, "CMA-ES generations (a checkpoint after each)"),
                          ("population", "Population", None, 2, 10_000, "Candidates scored per generation"),
                          ("workers", "Workers", None, 1, 256, WORKERS_TIP)),
    pipeline.EVALUATE: (("episodes", "Tracks", 100, 1, 100_000, "Random real tracks to drive (the paper: 100)"),
                        ("workers", "Workers", DEFAULT_WORKERS, 1, 256, WORKERS_TIP)),
}
#: steps of the stages a checkpoint is written after (C: every generation, it is slow)
CHECKPOINT_EVERY = {pipeline.VISION: 500, pipeline.MEMORY: 500, pipeline.CONTROLLER: 1}
SAMPLE_EVERY = {pipeline.VISION: 250, pipeline.MEMORY: 250, pipeline.CONTROLLER: 5}


class StageDialog(QDialog):
    """The settings of one stage's new job; built on ``stage.run_upstream``, trained on ``stage.run_rollouts``."""

    def __init__(self, context: PanelContext, stage: Stage, jobs: list[Any], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("StageDialog")
        self.setWindowTitle(f"Run {stage.title}")
        self.context = context
        self.stage = stage
        self.jobs = jobs
        self.fields: dict[str, QSpinBox] = {}
        form = QFormLayout()
        defaults = self._defaults()
        for name, label, _default, low, high, tip in NUMBERS[stage.key]:
            box = QSpinBox()
            box.setObjectName(f"Setting_{name}")
            box.setRange(low, high)
            box.setValue(int(defaults[name]))
            box.setToolTip(tip)
            box.setGroupSeparatorShown(True)
            self.fields[name] = box
            form.addRow(label, box)
        self.where: Optional[QComboBox] = None
        if stage.key == pipeline.CONTROLLER:
            self.where = QComboBox()
            self.where.setObjectName("Setting_in_dream")
            self.where.addItem("in M's dream", True)
            self.where.addItem("in the real CarRacing", False)
            self.where.setCurrentIndex(0 if _truthy(defaults["in_dream"]) else 1)
            self.where.setToolTip("Where candidates are scored: the dream is fast (the paper's Doom set-up); the "
                                  "real environment is what the paper did for CarRacing")
            form.addRow("Scored", self.where)
        inputs = QLabel(_inputs_text(stage))
        inputs.setWordWrap(True)
        inputs.setStyleSheet("color: #555;")
        self.estimate = QLabel()
        self.estimate.setObjectName("StageEstimate")
        self.estimate.setWordWrap(True)
        self._relay = GuiRelay(self)
        self._paces: dict[Any, estimate.Pace] = {}  #: measured, by what changes a pace (C: dream or real)
        self._probe: Optional[estimate.Probe] = None
        self._probing: Any = None  #: what the running probe measures
        self._failed: dict[Any, str] = {}  #: why a probe showed no pace, by what it measured
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(pipeline.ABOUT[stage.key] + "."))
        layout.addLayout(form)
        layout.addWidget(inputs)
        layout.addWidget(self.estimate)
        layout.addWidget(buttons)
        for box in self.fields.values():
            box.valueChanged.connect(self.update_estimate)
        if self.where is not None:
            self.where.currentIndexChanged.connect(self.update_estimate)
        self.update_estimate()

    # -- the time estimate ------------------------------------------------------------------------------
    def full_settings(self) -> dict[str, Any]:
        """The settings as the job will run: the chosen ones over the model's config (C's rollouts per
        candidate and steps per rollout come from there)."""
        return {**self._config(), **self.settings()}

    def _config(self) -> dict[str, Any]:
        """The stage's model's default config ({} for Collect and Evaluate, which train no model)."""
        if self.stage.key in (pipeline.COLLECT, pipeline.EVALUATE):
            return {}
        return dataclasses.asdict(self.context.registry.model(self.stage.key).config())

    def update_estimate(self) -> None:
        """Say how long the chosen settings take, from a pace measured here (past jobs, else a probe)."""
        settings = self.full_settings()
        variant = settings.get("in_dream")
        pace = self._paces.get(variant)
        if pace is None:
            pace = estimate.from_history(self.stage.key, settings, self.jobs, self.context.jobs.manager.history,
                                         self._config())
            if pace is not None:
                self._paces[variant] = pace
        if pace is not None:
            self.estimate.setText(estimate.estimate(self.stage.key, settings, pace).text())
        elif variant in self._failed:
            self.estimate.setText(f"No time estimate: {self._failed[variant]}.")
        else:
            if self._probing != variant or self._probe is None:
                self._start_probe(settings, variant)
            self.estimate.setText("Measuring how fast this runs on this machine (a short trial run)…")

    def _start_probe(self, settings: dict[str, Any], variant: Any) -> None:
        if self._probe is not None:
            self._probe.cancel()
        manager = self.context.jobs.manager
        self._probing = variant
        self._probe = estimate.Probe.of(self.stage.key, settings, self.stage, manager.python, manager.device,
                                        self._relay.wrap(lambda pace, error: self._probed(variant, pace, error)))
        self._probe.start()

    def _probed(self, variant: Any, pace: Optional[estimate.Pace], error: str) -> None:
        if variant != self._probing:
            return  # a probe of settings no longer chosen
        self._probe = None
        self._probing = None
        if pace is None:
            self._failed[variant] = error
        else:
            self._paces[variant] = pace
        self.update_estimate()

    def done(self, result: int) -> None:
        """The dialog closes: a probe still running stops."""
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        super().done(result)

    def settings(self) -> dict[str, Any]:
        """The settings as chosen: numbers by name, and for C where it is scored (``in_dream``)."""
        chosen: dict[str, Any] = {name: box.value() for name, box in self.fields.items()}
        if self.where is not None:
            chosen["in_dream"] = bool(self.where.currentData())
        return chosen

    def options(self) -> Any:
        """The new job's options: a collect or evaluate job, or `studio train` of the stage's model."""
        stage, chosen = self.stage, self.settings()
        if stage.key == pipeline.COLLECT:
            return CollectOptions(episodes=chosen["episodes"], steps=chosen["steps"], workers=chosen["workers"])
        if stage.key == pipeline.EVALUATE:
            return EvaluateOptions(checkpoint=stage.run_upstream, episodes=chosen["episodes"],
                                   workers=chosen["workers"])
        overrides = {}
        if stage.key == pipeline.CONTROLLER:
            overrides = {"population": str(chosen["population"]), "workers": str(chosen["workers"]),
                         "in_dream": "true" if chosen["in_dream"] else "false"}
        before = pipeline.ORDER[pipeline.ORDER.index(stage.key) - 1]
        upstream = {before: stage.run_upstream} if stage.key != pipeline.VISION else {}
        rollouts = Path(stage.run_rollouts)
        return JobOptions(model=stage.key, data=f"{ROLLOUTS_SOURCE}:{rollouts}", steps=chosen["steps"],
                          checkpoint_every=CHECKPOINT_EVERY[stage.key], sample_every=SAMPLE_EVERY[stage.key],
                          overrides=overrides, upstream=upstream,
                          title=f"{pipeline.TITLES[stage.key]} on {rollouts.name}")

    def _defaults(self) -> dict[str, Any]:
        """What the stage ran with last time, else the stage's defaults (C's from its model's config)."""
        defaults = {name: default for name, _label, default, *_rest in NUMBERS[self.stage.key]}
        if self.stage.key == pipeline.CONTROLLER:
            config = self.context.registry.model(pipeline.CONTROLLER).config()
            defaults.update(population=config.population, workers=config.workers, in_dream=config.in_dream)
        for name in defaults:
            if self.stage.settings.get(name) is not None:
                defaults[name] = self.stage.settings[name]
        return defaults


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _inputs_text(stage: Stage) -> str:
    """What the new job starts from."""
    parts = []
    if stage.run_rollouts:
        parts.append(f"Trains on the rollouts in {stage.run_rollouts}.")
    if stage.run_upstream:
        parts.append(f"Starts from {stage.run_upstream}.")
    if stage.key == pipeline.COLLECT:
        parts.append("Collects into a new folder of the workspace's jobs.")
    return " ".join(parts)
