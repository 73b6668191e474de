"""Faults injected into a training job while it saves a checkpoint (tests/faults/sitecustomize.py): killed
with SIGKILL at moments of the save, it resumes from a checkpoint that loads; a full disk stops it with that
message and keeps the previous checkpoint. (benchmarks/robustness.py kills 50 saves at random moments.)"""

from __future__ import annotations

from fault_injection import VARIABLE, Moments, fault_environment, kill
from waiting import wait_for

from studio.core.checkpoint import read_checkpoint
from studio.engine.jobs import ACTIVE, JobOptions

TINY = {"image_size": "16", "batch_size": "16"}  # a VAE that takes milliseconds a step
STEPS = 6


def inject(monkeypatch, fault: dict) -> None:
    """The jobs started from now on get ``fault`` (a job's process inherits this one's environment)."""
    env = fault_environment(fault)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.setenv(VARIABLE, env[VARIABLE])


def ended(job_manager, job_id):
    return wait_for(lambda: (job := job_manager.store.job(job_id)).status not in ACTIVE and job, timeout=120,
                    what="the job to end")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and "tmp" in p.name)


def test_a_job_killed_while_it_saves_resumes_from_a_checkpoint_that_loads(job_manager, monkeypatch, tmp_path):
    moments = Moments(tmp_path)
    try:
        # killed with the new checkpoint written and flushed, just before it replaces the old one
        inject(monkeypatch, {"save": 2, "moment": "synced", "tell": str(moments.path), "hold": True})
        job_id = job_manager.start(JobOptions(model="vae", data="digits", steps=STEPS, checkpoint_every=1,
                                          sample_every=1000, overrides=TINY, first_checkpoint_s=None))
        out = job_manager.workspace.folder("jobs") / job_id
        assert moments.wait(120) == "synced"
        kill(job_manager.store.job(job_id).pid)
        job = ended(job_manager, job_id)
        assert job.status == "failed" and "killed by signal 9" in job.error
        assert read_checkpoint(out / "checkpoint.safetensors").step == 1  # the old one, whole
        assert leftovers(out)  # the new one's temporary file, as big as a checkpoint

        # resumed, and killed again just after the new checkpoint took the old one's place
        inject(monkeypatch, {"save": 1, "moment": "renamed", "tell": str(moments.path), "hold": True})
        job_manager.resume(job_id)
        assert moments.wait(120) == "renamed"
        kill(job_manager.store.job(job_id).pid)
        assert ended(job_manager, job_id).status == "failed"
        assert read_checkpoint(out / "checkpoint.safetensors").step == 2
        assert leftovers(out) == []  # the resumed run cleared the first kill's
    finally:
        moments.close()

    monkeypatch.delenv(VARIABLE)
    job_manager.resume(job_id)
    job = ended(job_manager, job_id)
    assert job.status == "finished", job.error
    starts = [e for e in job_manager.history(job_id) if e["event"] == "started"]
    assert [(e["step"], e["resumed"]) for e in starts] == [(0, False), (1, True), (2, True)]
    assert read_checkpoint(out / "checkpoint.safetensors").step == STEPS
    assert leftovers(out) == []


def test_a_full_disk_during_a_save_stops_the_job_with_that_message_and_keeps_the_last_checkpoint(
        job_manager, monkeypatch):
    inject(monkeypatch, {"save": 2, "disk_full": True})
    job_id = job_manager.start(JobOptions(model="vae", data="digits", steps=STEPS, checkpoint_every=1,
                                      sample_every=1000, overrides=TINY, first_checkpoint_s=None))
    job = ended(job_manager, job_id)
    out = job_manager.workspace.folder("jobs") / job_id
    said = ("Training stopped at step 2: Could not save checkpoint.safetensors: the disk is full. Nothing already "
            "saved was changed. The checkpoint of step 1 is kept: free some space on the disk, then resume the job.")
    assert job.status == "failed"
    assert job.error.startswith(said)  # what the Jobs dock shows
    last = job_manager.history(job_id)[-1]
    assert (last["event"], last["message"]) == ("error", said)
    assert "Traceback" not in (out / "log.txt").read_text()
    assert read_checkpoint(out / "checkpoint.safetensors").step == 1
    assert leftovers(out) == []
