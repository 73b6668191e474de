"""A panel that works on trained models offering one capability: the shape every tool panel shares.

A :class:`ModelPanel` owns its state (a :class:`~studio.ui.kit.state.PanelState`
subclass, made by :meth:`ModelPanel.make_state`), a model picker over the
state's model list, a task bar over the state's work (progress, time left,
Cancel; Esc cancels too) and failure messages with details. It shows its
content while a model is chosen, and otherwise an empty state that says what
works here and how to get one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.specs import ModelSpec, PanelSpec
from studio.engine.events import format_duration
from studio.engine.job_kinds import TRAIN, kind_of
from studio.engine.jobs import ACTIVE
from studio.engine.run_folder import training_job
from studio.ui.kit.importing import ModelImport
from studio.ui.kit.messages import warn
from studio.ui.kit.models import ModelChoice
from studio.ui.kit.panel import EmptyOrContent, EmptyState, Panel, PanelContext
from studio.ui.kit.picker import ModelPicker
from studio.ui.kit.state import PanelState
from studio.ui.kit.task_bar import TaskBar


class ModelPanel(Panel):
    """Subclasses set :attr:`what_it_does`, :attr:`families` and :attr:`state_class`, and build
    their content widget (with :attr:`picker` and :attr:`task_bar` in it) in :meth:`build_content`,
    drawing ``self.state`` and following its events."""

    what_it_does = ""  #: one sentence: what an artist does here
    families = ""  #: which model families will appear here
    state_class: type[PanelState] = PanelState
    #: what Esc and Cancel do here, for Help ▸ Keyboard Shortcuts
    cancel_description = "Stop what is running"
    cancel_text = "Cancel"
    #: the command lines that train a first model here, when that is more than one `studio train` (the
    #: stages of a pipeline); by default the empty state suggests one `studio train` line
    train_hint = ""
    #: the Import button's tooltip (a default names the models that import from disk)
    import_tip = ""
    #: how often the empty state's word on a model training here is brought up to date, in seconds
    TRAINING_REFRESH_S = 1.0

    def __init__(self, context: PanelContext, spec: PanelSpec, parent: Optional[QWidget] = None) -> None:
        super().__init__(context, spec, parent)
        self.state = self.make_state()
        self.picker = ModelPicker(self.state.models, self)
        self.picker.train_further.connect(self.train_further)
        self.picker.train_button.setVisible(context.jobs is not None)
        self.importer = ModelImport(self, self.import_tip)  #: Import model…, for models loaded from disk
        self.task_bar = TaskBar(self.state.work, self.cancel_text, f"{self.cancel_description} (Esc)")
        self.state.events.model.connect(lambda _choice: self.show_state())
        self.state.work.events.failed.connect(lambda title, message, detail: warn(self, title, message, detail))
        self.stack = EmptyOrContent(EmptyState(spec.title), self.build_content())
        self.add_shortcut(Qt.Key_Escape, self.state.work.cancel, self.cancel_description, self.stack.content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.stack)
        self._told_training = 0.0
        if context.jobs is not None:
            context.jobs.job_event.connect(self._job_event)
        self.refresh()

    def make_state(self) -> PanelState:
        """The panel's state, working through the inference thread, on models of the spec's capability."""
        context = self.context
        return self.state_class(context.inference, context.registry, context.workspace.store, self.capability)

    @property
    def capability(self) -> str:
        return self.spec.capabilities[0] if self.spec.capabilities else ""

    def build_content(self) -> QWidget:
        """The panel's working area, shown once there is something to work with."""
        return QWidget()

    def models(self) -> list[ModelSpec]:
        return self.context.registry.models_offering(self.capability)

    def has_content(self) -> bool:
        return self.state.choice is not None

    def refresh(self) -> None:
        """New checkpoints may have appeared (a job saved one): list them, then show what fits."""
        self.state.models.refresh()
        self.show_state()

    def shutdown(self) -> None:
        self.state.close()

    def show_state(self) -> None:
        if self.has_content():
            self.stack.show_content()
        else:
            self.stack.show_empty(self.empty_message(), self.empty_actions())

    def _job_event(self, _job_id: str, event: dict) -> None:
        """While nothing is shown here, the empty state follows a model training here (at most once a second)."""
        if self.has_content() or event["event"] not in ("progress", "started", "ended"):
            return
        now = time.monotonic()
        if event["event"] == "progress" and now - self._told_training < self.TRAINING_REFRESH_S:
            return
        self._told_training = now
        self.show_state()

    def train_further(self, choice: ModelChoice) -> None:
        """The Train dialog on the chosen model: starting from its checkpoint, on the data it was trained on."""
        from studio.ui.train_dialog import TrainDialog

        data = training_job(choice.ref.checkpoint).get("data")
        TrainDialog(self.context, self, model=choice.spec.name, data=data, start_from=choice.ref.checkpoint).exec()

    def empty_actions(self) -> list[tuple[str, Callable[[], Any]]]:
        """Buttons under the empty state's message."""
        actions = [("Open a checkpoint…", self.picker.open_checkpoint)]
        if self.state.importers():
            actions.append((self.importer.title(), lambda: self.importer.run()))
        return actions

    def open_dropped(self, path: Path) -> None:
        """A folder, or a weights file that a model here imports, is imported; anything else is opened."""
        if Path(path).is_dir() or self.state.importers(str(path)):
            self.importer.run(str(path))
        else:
            self.import_file(path)

    def trainable(self) -> list[ModelSpec]:
        """The models that work here and can be trained, the featured ones first."""
        return sorted((m for m in self.models() if m.trainer is not None), key=lambda m: (not m.featured, m.name))

    def _train_command(self, trainable: list[ModelSpec]) -> str:
        """A `studio train` line that would work here, with a built-in data source if there is one (or the
        panel's own :attr:`train_hint`)."""
        if self.train_hint:
            return self.train_hint
        spec = trainable[0]
        sources = [s for s in self.context.registry.dataset_sources.values()
                   if s.kind == spec.data_kind and not s.needs_location]
        data = f" --data {sources[0].name}" if sources else " --data PATH"
        return f"<code>studio train {spec.name}{data} --steps 2000 --out DIR</code>"

    def empty_message(self) -> str:
        intro = f"<p>{self.what_it_does}</p>"
        models = self.models()
        if not models:
            return intro + (
                f"<p><b>No installed model works here yet.</b> {self.families} come from plugins: "
                "install one with <code>pip install</code> into the studio's environment and restart. "
                "Plugins ▸ Plugin Manager lists every plugin and why any failed to load.</p>"
            )
        titles = ", ".join(m.title for m in models)
        trainable = self.trainable()
        how = ""
        if trainable:
            command = self._train_command(trainable)
            how = f" Train one in the Jobs dock (<b>Train…</b>), or on the command line: {command}."
        return (intro + f"<p>Models that work here: {titles}. None is trained in this workspace yet.{how}</p>"
                + self._training() + self._orphans())

    def _training(self) -> str:
        """A word on each job training a model that works here: how far it is, and when it can be used."""
        jobs = self.context.jobs
        names = {m.name for m in self.models()}
        running = [] if jobs is None else [j for j in jobs.manager.jobs()
                                           if j.status in ACTIVE and j.spec in names and kind_of(j) == TRAIN]
        lines = []
        for job in running:
            title = job.args.get("title", job.spec)
            lines.append(f"<b>Training now:</b> {title}, step {job.step:,} of {job.total_steps:,} (Jobs dock). "
                         f"It can be used here from its first checkpoint, {_first_checkpoint(job)}.")
        return "".join(f"<p>{line}</p>" for line in lines)

    def _orphans(self) -> str:
        """A word on the workspace's trained models that no enabled plugin provides, when a plugin failed
        to load (they may belong here; they cannot be used until their plugin loads)."""
        failed = self.context.registry.failed_plugins
        if not failed:
            return ""
        unknown = sorted({row["spec"] for row in self.context.workspace.store.checkpoints()
                          if row["spec"] not in self.context.registry.models})
        kinds = f" This workspace has trained models no enabled plugin provides ({', '.join(unknown)})." \
            if unknown else ""
        return (f"<p><b>{'Plugins' if len(failed) > 1 else 'A plugin'} failed to load: {', '.join(sorted(failed))}"
                f".</b>{kinds} Plugins ▸ Plugin Manager says why.</p>")


def _first_checkpoint(job: Any) -> str:
    """When a running job's first checkpoint comes: within its early checkpoint's seconds, else at the
    first step of its cadence."""
    early = job.args.get("first_checkpoint_s")
    if early is not None and job.started:
        left = early - (time.time() - job.started)
        return f"in about {format_duration(left)}" if left >= 1 else "any moment now"
    return f"at step {min(job.args.get('checkpoint_every', 500), job.total_steps):,}"
