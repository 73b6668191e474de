"""`studio dream`: collect with progress and resume, the training stages as `studio train`, evaluate's report."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.cli import dream_commands, main
from studio.core.checkpoint import load_model, read_checkpoint
from studio.core.plugins import discover
from studio_builtins.world_models.rollouts import load_rollouts


def test_collect_prints_progress_and_resumes(tmp_path, capsys):
    out = tmp_path / "rollouts"
    assert main(["dream", "collect", "--episodes", "2", "--steps", "30", "--workers", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "collecting 2 episodes of at most 30 steps" in captured.err
    assert "episode 2/2, 60 steps" in captured.err and "steps/s, ETA" in captured.err
    assert f"2 of 2 episodes in {out}: 2 collected, 60 steps" in captured.out
    assert len(load_rollouts(str(out))) == 2

    assert main(["dream", "collect", "--episodes", "3", "--steps", "30", "--workers", "2", "--out", str(out)]) == 0
    assert "3 of 3 episodes" in (said := capsys.readouterr().out) and "1 collected, 30 steps" in said
    assert "2 kept from before" in said


def test_collect_into_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert main(["dream", "collect", "--episodes", "1", "--out", str(tmp_path / "taken")]) == 1
    assert "is a file; rollouts are collected into a folder" in capsys.readouterr().err


@pytest.mark.parametrize("command, model", [("train-vae", "world-vae"), ("train-rnn", "mdn-rnn"),
                                            ("train-controller", "controller")])
def test_each_stage_has_studio_train_s_options(command, model, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["dream", command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"`studio train {model}` with the same options" in text
    for option in ("--data", "--steps", "--out", "--resume", "--set NAME=VALUE", "--from MODEL=PATH"):
        assert option in text


def test_every_stage_trains_from_the_cli_on_the_stage_before(tmp_path, capsys):
    rollouts = tmp_path / "rollouts"
    assert main(["dream", "collect", "--episodes", "2", "--steps", "20", "--workers", "1", "--out",
                 str(rollouts)]) == 0
    stages = [("train-vae", "world-vae", None, ["batch_size=4"]),
              ("train-rnn", "mdn-rnn", "world-vae", ["batch_size=2", "seq_len=8"]),
              ("train-controller", "controller", "mdn-rnn",
               ["population=4", "rollouts_per_candidate=1", "max_steps=10", "workers=1"])]
    for command, model, before, settings in stages:
        run = tmp_path / model
        upstream = ["--from", f"{before}={tmp_path / before}"] if before else []
        sets = [arg for setting in settings for arg in ("--set", setting)]
        assert main(["dream", command, "--data", str(rollouts), "--steps", "2", "--out", str(run), *upstream, *sets,
                     "--no-catalogue"]) == 0, command
        assert "finished at step 2 of 2" in capsys.readouterr().out
        checkpoint = read_checkpoint(run / "checkpoint.safetensors", weights_only=True)
        assert checkpoint.spec == model
        if before:
            started_from = json.loads((run / "job.json").read_text())["upstream"]
            assert started_from == {before: str(tmp_path / before / "checkpoint.safetensors")}
    # the controller's checkpoint holds M and V too: it loads and drives with the stages before it gone
    shutil.rmtree(tmp_path / "world-vae")
    shutil.rmtree(tmp_path / "mdn-rnn")
    controller = load_model(discover().registry, "controller", run / "checkpoint.safetensors", "cpu")
    assert tuple(controller.frame_shape) == (64, 64, 3)


def test_the_cli_reaches_the_plugin_s_tools_through_the_source():
    registry = discover().registry
    assert dream_commands.tool(registry, "collect").__name__ == "collect"
    assert dream_commands.tool(registry, "evaluate").__name__ == "evaluate"


def test_evaluate_prints_the_mean_and_spread_of_the_scores(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_evaluate(controller, episodes, seed, workers, on_episode=None):
        calls.append((controller, episodes, seed, workers))
        scores = [900.0, 800.0][:episodes]
        for index, score in enumerate(scores):
            on_episode(index, score)
        return scores

    monkeypatch.setattr(dream_commands, "tool", lambda registry, name: fake_evaluate)
    monkeypatch.setattr("studio.core.checkpoint.load_model", lambda registry, name, path, device: f"{name} from {path}")
    checkpoint = tmp_path / "c.safetensors"
    assert main(["dream", "evaluate", "--checkpoint", str(checkpoint), "--episodes", "2", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert calls == [(f"controller from {checkpoint}", 2, 1_000_000, 1)]
    assert "track 1000001: 800.0" in captured.err
    assert "score 850.0 ± 50.0 over 2 tracks (seeds 1000000..1000001)" in captured.out

    assert main(["dream", "evaluate", "--checkpoint", str(checkpoint), "--episodes", "2", "--seed", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"checkpoint": str(checkpoint), "episodes": 2, "seed": 5, "scores": [900.0, 800.0],
                      "mean": 850.0, "std": 50.0}


def test_ctrl_c_stops_collecting_promptly_and_keeps_the_finished_episodes(tmp_path):
    studio = Path(sys.executable).with_name("studio")
    out = tmp_path / "rollouts"
    command = [str(studio), "dream", "collect", "--episodes", "6", "--steps", "150", "--workers", "2",
               "--out", str(out)]
    # its own process group, as a terminal's Ctrl+C reaches; SIGINT not ignored, as in a terminal (a shell's
    # background job, such as a CI runner's, ignores it, and children inherit that)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("episode-*.npz")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        interrupted = time.monotonic()
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    # workers stop within a step, not at the end of their episode: 0.17 s here, thirty times that is allowed
    assert time.monotonic() - interrupted < 5
    assert "run the same command again to collect the rest" in err
    kept = load_rollouts(str(out))
    assert 1 <= len(kept) < 6 and not kept.skipped
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no half-written episode


def test_the_controller_stage_keeps_every_generation():
    """A controller's step is a whole CMA-ES generation, so its stage checkpoints after each one; the VAE's
    steps are cheap and keep studio train's cadence."""
    from studio.cli import build_parser

    parser = build_parser()
    controller = parser.parse_args(["dream", "train-controller", "--data", "x", "--steps", "3", "--out", "o"])
    vae = parser.parse_args(["dream", "train-vae", "--data", "x", "--steps", "3", "--out", "o"])
    assert controller.checkpoint_every == 1 and vae.checkpoint_every == 500
