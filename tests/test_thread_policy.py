"""Jobs split the cores and, within their share, compute on the thread count they measured fastest."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_info
from waiting import wait_for

from studio.engine.jobs import ACTIVE, JobOptions
from studio.engine.thread_policy import (
    BUDGET_NAME,
    JobThreads,
    ThreadTuner,
    candidates,
    read_budget,
    share,
    usable_cores,
    write_budget,
)


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_the_cores_are_split_equally_and_a_job_tries_halving_down_to_one():
    assert [share(8, n) for n in (1, 2, 3, 4, 16)] == [8, 4, 2, 2, 1]
    assert candidates(8) == [8, 4, 2, 1] and candidates(6) == [6, 3, 1] and candidates(1) == [1]


def test_the_tuner_settles_on_the_count_whose_steps_were_fastest():
    speed = {4: 0.030, 2: 0.020, 1: 0.045}  # a model that gains from two threads, not from four
    tuner = ThreadTuner(4, warmup=2, per_turn=2, turns=2)
    tried = []
    for _ in range(2 + 2 * 2 * 3):
        tried.append(tuner.current)
        tuner.timed(speed[tuner.current] if len(tried) > 2 else 1.0)  # the warm-up's slow steps are not counted
    assert set(tried) == {4, 2, 1}
    assert tuner.chosen == 2 and tuner.current == 2
    assert "2 threads 20.0 ms" in tuner.summary()


@contextmanager
def two_core_run(tmp_path):
    """A run's JobThreads on a 2-core budget with a clock the test moves: (threads, clock, notes). It must
    give torch back its thread count at the end."""
    found = torch.get_num_threads()
    clock, notes = [0.0], []
    write_budget(tmp_path, 2)
    threads = JobThreads(tmp_path, notes.append, clock=lambda: clock[0], cores=2)
    try:
        yield threads, clock, notes
    finally:
        threads.restore()
    assert torch.get_num_threads() == found


def test_a_run_follows_the_budget_the_app_writes_and_gives_its_threads_back(tmp_path):
    with two_core_run(tmp_path) as (threads, clock, notes):
        assert threads.budget == 2 and torch.get_num_threads() == 2  # tuning starts on the whole budget
        for _ in range(20):
            threads.step_done(0.01 if torch.get_num_threads() == 1 else 0.05)
        assert torch.get_num_threads() == 1 and notes[-1].startswith("computing on 1 thread")
        assert set(blas_threads()) <= {1}  # numpy's BLAS follows torch
        write_budget(tmp_path, 1)  # another job started
        clock[0] += JobThreads.CHECK_EVERY_S
        threads.step_done(0.01)
        assert threads.budget == 1 and "1 of the 2 cores" in notes[-1]


def test_a_damaged_budget_file_counts_as_none(tmp_path):
    (tmp_path / BUDGET_NAME).write_text("{not json")
    assert read_budget(tmp_path) is None
    assert JobThreads(tmp_path, print, cores=3).budget == 3


def test_running_jobs_share_the_cores_as_jobs_start_and_end(job_manager):
    cores = usable_cores()
    tiny = {"image_size": "16", "batch_size": "16"}
    first = job_manager.start(JobOptions(model="vae", data="digits", steps=100_000, overrides=tiny))
    first_out = job_manager.workspace.folder("jobs") / first
    assert read_budget(first_out) == cores  # alone: every core
    wait_for(lambda: [e for e in job_manager.history(first) if e["event"] == "progress"], what="the first job")
    second = job_manager.start(JobOptions(model="vae", data="digits", steps=5, overrides=tiny))
    second_out = job_manager.workspace.folder("jobs") / second
    assert read_budget(first_out) == read_budget(second_out) == share(cores, 2)
    wait_for(lambda: job_manager.store.job(second).status not in ACTIVE, 120, "the second job to end")
    assert job_manager.store.job(second).status == "finished"
    wait_for(lambda: read_budget(first_out) == cores, what="the first job to get the cores back")
    if share(cores, 2) != cores:  # the running job was told, and said so in its log
        wait_for(lambda: [e for e in job_manager.history(first) if e["event"] == "note"
                          and f"{share(cores, 2)} of the {cores} cores" in e["message"]], what="the first job's note")
    job_manager.cancel(first)


def test_a_run_tunes_again_after_a_while_and_says_so_only_when_the_count_changes(tmp_path):
    """A choice made while the machine stalled does not hold for the rest of the run."""
    with two_core_run(tmp_path) as (threads, clock, notes):
        for _ in range(20):  # a stall while two threads were tried: one thread looks faster
            threads.step_done(0.01 if torch.get_num_threads() == 1 else 0.05)
        assert torch.get_num_threads() == 1 and len(notes) == 1
        clock[0] += JobThreads.RETUNE_EVERY_S
        for _ in range(20):  # the machine as it is: two threads are faster
            threads.step_done(0.05 if torch.get_num_threads() == 1 else 0.02)
        assert torch.get_num_threads() == 2 and notes[-1].startswith("computing on 2 threads")
        clock[0] += JobThreads.RETUNE_EVERY_S
        for _ in range(20):  # still so: the retune keeps two threads, and the log hears nothing
            threads.step_done(0.05 if torch.get_num_threads() == 1 else 0.02)
        assert torch.get_num_threads() == 2 and len(notes) == 2
