"""Shared behaviour of panels that work with models of one capability."""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.specs import ModelSpec, PanelSpec
from studio.ui.panel import EmptyOrContent, EmptyState, Panel, PanelContext


class ModelPanel(Panel):
    """A panel that lists the models offering its capability and says what to do
    when there are none, or none trained yet.

    Subclasses set :attr:`what_it_does` and :attr:`families`, build their content
    widget in :meth:`build_content`, and call :meth:`refresh` when models change.
    """

    what_it_does = ""  #: one sentence: what an artist does here
    families = ""  #: which model families will appear here

    def __init__(self, context: PanelContext, spec: PanelSpec, parent: Optional[QWidget] = None) -> None:
        super().__init__(context, spec, parent)
        self.capability = spec.capabilities[0] if spec.capabilities else ""
        self.stack = EmptyOrContent(EmptyState(spec.title), self.build_content())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.stack)
        self.refresh()

    def build_content(self) -> QWidget:
        """The panel's working area, shown once there is something to work with."""
        return QWidget()

    def models(self) -> list[ModelSpec]:
        return self.context.registry.models_offering(self.capability)

    def checkpoints(self) -> list[dict]:
        """Trained checkpoints in this workspace of models offering the capability."""
        return self.context.workspace.store.checkpoints([m.name for m in self.models()])

    def has_content(self) -> bool:
        """Whether the working area has something to show; subclasses with content override."""
        return False

    def refresh(self) -> None:
        if self.has_content():
            self.stack.show_content()
        else:
            self.stack.show_empty(self.empty_message())

    def _train_command(self, trainable: list[ModelSpec]) -> str:
        """A `studio train` line that would work here, with a built-in data source if there is one."""
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
        trainable = [m for m in models if m.trainer is not None]
        how = ""
        if trainable:
            command = self._train_command(trainable)
            how = f" Train one in the Jobs dock (<b>Train…</b>), or on the command line: {command}."
        return intro + f"<p>Models that work here: {titles}. None is trained in this workspace yet.{how}</p>"
