"""`studio train` and `studio generate` on the command line: the workspace lists what they train."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from studio.cli import main
from studio.core.plugins import discover
from studio.core.workspace import Workspace

TINY = ["--set", "image_size=16", "--set", "batch_size=16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-step VAE run trained with `studio train` into its own workspace."""
    root = tmp_path_factory.mktemp("cli")
    workspace, out = root / "ws", root / "runs" / "vae"
    argv = ["--workspace", str(workspace), "--device", "cpu", "train", "vae", "--data", "digits", "--steps", "3",
            "--out", str(out), *TINY]
    assert main(argv) == 0
    return SimpleNamespace(workspace=workspace, out=out)


def test_a_command_line_run_is_listed_in_the_workspace(trained, qtbot):
    from studio.ui.kit.models import ModelList
    from studio.ui.kit.picker import ModelPicker

    ws = Workspace.open(trained.workspace)
    try:
        [job] = ws.store.jobs()
        assert job.status == "finished" and job.step == 3 and job.out_dir == str(trained.out.resolve())
        assert job.args["data"] == "digits" and job.args["overrides"] == {"image_size": "16", "batch_size": "16"}
        [row] = ws.store.checkpoints(["vae"])
        assert row["path"] == str(trained.out.resolve() / "checkpoint.safetensors") and row["step"] == 3
        # the panels' model picker offers it
        models = ModelList(discover().registry, ws.store, "ImageSampler")
        picker = ModelPicker(models)
        qtbot.addWidget(picker)
        models.refresh()
        assert picker.current() is not None and picker.current().ref.checkpoint == row["path"]
        assert "vae on digits" in picker.combo.currentText() and "step 3" in picker.combo.currentText()
    finally:
        ws.close()


def test_resuming_on_the_command_line_updates_the_same_entry(trained, capsys):
    argv = ["--workspace", str(trained.workspace), "--device", "cpu", "train", "vae", "--out", str(trained.out),
            "--resume", "--steps", "5"]
    assert main(argv) == 0
    ws = Workspace.open(trained.workspace)
    try:
        [job] = ws.store.jobs()
        assert job.status == "finished" and job.step == 5
        assert [r["step"] for r in ws.store.checkpoints(["vae"])] == [5]
    finally:
        ws.close()


def test_resume_refuses_settings_it_would_ignore(trained, capsys):
    argv = ["--workspace", str(trained.workspace), "train", "vae", "--out", str(trained.out), "--resume",
            "--set", "latent_dim=8"]
    assert main(argv) == 1
    assert "--set (latent_dim) cannot change a run that is resumed" in capsys.readouterr().err


def test_bad_data_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--workspace", str(tmp_path / "ws"), "train", "vae", "--data", str(tmp_path / "nowhere"), "--steps", "3",
            "--out", str(out)]
    assert main(argv) == 1
    assert "is neither a dataset source nor an existing path" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "ws").exists()


def test_generate_takes_a_run_folder(trained, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["--device", "cpu", "generate", "vae", "--checkpoint", str(trained.out), "--n", "4",
                 "--out", str(grid)]) == 0
    assert grid.exists()
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "job.json").write_text("{}")
    assert main(["generate", "vae", "--checkpoint", str(tmp_path / "fresh"), "--out", str(grid)]) == 1
    assert "has not saved a checkpoint yet" in capsys.readouterr().err


def test_generate_writes_with_the_exporter_its_file_ending_names(trained, tmp_path, capsys):
    from studio.core.imaging import read_png_params

    capsys.readouterr()
    wrong = tmp_path / "grid.ppm"
    assert main(["--device", "cpu", "generate", "vae", "--checkpoint", str(trained.out), "--out", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert "No installed exporter writes image files ending in .ppm" in err and ".png (PNG image)" in err
    assert not wrong.exists()
    grid = tmp_path / "grid.png"
    assert main(["--device", "cpu", "generate", "vae", "--checkpoint", str(trained.out), "--n", "4", "--seed", "3",
                 "--out", str(grid)]) == 0
    assert "(PNG image)" in capsys.readouterr().out
    from studio.core.checkpoint import read_header

    params = read_png_params(grid)  # what the Image Canvas records, so it can draw the same grid
    step = read_header(trained.out / "checkpoint.safetensors").step
    assert (params["panel"], params["model"], params["seed"], params["n"], params["step"]) == \
        ("image-canvas", "vae", 3, 4, step)


@pytest.mark.parametrize("option, said", [(["--steps", "10"], "does not support steps"),
                                          (["--sampler", "DDIM"], "samplers are none; not 'DDIM'"),
                                          (["--class", "Coat"], "takes no class")])
def test_generate_refuses_options_the_model_does_not_take(trained, tmp_path, capsys, option, said):
    grid = tmp_path / "grid.png"
    assert main(["--device", "cpu", "generate", "vae", "--checkpoint", str(trained.out), *option,
                 "--out", str(grid)]) == 1
    assert said in capsys.readouterr().err and not grid.exists()


def test_the_app_finds_a_running_command_line_run_and_can_cancel_it(tmp_path):
    from studio.engine.jobs import JobManager

    workspace = tmp_path / "ws"
    command = [sys.executable, "-m", "studio", "--workspace", str(workspace), "--device", "cpu", "train", "vae",
               "--data", "digits", "--steps", "100000", "--out", "run", *TINY]  # --out relative to its folder
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "run" / "events.jsonl").exists() or b"progress" not in (
                tmp_path / "run" / "events.jsonl").read_bytes():
            assert time.time() < deadline and process.poll() is None, "the run did not start"
            time.sleep(0.1)
        ws = Workspace.open(workspace)
        manager = JobManager(ws, discover().registry, device="cpu")
        try:
            [job] = manager.jobs()
            assert job.status == "running" and job.pid == process.pid  # followed, not taken for dead
            manager.cancel(job.id)
            assert process.wait(30) == 0
            deadline = time.time() + 10
            while manager.store.job(job.id).status == "running":
                assert time.time() < deadline
                time.sleep(0.05)
            assert manager.store.job(job.id).status == "cancelled"
        finally:
            manager.close()
            ws.close()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
