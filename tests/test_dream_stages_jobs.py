"""Collecting rollouts and evaluating a controller as jobs of the JobManager: progress in the store and the
events, cancel, resume, and the evaluation's scores kept in the job's folder."""

import os
import signal
from pathlib import Path

import pytest
from dream_stages_support import add_collect, add_evaluation, add_training, tiny_world
from waiting import wait_for

from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.core.workspace import Workspace
from studio.engine import evaluation
from studio.engine.jobs import CollectOptions, EvaluateOptions, JobManager
from studio.engine.stages import stage_of
from studio_builtins.world_models.rollouts import load_rollouts


@pytest.fixture
def manager(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    events = []
    m = JobManager(workspace, discover().registry, device="cpu", on_event=lambda job, e: events.append((job, e)))
    m.heard = events
    yield m
    for job in m.jobs():  # a job's process group: its worker processes too
        if job.pid:
            try:
                os.killpg(job.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    m.close()
    workspace.close()


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def ended(m, job_id):
    return m.store.job(job_id).status not in ("queued", "running")


def test_a_collect_job_reports_progress_stops_on_cancel_and_resumes_to_the_episodes_asked(manager):
    job_id = manager.start(CollectOptions(episodes=6, steps=60, workers=1))
    job = manager.store.job(job_id)
    assert (job.spec, job.args["kind"], job.total_steps) == ("carracing-rollouts", "collect", 6)
    first = wait_for(lambda: [e for j, e in manager.heard if j == job_id and e["event"] == "progress"
                              and e["step"] >= 1], what="an episode collected")[0]
    assert first["total"] == 6 and first["eta_s"] is not None and first["steps"] >= 60
    manager.cancel(job_id)
    wait_for(lambda: ended(manager, job_id), 30, "the cancel")
    job = manager.store.job(job_id)
    kept = load_rollouts(job.out_dir)  # the job's folder is the rollouts folder: its log and events are no episodes
    assert job.status == "cancelled" and 1 <= len(kept) < 6 and job.step == len(kept)
    assert {"events.jsonl", "log.txt"} <= {p.name for p in (kept.episodes[0].parent).iterdir()}
    assert ("carracing-rollouts", job.out_dir) in {(d["source"], d["location"]) for d in manager.store.datasets()}

    manager.resume(job_id)
    wait_for(lambda: ended(manager, job_id), 60, "the resumed collect")
    job = manager.store.job(job_id)
    assert job.status == "finished" and job.step == 6 and len(load_rollouts(job.out_dir)) == 6
    history = manager.history(job_id)
    resumed = [e for e in history if e["event"] == "started"][-1]
    assert resumed["resumed"] and resumed["step"] == len(kept)


def test_a_killed_collect_job_leaves_no_worker_behind_and_resumes_to_the_episodes_asked(manager):
    job_id = manager.start(CollectOptions(episodes=4, steps=150, workers=2))  # seconds of driving left
    wait_for(lambda: [e for j, e in manager.heard if j == job_id and e["event"] == "progress"], what="driving")
    pid = manager.store.job(job_id).pid
    os.kill(pid, signal.SIGKILL)  # the job's process alone, as the out-of-memory killer would
    wait_for(lambda: ended(manager, job_id), 30, "the job's end to be seen")
    job = manager.store.job(job_id)
    assert job.status == "failed" and "killed by signal 9" in job.error
    wait_for(lambda: not group_alive(pid), 2, "its workers to go with it (nothing drives on unwatched)")
    kept = len(load_rollouts(job.out_dir)) if list(Path(job.out_dir).glob("episode-*.npz")) else 0

    manager.resume(job_id)
    wait_for(lambda: ended(manager, job_id), 60, "the resumed collect")
    job = manager.store.job(job_id)
    assert job.status == "finished" and len(load_rollouts(job.out_dir)) == 4
    assert [e for e in manager.history(job_id) if e["event"] == "started"][-1]["step"] == kept


def test_an_evaluate_job_stops_on_cancel_resumes_and_keeps_each_score_with_their_mean_and_std(manager, tmp_path):
    world = tiny_world(tmp_path / "world")
    job_id = manager.start(EvaluateOptions(checkpoint=str(world["controller"]), episodes=5, workers=1, max_steps=60))
    wait_for(lambda: [e for j, e in manager.heard if j == job_id and e["event"] == "progress"], 60, "a track")
    manager.cancel(job_id)
    wait_for(lambda: ended(manager, job_id), 30, "the cancel")
    job = manager.store.job(job_id)
    kept = evaluation.read(job.out_dir)["scores"]
    assert job.status == "cancelled" and 1 <= job.step < 5 and job.step == sum(s is not None for s in kept)
    assert "mean" not in evaluation.read(job.out_dir)

    manager.resume(job_id)
    wait_for(lambda: ended(manager, job_id), 120, "the resumed evaluation")
    job = manager.store.job(job_id)
    assert job.status == "finished", job.error
    report = evaluation.read(job.out_dir)
    scores = report["scores"]
    assert len(scores) == 5 and None not in scores
    assert all(scores[i] == score for i, score in enumerate(kept) if score is not None)
    history = manager.history(job_id)
    resumed = max(i for i, e in enumerate(history) if e["event"] == "started")
    assert history[resumed]["resumed"] and history[resumed]["step"] == sum(s is not None for s in kept)
    driven_again = [e for e in history[resumed:] if e["event"] == "progress"]
    assert len(driven_again) == 5 - history[resumed]["step"]  # only the tracks it was missing
    mean = sum(scores) / 5
    assert report["mean"] == pytest.approx(mean)
    assert report["std"] == pytest.approx((sum((s - mean) ** 2 for s in scores) / 5) ** 0.5)
    assert history[-1]["event"] == "finished" and history[-1]["mean"] == pytest.approx(mean)


def test_an_evaluation_resumes_with_the_tracks_it_is_missing(tmp_path):
    kept = evaluation.Evaluation("c.safetensors", 5, 6, scores=[1.0, None, None, 4.0, None, 6.0])
    kept.save(tmp_path)
    again = evaluation.Evaluation.resume(tmp_path, "c.safetensors", 5, 6)
    assert again.missing() == [(1, 2), (4, 1)] and again.done == 3
    assert "mean" not in evaluation.read(tmp_path)
    with pytest.raises(UserError, match="evaluate with the same settings, or evaluate into another --out"):
        evaluation.Evaluation.resume(tmp_path, "c.safetensors", 5, 10)


def test_settings_that_cannot_work_are_refused_before_a_job_starts(manager, tmp_path):
    with pytest.raises(UserError, match="The workers setting must be at least 1, not 0"):
        manager.start(CollectOptions(episodes=2, workers=0))
    with pytest.raises(UserError):
        manager.start(EvaluateOptions(checkpoint=str(tmp_path / "missing.safetensors")))
    assert manager.jobs() == []


def test_collecting_is_the_first_stage_and_evaluating_the_last_in_the_job_list(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    try:
        store = workspace.store
        jobs = tmp_path / "jobs"
        checkpoint = "checkpoint.safetensors"
        collect = add_collect(store, jobs / "c")
        vae = add_training(store, "world-vae", jobs / "v", jobs / "c")
        memory = add_training(store, "mdn-rnn", jobs / "m", jobs / "c", upstream={"world-vae": jobs / "v" / checkpoint})
        controller = add_training(store, "controller", jobs / "ctl", jobs / "c",
                                  upstream={"mdn-rnn": jobs / "m" / checkpoint})
        evaluate = add_evaluation(store, jobs / "e", jobs / "ctl" / checkpoint, [1.0])
        records = store.jobs()
        found = {job.id: stage_of(job, records) for job in records}
        assert [found[j.id][0] for j in (collect, vae, memory, controller, evaluate)] == [1, 2, 3, 4, 5]
        assert [p.id for p in found[vae.id][1]] == [collect.id]
        assert [p.id for p in found[evaluate.id][1]] == [controller.id]
    finally:
        workspace.close()
