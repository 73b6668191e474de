"""How many threads a training job computes with, and how its idle threads wait.

The app splits the cores among its running jobs: each job's share, its *budget*,
is in its run folder's ``threads.json``, which the job manager rewrites whenever
a job starts or ends, and which the job reads between steps. Within its budget a
run uses the thread count whose steps it measured fastest over its first steps, and
measures again every minute (:class:`ThreadTuner`, :attr:`JobThreads.RETUNE_EVERY_S`):
on a 2-core machine a 4-layer GPT steps in 24 ms on two threads and 33 ms on one,
while a tiny model is faster on one. torch's intra-op
threads and numpy's BLAS threads (threadpoolctl) follow the same count. A run
without a budget file (``studio train`` typed in a terminal) takes every core.

Waiting is fixed when torch loads: OpenMP reads ``OMP_WAIT_POLICY`` and
``GOMP_SPINCOUNT`` once. Jobs spin about 3 ms and then sleep (:func:`job_environment`,
:mod:`studio.core.openmp`):

- alone, that is as fast as spinning for ever (GPT: 24.3 ms a step, against 23.4
  spinning and 43.6 passive, whose two threads hand work to each other through
  the kernel at every operator);
- when another job starts, a job already running drops to its new budget at its
  next step, and the threads it no longer uses fall asleep 3 ms later. With
  ``OMP_WAIT_POLICY=ACTIVE`` alone they would spin for five minutes: a job cut to
  one thread still burnt both cores (measured: CPU time 1.99 x wall time);
- two jobs on two threads each, spinning, took 293 ms a step each against 42 ms on
  one thread each: splitting the cores is what keeps jobs side by side fast.

The GUI process keeps passive threads (``studio/__init__.py``): its inference
thread runs short requests beside the GUI.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from studio.core.openmp import BRIEF_SPIN

#: the budget file in a job's run folder: {"threads": N}
BUDGET_NAME = "threads.json"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def share(cores: int, jobs: int) -> int:
    """Each job's budget when ``jobs`` jobs run on ``cores`` cores: an equal split, at least one."""
    return max(1, cores // max(1, jobs))


def job_environment(threads: int) -> dict[str, str]:
    """What a job's process starts with: its budget as OpenMP's first thread count, and the wait policy above."""
    return {"OMP_NUM_THREADS": str(threads), **BRIEF_SPIN}


def write_budget(run_folder: Path, threads: int) -> None:
    from studio.core.atomic import atomic_write

    atomic_write(run_folder / BUDGET_NAME, json.dumps({"threads": int(threads)}))


def read_budget(run_folder: Path) -> Optional[int]:
    """The budget the app gave this run, or None when it has none (a damaged file counts as none)."""
    try:
        threads = int(json.loads((run_folder / BUDGET_NAME).read_text())["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return threads if threads >= 1 else None


def set_threads(threads: int) -> None:
    """Compute with ``threads`` threads in torch (this thread's OpenMP setting) and in numpy's BLAS."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    if "numpy" in sys.modules:  # (before numpy loads there is no BLAS to limit)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")  # applied now, kept until changed


def candidates(budget: int) -> list[int]:
    """The thread counts a run with ``budget`` tries: the budget, then halving down to one."""
    counts, n = [], budget
    while n >= 1:
        counts.append(n)
        n //= 2
    if counts[-1] != 1:
        counts.append(1)
    return counts


class ThreadTuner:
    """Times steps on each candidate thread count, in turns, and settles on the fastest.

    Call :meth:`timed` with each step's duration (the trainer's work alone, not the
    run's checkpoints or samples): it returns the count to use for the next step.
    The first ``warmup`` steps are not timed (first calls allocate and plan kernels);
    then each candidate gets ``per_turn`` steps, ``turns`` times round, and the
    candidate whose median step is shortest wins."""

    def __init__(self, budget: int, warmup: int = 3, per_turn: int = 3, turns: int = 2) -> None:
        self.options = candidates(budget)
        self.warmup, self.per_turn, self.turns = warmup, per_turn, turns
        self.times: dict[int, list[float]] = {n: [] for n in self.options}
        self._seen = 0
        self.chosen: Optional[int] = self.options[0] if len(self.options) == 1 else None

    @property
    def current(self) -> int:
        """The count the next step runs on."""
        if self.chosen is not None:
            return self.chosen
        trial = max(0, self._seen - self.warmup)
        return self.options[(trial // self.per_turn) % len(self.options)]

    def timed(self, seconds: float) -> int:
        if self.chosen is None:
            if self._seen >= self.warmup:
                self.times[self.current].append(seconds)
            self._seen += 1
            if self._seen >= self.warmup + self.per_turn * self.turns * len(self.options):
                self.chosen = min(self.options, key=lambda n: statistics.median(self.times[n]))
        return self.current

    def summary(self) -> str:
        """What was measured, for the job log: milliseconds a step on each count."""
        measured = ", ".join(f"{n} thread{'s' if n > 1 else ''} {1000 * statistics.median(t):.1f} ms"
                             for n, t in self.times.items() if t)
        return f"computing on {self.chosen} thread{'s' if self.chosen != 1 else ''} (a step: {measured})"


class JobThreads:
    """A run's thread policy: follows the app's budget for it and tunes within it.

    Used by the training loop: :meth:`step_done` after each step, with the
    step's duration. ``note`` receives a line for the job log when the tuner
    settles (a run on one thread has nothing to tune and says nothing)."""

    CHECK_EVERY_S = 1.0
    #: tune again after this long on a choice: one made while the machine stalled for a moment (a
    #: shared VM's speed drifts by tens of percent within a minute) would otherwise hold for the rest
    #: of the run. A retune costs a few steps on the slower counts, under 1% of the time between them.
    RETUNE_EVERY_S = 60.0

    def __init__(self, run_folder: Path, note: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 cores: Optional[int] = None) -> None:
        self.run_folder = run_folder
        self.note = note
        self.clock = clock
        self.cores = cores or usable_cores()
        self.budget = self._budget()
        self.tuner = ThreadTuner(self.budget)
        self._settled: Optional[int] = None  # the count the last tuning chose
        torch = sys.modules.get("torch")
        self._found = torch.get_num_threads() if torch is not None else None
        self._applied = 0
        self._checked = self._tuned = clock()
        self._apply(self.tuner.current)

    def _budget(self) -> int:
        budget = read_budget(self.run_folder)
        return self.cores if budget is None else min(budget, self.cores)

    def _apply(self, threads: int) -> None:
        if threads != self._applied:
            set_threads(threads)
            self._applied = threads

    def restore(self) -> None:
        """Give torch back the thread count it had (a run inside another program, such as a test, ends here)."""
        if self._found is not None and self._applied != self._found:
            set_threads(self._found)

    def step_done(self, seconds: float) -> None:
        was_tuning, before = self.tuner.chosen is None, self._settled
        threads = self.tuner.timed(seconds)
        now = self.clock()
        if was_tuning and self.tuner.chosen is not None:
            self._tuned = now
            if self.tuner.chosen != before:  # a retune that keeps the count says nothing
                self.note(self.tuner.summary())
            self._settled = self.tuner.chosen
        elif self.tuner.chosen is not None and now - self._tuned >= self.RETUNE_EVERY_S:
            self._tuned = now
            self.tuner = ThreadTuner(self.budget)
            threads = self.tuner.current
        if now - self._checked >= self.CHECK_EVERY_S:
            self._checked = now
            budget = self._budget()
            if budget != self.budget:  # a job started or ended: tune again within the new share
                self.note(f"the app gives this job {budget} of the {self.cores} cores now (jobs started or ended)")
                self.budget = budget
                self.tuner = ThreadTuner(budget)
                self._settled = None
                threads = self.tuner.current
        self._apply(threads)
