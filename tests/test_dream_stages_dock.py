"""The Jobs dock with the World Models stages' jobs: a collect job shows its episodes in the log (no loss plot);
the controller's best and mean score per generation are plotted."""

import json
from pathlib import Path

from dream_stages_support import add_collect, add_training


def write_events(folder: Path, events: list[dict]) -> None:
    (folder / "events.jsonl").write_text("".join(json.dumps({"time": 100.0 + i, **e}) + "\n"
                                                 for i, e in enumerate(events)))


def select(dock, title):
    row = next(r for r in range(dock.table.rowCount()) if dock.table.item(r, 0).text().endswith(title))
    dock.table.selectRow(row)
    return row


def test_a_collect_job_has_its_log_not_a_loss_plot(studio_app, tmp_path):
    app = studio_app()
    dock = app.window.jobs_dock
    job = add_collect(app.workspace.store, tmp_path / "rollouts", episodes=3)
    progress = {"event": "progress", "total": 3, "unit": "episode", "items": "steps", "items_per_s": 50.0}
    write_events(Path(job.out_dir), [
        {"event": "started", "step": 0, "total": 3, "resumed": False, "unit": "episode"},
        {**progress, "step": 0, "steps": 25, "eta_s": 9.0}, {**progress, "step": 1, "steps": 40, "eta_s": 5.0},
        {**progress, "step": 1, "steps": 65, "eta_s": 4.0}, {**progress, "step": 3, "steps": 120, "eta_s": 0.0},
        {"event": "finished", "step": 3, "total": 3, "unit": "episode", "steps": 120}])
    dock.reload()
    row = select(dock, "collect 3 episodes")
    assert dock.table.item(row, 1).text() == "finished"  # its plugin (the rollouts source's) is there
    assert dock.table.cellWidget(row, 2).value() == 3
    assert not dock.details.isTabEnabled(0) and dock.details.currentWidget() is dock.log
    assert dock.plot.series() == {}
    log = dock.log.toPlainText().splitlines()
    assert log[0] == "starting at episode 0 of 3"
    assert [line.split("  ")[0] for line in log[1:-1]] == ["episode 0/3", "episode 1/3", "episode 3/3"]
    assert "50 steps/s  ETA 5s" in log[2]
    assert log[-1] == "finished at episode 3 of 3"


def test_the_controller_s_scores_per_generation_are_plotted(studio_app, tmp_path):
    app = studio_app()
    dock = app.window.jobs_dock
    job = add_training(app.workspace.store, "controller", tmp_path / "c", tmp_path / "rollouts",
                       upstream={"mdn-rnn": tmp_path / "m" / "checkpoint.safetensors"}, step=2, total=2)
    write_events(Path(job.out_dir), [{"event": "started", "step": 0, "total": 2, "device": "cpu"}] + [
        {"event": "progress", "step": g, "total": 2, "epoch": 0.0, "items_per_s": 10.0, "eta_s": None,
         "losses": {"best_score": 5.0 * g, "generation_best": 5.0 * g, "mean_score": -3.0 + g, "sigma": 0.1}}
        for g in (1, 2)])
    dock.reload()
    select(dock, "controller run")
    assert dock.details.isTabEnabled(0)
    series = dock.plot.series()
    assert series["best_score"] == ([1.0, 2.0], [5.0, 10.0]) and series["mean_score"] == ([1.0, 2.0], [-2.0, -1.0])
    assert dock.plot._plot.getPlotItem().getAxis("left").labelText.startswith("score")  # not called a loss
