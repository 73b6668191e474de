"""A training job that runs out of memory (its process given a data limit with resource.setrlimit, through
tests/faults/sitecustomize.py) dies alone and says so; the app and a job beside it go on (the job beside it
finishes, followed by the same job runner)."""

from __future__ import annotations

from fault_injection import VARIABLE, fault_environment
from waiting import wait_for

from studio.engine.jobs import ACTIVE, JobOptions

#: the job may allocate this much data; a tiny VAE job needs about a third of it
LIMIT = 1_500_000_000
#: a batch of two million 32x32 digits: 2 GB as bytes alone, past the limit on the first step
HUNGRY = {"batch_size": "2000000"}


def test_a_job_out_of_memory_fails_alone_saying_so_and_the_job_beside_it_finishes(job_manager, monkeypatch):
    env = fault_environment({"data_limit_bytes": LIMIT})
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.setenv(VARIABLE, env[VARIABLE])
    hungry = job_manager.start(JobOptions(model="vae", data="digits", steps=3, overrides=HUNGRY,
                                          first_checkpoint_s=None))
    small = job_manager.start(JobOptions(model="vae", data="digits", steps=3, first_checkpoint_s=None,
                                     overrides={"image_size": "16", "batch_size": "16"}))  # under the same limit
    monkeypatch.delenv(VARIABLE)

    def all_ended():
        jobs = {job.id: job for job in job_manager.jobs()}
        return all(job.status not in ACTIVE for job in jobs.values()) and jobs

    jobs = wait_for(all_ended, timeout=180, what="both jobs to end")

    assert jobs[hungry].status == "failed"
    assert jobs[hungry].error.startswith("The job ran out of memory at step 0 (it asked for 1.91 GiB at once). "
                                         "No checkpoint was saved. A smaller batch (--set batch_size=...)")
    assert jobs[small].status == "finished", jobs[small].error

