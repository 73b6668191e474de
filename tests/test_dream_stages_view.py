"""The Dream Simulator's stage list: Run opens a stage's settings with a time estimate measured here, starts a
job built on the stage before's checkpoint, and the row follows the job (Cancel, Resume, done)."""

import time
from pathlib import Path

import pytest
from dream_stages_support import add_collect, add_training, tiny_world, write_progress
from PySide6.QtWidgets import QDialog

from studio.ui.panels.dream_simulator import pipeline, stage_dialog
from studio.ui.panels.dream_simulator.stages import StagesView


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
def view(studio_app, qtbot):
    app = studio_app()
    stages = StagesView(app.window.context)
    qtbot.addWidget(stages)
    stages.show()
    yield stages
    stages.detach()  # before the app closes its workspace (a panel's shutdown does the same)


def accept_with(monkeypatch, qtbot, settings, shown):
    """Answer the next stage dialog: choose ``settings``, wait for its time estimate (kept in ``shown``), Start."""
    def exec_(dialog):
        for name, value in settings.items():
            dialog.fields[name].setValue(value)
        qtbot.waitUntil(lambda: dialog.estimate.text().startswith("About"), timeout=60_000)
        shown.append(dialog.estimate.text())
        return QDialog.Accepted

    monkeypatch.setattr(stage_dialog.StageDialog, "exec", exec_)


def row(view, key):
    return view._rows[key]


def test_run_m_starts_a_job_built_on_v_with_an_estimate_from_past_jobs_and_follows_it_to_done(
        view, world, qtbot, monkeypatch, tmp_path):
    store = view.context.workspace.store
    past = add_training(store, "mdn-rnn", tmp_path / "old-m", tmp_path / "old-rollouts",  # an older pipeline's M
                        upstream={"world-vae": tmp_path / "old-v" / "checkpoint.safetensors"})
    now = time.time()
    write_progress(Path(past.out_dir), [(now - 10, {"step": 10, "total": 100}), (now - 5, {"step": 20, "total": 100})],
                   start=now - 20)
    add_collect(store, world["rollouts"], episodes=2)
    add_training(store, "world-vae", world["world-vae"], world["rollouts"], checkpoint=False)  # it has its own
    view.refresh()  # the newest job's pipeline
    assert row(view, "mdn-rnn").button.isEnabled() and row(view, "mdn-rnn").button.text() == "Run…"
    assert not row(view, "controller").button.isEnabled()
    assert "Train M first" in row(view, "controller").button.toolTip()

    shown = []
    accept_with(monkeypatch, qtbot, {"steps": 2}, shown)
    row(view, "mdn-rnn").button.click()
    # 0.5 s a step as the past job ran, after its 5 s of start-up
    assert shown == [f"About 6s on this machine (as job {past.id} ran here: 2.0 training steps/s)."]
    job = next(j for j in store.jobs() if j.spec == "mdn-rnn" and j.id != past.id)
    assert job.args["upstream"] == {"world-vae": str((world["world-vae"] / "checkpoint.safetensors").resolve())}
    assert job.args["data"] == f"carracing-rollouts:{world['rollouts']}" and job.args["steps"] == 2
    assert view.stage("mdn-rnn").job_id == job.id

    qtbot.waitUntil(lambda: view.stage("mdn-rnn").state == pipeline.DONE, timeout=90_000)
    assert row(view, "mdn-rnn").state.text().endswith(">done</span>")
    assert f"job {job.id}" in row(view, "mdn-rnn").details.text()
    assert "trained on 2 episodes (rollouts)" in row(view, "mdn-rnn").details.text()
    assert "built on V of world-vae" in row(view, "mdn-rnn").details.text()
    assert row(view, "controller").button.isEnabled()  # C can now evolve in this M's dream


def test_collect_from_the_list_measures_its_pace_then_runs_cancels_resumes_and_lets_v_run(view, qtbot, monkeypatch):
    shown = []
    accept_with(monkeypatch, qtbot, {"episodes": 5, "steps": 100, "workers": 1}, shown)
    row(view, "collect").button.click()
    # no past collect job here: a trial run of a few steps measured it
    assert shown[0].startswith("About ") and "(measured just now: " in shown[0]
    assert "environment steps/s with 1 worker)" in shown[0]
    collect = view.stage("collect")
    assert collect.job_id is not None and collect.action == "cancel"
    assert row(view, "collect").button.text() == "Cancel"
    qtbot.waitUntil(lambda: view.stage("collect").state == pipeline.RUNNING and view.stage("collect").step >= 1,
                    timeout=60_000)
    assert "running: episode" in row(view, "collect").state.text() and "left" in row(view, "collect").state.text()

    row(view, "collect").button.click()  # Cancel
    qtbot.waitUntil(lambda: view.stage("collect").state == pipeline.INTERRUPTED, timeout=30_000)
    assert row(view, "collect").button.text() == "Resume"
    assert not row(view, "world-vae").button.isEnabled()

    row(view, "collect").button.click()  # Resume
    qtbot.waitUntil(lambda: view.stage("collect").state == pipeline.DONE, timeout=90_000)
    assert "5 episodes in" in row(view, "collect").details.text()
    assert row(view, "world-vae").button.isEnabled()
    assert view.stage("world-vae").run_rollouts == view.context.workspace.store.job(collect.job_id).out_dir


def test_c_and_evaluate_jobs_take_their_settings_and_the_stage_before_s_checkpoint(view, monkeypatch, tmp_path):
    monkeypatch.setattr(stage_dialog.StageDialog, "update_estimate", lambda dialog: None)  # options only, here
    memory = str(tmp_path / "m" / "checkpoint.safetensors")
    stage = pipeline.Stage("controller", "C", runnable=True, run_rollouts=str(tmp_path / "r"), run_upstream=memory)
    dialog = stage_dialog.StageDialog(view.context, stage, [], view)
    dialog.fields["steps"].setValue(40)
    dialog.fields["population"].setValue(24)
    dialog.where.setCurrentIndex(dialog.where.findData(False))
    options = dialog.options()
    assert (options.model, options.steps, options.checkpoint_every) == ("controller", 40, 1)
    assert options.upstream == {"mdn-rnn": memory} and options.data == f"carracing-rollouts:{tmp_path / 'r'}"
    assert options.overrides == {"population": "24", "workers": "2", "in_dream": "false"}

    controller = str(tmp_path / "c" / "checkpoint.safetensors")
    stage = pipeline.Stage("evaluate", "Evaluate", runnable=True, run_upstream=controller)
    dialog = stage_dialog.StageDialog(view.context, stage, [], view)
    dialog.fields["episodes"].setValue(7)
    options = dialog.options()
    assert (options.checkpoint, options.episodes, options.max_steps) == (controller, 7, None)
