"""The base of every panel's state (Qt-free): what the artist works on, apart from the widgets.

A :class:`PanelState` holds the panel's :class:`~studio.ui.kit.models.ModelList`
and the model chosen in it, the SHA-256 of that model's checkpoint (computed on
the inference thread, kept in the catalogue), the panel's
:class:`~studio.ui.kit.work.Work`, and the two ends of provenance: the
parameters of a result (:meth:`PanelState.result_params`) and finding the
model of one that comes back (:meth:`PanelState.restore`). A subclass adds the
panel's own state, its events and the methods that change it, validating what
it is given (a :class:`ValueError` saying what is allowed).

Tests drive a state with a fake executor and a fake model: no window, no
trained model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from studio.core.checkpoint import read_header
from studio.core.digests import checkpoint_digest
from studio.core.provenance import Located, check_made_here, locate, result_params
from studio.core.starters import starters
from studio.engine.inference import ModelRef
from studio.ui.kit.evented import Events
from studio.ui.kit.models import ModelChoice, ModelList
from studio.ui.kit.work import Executor, Work


def import_from_disk(work: Work, task: str, store: Any, spec: Any, path: str, title: str,
                     listed: Callable[[], None], on_done: Callable[[bool], None]) -> None:
    """Load ``path`` (a model folder or file) with ``spec``'s loader on the inference thread, as
    ``work``'s ``task`` (a newer one overtakes it); once it loads, list it in the workspace (a model
    named after it, a checkpoint at step 0) unless it is there already, then ``listed()``.
    ``on_done(ok)`` either way (cancelled too); a failure says why under ``title``
    (``work.events.failed``)."""
    def loaded(_none: Any) -> None:
        if path not in [row["path"] for row in store.checkpoints([spec.name])]:
            name = Path(path).name if Path(path).is_dir() else Path(path).stem
            store.add_checkpoint(spec.name, path, 0, store.add_model(name, spec.name, {"path": path}))
        listed()
        on_done(True)

    def failed(message: str, detail: str) -> None:
        on_done(False)
        work.events.failed.emit(title, message, detail)

    work.run(task, ModelRef(spec.name, path), lambda _model, _ctx: None, on_result=loaded,
             on_error=failed, on_cancelled=lambda: on_done(False), label=f"Loading {Path(path).name}")


class PanelState:
    """Events: ``model(choice or None)`` when another model is chosen (or none), ``retrained(choice)``
    when the chosen model's checkpoint was saved again, ``restored(note)`` after a restore; plus the
    subclass's :attr:`EVENTS`."""

    #: the panel's spec name: what results say made them (``panel`` in their parameters)
    panel = ""
    #: the panel's title, for messages
    title = ""
    #: the capability the panel's models offer
    capability = ""
    #: the subclass's own event names
    EVENTS: tuple[str, ...] = ()

    def __init__(self, executor: Executor, registry: Any, store: Any, capability: str = "") -> None:
        """``capability`` is for a state class that names none (a panel with no state of its own yet)."""
        self.registry = registry
        self.store = store
        self.capability = self.capability or capability
        self.work = Work(executor, owner=f"{self.panel}-{id(self):x}")
        self.models = ModelList(registry, store, self.capability)
        self.events = Events("model", "retrained", "restored", *self.EVENTS)
        self.choice: Optional[ModelChoice] = None
        self.digest: Optional[str] = None  #: SHA-256 of the chosen checkpoint, once known
        self.models.events.chosen.connect(self.set_model)
        self.models.events.retrained.connect(self._retrained)

    # -- the model -----------------------------------------------------------------------------
    def set_model(self, choice: Optional[ModelChoice]) -> None:
        """Work with ``choice`` from now on (None: no model). Everything running for the previous
        model is dropped; the same checkpoint at another step is a retrain, not a new model."""
        if choice is not None and self.choice is not None and choice.ref == self.choice.ref:
            self.choice = choice
            return
        self.work.reset()
        self.choice, self.digest = choice, None
        if choice is not None:
            self._find_digest()
        self.model_changed()
        self.events.model.emit(choice)

    def _retrained(self, choice: ModelChoice) -> None:
        self.work.unload(choice.ref)  # the next request loads the new weights
        if self.choice is None or choice.ref != self.choice.ref:
            return
        self.choice, self.digest = choice, None
        self.model_retrained()
        self._find_digest()
        self.events.retrained.emit(choice)

    def _find_digest(self) -> None:
        choice, store = self.choice, self.store

        def found(sha: Optional[str]) -> None:
            if self.choice is not None and self.choice.ref == choice.ref:
                self.digest = sha

        self.work.run("digest", None, lambda _model, _ctx: checkpoint_digest(store, choice.ref.checkpoint),
                      on_result=found, on_error=lambda _message, _detail: None)

    def model_changed(self) -> None:
        """Hook: another model was chosen (``self.choice``; the old one's requests are dropped)."""

    def model_retrained(self) -> None:
        """Hook: the chosen model's checkpoint was saved again; its old weights are unloaded."""

    def run(self, name: str, fn: Callable[[Any, Any], Any], **callbacks: Any) -> None:
        """Run ``fn(model, ctx)`` on the chosen model (see :meth:`Work.run`); nothing without one."""
        if self.choice is not None:
            self.work.run(name, self.choice.ref, fn, **callbacks)

    def open_session(self, name: str, fn: Callable[[Any, Any], Any], **options: Any) -> bool:
        """Open the session ``fn(model, ctx)`` on the chosen model (see :meth:`Work.open_session`); it ends
        when another model is chosen or the panel closes. False without a model."""
        if self.choice is None:
            return False
        self.work.open_session(name, self.choice.ref, fn, **options)
        return True

    # -- models imported from disk ---------------------------------------------------------------
    def importers(self, path: Optional[str] = None) -> list[Any]:
        """The models of this panel's capability that import from disk (a model folder, a weights file:
        their ``imports_from``); with ``path``, those that import that folder or file."""
        specs = [m for m in self.models.specs().values() if m.imports_from]
        return [m for m in specs if path is None or m.imports(path)]

    def import_model(self, spec: Any, path: str, on_done: Callable[[bool], None]) -> None:
        """Load ``path`` (a folder or a file) with ``spec``'s loader on the inference thread; if it loads,
        list it (a model named after it, a checkpoint at step 0) and choose it. ``on_done(ok)`` either
        way (cancelled too); a failure also says why (``work.events.failed``)."""
        def listed() -> None:
            self.models.refresh()
            self.models.select(path)

        import_from_disk(self.work, "import", self.store, spec, path, "Import model", listed, on_done)

    # -- provenance ----------------------------------------------------------------------------
    def result_params(self, **settings: Any) -> dict[str, Any]:
        """The parameters of a result of the chosen model made with ``settings`` (the seed among
        them): see :func:`studio.core.provenance.result_params`."""
        choice = self.choice
        seed = settings.pop("seed", None)
        return result_params(self.panel, choice.spec, choice.ref.checkpoint, choice.step, self.digest, seed=seed,
                             **settings)

    def restore(self, params: dict[str, Any], name: str, apply: Callable[[dict[str, Any], str], None],
                on_failed: Optional[Callable[[str], None]] = None) -> None:
        """Restore a result's ``params`` (read from the file ``name``): find its model (on the
        inference thread: files may be hashed), choose it, then ``apply(params, name)`` the panel's
        own settings. A refusal raises :class:`~studio.core.provenance.RestoreError` at once, or
        arrives later as ``on_failed(reason)`` (default: ``work.events.failed``, saying that nothing
        was changed). ``events.restored(note)`` follows a restore, with what was not exactly as
        recorded ("" when all was)."""
        check_made_here(params, self.panel, self.title, name)
        registry, store = self.registry, self.store

        def find(_model: Any, _ctx: Any) -> tuple[Located, Optional[int]]:
            """Where the model is, and its step when the catalogue does not list it yet."""
            found = locate(params, registry=registry, store=store, name=name)
            listed = [row["path"] for row in store.checkpoints([found.spec.name])]
            listed += [str(s.checkpoint) for s in starters(found.spec.name)]
            if found.checkpoint in listed:
                return found, None
            return found, read_header(found.checkpoint).step if Path(found.checkpoint).is_file() else 0

        def located(result: tuple[Located, Optional[int]]) -> None:
            found, step = result
            if step is not None:  # a copy outside the catalogue: list it
                self.store.add_checkpoint(found.spec.name, found.checkpoint, step)
                self.models.refresh()
            self.models.select(found.checkpoint)
            apply(params, name)
            self.events.restored.emit(found.note)

        def failed(message: str, detail: str) -> None:
            if on_failed is not None:
                on_failed(message)
            else:
                self.work.events.failed.emit("Restore from a file", f"{message.rstrip('.')}; nothing was changed.",
                                             detail)

        self.work.run("restore", None, find, on_result=located, on_error=failed, label=f"Restoring {name}")

    def close(self) -> None:
        """The panel is going away: nothing it asked for may arrive any more."""
        self.work.close()
