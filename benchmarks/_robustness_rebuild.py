"""Catalogue rebuilds for benchmarks/robustness.py: a workspace in use (training runs in the app's jobs folder
and outside it from the command line, collect jobs, evaluations, PNG exports), its catalogue damaged three
ways (random bytes, cut in half, a page zeroed), rebuilt on opening. Counts what did not come back (each
target 0) and how long the rebuild of the largest workspace took.

The run folders are written with the studio's own writers (tests/rebuild_support.py) but nothing is
trained: what is measured is finding and reading the files, not training.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rebuild_support import collect_job, evaluation_job, export_params, training_run  # noqa: E402

from studio.core.artifacts import ImageArtifact, write_png  # noqa: E402
from studio.core.workspace import CATALOGUE_NAME, Workspace  # noqa: E402
from studio.engine.rebuild import open_workspace  # noqa: E402

DAMAGE = ("garbage", "truncated", "zeroed page")


def rebuild_trials(quick: bool = False) -> dict[str, tuple[float, str]]:
    runs = 20 if quick else 200
    lost = {"runs": 0, "checkpoints": 0, "exports": 0}
    missed = 0  # damage not noticed: nothing was rebuilt
    seconds = 0.0
    for how in DAMAGE:
        with tempfile.TemporaryDirectory() as folder:
            root, expected = _workspace(Path(folder), runs)
            _damage(root / CATALOGUE_NAME, how)
            started = time.perf_counter()
            workspace = open_workspace(root)
            seconds = max(seconds, time.perf_counter() - started)
            try:
                counts = workspace.store.counts()
                missed += workspace.store.recovered_from is None
            finally:
                workspace.close()
            lost["runs"] += expected["runs"] - counts["jobs"]
            lost["checkpoints"] += expected["checkpoints"] - counts["checkpoints"]
            lost["exports"] += expected["exports"] - counts["artifacts"]
    total = runs + runs // 10 * 2
    return {
        "rebuild_trials": (len(DAMAGE), "catalogues damaged: " + ", ".join(DAMAGE)),
        "rebuild_damage_missed": (missed, "trials whose damage was not noticed (target 0)"),
        "rebuild_runs_lost": (lost["runs"], f"of {total} runs a trial (target 0)"),
        "rebuild_checkpoints_lost": (lost["checkpoints"], f"of {runs} checkpoints a trial (target 0)"),
        "rebuild_exports_lost": (lost["exports"], f"of {runs} exports a trial (target 0)"),
        "rebuild_seconds": (round(seconds, 3), f"opening and rebuilding {total} runs and {runs} exports, the "
                                               "slowest trial"),
    }


def _workspace(folder: Path, runs: int) -> tuple[Path, dict[str, int]]:
    """A workspace with ``runs`` training runs (a quarter from the command line, outside it), a collect job and
    an evaluation per ten, an export per run; then closed."""
    root = folder / "ws"
    workspace = Workspace.open(root)
    jobs = workspace.folder("jobs")
    made = []
    for i in range(runs):
        out = (folder / "cli" / f"run-{i}") if i % 4 == 0 else jobs / f"20260101-{i:06d}-train"
        made.append(training_run(out, "vae", 2000, 2000 if i % 3 else 1000, "finished" if i % 3 else None))
        image = ImageArtifact(np.zeros((32, 32, 3), np.uint8), export_params(out / "checkpoint.safetensors", "vae",
                                                                             "image"))
        write_png(image, workspace.folder("exports") / f"sample-{i}.png")
    for i in range(runs // 10):
        made.append(collect_job(jobs / f"20260102-{i:06d}-collect"))
        made.append(evaluation_job(jobs / f"20260103-{i:06d}-evaluate", made[0] / "checkpoint.safetensors"))
    for out in made:
        workspace.store.add_job(out.name, "x", str(out), {}, 1)
    workspace.close()
    return root, {"runs": len(made), "checkpoints": runs, "exports": runs}


def _damage(catalogue: Path, how: str) -> None:
    data = catalogue.read_bytes()
    catalogue.write_bytes({"garbage": np.random.default_rng(0).bytes(len(data)), "truncated": data[: len(data) // 2],
                           "zeroed page": data[:4096] + bytes(4096) + data[8192:]}[how])
