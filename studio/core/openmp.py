"""OpenMP's wait policy, which must be chosen before torch loads (OpenMP reads it once).

Two policies, measured on a 2-core machine (a 4-layer GPT's training step):

- **passive** (``OMP_WAIT_POLICY=PASSIVE``): idle threads sleep at once. The GUI
  process and every command but training use it: beside the GUI, the inference
  thread and jobs on a few cores, spinning wastes most of the time (a small GPT
  step: 385 ms spinning, 12 ms passive, on a busy machine).
- **brief spin** (:data:`BRIEF_SPIN`): idle threads spin about 3 ms, then sleep,
  libgomp's own default without a policy. Training uses it: alone, a GPT step
  takes 24.3 ms (23.4 spinning for ever, 43.6 passive: two passive threads hand
  work to each other through the kernel at every operator), and a job that gives
  threads up when another starts has them asleep 3 ms later
  (:mod:`studio.engine.thread_policy`).

A user's own ``OMP_WAIT_POLICY`` is kept.
"""

import os
import sys

#: spin about 3 ms (libgomp counts about 100,000 spins a millisecond), then sleep; ACTIVE alone spins 5 minutes
BRIEF_SPIN = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "300000"}

_users_own = "OMP_WAIT_POLICY" in os.environ  # read when studio is first imported, before this module sets it


def wait_passively() -> None:
    """The default for every studio process (``import studio`` calls it)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def spin_briefly() -> None:
    """Train with :data:`BRIEF_SPIN`: called by the training command before torch loads (after, it is too late)."""
    if not _users_own and "torch" not in sys.modules:
        os.environ.update(BRIEF_SPIN)
