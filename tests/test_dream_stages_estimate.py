"""A stage's time estimate: from the pace of this workspace's past jobs of the stage (scaled to the settings
chosen), else from a short trial run of the stage's own command, measured here."""

import dataclasses
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dream_stages_support import add_collect, add_training, tiny_world, write_progress

from studio.core.plugins import discover
from studio.core.workspace import Workspace
from studio.engine.events import EventReader
from studio.ui.panels.dream_simulator import estimate


@pytest.fixture
def store(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    yield workspace.store
    workspace.close()


def history(store):
    return lambda job_id: EventReader(Path(store.job(job_id).out_dir) / "events.jsonl").read_new()


def controller_settings(**chosen):
    defaults = dataclasses.asdict(discover().registry.model("controller").config())
    return defaults, {**defaults, **chosen}


def test_a_past_collect_job_s_pace_is_scaled_to_the_workers_chosen(store, tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "CORES", 8)
    job = add_collect(store, tmp_path / "c")
    store.update_job(job.id, started=1000.0)  # its process started 4 s before its first steps were counted
    job = store.job(job.id)
    # 1 worker drove 100 steps a second
    write_progress(Path(job.out_dir), [(1004.0, {"steps": 0, "step": 0}), (1014.0, {"steps": 1000, "step": 1})],
                   start=1001.0)
    pace = estimate.from_history("collect", {"episodes": 10, "steps": 1000, "workers": 4}, store.jobs(),
                                 history(store), {})
    assert pace.startup_s == pytest.approx(4.0)
    four = estimate.estimate("collect", {"episodes": 10, "steps": 1000, "workers": 4}, pace)
    assert four.seconds == pytest.approx(4 + 10_000 / 400)  # four workers side by side
    assert four.text() == f"About 29s on this machine (as job {job.id} ran here: 400 environment steps/s with " \
                          "4 workers)."
    monkeypatch.setattr(estimate, "CORES", 2)  # no more lanes than cores
    assert estimate.estimate("collect", {"episodes": 10, "steps": 1000, "workers": 4}, pace).seconds == \
        pytest.approx(4 + 10_000 / 200)


def test_c_s_pace_carries_over_in_the_same_world_only_and_scales_with_the_population(store, tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "CORES", 8)
    defaults, chosen = controller_settings(population=32, workers=2, steps=100, in_dream=True)
    job = add_training(store, "controller", tmp_path / "c", tmp_path / "r",
                       upstream={"mdn-rnn": tmp_path / "m" / "checkpoint.safetensors"},
                       overrides={"population": "16", "workers": "2", "in_dream": "true"})
    # generations 1 to 3: 10 s each with 16 candidates on 2 workers
    write_progress(Path(job.out_dir), [(20.0, {"step": 1}), (30.0, {"step": 2}), (40.0, {"step": 3})], start=5.0)
    pace = estimate.from_history("controller", chosen, store.jobs(), history(store), defaults)
    assert estimate.estimate("controller", chosen, pace).seconds == pytest.approx(5 + 100 * 20)
    assert "20s a generation of 32 with 2 workers" in estimate.estimate("controller", chosen, pace).text()
    _defaults, real = controller_settings(population=32, workers=2, steps=100, in_dream=False)
    assert estimate.from_history("controller", real, store.jobs(), history(store), defaults) is None


def test_v_s_pace_is_not_taken_from_a_model_of_another_size(store, tmp_path):
    defaults = dataclasses.asdict(discover().registry.model("world-vae").config())
    job = add_training(store, "world-vae", tmp_path / "v", tmp_path / "r", overrides={"width": "8"})
    # 10 steps a second, after 8 s of start-up
    write_progress(Path(job.out_dir), [(10.0, {"step": 10}), (20.0, {"step": 110})], start=1.0)
    full_size = {**defaults, "steps": 500}
    assert estimate.from_history("world-vae", full_size, store.jobs(), history(store), defaults) is None
    small = {**defaults, "width": 8, "steps": 500}
    pace = estimate.from_history("world-vae", small, store.jobs(), history(store), defaults)
    assert estimate.estimate("world-vae", small, pace).seconds == pytest.approx(8 + 500 * 0.1)


def test_without_past_jobs_a_trial_run_of_m_measures_its_pace_and_leaves_nothing_behind(tmp_path):
    world = tiny_world(tmp_path / "world")
    stage = SimpleNamespace(run_rollouts=str(world["rollouts"]),
                            run_upstream=str(world["world-vae"] / "checkpoint.safetensors"))
    settings = {**dataclasses.asdict(discover().registry.model("mdn-rnn").config()), "steps": 5000}
    done, heard = threading.Event(), {}
    probe = estimate.Probe.of("mdn-rnn", settings, stage, sys.executable, "cpu",
                              lambda pace, error: (heard.update(pace=pace, error=error), done.set()))
    started = time.monotonic()
    probe.start()
    assert done.wait(300), "the trial run did not end"
    assert heard["error"] == "" and heard["pace"] is not None
    # it stops once it has shown its pace, far from 5,000 steps: 9.5 s here, where the 5,000 would take 290 s at
    # the pace it measured (a loaded machine slows both)
    assert time.monotonic() - started < 5000 * heard["pace"].unit_s / 3
    assert not probe.out.exists()
    told = estimate.estimate("mdn-rnn", settings, heard["pace"])
    assert told.seconds > 5000 * heard["pace"].unit_s and "(measured just now: " in told.text()
    assert told.text().endswith(" training steps/s).")
