"""Kill trials for benchmarks/robustness.py: a training job killed with SIGKILL at moments of a checkpoint save
must resume from a checkpoint that loads.

How the moments are hit: the job is a real `studio train` process (a VAE at its default 32x32 on the digits,
a 4 MB checkpoint after every step), given a fault through tests/faults/sitecustomize.py on its
PYTHONPATH. In the save a trial chose, the process tells its parent over a FIFO when it reaches the moment
drawn for the trial: ``write`` (safetensors starts writing its temporary file; the process goes on and the
parent kills it a random 0-5 ms later, while it writes or a little after), ``written`` (the file is whole,
not yet flushed), ``synced`` (flushed, not yet renamed over the checkpoint) or ``renamed`` (in place, not
yet logged); at the last three it waits there to be killed. Where each kill landed is read from what it
left in the run folder.

The trials are a chain: each kill's run folder is resumed by the next trial's process (`studio train
--resume`, killed in its first save), whose ``started`` event must say it resumed at the step of the
checkpoint the kill left, and that checkpoint must load in full (weights, optimizer, metadata) right after
the kill. A last resume with no fault must finish. A trial fails if its checkpoint does not load, holds
another step than the moment implies, the resume does not start from it, or temporary files pile up.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fault_injection import MOMENTS, Moments, fault_environment, kill  # noqa: E402

from studio.core.checkpoint import read_checkpoint, read_header  # noqa: E402
from studio.engine.events import EventReader  # noqa: E402

CHECKPOINT = "checkpoint.safetensors"
#: a kill at ``write`` lands this long after the write began, at most (a 4 MB write takes a few ms here)
WRITE_DELAY_S = 0.005
#: how long a process may take to reach its save on a loaded machine (start-up, torch, the data: ~6 s here)
REACH_S = 180.0


def kill_trials(quick: bool = False, trials: int = 50, seed: int = 0) -> dict[str, tuple[float, str]]:
    """The kill-trial metrics: (value, note) by name."""
    trials = 4 if quick else trials
    pick = random.Random(seed)
    failures: list[str] = []
    landed = {"before the write": 0, "while safetensors wrote": 0, "written, not renamed": 0, "after the rename": 0}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="studio-kills-") as folder:
        out = Path(folder) / "run"
        moments = Moments(Path(folder))
        try:
            for trial in range(trials):
                moment = MOMENTS[trial % len(MOMENTS)] if trial < len(MOMENTS) else pick.choice(MOMENTS)
                problem, where = _trial(out, moments, moment, first=trial == 0, pick=pick)
                if where:
                    landed[where] += 1
                if problem:
                    failures.append(f"trial {trial} ({moment}): {problem}")
            problem = _finish(out)
            if problem:
                failures.append(f"the last resume: {problem}")
        finally:
            moments.close()
    for failure in failures:
        print(f"  kill trial failed: {failure}", file=sys.stderr)
    seconds = time.perf_counter() - started
    return {
        "kill_trials": (trials, f"SIGKILL at moments of a checkpoint save, each resumed; {seconds:.0f} s in all"),
        "kill_resume_failures": (len(failures), "target 0: a checkpoint that does not load or is not resumed from"),
        "kill_landed_mid_write": (landed["while safetensors wrote"],
                                  "kills that left safetensors' temporary file half written"),
        "kill_landed_before_rename": (landed["written, not renamed"] + landed["before the write"],
                                      "kills that left the old checkpoint in place"),
        "kill_landed_after_rename": (landed["after the rename"], "kills that left the new checkpoint in place"),
    }


def _command(out: Path, first: bool) -> list[str]:
    command = [sys.executable, "-m", "studio", "--device", "cpu", "train", "vae", "--out", str(out),
               "--no-catalogue", "--checkpoint-every", "1", "--sample-every", "100000"]
    if first:
        return command + ["--data", "digits", "--steps", "100000", "--set", "batch_size=16"]
    return command + ["--resume"]


def _trial(out: Path, moments: Moments, moment: str, first: bool, pick: random.Random) -> tuple[str, str]:
    """One kill; (what went wrong or "", where the kill landed or "")."""
    previous = read_header(out / CHECKPOINT).step if not first else None
    hold = moment != "write"
    fault = {"save": 2 if first else 1, "moment": moment, "tell": str(moments.path), "hold": hold}
    events = EventReader(out / "events.jsonl")
    events.read_new()  # what earlier processes wrote
    job = subprocess.Popen(_command(out, first), env=fault_environment(fault), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        told = moments.wait(REACH_S, alive=lambda: job.poll() is None)
        if told != moment:
            return f"the job never reached its save ({job.stderr.read().decode()[-400:] if job.poll() else ''})", ""
        before_kill = read_header(out / CHECKPOINT).step
        if not hold:
            time.sleep(pick.uniform(0, WRITE_DELAY_S))
        kill(job.pid)
        job.wait()
    finally:
        if job.poll() is None:
            kill(job.pid)
            job.wait()
        job.stderr.close()
    problem = _resumed_as_expected(events.read_new(), previous)
    where = _where(out)
    try:
        step = read_checkpoint(out / CHECKPOINT).step  # weights, optimizer and metadata, in full
    except Exception as exc:
        return problem or f"the checkpoint left does not load: {exc}", where
    # held at its moment, the process changed nothing more: the checkpoint is the one it saw there
    if hold and step != before_kill:
        return problem or f"the checkpoint holds step {step}, not {before_kill} as at the {moment} moment", where
    if moment == "renamed" and previous is not None and step <= previous:
        return problem or f"after the rename the checkpoint still holds the old step {step}", where
    if len(_temporary(out)) > 2:  # this kill's own (the studio's and safetensors'), no earlier one's
        return problem or f"temporary files pile up: {_temporary(out)}", where
    return problem, where


def _resumed_as_expected(events: list[dict], previous) -> str:
    """A resumed process's first event must say it resumed at the step of the checkpoint left before it."""
    if previous is None:
        return ""
    started = next((e for e in events if e["event"] == "started"), None)
    if started is None:
        errors = [e["message"] for e in events if e["event"] == "error"]
        return f"the resumed run did not start ({errors[0] if errors else 'no event'})"
    if not started.get("resumed") or started["step"] != previous:
        return f"the run resumed at step {started['step']} (resumed={started.get('resumed')}), not {previous}"
    return ""


def _temporary(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and "tmp" in p.name)


def _where(out: Path) -> str:
    """Where the kill landed, from what the save left behind."""
    ours = list(out.glob(f".{CHECKPOINT}.*.tmp"))
    if list(out.glob(".tmp??????")):
        return "while safetensors wrote"
    if ours and ours[0].stat().st_size > 0:
        return "written, not renamed"
    if ours:
        return "before the write"
    return "after the rename"


def _finish(out: Path) -> str:
    """Resume once more with no fault, to the end: it must finish from the last checkpoint."""
    step = read_header(out / CHECKPOINT).step
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_INJECT_FAULTS"}
    done = subprocess.run(_command(out, first=False) + ["--steps", str(step + 2)], env=env, capture_output=True,
                          text=True, timeout=REACH_S)
    events = EventReader(out / "events.jsonl").read_new()
    problem = _resumed_as_expected(events[[i for i, e in enumerate(events) if e["event"] == "started"][-1]:], step)
    if problem or done.returncode != 0 or events[-1]["event"] != "finished":
        return problem or f"exit {done.returncode}: {done.stderr[-400:]}"
    if _temporary(out):
        return f"temporary files left after it finished: {_temporary(out)}"
    return ""
