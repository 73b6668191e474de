"""Robustness: faults injected, the network guard's counts (and, from other modules, fuzzing).

    .venv/bin/python benchmarks/robustness.py [--quick]

Writes benchmarks/results/robustness.json. Each part is a function in a module of its own
(``benchmarks/_robustness_<part>.py``) taking ``quick`` and returning its metrics as
``{name: (value, note)}``; :func:`main` gathers them in order.

- kill_trials, kill_resume_failures (target 0), kill_landed_*: a training job killed with SIGKILL at
  moments of a checkpoint save, resumed each time (:mod:`_robustness_faults`).
- network_attempts_blocked (at least the three tried), network_attempts_made (target 0): the network
  guard's three scenarios, a plugin fetching while it registers, while it samples and inside a training
  job (:mod:`_robustness_network`).
- rebuild_damage_missed, rebuild_runs_lost, rebuild_checkpoints_lost, rebuild_exports_lost (each target 0),
  rebuild_seconds: a workspace's catalogue damaged three ways and rebuilt from its files
  (:mod:`_robustness_rebuild`).
- fuzz_cases, fuzz_crashes (target 0), fuzz_failed_properties (target 0): the suite's fuzz properties
  (tests/test_fuzz_*.py) with more examples each (:mod:`_robustness_fuzz`).

--quick runs a few trials of each (for checking the script, not for numbers).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Optional

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on

from studio.core import network_guard  # noqa: E402

Measure = Callable[[bool], dict[str, tuple[float, str]]]


def gather(measures: list[Measure], quick: bool) -> tuple[dict[str, float], dict[str, str]]:
    metrics, notes = {}, {}
    for measure in measures:
        for name, (value, note) in measure(quick).items():
            metrics[name], notes[name] = value, note
    return metrics, notes


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few trials of each part")
    args = parser.parse_args(argv)
    network_guard.install()  # as every studio process does; the jobs started here inherit it
    from _robustness_faults import kill_trials
    from _robustness_fuzz import fuzz_metrics
    from _robustness_network import network_attempts
    from _robustness_rebuild import rebuild_trials

    metrics, notes = gather([kill_trials, network_attempts, rebuild_trials, fuzz_metrics], args.quick)
    report("robustness", metrics, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
