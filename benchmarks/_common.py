"""Helpers shared by the benchmark scripts: a table on stdout, JSON in results/.

Importing this module first imports ``studio``, so torch loads into the
environment the studio gives it (offline, passive OpenMP threads): a benchmark
then measures the studio as its users run it, on both sides of every ratio.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import studio  # noqa: F401  (before torch: see above)

RESULTS = Path(__file__).resolve().parent / "results"


def report(area: str, metrics: dict[str, float], notes: dict[str, str] | None = None) -> Path:
    """Print ``metrics`` as a table (with an optional note per metric) and write results/<area>.json."""
    notes = notes or {}
    width = max(len(k) for k in metrics)
    print(f"\n{area} benchmark")
    print(f"{'metric'.ljust(width)}  {'value':>12}  note")
    for name, value in metrics.items():
        shown = f"{value:12.4f}" if isinstance(value, float) else f"{value:>12}"
        print(f"{name.ljust(width)}  {shown}  {notes.get(name, '')}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{area}.json"
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {path}")
    return path


def model_checkpoints(items: Sequence[str], kinds: Sequence[str]) -> dict[str, Path]:
    """The ``--model KIND=CHECKPOINT`` arguments of a benchmark, by kind."""
    models = {}
    for item in items:
        kind, sep, path = item.partition("=")
        if not sep or not path or kind not in kinds:
            raise SystemExit(f"--model takes KIND=CHECKPOINT with KIND one of {', '.join(kinds)}, not {item!r}")
        models[kind] = Path(path)
    return models


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


median = statistics.median
