"""The trained models a panel can use: the workspace's checkpoints of models offering its
capability, then the starter models the studio ships (read-only: training one further makes a new
run), and the one chosen. Qt-free: the model picker widget draws a :class:`ModelList`.

Training rewrites a checkpoint in place as it goes. Each :meth:`ModelList.refresh`
compares every listed checkpoint's version (its step, when the catalogue
recorded it, the file's modification time) with the last one seen, and emits
``retrained`` for each that changed: a model loaded from the old file must be
loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.checkpoint import read_header
from studio.core.errors import UserError
from studio.core.starters import starters
from studio.engine.inference import ModelRef
from studio.ui.kit.evented import Events


@dataclass(frozen=True)
class ModelChoice:
    """One trained model: its spec, the checkpoint (file or model folder) and its step."""

    spec: Any  #: the ModelSpec
    ref: ModelRef
    label: str
    step: int
    starter: bool = False  #: one the studio ships (read-only)


class ModelList:
    """Events: ``listed()`` after every refresh, ``chosen(choice or None)`` when the choice changes,
    ``retrained(choice)`` for a listed checkpoint saved again (after ``chosen``)."""

    def __init__(self, registry: Any, store: Any, capability: str) -> None:
        self.registry = registry
        self.store = store
        self.capability = capability
        self.choices: list[ModelChoice] = []
        self.current: Optional[ModelChoice] = None
        self.events = Events("listed", "chosen", "retrained")
        self._versions: dict[ModelRef, tuple] = {}

    def specs(self) -> dict[str, Any]:
        return {m.name: m for m in self.registry.models_offering(self.capability)}

    def refresh(self) -> None:
        """List the catalogue's checkpoints again, keeping the choice when it is still there (else
        the newest is chosen)."""
        specs = self.specs()
        choices, versions = [], {}
        for row in self.store.checkpoints(list(specs)):
            try:
                modified = Path(row["path"]).stat().st_mtime_ns
            except OSError:
                continue
            spec = specs[row["spec"]]
            name = row["model"] or f"{spec.title} ({Path(row['path']).parent.name})"
            # a model imported as it is (no trainer) has no training steps to count
            label = name if spec.trainer is None else f"{name} · step {row['step']}"
            ref = ModelRef(spec.name, row["path"])
            choices.append(ModelChoice(spec, ref, label, row["step"]))
            versions[ref] = (row["step"], row["created"], modified)
        # the starters of featured models first: what a panel shows on first launch
        for starter in sorted(starters(), key=lambda s: not (s.spec in specs and specs[s.spec].featured)):
            if starter.spec in specs and ModelRef(starter.spec, str(starter.checkpoint)) not in versions:
                choices.append(ModelChoice(specs[starter.spec], ModelRef(starter.spec, str(starter.checkpoint)),
                                           f"{starter.title} · starter", starter.step, starter=True))
        before = self.current
        retrained = [c for c in choices if c.ref in self._versions and self._versions[c.ref] != versions[c.ref]]
        self.choices, self._versions = choices, versions
        kept = next((c for c in choices if before is not None and c.ref == before.ref), None)
        self.current = kept or (choices[0] if choices else None)
        self.events.listed.emit()
        if self.current != before:
            self.events.chosen.emit(self.current)
        for choice in retrained:
            self.events.retrained.emit(choice)

    def choose(self, choice: Optional[ModelChoice]) -> None:
        if choice is not None and choice not in self.choices:
            raise ValueError(f"{choice.label} is not listed")
        if choice != self.current:
            self.current = choice
            self.events.chosen.emit(choice)

    def find(self, checkpoint: str) -> Optional[ModelChoice]:
        return next((c for c in self.choices if c.ref.checkpoint == checkpoint), None)

    def select(self, checkpoint: str) -> bool:
        """Choose the model saved at ``checkpoint``; False if it is not listed."""
        choice = self.find(checkpoint)
        if choice is not None:
            self.choose(choice)
        return choice is not None

    def add_checkpoint(self, path: str) -> ModelChoice:
        """List and choose a checkpoint file from outside the workspace. Its model and step come
        from its header (no tensor is read). Raises :class:`UserError` when it cannot be used here."""
        resolved = str(Path(path).resolve())
        header = read_header(resolved)
        if header.spec not in self.specs():
            raise UserError(f"{Path(path).name} holds a {header.spec!r} model, which does not offer "
                            f"{self.capability} (or its plugin is not installed).")
        if self.find(resolved) is None:
            self.store.add_checkpoint(header.spec, resolved, header.step)
            self.refresh()
        self.select(resolved)
        return self.current
