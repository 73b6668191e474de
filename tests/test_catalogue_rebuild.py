"""A damaged catalogue is rebuilt from the workspace's files: every run with its history, its checkpoints,
the exports with their parameters, and a message that counts them and says what could not come back."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rebuild_support import collect_job, evaluation_job, export_params, training_run

from studio.cli import main
from studio.core.artifacts import ImageArtifact, TextArtifact, write_png, write_text
from studio.core.music.midi import write_midi
from studio.core.music.score import Score
from studio.core.plugins import discover
from studio.core.schema import SCHEMA_VERSION
from studio.core.store import StoreError
from studio.core.workspace import CATALOGUE_NAME, Workspace
from studio.engine import job_kinds
from studio.engine.events import EventLog
from studio.engine.jobs import JobManager
from studio.engine.rebuild import open_workspace
from studio.engine.run_folder import CHECKPOINT_NAME
from studio.ui.kit.models import ModelList


@pytest.fixture(scope="module")
def registry():
    return discover().registry


@pytest.fixture
def used_workspace(tmp_path):
    """A workspace with a finished app job, an interrupted one, a CLI run outside it, a collect job, an
    evaluation and a job removed from the list; five exports (PNG, text, MIDI, a WAV without parameters, a PNG
    saved outside the workspace), catalogued as the app and the CLI do; then closed."""
    root = tmp_path / "ws"
    ws = Workspace.open(root)
    jobs = ws.folder("jobs")
    finished = training_run(jobs / "20260101-100000-aaaaaa", "vae", 40, 40, "finished")
    interrupted = training_run(jobs / "20260101-110000-bbbbbb", "dcgan", 100, 30, None)
    cli_run = training_run(tmp_path / "elsewhere" / "my-run", "autoencoder", 20, 20, "finished")
    collect = collect_job(jobs / "20260101-120000-cccccc")
    controller = training_run(jobs / "20260101-130000-dddddd", "controller", 10, 10, "finished")
    evaluate = evaluation_job(jobs / "20260101-140000-eeeeee", controller / CHECKPOINT_NAME)
    removed = training_run(jobs / "20260101-090000-gggggg", "wgan-gp", 10, 10, "finished")
    for folder in (finished, interrupted, cli_run, collect, controller, evaluate, removed):
        ws.store.add_job(folder.name, "x", str(folder), {}, 1)  # as the app and `studio train` list them
    ws.store.delete_job(removed.name)  # the Jobs dock's Remove: the job goes, its model stays offered
    exports = ws.folder("exports")
    made = {"grid.png": ("image", export_params(finished / CHECKPOINT_NAME, "vae", "image")),
            "story.txt": ("text", export_params(cli_run / CHECKPOINT_NAME, "autoencoder", "text")),
            "tune.mid": ("notes", export_params(finished / CHECKPOINT_NAME, "vae", "piano")),
            "../../desk/outside.png": ("image", export_params(finished / CHECKPOINT_NAME, "vae", "image"))}
    (tmp_path / "desk").mkdir()
    for name, (kind, params) in made.items():
        path = exports / name
        if kind == "image":
            write_png(ImageArtifact(np.zeros((4, 4, 3), np.uint8), params), path)
        elif kind == "text":
            write_text(TextArtifact("once upon", params), path)
        else:
            write_midi(Score(params=params), path)
        ws.store.add_artifact(kind, str(path), params, params["model"], params["checkpoint_sha256"])
    (exports / "tune.wav").write_bytes(b"RIFF0000WAVE")
    ws.close()
    return root


def _damage(catalogue: Path, how: str) -> bytes:
    data = catalogue.read_bytes()
    damaged = {"garbage": b"not a database at all " * 200, "truncated": data[: len(data) // 2],
               "zeroed page": data[:4096] + bytes(4096) + data[8192:]}[how]
    catalogue.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize("how", ["garbage", "truncated", "zeroed page"])
def test_a_damaged_catalogue_is_rebuilt_with_every_run_and_its_history(used_workspace, registry, how):
    damaged = _damage(used_workspace / CATALOGUE_NAME, how)

    ws = open_workspace(used_workspace)
    try:
        store = ws.store
        jobs = {Path(j.out_dir).name: j for j in store.jobs()}
        assert set(jobs) == {"20260101-100000-aaaaaa", "20260101-110000-bbbbbb", "my-run", "20260101-120000-cccccc",
                             "20260101-130000-dddddd", "20260101-140000-eeeeee"}
        done, cut = jobs["20260101-100000-aaaaaa"], jobs["20260101-110000-bbbbbb"]
        assert (done.status, done.step, done.total_steps, done.spec) == ("finished", 40, 40, "vae")
        assert (cut.status, cut.step, cut.total_steps) == ("interrupted", 30, 100)
        assert "not watching" in cut.error
        assert jobs["my-run"].status == "finished" and jobs["my-run"].spec == "autoencoder"
        assert job_kinds.kind_of(jobs["20260101-120000-cccccc"]) == job_kinds.COLLECT
        assert jobs["20260101-120000-cccccc"].args["seed"] == 7 and jobs["20260101-120000-cccccc"].status == "finished"
        evaluation = jobs["20260101-140000-eeeeee"]
        assert job_kinds.kind_of(evaluation) == job_kinds.EVALUATE and evaluation.spec == "controller"
        # the interrupted run resumes from its checkpoint, as any job the app lists
        command = job_kinds.command_line("python", "cpu", cut.args, Path(cut.out_dir), resume=True)
        assert "--resume" in command and command[command.index("train") + 1] == "dcgan"

        manager = JobManager(ws, registry)  # what the Jobs dock plots: the losses, from the run's events
        try:
            losses = [e["losses"]["loss"] for e in manager.history(done.id) if e["event"] == "progress"]
        finally:
            manager.close()
        assert losses == [1.0 / s for s in (10, 20, 30, 40)]

        offered = ModelList(registry, store, "ImageSampler")
        offered.refresh()
        steps = {(c.spec.name, c.step) for c in offered.choices if not c.starter}
        assert steps == {("vae", 40), ("dcgan", 30), ("autoencoder", 20), ("wgan-gp", 10)}

        artifacts = {Path(a["path"]).name: a for a in store.artifacts()}
        assert set(artifacts) == {"grid.png", "story.txt", "tune.mid", "outside.png"}
        assert artifacts["grid.png"]["params"]["seed"] == 5 and artifacts["tune.mid"]["kind"] == "notes"

        message = store.recovery_message
        assert "Recovered 6 runs (4 training runs, 1 collect job, 1 evaluation), 5 checkpoints and 4 exports" \
            in message
        assert "1 run had stopped without finishing" in message
        assert "1 file in" in message and "carries no studio parameters" in message
        aside = [p for p in used_workspace.iterdir() if ".corrupt-" in p.name]
        assert len(aside) == 1 and aside[0].read_bytes() == damaged and aside[0].name in message
    finally:
        ws.close()


def test_a_cli_run_from_before_the_runs_list_is_found_through_an_export_that_names_it(tmp_path):
    root = tmp_path / "ws"
    Workspace.open(root).close()
    run = training_run(tmp_path / "old-cli-run", "vae", 20, 20, "finished")
    lost = training_run(tmp_path / "forgotten-run", "vae", 20, 20, "finished")
    write_png(ImageArtifact(np.zeros((4, 4, 3), np.uint8), export_params(run / CHECKPOINT_NAME, "vae", "image")),
              root / "exports" / "from-cli.png")
    (root / CATALOGUE_NAME).write_bytes(b"\x00garbage" * 300)

    ws = open_workspace(root)
    try:
        assert [Path(j.out_dir) for j in ws.store.jobs()] == [run.resolve()]
        assert str(lost) not in json.dumps([j.out_dir for j in ws.store.jobs()])
        message = ws.store.recovery_message
        assert "Recovered 1 run (1 training run), 1 checkpoint and 1 export" in message
        assert "outside the workspace" in message and "kept no list of its files" in message
    finally:
        ws.close()


def test_a_cli_run_is_found_through_what_the_damaged_file_still_gives_up(tmp_path):
    root = tmp_path / "ws"
    ws = Workspace.open(root)
    run = training_run(tmp_path / "cli-run", "vae", 20, 20, "finished")
    ws.store.add_job("cli", "vae", str(run), {}, 1)
    ws.close()
    (root / "catalogue-files.jsonl").unlink()  # a workspace from before the files list
    _damage(root / CATALOGUE_NAME, "zeroed page")  # page 2 is the models table's: the jobs table still reads

    ws = open_workspace(root)
    try:
        assert [Path(j.out_dir) for j in ws.store.jobs()] == [run.resolve()]
        assert "Recovered 1 run (1 training run), 1 checkpoint" in ws.store.recovery_message
    finally:
        ws.close()


def test_a_run_still_going_is_listed_running_and_a_broken_run_is_named(used_workspace, tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--out", str(tmp_path / "live")])
    try:
        training_run(tmp_path / "live", "vae", 50, 10, None, pid=alive.pid)
        ws = Workspace.open(used_workspace)
        ws.store.add_job("live", "vae", str(tmp_path / "live"), {}, 1)
        ws.close()
        broken = used_workspace / "jobs" / "20260101-150000-ffffff"
        broken.mkdir()
        EventLog(broken / "events.jsonl", echo=False).emit("started", step=0, total=5, pid=1)
        (used_workspace / "jobs" / "20260101-100000-aaaaaa" / CHECKPOINT_NAME).write_bytes(b"\x00" * 64)
        _damage(used_workspace / CATALOGUE_NAME, "garbage")

        ws = open_workspace(used_workspace)
        try:
            live = next(j for j in ws.store.jobs() if Path(j.out_dir).name == "live")
            assert (live.status, live.pid, live.step) == ("running", alive.pid, 10)
            message = ws.store.recovery_message
            assert "Recovered 7 runs (5 training runs, 1 collect job, 1 evaluation), 5 checkpoints" in message
            assert f"the run in {broken} (a run that stopped before it wrote its job.json" in message
            assert "checkpoint.safetensors is damaged" in message
        finally:
            ws.close()
    finally:
        alive.kill()
        alive.wait()


def test_a_catalogue_from_a_newer_studio_is_refused_and_not_rebuilt(used_workspace):
    catalogue = used_workspace / CATALOGUE_NAME
    conn = sqlite3.connect(catalogue)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = catalogue.read_bytes()
    with pytest.raises(StoreError, match="newer Generative Studio"):
        open_workspace(used_workspace)
    assert catalogue.read_bytes() == before
    assert not [p for p in used_workspace.iterdir() if ".corrupt-" in p.name]


def test_the_cli_says_what_was_recovered(used_workspace):
    _damage(used_workspace / CATALOGUE_NAME, "garbage")
    env = {**os.environ, "STUDIO_WORKSPACE": str(used_workspace)}
    result = subprocess.run([sys.executable, "-m", "studio", "doctor"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert "rebuilt from the workspace's files" in result.stdout
    assert "Recovered 6 runs" in result.stdout


def test_the_app_shows_the_rebuild_once_at_start_up(used_workspace, studio_app, qtbot, monkeypatch):
    _damage(used_workspace / CATALOGUE_NAME, "garbage")
    monkeypatch.setenv("STUDIO_WORKSPACE", str(used_workspace))
    shown = []
    monkeypatch.setattr("studio.ui.app.QMessageBox.warning", lambda parent, title, text: shown.append((title, text)))
    app = studio_app()
    qtbot.waitUntil(lambda: any(title == "Workspace catalogue" for title, _ in shown))
    about = [text for title, text in shown if title == "Workspace catalogue"]  # (panels may warn of the fakes)
    assert len(about) == 1 and "Recovered 6 runs" in about[0]
    assert len(app.workspace.store.jobs()) == 6


def test_studio_workspace_rebuild_lists_the_files_again_and_keeps_the_old_catalogue(tmp_path, capsys):
    root = tmp_path / "ws"
    ws = Workspace.open(root)
    run = training_run(ws.folder("jobs") / "20260101-100000-aaaaaa", "vae", 40, 40, "finished")
    ws.store.add_job(run.name, "vae", str(run), {"title": "My faces", "checkpoint_every": 7}, 40)
    ws.close()
    before = (root / CATALOGUE_NAME).read_bytes()

    assert main(["--workspace", str(root), "workspace", "rebuild"]) == 0
    said = capsys.readouterr().out
    assert "Recovered 1 run (1 training run), 1 checkpoint and 0 exports" in said
    kept = [p for p in root.iterdir() if ".before-rebuild-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == before and kept[0].name in said
    ws = Workspace.open(root)
    try:
        job = ws.store.jobs()[0]
        assert (job.status, job.step, job.args["title"], job.args["checkpoint_every"]) == \
            ("finished", 40, "My faces", 7)
        assert [c["step"] for c in ws.store.checkpoints(["vae"])] == [40]
    finally:
        ws.close()


def test_studio_workspace_rebuild_refuses_while_a_job_runs(tmp_path, capsys):
    root = tmp_path / "ws"
    out = tmp_path / "live"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--out", str(out)])
    try:
        ws = Workspace.open(root)
        training_run(out, "vae", 50, 10, None, pid=alive.pid)
        ws.store.add_job("live", "vae", str(out), {"title": "still going"}, 50)
        ws.store.update_job("live", status="running", pid=alive.pid)
        ws.close()
        before = (root / CATALOGUE_NAME).read_bytes()
        assert main(["--workspace", str(root), "workspace", "rebuild"]) == 1
        assert "1 job is still running (still going)" in capsys.readouterr().err
        assert (root / CATALOGUE_NAME).read_bytes() == before
    finally:
        alive.kill()
        alive.wait()


def test_writes_in_a_failed_transaction_leave_nothing(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    try:
        with pytest.raises(RuntimeError), ws.store.transaction():
            ws.store.add_job("half", "vae", str(tmp_path / "half"), {}, 1)
            raise RuntimeError("the run's files ran out")
        with ws.store.transaction():
            ws.store.add_job("whole", "vae", str(tmp_path / "whole"), {}, 1)
        assert [j.id for j in ws.store.jobs()] == ["whole"]
    finally:
        ws.close()


def test_a_moved_workspace_is_rebuilt_where_it_is_now_keeping_its_titles(tmp_path, capsys):
    root = tmp_path / "ws"
    ws = Workspace.open(root)
    run = training_run(ws.folder("jobs") / "20260101-100000-aaaaaa", "vae", 40, 40, "finished")
    ws.store.add_job(run.name, "vae", str(run), {"title": "My faces"}, 40)
    ws.close()
    moved = tmp_path / "elsewhere" / "ws"
    shutil.move(root, moved)

    assert main(["--workspace", str(moved), "workspace", "rebuild"]) == 0
    said = capsys.readouterr().out
    assert "Recovered 1 run (1 training run), 1 checkpoint" in said and "no longer exist" not in said
    ws = Workspace.open(moved)
    try:
        job = ws.store.jobs()[0]
        assert (Path(job.out_dir), job.args["title"]) == (moved.resolve() / "jobs" / run.name, "My faces")
        assert ws.store.checkpoints(["vae"])[0]["path"].startswith(str(moved.resolve()))
    finally:
        ws.close()
