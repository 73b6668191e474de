"""Choose a trained model: a combo box over a panel state's :class:`~studio.ui.kit.models.ModelList`,
Open… for a checkpoint saved elsewhere, and Train further… for the chosen one (a starter, say)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QMessageBox, QPushButton, QWidget

from studio.core.errors import UserError
from studio.ui.kit.models import ModelChoice, ModelList


class ModelPicker(QWidget):
    #: Train further… was clicked for this choice (the panel opens the Train dialog on it)
    train_further = Signal(object)

    def __init__(self, models: ModelList, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.models = models
        self.combo = QComboBox()
        self.combo.setObjectName("ModelPicker")
        self.combo.setMinimumContentsLength(24)
        self.combo.activated.connect(self._activated)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Use a checkpoint file from elsewhere (e.g. made with `studio train`)")
        self.open_button.clicked.connect(self.open_checkpoint)
        self.train_button = QPushButton("Train further…")
        self.train_button.setObjectName("TrainFurther")
        self.train_button.setToolTip("Go on training this model, on its data or yours: a new run in the Jobs dock "
                                     "(this one stays as it is)")
        self.train_button.clicked.connect(lambda: self.models.current and self.train_further.emit(self.models.current))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.open_button)
        layout.addWidget(self.train_button)
        models.events.listed.connect(self._show)
        models.events.chosen.connect(lambda _choice: self._show())
        self._show()

    def _show(self) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for choice in self.models.choices:
            self.combo.addItem(choice.label)
        if self.models.current in self.models.choices:
            self.combo.setCurrentIndex(self.models.choices.index(self.models.current))
        self.combo.blockSignals(False)
        current = self.models.current
        self.train_button.setEnabled(current is not None and current.spec.trainer is not None)

    def _activated(self, index: int) -> None:
        if 0 <= index < len(self.models.choices):
            self.models.choose(self.models.choices[index])

    def current(self) -> Optional[ModelChoice]:
        return self.models.current

    def select(self, checkpoint: str) -> bool:
        """Choose the model saved at ``checkpoint``; False if it is not listed."""
        return self.models.select(checkpoint)

    def open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_checkpoint(path)

    def add_checkpoint(self, path: str) -> bool:
        """List and choose a checkpoint file from outside the workspace; explain if it cannot be used here."""
        try:
            self.models.add_checkpoint(path)
        except UserError as exc:
            QMessageBox.warning(self, "Open checkpoint", str(exc))
            return False
        return True
