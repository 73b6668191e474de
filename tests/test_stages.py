"""Staged models: a model built on another trains from that model's checkpoint, named with
--from (a checkpoint or a run folder), kept in job.json for a resume, checked before anything
is written; the app's jobs run the stages the same way."""

import json
import os
import time

import pytest
from conftest import kill_jobs

from studio.core.checkpoint import read_checkpoint
from studio.core.errors import UserError
from studio.core.plugins import PluginHost, discover
from studio.core.workspace import Workspace
from studio.engine.jobs import JobManager, JobOptions
from studio.engine.stages import stage_of
from studio.engine.train_request import TrainRequest, check_request
from studio.engine.training import run

#: Two tiny stages: A learns the mean pixel of its images, B learns twice what A learned.
PIPELINE = '''
from dataclasses import dataclass

import numpy as np
import torch

from studio import hookimpl
from studio.core.capabilities import TrainProgress, TrainState
from studio.core.specs import ModelSpec

STUDIO_CONTRACT_VERSION = 2


@dataclass
class Config:
    image_size: int = 8
    channels: int = 1


class Model(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.value = torch.nn.Parameter(torch.zeros(1))


class Trainer:
    def __init__(self, config, data, device="cpu", seed=0, upstream=None):
        self.config, self.model, self.upstream = config, Model(config), upstream
        self.images = data.train.images
        self.stop_requested = lambda: False

    def target(self):
        if self.upstream is None:
            return float(self.images.mean() / 255)
        return 2 * float(self.upstream["stage-a"].value.detach())

    def steps(self, start, total):
        for step in range(start, total):
            with torch.no_grad():
                self.model.value += (self.target() - self.model.value) * 0.5
            yield TrainProgress(step + 1, 0.0, {"gap": abs(self.target() - float(self.model.value.detach()))}, 1)

    def validate(self):
        return {"gap": abs(self.target() - float(self.model.value.detach()))}

    def preview(self, *, seed):
        return None

    def state(self):
        return TrainState({"model.value": self.model.value.detach().clone()}, {})

    def restore(self, state):
        self.model.value.data.copy_(state.tensors["model.value"])


@hookimpl
def studio_register_models(register):
    common = dict(family="test", capabilities=("Trainer",), config=Config, factory=Model, data_kind="images")
    register(ModelSpec(name="stage-a", title="Stage A", trainer=Trainer, **common))
    register(ModelSpec(name="stage-b", title="Stage B", trainer=Trainer, builds_on=("stage-a",), **common))
'''


@pytest.fixture
def pipeline(make_plugin_dist, monkeypatch):
    site = make_plugin_dist("test_plugin_pipeline", PIPELINE)
    monkeypatch.setenv("PYTHONPATH", str(site))  # for the jobs' own processes
    return discover().registry


def value_in(folder):
    return float(read_checkpoint(folder / "checkpoint.safetensors").state.tensors["model.value"])


def train(registry, out, model, steps=20, **fields):
    request = TrainRequest(model=model, out=out, data="digits", steps=steps, device="cpu", **fields)
    assert run(registry, request, echo=False) == 0
    return request


def test_a_stage_trains_from_the_checkpoint_of_the_one_before(pipeline, tmp_path):
    train(pipeline, tmp_path / "a", "stage-a")
    a = value_in(tmp_path / "a")
    assert a > 0.1
    train(pipeline, tmp_path / "b", "stage-b", upstream={"stage-a": str(tmp_path / "a")})  # a run folder
    assert value_in(tmp_path / "b") == pytest.approx(2 * a, rel=1e-3)
    job = json.loads((tmp_path / "b" / "job.json").read_text())
    assert job["upstream"] == {"stage-a": str((tmp_path / "a" / "checkpoint.safetensors").resolve())}

    train(pipeline, tmp_path / "a", "stage-a", steps=40, resume=True)  # A goes on: B keeps what it was built on
    train(pipeline, tmp_path / "b", "stage-b", steps=30, resume=True)
    assert json.loads((tmp_path / "b" / "job.json").read_text())["upstream"] == job["upstream"]


def test_what_a_stage_is_built_on_is_checked_before_anything_is_written(pipeline, tmp_path):
    train(pipeline, tmp_path / "a", "stage-a")
    out = tmp_path / "b"
    with pytest.raises(UserError, match="built on trained stage-a model: name its checkpoint") as missing:
        check_request(pipeline, TrainRequest(model="stage-b", out=out, data="digits", steps=5))
    assert "--from stage-a=RUN_FOLDER" in str(missing.value)
    with pytest.raises(UserError, match="not on stage-b"):
        check_request(pipeline, TrainRequest(model="stage-a", out=out, data="digits", steps=5,
                                             upstream={"stage-b": str(tmp_path / "a")}))
    train(pipeline, tmp_path / "other-a", "stage-a", steps=2)
    os.remove(tmp_path / "other-a" / "checkpoint.safetensors")
    with pytest.raises(UserError, match="has not saved a checkpoint yet"):
        check_request(pipeline, TrainRequest(model="stage-b", out=out, data="digits", steps=5,
                                             upstream={"stage-a": str(tmp_path / "other-a")}))
    b = TrainRequest(model="stage-b", out=tmp_path / "b2", data="digits", steps=5,
                     upstream={"stage-a": str(tmp_path / "a")})
    train(pipeline, tmp_path / "b2", "stage-b", steps=5, upstream=b.upstream)
    with pytest.raises(UserError, match="holds a 'stage-b' model, not 'stage-a'"):
        check_request(pipeline, TrainRequest(model="stage-b", out=out, data="digits", steps=5,
                                             upstream={"stage-a": str(tmp_path / "b2")}))
    assert not out.exists()
    with pytest.raises(UserError, match="--from .* cannot change a run that is resumed"):
        check_request(pipeline, TrainRequest(model="stage-b", out=tmp_path / "b2", resume=True,
                                             upstream={"stage-a": str(tmp_path / "a")}))


def test_jobs_run_the_stages_and_know_which_stage_each_is(pipeline, tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    manager = JobManager(workspace, pipeline, device="cpu")
    try:
        first = manager.start(JobOptions(model="stage-a", data="digits", steps=10))
        wait_for(lambda: manager.store.job(first).status == "finished")
        a_run = manager.store.job(first).out_dir
        with pytest.raises(UserError, match="--from stage-a"):
            manager.start(JobOptions(model="stage-b", data="digits", steps=10))
        second = manager.start(JobOptions(model="stage-b", data="digits", steps=10, upstream={"stage-a": a_run}))
        wait_for(lambda: manager.store.job(second).status == "finished")
        jobs_folder = tmp_path / "ws" / "jobs"
        assert value_in(jobs_folder / second) == pytest.approx(2 * value_in(jobs_folder / first), rel=1e-2)
        jobs = manager.jobs()
        stage, parents = stage_of(manager.store.job(second), jobs)
        assert stage == 2 and [p.id for p in parents] == [first]
        assert stage_of(manager.store.job(first), jobs) == (1, [])
    finally:
        kill_jobs(manager)
        manager.close()
        workspace.close()


def test_the_cli_takes_from(pipeline, tmp_path, capsys):
    from studio.cli import main

    assert main(["--workspace", str(tmp_path / "ws"), "--device", "cpu", "train", "stage-a", "--data", "digits",
                 "--steps", "5", "--out", str(tmp_path / "a")]) == 0
    assert main(["--workspace", str(tmp_path / "ws"), "train", "stage-b", "--data", "digits", "--steps", "5",
                 "--out", str(tmp_path / "b")]) == 1
    assert "--from stage-a=RUN_FOLDER" in capsys.readouterr().err
    assert main(["--workspace", str(tmp_path / "ws"), "--device", "cpu", "train", "stage-b", "--data", "digits",
                 "--steps", "5", "--out", str(tmp_path / "b"), "--from", f"stage-a={tmp_path / 'a'}"]) == 0
    assert main(["models", "list"]) == 0
    assert "stage-a" in [line.split()[3] for line in capsys.readouterr().out.splitlines() if "stage-b" in line]


def wait_for(condition, timeout=60):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_a_spec_built_on_a_model_that_is_not_installed_says_so(pipeline, tmp_path):
    registry = PluginHost().registry
    registry.models = {"stage-b": pipeline.model("stage-b")}
    registry.dataset_sources = pipeline.dataset_sources
    with pytest.raises(UserError, match="No model named 'stage-a'"):
        check_request(registry, TrainRequest(model="stage-b", out=tmp_path / "b", data="digits", steps=5,
                                             upstream={"stage-a": str(tmp_path)}))


def test_the_jobs_dock_shows_stages_and_the_train_dialog_asks_what_a_stage_is_built_on(pipeline, studio_app, qtbot,
                                                                                        monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from studio.ui.train_dialog import TrainDialog

    app = studio_app()
    jobs = app.jobs
    first = jobs.start(JobOptions(model="stage-a", data="digits", steps=10, title="A on digits"))
    qtbot.waitUntil(lambda: jobs.manager.store.job(first).status == "finished", timeout=60_000)
    qtbot.waitUntil(lambda: bool(app.workspace.store.checkpoints(["stage-a"])))

    dialog = TrainDialog(app.window.context, app.window, model="stage-b")
    qtbot.addWidget(dialog)
    assert not dialog.upstream_box.isHidden()
    built_on = dialog.upstream["stage-a"]
    assert built_on.count() == 1 and "step 10" in built_on.currentText()
    told = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: told.append(args[2]))
    dialog.start()
    assert not told, told
    second = dialog.job_id
    qtbot.waitUntil(lambda: jobs.manager.store.job(second).status == "finished", timeout=60_000)
    dock = app.window.jobs_dock
    dock.reload()
    titles = {dock.table.item(r, 0).data(Qt.UserRole): dock.table.item(r, 0) for r in range(dock.table.rowCount())}
    assert titles[second].text().startswith("stage 2 · Stage B on")
    assert "built on: A on digits" in titles[second].toolTip()
    assert titles[first].text() == "A on digits"
