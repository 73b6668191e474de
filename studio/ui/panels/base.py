"""Shared behaviour of panels that work with models of one capability."""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.specs import ModelSpec, PanelSpec
from studio.ui.panel import EmptyOrContent, EmptyState, Panel, PanelContext
from studio.ui.widgets.model_picker import ModelChoice, ModelPicker


class ModelPanel(Panel):
    """A panel that works on a trained model offering its capability, chosen in
    :attr:`picker`, and says what to do when there is none.

    Subclasses set :attr:`what_it_does` and :attr:`families`, build their content
    widget (with :attr:`picker` in it) in :meth:`build_content`, and follow
    ``picker.changed``. The content shows while a model is chosen; the empty
    state, with :meth:`empty_actions` as buttons, otherwise.

    When a listed checkpoint is saved again (its training went on), the model
    loaded from it is unloaded from the inference thread, so the next request
    loads the new weights, and :meth:`model_retrained` tells the subclass when it
    is the chosen one.
    """

    what_it_does = ""  #: one sentence: what an artist does here
    families = ""  #: which model families will appear here

    def __init__(self, context: PanelContext, spec: PanelSpec, parent: Optional[QWidget] = None) -> None:
        super().__init__(context, spec, parent)
        self.capability = spec.capabilities[0] if spec.capabilities else ""
        self.picker = ModelPicker(context, self.capability, self)
        self.picker.changed.connect(lambda _choice: self.show_state())
        self.picker.retrained.connect(self._retrained)
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

    def has_content(self) -> bool:
        return self.picker.current() is not None

    def refresh(self) -> None:
        """New checkpoints may have appeared (a job saved one): list them, then show what fits."""
        self.picker.refresh()
        self.show_state()

    def _retrained(self, choice: ModelChoice) -> None:
        inference = self.context.inference
        if inference is not None:
            inference.worker.unload(lambda ref, retrained=choice.ref: ref == retrained)
        current = self.picker.current()
        if current is not None and current.ref == choice.ref:
            self.model_retrained(choice)

    def model_retrained(self, choice: ModelChoice) -> None:
        """The chosen model's checkpoint was saved again (``choice`` has its new step); the old
        weights are already unloaded. Panels may show or recompute what came from them."""

    def show_state(self) -> None:
        if self.has_content():
            self.stack.show_content()
        else:
            self.stack.show_empty(self.empty_message(), self.empty_actions())

    def empty_actions(self) -> list[tuple[str, Callable[[], Any]]]:
        """Buttons under the empty state's message."""
        return [("Open a checkpoint…", self.picker.open_checkpoint)]

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
