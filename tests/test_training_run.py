"""One training run in this process: cancel while validating or loading, errors, data checks, RNG."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from studio.core.data import DataError, resolve_data_argument
from studio.core.plugins import discover
from studio.engine.cancel import CancelRequested, CancelSignal
from studio.engine.events import EventReader
from studio.engine.training import Run, TrainRequest, skipped_message

TINY = {"image_size": "16", "batch_size": "16"}


@pytest.fixture(scope="module")
def registry():
    return discover().registry


def events_of(out):
    return EventReader(out / "events.jsonl").read_new()


def test_a_cancel_during_validation_stops_it_between_batches(registry, tmp_path, monkeypatch):
    from studio_builtins.autoencoders.trainer import AutoencoderTrainer

    validating = threading.Event()
    batches = []

    def slow_validation(self):  # 200 batches of 50 ms: ten seconds if nothing stops it
        validating.set()
        x = self._to_model(self.validation_images[:4])
        for _ in range(200):
            self.model(x)
            batches.append(1)
            time.sleep(0.05)
        return {"loss": 1.0}

    monkeypatch.setattr(AutoencoderTrainer, "validation_losses", slow_validation)
    out = tmp_path / "run"
    run = Run(registry, TrainRequest(model="vae", data="digits", steps=100, out=out, checkpoint_every=2,
                                     overrides=TINY), echo=False)
    status = {}
    thread = threading.Thread(target=lambda: status.setdefault("code", run.execute()))
    thread.start()
    assert validating.wait(60)
    run.cancel.set()
    at_cancel = len(batches)
    thread.join(60)
    assert not thread.is_alive()
    # it stopped at the next batch (0.08 s here), not after its 200: counted in batches, not bounded in seconds
    assert len(batches) <= at_cancel + 1
    assert status["code"] == 0
    kinds = [(e["event"], e.get("step")) for e in events_of(out)]
    assert ("checkpoint", 2) in kinds and kinds[-1] == ("cancelled", 2)
    assert ("validation", 2) not in kinds  # an interrupted validation is not reported as a result


def test_a_cancel_before_the_first_step_ends_the_run_as_cancelled(registry, tmp_path):
    out = tmp_path / "run"
    run = Run(registry, TrainRequest(model="vae", data="digits", steps=100, out=out, overrides=TINY), echo=False)
    run.cancel.set()  # as if SIGTERM came while torch was still importing
    assert run.execute() == 0
    assert [e["event"] for e in events_of(out)] == ["cancelled"]


def test_a_signal_in_an_interruptible_block_exits_at_once_and_elsewhere_sets_the_flag():
    cancel = CancelSignal()
    exits = []
    with pytest.raises(CancelRequested):  # the real exit_now ends the process; this one returns
        with cancel.interruptible(lambda: exits.append(1)):
            cancel._handle(15, None)
    assert exits == [1] and cancel.requested.is_set()
    cancel._handle(15, None)  # outside a block: only the flag
    assert exits == [1]
    with pytest.raises(CancelRequested):  # and a block entered afterwards stops before it starts
        with cancel.interruptible(lambda: exits.append(2)):
            exits.append("ran")
    assert exits == [1]


def test_an_unexpected_error_prints_its_traceback_for_the_job_log(registry, tmp_path, monkeypatch, capsys):
    from studio_builtins.autoencoders.trainer import AutoencoderTrainer

    def broken_step(self, batch):
        raise ValueError("a bug in the trainer")

    monkeypatch.setattr(AutoencoderTrainer, "train_step", broken_step)
    out = tmp_path / "run"
    assert Run(registry, TrainRequest(model="vae", data="digits", steps=3, out=out, overrides=TINY)).execute() == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "broken_step" in err
    assert err.count("studio: error: ValueError: a bug in the trainer") == 1
    assert "broken_step" in events_of(out)[-1]["detail"]


def test_a_folder_without_images_is_refused_before_a_job_starts(registry, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("no pictures here")
    Image.new("P", (8, 8)).save(folder / "anim.gif")
    with pytest.raises(DataError, match=r"reads \.png.*found only \.gif, \.txt"):
        resolve_data_argument(registry, "images", f"image-folder:{folder}")
    Image.new("L", (8, 8)).save(folder / "one.png")
    resolve_data_argument(registry, "images", f"image-folder:{folder}")  # one image is enough


def test_skipped_files_are_counted_and_the_first_twenty_listed():
    many = [(f"bad{i}.png", "truncated") for i in range(25)]
    line = skipped_message(many)
    assert line.startswith("skipped 25 unreadable files (first 20: bad0.png (truncated); ")
    assert "bad19.png" in line and "bad20.png" not in line
    assert skipped_message(many[:1]) == "skipped 1 unreadable file: bad0.png (truncated)"


def test_rank_seeds_differ_by_rank_and_step():
    from studio.core.training import rank_seed

    seeds = {rank_seed(0, rank, step) for rank in range(4) for step in (0, 500, 1000)}
    assert len(seeds) == 12 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()")
def test_cuda_random_state_is_checkpointed(registry):
    import torch

    from studio.core.data.images import load_digits
    from studio_builtins.autoencoders.trainer import AutoencoderTrainer

    config = registry.model("vae").config(image_size=16, batch_size=16)
    trainer = AutoencoderTrainer(config, load_digits(size=16, channels=1).split(seed=0), device="cuda", seed=0)
    state = trainer.state()
    expected = torch.rand(4, device="cuda")
    trainer.restore(state)
    assert torch.equal(torch.rand(4, device="cuda"), expected)


def test_a_first_checkpoint_comes_early_when_asked_for(registry, tmp_path):
    from studio.engine.events import EventReader
    from studio.engine.training import TrainRequest, run

    out = tmp_path / "early"
    request = TrainRequest(model="vae", out=out, data="digits", steps=40, device="cpu", checkpoint_every=1000,
                           first_checkpoint_s=0.0, overrides={"image_size": "16", "batch_size": "8"})
    assert run(registry, request, echo=False) == 0
    checkpoints = [e["step"] for e in EventReader(out / "events.jsonl").read_new() if e["event"] == "checkpoint"]
    assert checkpoints == [1, 40]  # the early one at once (0 s in), then the last; none from the cadence


def _diverging(monkeypatch, at_step, poison_weights=False):
    """From ``at_step`` on, the autoencoder's loss is NaN (or, with ``poison_weights``, the loss stays
    finite but the update leaves NaN weights)."""
    from studio_builtins.autoencoders.trainer import AutoencoderTrainer

    honest = AutoencoderTrainer.train_step
    calls = []

    def train_step(self, batch):
        calls.append(1)
        losses = honest(self, batch)
        if len(calls) >= at_step:
            if not poison_weights:
                return {**losses, "loss": float("nan")}
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        return losses

    import torch

    monkeypatch.setattr(AutoencoderTrainer, "train_step", train_step)


@pytest.mark.parametrize("poison_weights", [False, True])
def test_a_loss_or_weights_becoming_nan_stop_the_run_and_keep_the_last_good_checkpoint(
        registry, tmp_path, monkeypatch, poison_weights):
    from studio.core.checkpoint import read_checkpoint

    _diverging(monkeypatch, at_step=4 if poison_weights else 3, poison_weights=poison_weights)
    out = tmp_path / "diverged"
    request = TrainRequest(model="vae", data="digits", steps=50, out=out, checkpoint_every=2, overrides=TINY)
    assert Run(registry, request, echo=False).execute() == 1
    events = events_of(out)
    error = events[-1]
    assert error["event"] == "error" and not error["detail"]
    assert ("the weights" if poison_weights else "the loss became nan") in error["message"]
    assert "The last good checkpoint (step 2) is kept" in error["message"]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2]
    checkpoint = read_checkpoint(out / "checkpoint.safetensors")
    assert checkpoint.step == 2
    assert all(bool(t.isfinite().all()) for n, t in checkpoint.state.tensors.items() if n.startswith("model."))
