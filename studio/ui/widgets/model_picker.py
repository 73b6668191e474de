"""Choose a trained model: the workspace's checkpoints of models offering a capability.

Training rewrites a checkpoint file in place as it goes. Each refresh compares every
listed checkpoint's version (its step, when the catalogue recorded it, the file's
modification time) with the last one seen, and emits :attr:`ModelPicker.retrained`
for each that changed: a model loaded from the old file must be loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QMessageBox, QPushButton, QWidget

from studio.core.checkpoint import read_checkpoint
from studio.core.errors import UserError
from studio.core.specs import ModelSpec
from studio.engine.inference import ModelRef


@dataclass(frozen=True)
class ModelChoice:
    spec: ModelSpec
    ref: ModelRef
    label: str
    step: int


class ModelPicker(QWidget):
    """A combo box of trained models and an Open… button for checkpoints saved elsewhere.

    It starts empty: the owner calls :meth:`refresh` once it listens to :attr:`changed`,
    so the first model chosen is announced like any later one."""

    changed = Signal(object)  #: the new ModelChoice, or None when there is none
    #: a listed ModelChoice whose checkpoint was saved again since the last refresh (emitted after ``changed``)
    retrained = Signal(object)

    def __init__(self, context, capability: str, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.capability = capability
        self.combo = QComboBox()
        self.combo.setObjectName("ModelPicker")
        self.combo.setMinimumContentsLength(28)
        self.combo.currentIndexChanged.connect(lambda _: self.changed.emit(self.current()))
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Use a checkpoint file from elsewhere (e.g. made with `studio train`)")
        self.open_button.clicked.connect(self.open_checkpoint)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.open_button)
        self._choices: list[ModelChoice] = []
        self._versions: dict[ModelRef, tuple] = {}  #: what each listed checkpoint was at the last refresh

    def specs(self) -> dict[str, ModelSpec]:
        return {m.name: m for m in self.context.registry.models_offering(self.capability)}

    def refresh(self) -> None:
        """Reload the list, keeping the current choice when it is still there."""
        current = self.current()
        specs = self.specs()
        self._choices = []
        versions = {}
        for row in self.context.workspace.store.checkpoints(list(specs)):
            path = Path(row["path"])
            try:
                modified = path.stat().st_mtime_ns
            except OSError:
                continue
            spec = specs[row["spec"]]
            name = row["model"] or f"{spec.title} ({path.parent.name})"
            # a model imported as it is (no trainer) has no training steps to count
            label = name if spec.trainer is None else f"{name} · step {row['step']}"
            ref = ModelRef(spec.name, row["path"])
            self._choices.append(ModelChoice(spec, ref, label, row["step"]))
            versions[ref] = (row["step"], row["created"], modified)
        self.combo.blockSignals(True)
        self.combo.clear()
        for choice in self._choices:
            self.combo.addItem(choice.label)
        index = next((i for i, c in enumerate(self._choices) if current and c.ref == current.ref), 0)
        if self._choices:
            self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)
        new = self.current()
        retrained = [c for c in self._choices if c.ref in self._versions and self._versions[c.ref] != versions[c.ref]]
        self._versions = versions
        if new != current:
            self.changed.emit(new)
        for choice in retrained:
            self.retrained.emit(choice)

    def current(self) -> Optional[ModelChoice]:
        index = self.combo.currentIndex()
        return self._choices[index] if 0 <= index < len(self._choices) else None

    def select(self, checkpoint: str) -> bool:
        """Choose the model saved at ``checkpoint``; False if it is not listed."""
        for i, choice in enumerate(self._choices):
            if choice.ref.checkpoint == checkpoint:
                self.combo.setCurrentIndex(i)
                return True
        return False

    def open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_checkpoint(path)

    def add_checkpoint(self, path: str) -> bool:
        """List a checkpoint file from outside the workspace; explain if it cannot be used here."""
        try:
            checkpoint = read_checkpoint(path, weights_only=True)
            if checkpoint.spec not in self.specs():
                raise UserError(f"{Path(path).name} holds a {checkpoint.spec!r} model, which does not "
                                f"offer {self.capability} (or its plugin is not installed).")
        except UserError as exc:
            QMessageBox.warning(self, "Open checkpoint", str(exc))
            return False
        self.context.workspace.store.add_checkpoint(checkpoint.spec, str(Path(path).resolve()), checkpoint.step)
        self.refresh()
        return self.select(str(Path(path).resolve()))
