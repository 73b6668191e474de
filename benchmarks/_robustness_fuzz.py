"""Fuzzing for benchmarks/robustness.py: the suite's fuzz properties (tests/test_fuzz_*.py) run with more
examples each, in a pytest process of their own (the properties need its fixtures: a window, fake models).

``fuzz_cases`` counts the cases tried, every reader's (tests/fuzz_support.py tallies them); ``fuzz_crashes``
counts the distinct crashes (a reader raising anything but a user-facing error naming the file: reader,
exception type and message), and ``fuzz_failed_properties`` the properties that failed for any reason (a
crash, or a message that does not name the file, a file changed by reading it, a panel that stopped working).
Hypothesis is derandomized, so a run with the same number of examples tries the same cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: examples per property (times its weight): the suite runs 20
EXAMPLES = {True: 60, False: 300}


def fuzz_metrics(quick: bool = False) -> dict[str, tuple[float, str]]:
    """Metric name -> (value, note)."""
    examples = EXAMPLES[quick]
    with tempfile.TemporaryDirectory(prefix="studio-fuzz-bench-") as folder:
        report = Path(folder) / "fuzz.json"
        env = {**os.environ, "STUDIO_FUZZ_EXAMPLES": str(examples), "STUDIO_FUZZ_REPORT": str(report),
               "QT_QPA_PLATFORM": "offscreen"}
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_fuzz_*.py"))],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if not report.is_file():
            raise SystemExit(f"the fuzz tests did not run (pytest exit {run.returncode}):\n{run.stdout[-3000:]}"
                             f"{run.stderr[-3000:]}")
        found = json.loads(report.read_text())
    cases = sum(found["cases"].values())
    for reader, kind, message in found["crashes"]:
        print(f"crash: {reader}: {kind}: {message}")
    for test in found["failed"]:
        print(f"failed: {test}")
    readers = ", ".join(f"{name} {count}" for name, count in sorted(found["cases"].items()))
    return {
        "fuzz_cases": (cases, f"{examples} examples a property (x its weight) in {seconds:.0f} s: {readers}"),
        "fuzz_crashes": (len(found["crashes"]), "distinct crashes of a reader (target 0)"),
        "fuzz_failed_properties": (len(found["failed"]), "fuzz tests that failed for any reason (target 0)"),
    }
