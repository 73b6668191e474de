"""The Dream Simulator's pipeline model: each stage's state, job, data and upstream from the workspace's jobs,
and whether it can run now (or why not)."""

import json

import pytest
from dream_stages_support import add_collect, add_evaluation, add_training

from studio.core.starters import Starter
from studio.core.workspace import Workspace
from studio.ui.panels.dream_simulator import pipeline
from studio.ui.panels.dream_simulator.pipeline import Pipeline


@pytest.fixture
def store(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    yield workspace.store
    workspace.close()


def stages_of(store, anchor=None, live=None, starters=()):
    model = Pipeline(store.jobs, lambda folder: 3, starters=lambda: list(starters))
    return {s.key: s for s in model.stages(anchor, live or {})}


def test_with_nothing_run_only_collect_can_run_and_each_stage_says_what_it_needs(store):
    stages = stages_of(store)
    assert [s.state for s in stages.values()] == [pipeline.NOT_STARTED] * 5
    assert stages["collect"].runnable and stages["collect"].action == "run"
    assert [s.runnable for s in stages.values()] == [True, False, False, False, False]
    assert stages["world-vae"].why_not == "Collect rollouts first: V learns their frames."
    assert stages["evaluate"].why_not == "Evolve C first: Evaluate drives it on real tracks."


def test_once_collected_v_can_run_on_its_folder(store, tmp_path):
    collect = add_collect(store, tmp_path / "jobs" / "c")
    stages = stages_of(store)
    assert stages["collect"].state == pipeline.DONE and stages["collect"].job_id == collect.id
    assert stages["collect"].episodes == 3 and stages["collect"].rollouts == collect.out_dir
    assert stages["world-vae"].runnable and stages["world-vae"].run_rollouts == collect.out_dir
    assert not stages["mdn-rnn"].runnable


def test_while_v_trains_it_shows_how_far_and_m_waits_for_it(store, tmp_path):
    rollouts = tmp_path / "jobs" / "c"
    add_collect(store, rollouts)
    vae = add_training(store, "world-vae", tmp_path / "jobs" / "v", rollouts, status="running", step=40, total=100,
                       checkpoint=False)
    stages = stages_of(store, live={vae.id: {"event": "progress", "step": 40, "eta_s": 90.0}})
    v = stages["world-vae"]
    assert (v.state, v.step, v.total, v.eta_s, v.action) == (pipeline.RUNNING, 40, 100, 90.0, "cancel")
    assert v.rollouts == str(rollouts) and v.episodes == 3
    assert not v.runnable
    assert not stages["mdn-rnn"].runnable
    assert stages["mdn-rnn"].why_not.startswith("V · vision is still running (step 40 of 100)")


def test_once_v_is_done_m_can_run_on_it_and_c_says_why_it_cannot(store, tmp_path):
    rollouts = tmp_path / "jobs" / "c"
    add_collect(store, rollouts)
    vae = add_training(store, "world-vae", tmp_path / "jobs" / "v", rollouts)
    stages = stages_of(store)
    assert stages["world-vae"].state == pipeline.DONE and stages["world-vae"].job_id == vae.id
    m = stages["mdn-rnn"]
    assert m.runnable and m.run_upstream == str(tmp_path / "jobs" / "v" / "checkpoint.safetensors")
    assert m.run_rollouts == str(rollouts)
    assert not stages["controller"].runnable
    assert stages["controller"].why_not == "Train M first: C is evolved in M's dream."


def test_an_interrupted_stage_offers_resume_and_a_failed_one_says_why(store, tmp_path):
    rollouts = tmp_path / "jobs" / "c"
    add_collect(store, rollouts, status="interrupted", step=1)
    stages = stages_of(store)
    assert stages["collect"].state == pipeline.INTERRUPTED and stages["collect"].action == "resume"
    assert stages["collect"].step == 1 and stages["collect"].total == 3
    assert not stages["world-vae"].runnable  # a part of the rollouts only

    add_training(store, "world-vae", tmp_path / "jobs" / "v", rollouts, status="failed", checkpoint=False,
                 error="The rollouts folder holds no readable episodes.")
    v = stages_of(store)["world-vae"]
    assert v.state == pipeline.FAILED and v.message == "The rollouts folder holds no readable episodes."
    assert v.action == "run"


def test_a_chosen_controller_shows_its_lineage_and_its_evaluation(store, tmp_path):
    jobs = tmp_path / "jobs"
    rollouts = jobs / "c"
    add_collect(store, rollouts)
    vae = add_training(store, "world-vae", jobs / "v", rollouts)
    other_vae = add_training(store, "world-vae", jobs / "v2", rollouts)  # newer, but not this C's
    checkpoint = "checkpoint.safetensors"
    memory = add_training(store, "mdn-rnn", jobs / "m", rollouts, upstream={"world-vae": jobs / "v" / checkpoint})
    add_training(store, "mdn-rnn", jobs / "m2", rollouts, upstream={"world-vae": jobs / "v2" / checkpoint})
    controller = add_training(store, "controller", jobs / "ctl", rollouts,
                              upstream={"mdn-rnn": jobs / "m" / "checkpoint.safetensors"},
                              overrides={"in_dream": "false"})
    add_evaluation(store, jobs / "e", jobs / "ctl" / "checkpoint.safetensors", [900.0, 800.0])
    add_training(store, "world-vae", jobs / "v3", rollouts, status="running", checkpoint=False)  # the newest job

    stages = stages_of(store, anchor=str(jobs / "ctl" / "checkpoint.safetensors"))
    assert [stages[k].job_id for k in ("world-vae", "mdn-rnn", "controller")] == [vae.id, memory.id, controller.id]
    assert other_vae.id not in {s.job_id for s in stages.values()}
    assert stages["mdn-rnn"].built_on == str((jobs / "v" / "checkpoint.safetensors").resolve())
    assert stages["controller"].built_on == str((jobs / "m" / "checkpoint.safetensors").resolve())
    assert stages["controller"].settings["in_dream"] == "false"
    assert {s.rollouts for s in stages.values() if s.key != "evaluate"} == {str(rollouts)}
    evaluation = stages["evaluate"]
    assert evaluation.state == pipeline.DONE and evaluation.result["mean"] == 850.0 and evaluation.result["std"] == 50.0
    assert evaluation.runnable and evaluation.run_upstream == str(jobs / "ctl" / "checkpoint.safetensors")

    # without a choice, the newest job's pipeline: the V training now, nothing built on it yet
    newest = stages_of(store)
    assert newest["world-vae"].state == pipeline.RUNNING and newest["mdn-rnn"].state == pipeline.NOT_STARTED


def test_a_starter_counts_as_done_shipped_with_the_studio(store, tmp_path):
    folder = tmp_path / "starters" / "dream-memory"
    folder.mkdir(parents=True)
    (folder / "checkpoint.safetensors").touch()
    (folder / "job.json").write_text(json.dumps({  # where the starter was trained: not on this machine
        "model": "mdn-rnn", "data": "carracing-rollouts:/elsewhere/rollouts", "steps": 9000,
        "upstream": {"world-vae": "/elsewhere/vae/checkpoint.safetensors"}}))
    starter = Starter("dream-memory", "M starter", "mdn-rnn", 9000, folder / "checkpoint.safetensors", "studio train")

    stages = stages_of(store, anchor=str(starter.checkpoint), starters=[starter])
    assert all(stages[k].state == pipeline.DONE and stages[k].shipped for k in ("collect", "world-vae", "mdn-rnn"))
    assert stages["mdn-rnn"].product == str(starter.checkpoint)
    assert not stages["controller"].runnable  # C reads rollouts collected here
    assert stages["controller"].why_not == "C · controller trains on rollouts collected here: run Collect first."

    add_collect(store, tmp_path / "jobs" / "c")  # once collected here, C can evolve in the starter's dream
    stages = stages_of(store, anchor=str(starter.checkpoint), starters=[starter])
    assert stages["controller"].runnable and stages["controller"].run_upstream == str(starter.checkpoint)
