"""The Jobs dock: start a job from Train…, watch it, cancel and resume it."""

from PySide6.QtWidgets import QDialog, QMessageBox, QProgressBar, QPushButton

from studio.ui.train_dialog import TrainDialog


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, f"{data} not offered"
    combo.setCurrentIndex(index)


def fill_dialog(dock, source="digits", location=""):
    dialog = TrainDialog(dock.context, dock)
    choose(dialog.model, "vae")
    choose(dialog.source, source)
    dialog.location.setText(location)
    dialog.steps.setValue(100_000)
    dialog.checkpoint_every.setValue(20)
    dialog.setting_edits["image_size"].setText("16")
    dialog.setting_edits["batch_size"].setText("16")
    return dialog


def action_button(dock, row=0) -> QPushButton:
    return dock.table.cellWidget(row, 4)


def test_train_watch_cancel_and_resume_from_the_dock(studio_app, qtbot):
    app = studio_app()
    dock = app.window.jobs_dock
    qtbot.waitUntil(lambda: dock.stack.currentIndex() == 0)  # the empty state says how to start
    dialog = fill_dialog(dock)
    dialog.start()
    assert dialog.result() == QDialog.Accepted and dialog.job_id
    qtbot.waitUntil(lambda: dock.table.rowCount() == 1 and dock.stack.currentIndex() == 1)
    assert dock.table.item(0, 0).text() == "Variational autoencoder on Handwritten digits (scikit-learn)"
    bar = dock.table.cellWidget(0, 2)
    assert isinstance(bar, QProgressBar)
    qtbot.waitUntil(lambda: dock.table.cellWidget(0, 2).value() >= 5, timeout=60_000)
    qtbot.waitUntil(lambda: len(dock.plot.series().get("loss", ([], []))[0]) >= 2, timeout=30_000)
    assert dock.table.item(0, 3).text()  # an ETA

    assert action_button(dock).text() == "Cancel"
    action_button(dock).click()
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "cancelled", timeout=10_000)
    assert action_button(dock).text() == "Resume"
    assert "cancelled at step" in dock.log.toPlainText()

    action_button(dock).click()
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "running", timeout=10_000)
    qtbot.waitUntil(lambda: "resuming at step" in dock.log.toPlainText(), timeout=60_000)
    action_button(dock).click()
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "cancelled", timeout=30_000)


def test_bad_data_is_explained_and_the_dialog_keeps_its_values(studio_app, tmp_path, monkeypatch):
    app = studio_app()
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    dialog = fill_dialog(app.window.jobs_dock, source="image-folder", location=str(tmp_path / "missing"))
    dialog.start()
    assert warnings and "does not exist" in warnings[0]
    assert dialog.result() != QDialog.Accepted
    assert dialog.location.text() == str(tmp_path / "missing")
    assert app.jobs.manager.jobs() == []


def test_a_bad_setting_is_refused_before_starting(studio_app, monkeypatch):
    app = studio_app()
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    dialog = fill_dialog(app.window.jobs_dock)
    dialog.setting_edits["latent_dim"].setText("two")
    dialog.start()
    assert warnings == ["latent_dim='two' is not a valid int."]
    assert app.jobs.manager.jobs() == []
