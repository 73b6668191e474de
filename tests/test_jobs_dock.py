"""The Jobs dock: start a job from Train…, watch it, cancel and resume it."""

import json

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
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "cancelled")
    assert action_button(dock).text() == "Resume"
    assert "cancelled at step" in dock.log.toPlainText()

    action_button(dock).click()
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "running")
    qtbot.waitUntil(lambda: "resuming at step" in dock.log.toPlainText(), timeout=60_000)
    action_button(dock).click()
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "cancelled", timeout=30_000)


def test_a_finished_job_has_no_action_button(studio_app, qtbot):
    dock = studio_app().window.jobs_dock
    dialog = fill_dialog(dock)
    dialog.steps.setValue(3)
    dialog.start()
    qtbot.waitUntil(lambda: dock.table.rowCount() == 1 and action_button(dock) is not None)
    assert action_button(dock).text() == "Cancel"
    qtbot.waitUntil(lambda: dock.table.item(0, 1).text() == "finished", timeout=60_000)
    assert action_button(dock) is None  # the Cancel of its running days is gone


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


def write_job(app, events, status="failed", exit_code=None, error=""):
    """A job in the store with the events file it wrote, as after a run (no process)."""
    store = app.workspace.store
    out = app.workspace.folder("jobs") / "past"
    out.mkdir(parents=True)
    with open(out / "events.jsonl", "w") as f:
        for i, event in enumerate(events):
            f.write(json.dumps({"time": 1000.0 + i, **event}) + "\n")
    store.add_job("past", "vae", str(out), {"title": "past job"}, 10)
    store.update_job("past", status=status, exit_code=exit_code, error=error)
    app.window.jobs_dock.reload()
    return app.window.jobs_dock


def test_a_resumed_run_does_not_plot_its_steps_twice(studio_app, qtbot):
    app = studio_app()
    events = [{"event": "started", "step": 0, "total": 10, "device": "cpu"}]
    events += [{"event": "progress", "step": s, "total": 10, "losses": {"loss": 10.0 - s}} for s in range(1, 9)]
    events += [{"event": "validation", "step": 5, "losses": {"loss": 5.5}}]
    # killed at step 8; the checkpoint was at step 5, and the resumed run trains 6..10 again
    events += [{"event": "started", "step": 5, "total": 10, "resumed": True, "device": "cpu"}]
    events += [{"event": "progress", "step": s, "total": 10, "losses": {"loss": 9.0 - s}} for s in range(6, 11)]
    dock = write_job(app, events, status="finished")
    qtbot.waitUntil(lambda: "loss" in dock.plot.series())
    xs, ys = dock.plot.series()["loss"]
    assert xs == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert ys[5:] == [3.0, 2.0, 1.0, 0.0, -1.0]  # the resumed run's, not the killed one's
    assert dock.plot.series()["validation loss"] == ([5], [5.5])

    dock.plot.restart_at(7)  # live: a run that resumes at 7
    assert dock.plot.series()["loss"][0] == [1, 2, 3, 4, 5, 6, 7]


def test_a_long_history_is_drawn_at_once(studio_app, qtbot, monkeypatch):
    from studio.ui.loss_plot import LossPlot

    draws = []
    draw = LossPlot._draw
    monkeypatch.setattr(LossPlot, "_draw", lambda plot, keys: (draws.append(1), draw(plot, keys)))
    app = studio_app()
    events = [{"event": "started", "step": 0, "total": 4000, "device": "cpu"}]
    events += [{"event": "progress", "step": s, "total": 4000, "losses": {"loss": 1.0 + 1 / s, "kl": 0.1}}
               for s in range(1, 4001)]
    dock = write_job(app, events, status="finished")
    qtbot.waitUntil(lambda: len(dock.plot.series().get("loss", ([], []))[0]) == 4000)
    # one drawing for the whole history (0.2 s here), not the curve redrawn per event (8.6 s when it was): a count,
    # where a bound of 3 s on the time failed on a loaded machine
    assert len(draws) == 1


def test_a_failed_job_shows_its_traceback_error_and_exit_code_once(studio_app, qtbot):
    app = studio_app()
    events = [{"event": "started", "step": 0, "total": 10, "device": "cpu"},
              {"event": "error", "message": "ValueError: a bug", "detail": "Traceback (most recent call last):\n"
               "  File \"trainer.py\", line 1, in step\nValueError: a bug\n"}]
    dock = write_job(app, events, exit_code=1,
                     error="ValueError: a bug\nThe job's process exited with code 1.")
    qtbot.waitUntil(lambda: "exited with code 1" in dock.log.toPlainText())
    log = dock.log.toPlainText()
    assert log.count("studio: error: ValueError: a bug") == 1
    assert 'File "trainer.py", line 1' in log
    assert log.count("The job's process exited with code 1.") == 1


def test_a_model_training_from_the_app_is_offered_from_its_early_first_checkpoint(studio_app, qtbot):
    from studio.engine.jobs import JobOptions

    app = studio_app()
    panel = app.window.panels["latent-explorer"]
    assert not panel.has_content()
    job_id = app.jobs.start(JobOptions(model="vae", data="digits", steps=100_000, checkpoint_every=100_000,
                                       first_checkpoint_s=3.0, overrides={"image_size": "16", "batch_size": "16"},
                                       title="First VAE"))
    qtbot.waitUntil(lambda: app.jobs.manager.store.job(job_id).step > 0, timeout=60_000)
    qtbot.waitUntil(lambda: "Training now:</b> First VAE, step" in panel.stack.empty.body_text
                    or panel.has_content())
    if not panel.has_content():
        assert "It can be used here from its first checkpoint" in panel.stack.empty.body_text
    qtbot.waitUntil(panel.has_content, timeout=60_000)  # long before its cadence's first (step 100,000)
    assert panel.state.choice.step < 100_000 and app.jobs.manager.store.job(job_id).status == "running"
    app.jobs.cancel(job_id)
    qtbot.waitUntil(lambda: app.jobs.manager.store.job(job_id).status == "cancelled", timeout=30_000)
