"""Train…: choose a model, its data, how long, and any settings; then start a job."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from studio.core.checkpoint import read_header
from studio.core.errors import UserError
from studio.core.specs import resolve
from studio.core.starters import starters
from studio.engine.jobs import JobOptions
from studio.ui.widgets.fields import int_spin

#: sources whose location is a folder (others take a file)
FOLDER_SOURCES = ("image-folder", "text-folder", "midi-folder")


def visible_fields(config_cls) -> list[dataclasses.Field]:
    """The settings an artist may change: fields not marked ``metadata={"learned": True}``."""
    return [f for f in dataclasses.fields(config_cls) if not f.metadata.get("learned")]


class TrainDialog(QDialog):
    """``model`` and ``source`` (names) preselect a model and its data source, when installed; ``data`` a
    whole data argument (``text-file:/poems.txt``); ``start_from`` a checkpoint of the model to train
    further (a starter, another run: the job is a new run from its weights and step)."""

    def __init__(self, context, parent=None, model: Optional[str] = None, source: Optional[str] = None,
                 data: Optional[str] = None, start_from: Optional[str] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.context = context
        self.registry = context.registry
        self.trainable = sorted((m for m in self.registry.models.values() if m.trainer), key=lambda m: m.title)

        self.model = QComboBox()
        self.model.setObjectName("TrainModel")
        for spec in self.trainable:
            self.model.addItem(f"{spec.title} ({spec.family})", spec.name)
        self.source = QComboBox()
        self.source.setObjectName("TrainSource")
        self.location = QLineEdit()
        self.location.setObjectName("TrainLocation")
        self.location.setPlaceholderText("a folder or file")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.location)
        where.addWidget(self.browse)
        self.source_help = QLabel()
        self.source_help.setWordWrap(True)
        self.start_from = QComboBox()
        self.start_from.setObjectName("TrainStartFrom")
        self.start_from.setToolTip("Train a model further (a starter, an earlier run): a new run from its weights")
        self.start_from.currentIndexChanged.connect(self._start_changed)
        self.steps = int_spin(1, 10_000_000, 2000)
        self.steps.setObjectName("TrainSteps")
        self.checkpoint_every = int_spin(1, 1_000_000, 500)
        self.seed = int_spin(0, 2**31 - 1, 0)

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Start from", self.start_from)
        form.addRow("Data", self.source)
        form.addRow("Location", where)
        form.addRow("", self.source_help)
        form.addRow("Steps", self.steps)
        form.addRow("Checkpoint every", self.checkpoint_every)
        form.addRow("Seed", self.seed)
        self.upstream_box = QGroupBox("Built on")
        self.upstream_box.setToolTip("This model starts from other trained models: choose the checkpoint of each")
        self.upstream_form = QFormLayout(self.upstream_box)
        self.upstream: dict[str, QComboBox] = {}
        self.settings_box = QGroupBox("Model settings")
        self.settings_form = QFormLayout(self.settings_box)
        self.setting_edits: dict[str, QLineEdit] = {}
        self._base: dict = {}  #: the settings the run starts with: the defaults, or the checkpoint's

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Start training")
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if not self.trainable:
            layout.addWidget(QLabel("No installed model can be trained. Plugins ▸ Plugin Manager shows why."))
        layout.addLayout(form)
        layout.addWidget(self.upstream_box)
        layout.addWidget(self.settings_box)
        layout.addWidget(buttons)

        self.model.currentIndexChanged.connect(self._model_changed)
        self.source.currentIndexChanged.connect(self._source_changed)
        self._model_changed()
        self.job_id = None
        self.preselect(model, source)
        if data:
            name, _, location = data.partition(":")
            self.preselect(None, name)
            self.location.setText(location)
        if start_from:
            self.choose_start(start_from)

    def preselect(self, model: Optional[str], source: Optional[str]) -> None:
        """Choose ``model`` and then ``source`` where the combos list them; others are left as they are."""
        for combo, name in ((self.model, model), (self.source, source)):
            index = combo.findData(name) if name else -1
            if index >= 0:
                combo.setCurrentIndex(index)

    def choose_start(self, checkpoint: str) -> None:
        """Train ``checkpoint`` further; one from outside the workspace is added to the list."""
        if self.start_from.findData(checkpoint) < 0:
            try:
                step = read_header(checkpoint).step
            except UserError:
                return
            self.start_from.addItem(f"{Path(checkpoint).parent.name} · step {step}", checkpoint)
        self.start_from.setCurrentIndex(self.start_from.findData(checkpoint))

    def _fill_start_from(self, spec) -> None:
        """New weights, or a checkpoint of the model to train further: the workspace's, then the starters."""
        self.start_from.blockSignals(True)
        self.start_from.clear()
        self.start_from.addItem("New weights", None)
        for row in self.context.workspace.store.checkpoints([spec.name]):
            self.start_from.addItem(f"{row['model'] or Path(row['path']).parent.name} · step {row['step']}",
                                    row["path"])
        for starter in starters(spec.name):
            self.start_from.addItem(f"{starter.title} · starter, step {starter.step}", str(starter.checkpoint))
        self.start_from.blockSignals(False)

    def _start_changed(self) -> None:
        """The settings shown are those the run starts with (the checkpoint's, when training one further),
        and training further counts on from its step: ask for more steps than it has."""
        spec, path = self.spec(), self.start_from.currentData()
        self._base = dataclasses.asdict(spec.config()) if spec else {}
        if path:
            try:
                header = read_header(path)
            except UserError:
                return
            self._base.update(header.config)
            if self.steps.value() <= header.step:
                self.steps.setValue(header.step + 2000)
        for name, edit in self.setting_edits.items():
            edit.setText(str(self._base.get(name, edit.text())))

    def spec(self):
        return self.registry.model(self.model.currentData()) if self.model.count() else None

    def _model_changed(self) -> None:
        spec = self.spec()
        self.source.clear()
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        self.setting_edits.clear()
        while self.upstream_form.rowCount():
            self.upstream_form.removeRow(0)
        self.upstream.clear()
        self.upstream_box.setVisible(bool(spec and spec.builds_on))
        if spec is None:
            return
        self._fill_start_from(spec)
        for name in spec.builds_on:
            self.upstream_form.addRow(self.registry.models[name].title if name in self.registry.models else name,
                                      self._checkpoints_of(name))
        sources = sorted((s for s in self.registry.dataset_sources.values() if s.kind == spec.data_kind),
                         key=lambda s: (s.needs_location, s.title))
        for source in sources:
            present = source.available is None or _safe_available(source)
            self.source.addItem(source.title + ("" if present else " (not installed)"), source.name)
        defaults = spec.config()
        for f in visible_fields(spec.config):
            edit = QLineEdit(str(getattr(defaults, f.name)))
            edit.setObjectName(f"Setting_{f.name}")
            self.setting_edits[f.name] = edit
            self.settings_form.addRow(f.name.replace("_", " "), edit)
        self._start_changed()
        self._source_changed()

    def _checkpoints_of(self, name: str) -> QComboBox:
        """A choice of the workspace's checkpoints of model ``name``, newest first."""
        combo = QComboBox()
        combo.setObjectName(f"BuiltOn_{name}")
        for row in self.context.workspace.store.checkpoints([name]):
            combo.addItem(f"{row['model'] or Path(row['path']).parent.name} · step {row['step']}", row["path"])
        if not combo.count():
            combo.addItem(f"none yet: train {name} first")
        self.upstream[name] = combo
        return combo

    def _source_changed(self) -> None:
        name = self.source.currentData()
        source = self.registry.dataset_sources.get(name) if name else None
        needs = bool(source and source.needs_location)
        self.location.setEnabled(needs)
        self.browse.setEnabled(needs)
        self.source_help.setText(source.description if source else "No data source for this model is installed.")

    def _browse(self) -> None:
        if self.source.currentData() in FOLDER_SOURCES:
            chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder")
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose the data file")
        if chosen:
            self.location.setText(chosen)

    def options(self) -> JobOptions:
        spec = self.spec()
        if spec is None:
            raise UserError("Choose a model to train.")
        name = self.source.currentData()
        if name is None:
            raise UserError("No data source for this model is installed.")
        source = self.registry.dataset_source(name)
        data = f"{name}:{self.location.text().strip()}" if source.needs_location else name
        overrides = {k: e.text().strip() for k, e in self.setting_edits.items()
                     if e.text().strip() != str(self._base.get(k))}  # what was changed from what it starts with
        where = self.location.text().strip() if source.needs_location else source.title
        upstream = {name: combo.currentData() for name, combo in self.upstream.items() if combo.currentData()}
        start_from = self.start_from.currentData()
        further = " (trained further)" if start_from else ""
        return JobOptions(model=spec.name, data=data, steps=self.steps.value(), seed=self.seed.value(),
                          checkpoint_every=self.checkpoint_every.value(), overrides=overrides,
                          title=f"{spec.title} on {where}{further}", upstream=upstream, start_from=start_from)

    def start(self) -> None:
        """Start the job; on a problem say what is wrong and keep the dialog as it is."""
        try:
            self.job_id = self.context.jobs.start(self.options())
        except UserError as exc:
            QMessageBox.warning(self, "Cannot start training", str(exc))
            return
        self.accept()


def _safe_available(source) -> bool:
    try:
        return bool(resolve(source.available)())
    except Exception:
        return False


