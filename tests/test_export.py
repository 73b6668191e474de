"""Exporting: a failing plugin exporter or catalogue gives a message, never an escaped exception."""

from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.core.registry import Registry
from studio.core.specs import Contributions, ExporterSpec
from studio.core.store import StoreError
from studio.core.workspace import Workspace
from studio.ui.export import ExportError, export_artifact, write_artifact


def broken_writer(artifact, path):
    raise ValueError("cannot encode this")


def text_writer(artifact, path):
    path.write_text(artifact.text)


@pytest.fixture
def export_setup(tmp_path, qtbot, monkeypatch):
    workspace = Workspace.open(tmp_path / "ws")
    registry = Registry()
    registry.commit("third-party", "1.0", Contributions(exporters=[
        ExporterSpec(name="broken", title="Broken format", artifact="text", extensions=(".brk",),
                     writer=broken_writer),
        ExporterSpec(name="plain", title="Plain text", artifact="text", extensions=(".txt",), writer=text_writer),
    ]))
    statuses, errors = [], []
    context = SimpleNamespace(registry=registry, workspace=workspace, show_status=statuses.append)
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, title, text: errors.append((title, text)))
    parent = QWidget()
    qtbot.addWidget(parent)

    def export(filename, chosen_filter):
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            lambda *_a, **_k: (str(workspace.folder("exports") / filename), chosen_filter))
        return export_artifact(parent, context, SimpleNamespace(kind="text", text="hello", params={}), "x")

    yield SimpleNamespace(workspace=workspace, context=context, export=export, errors=errors, statuses=statuses)
    workspace.close()


def test_plugin_exporter_that_raises_gives_a_message_naming_it(export_setup):
    s = export_setup
    assert s.export("first.txt", "Plain text (*.txt)") is not None  # something already saved
    assert s.export("second.brk", "Broken format (*.brk)") is None  # ValueError escaped before
    title, text = s.errors[-1]
    assert title == "Export failed"
    assert "The Broken format exporter (broken, plugin third-party) could not write" in text
    assert "ValueError: cannot encode this" in text
    assert (s.workspace.folder("exports") / "first.txt").read_text() == "hello"
    assert [a["path"] for a in s.workspace.store.artifacts()] == [str(s.workspace.folder("exports") / "first.txt")]


def test_catalogue_failure_after_writing_keeps_the_file_and_says_so(export_setup, monkeypatch):
    s = export_setup

    def locked(*_args, **_kwargs):
        raise StoreError("Could not write the catalogue catalogue.sqlite: database is locked")

    monkeypatch.setattr(s.workspace.store, "add_artifact", locked)
    assert s.export("kept.txt", "Plain text (*.txt)") is None
    text = s.errors[-1][1]
    assert "wrote" in text and "the file is kept" in text and "database is locked" in text
    assert (s.workspace.folder("exports") / "kept.txt").read_text() == "hello"


def test_write_artifact_raises_export_error_for_any_writer_failure(export_setup):
    s = export_setup
    spec = s.context.registry.exporters["broken"]
    with pytest.raises(ExportError, match="could not write .*second.brk"):
        write_artifact(s.context, spec, SimpleNamespace(kind="text", params={}),
                       s.workspace.folder("exports") / "second")


def test_the_dialog_starts_on_the_type_the_name_ends_in_and_the_typed_ending_chooses_the_exporter(export_setup,
                                                                                                  monkeypatch):
    s = export_setup
    asked = []

    def dialog(_parent, _title, where, filters, initial):
        asked.append((where, filters, initial))
        return str(s.workspace.folder("exports") / "typed.txt"), "Broken format (*.brk)"  # the list left as it was

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    artifact = SimpleNamespace(kind="text", text="hello", params={})
    path = export_artifact(QWidget(), s.context, artifact, "notes.txt")
    assert asked[0][2] == "Plain text (*.txt)"  # "broken" sorts first, but the name says .txt
    assert path.name == "typed.txt" and path.read_text() == "hello" and not s.errors  # written as .txt, not .brk
