"""An evaluation's scores, kept track by track in ``FOLDER/evaluation.json`` so a killed one resumes.

`studio dream evaluate --out FOLDER` (an evaluate job's folder) writes it after every track::

    {"checkpoint": ".../checkpoint.safetensors", "seed": 1000000, "episodes": 100, "max_steps": null,
     "scores": [812.3, null, ...],   # track seed + i's score; null: not driven yet
     "mean": 845.1, "std": 40.2}     # once every track is scored

Written atomically: a kill loses at most the tracks being driven.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Union

from studio.core.errors import UserError

EVALUATION_FILE = "evaluation.json"


class Evaluation:
    """The scores of ``episodes`` tracks from ``seed`` for one controller checkpoint (``max_steps`` per track at
    most; None: CarRacing's own limit)."""

    def __init__(self, checkpoint: str, seed: int, episodes: int, max_steps: Optional[int] = None,
                 scores: Optional[list[Optional[float]]] = None):
        self.checkpoint, self.seed, self.episodes, self.max_steps = checkpoint, seed, episodes, max_steps
        self.scores: list[Optional[float]] = list(scores) if scores is not None else [None] * episodes

    @classmethod
    def resume(cls, folder: Path, checkpoint: str, seed: int, episodes: int,
               max_steps: Optional[int] = None) -> Evaluation:
        """The evaluation kept in ``folder``, or a new one; a :class:`UserError` when the folder holds the
        evaluation of another checkpoint, seed, number of tracks or steps per track."""
        report = read(folder)
        if not report:
            return cls(checkpoint, seed, episodes, max_steps)
        asked = {"checkpoint": checkpoint, "seed": seed, "episodes": episodes, "max_steps": max_steps}
        changed = [f"{key} {report.get(key)!r}" for key in asked if report.get(key) != asked[key]]
        if changed:
            raise UserError(f"{folder / EVALUATION_FILE} holds an evaluation with {', '.join(changed)}; to resume it, "
                            "evaluate with the same settings, or evaluate into another --out.")
        return cls(checkpoint, seed, episodes, max_steps, report["scores"])

    @property
    def done(self) -> int:
        return sum(score is not None for score in self.scores)

    def missing(self) -> list[tuple[int, int]]:
        """The tracks still to drive, as (first index, count) runs of consecutive tracks."""
        runs: list[tuple[int, int]] = []
        for index, score in enumerate(self.scores):
            if score is not None:
                continue
            if runs and sum(runs[-1]) == index:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((index, 1))
        return runs

    def mean_std(self) -> tuple[float, float]:
        """Mean and (population) standard deviation of the scores so far."""
        scored = [s for s in self.scores if s is not None]
        if not scored:
            return math.nan, math.nan
        mean = sum(scored) / len(scored)
        return mean, math.sqrt(sum((s - mean) ** 2 for s in scored) / len(scored))

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {"checkpoint": self.checkpoint, "seed": self.seed, "episodes": self.episodes,
                                  "max_steps": self.max_steps, "scores": self.scores}
        if self.done == self.episodes:
            report["mean"], report["std"] = self.mean_std()
        return report

    def save(self, folder: Path) -> None:
        from studio.core.atomic import atomic_write

        atomic_write(Path(folder) / EVALUATION_FILE, json.dumps(self.report(), indent=1))


def read(folder: Union[str, Path]) -> dict[str, Any]:
    """What ``folder/evaluation.json`` holds (see the module's docstring), or {} when there is none yet."""
    try:
        report = json.loads((Path(folder) / EVALUATION_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) and isinstance(report.get("scores"), list) else {}
