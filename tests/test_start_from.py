"""Training a model further (``studio train --start-from``): a new run from another's weights and step,
which leaves the one it started from as it was; and starters, made from a run, trained further."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from studio.core.checkpoint import read_checkpoint, read_header
from studio.core.digests import file_sha256
from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.engine.events import EventReader
from studio.engine.train_request import TrainRequest, check_request
from studio.engine.training import run

TINY = {"image_size": "16", "batch_size": "16"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry():
    return discover().registry


@pytest.fixture(scope="module")
def first_run(registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "run"
    assert run(registry, TrainRequest(model="vae", out=out, data="digits", steps=30, device="cpu",
                                      checkpoint_every=1000, overrides=TINY), echo=False) == 0
    return out


def events(out):
    return EventReader(out / "events.jsonl").read_new()


def validation_losses(out):
    return [e["losses"]["loss"] for e in events(out) if e["event"] == "validation"]


def make_starter_module():
    spec = importlib.util.spec_from_file_location("make_starter", ROOT / "packaging" / "make_starter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_run_started_from_another_counts_on_from_its_step_and_leaves_it_untouched(registry, first_run, tmp_path):
    before = file_sha256(first_run / "checkpoint.safetensors")
    out = tmp_path / "further"
    request = TrainRequest(model="vae", out=out, data="digits", steps=40, device="cpu", checkpoint_every=1000,
                           start_from=str(first_run))
    assert run(registry, request, echo=False) == 0
    started = next(e for e in events(out) if e["event"] == "started")
    assert started["step"] == 30 and started["resumed"] is False
    assert read_header(out / "checkpoint.safetensors").step == 40
    assert read_header(out / "checkpoint.safetensors").config["image_size"] == 16  # the run's settings, no --set
    assert file_sha256(first_run / "checkpoint.safetensors") == before
    assert json.loads((out / "job.json").read_text())["start_from"] == str(first_run / "checkpoint.safetensors")


def test_training_further_begins_where_the_first_run_ended_not_from_new_weights(registry, first_run, tmp_path):
    fresh, further = tmp_path / "fresh", tmp_path / "further"
    common = dict(data="digits", device="cpu", checkpoint_every=1000)
    assert run(registry, TrainRequest(model="vae", out=fresh, steps=2, overrides=TINY, **common), echo=False) == 0
    assert run(registry, TrainRequest(model="vae", out=further, steps=32, start_from=str(first_run), **common),
               echo=False) == 0
    # two more steps on 30 trained ones validate far better than two steps on new weights
    assert validation_losses(further)[-1] < 0.9 * validation_losses(fresh)[-1]


def test_a_starter_made_from_a_run_keeps_its_weights_without_the_optimizer_and_trains_further(
        registry, first_run, tmp_path):
    dest = tmp_path / "starter"
    make_starter_module().make_starter(first_run, dest, "Tiny VAE", "digits", "for a test")
    starter = read_checkpoint(dest / "checkpoint.safetensors")
    original = read_checkpoint(first_run / "checkpoint.safetensors")
    assert not any(k.startswith("optim.") for k in starter.state.tensors)
    assert (dest / "checkpoint.safetensors").stat().st_size < (first_run / "checkpoint.safetensors").stat().st_size
    for name, tensor in starter.state.tensors.items():
        assert (tensor == original.state.tensors[name]).all()
    about = json.loads((dest / "starter.json").read_text())
    assert about["step"] == 30 and about["spec"] == "vae"
    # the command that trained it, settings other than the defaults included
    assert about["command"].startswith("studio train vae --data digits --steps 30 --seed 0")
    assert "--set image_size=16" in about["command"] and "--set batch_size=16" in about["command"]
    assert json.loads((dest / "job.json").read_text())["map_data"] == "digits"
    out = tmp_path / "further"
    assert run(registry, TrainRequest(model="vae", out=out, data="digits", steps=34, device="cpu",
                                      start_from=str(dest)), echo=False) == 0
    assert read_header(out / "checkpoint.safetensors").step == 34
    # a starter trained further from another says so in its command, not in the job it ships
    make_starter_module().make_starter(out, tmp_path / "second", "Tiny VAE, further", "digits", "for a test")
    command = json.loads((tmp_path / "second" / "starter.json").read_text())["command"]
    assert command.startswith("studio train vae --data digits --steps 34") and "--start-from START" in command
    assert "--start-from" not in about["command"]
    assert "start_from" not in json.loads((tmp_path / "second" / "job.json").read_text())


def test_start_from_is_checked_before_anything_is_written(registry, first_run, tmp_path):
    out = tmp_path / "refused"
    with pytest.raises(UserError, match="already trained 30 steps.*--steps 1030"):
        check_request(registry, TrainRequest(model="vae", out=out, data="digits", steps=30,
                                             start_from=str(first_run)))
    with pytest.raises(UserError, match="holds a 'vae' model, not 'autoencoder'"):
        check_request(registry, TrainRequest(model="autoencoder", out=out, data="digits", steps=50,
                                             start_from=str(first_run)))
    with pytest.raises(UserError, match="No checkpoint"):
        check_request(registry, TrainRequest(model="vae", out=out, data="digits", steps=50,
                                             start_from=str(tmp_path / "nowhere")))
    assert not out.exists()


def test_settings_that_change_the_models_shape_are_refused_with_a_message(registry, first_run, tmp_path):
    out = tmp_path / "reshaped"
    request = TrainRequest(model="vae", out=out, data="digits", steps=40, device="cpu", start_from=str(first_run),
                           overrides={"latent_dim": "7"})
    assert run(registry, request, echo=False) == 1
    error = next(e for e in events(out) if e["event"] == "error")
    assert "do not fit this run's settings" in error["message"] and not error["detail"]


def test_the_cli_trains_further_and_says_what_is_wrong(first_run, tmp_path, capsys):
    from studio.cli import main

    assert main(["train", "vae", "--data", "digits", "--steps", "10", "--start-from", str(first_run),
                 "--out", str(tmp_path / "cli"), "--no-catalogue"]) != 0
    assert "already trained 30 steps" in capsys.readouterr().err
