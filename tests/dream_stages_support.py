"""The World Models pipeline's jobs for the stage list's tests: records in a workspace's store (their folders
made by hand, or tiny real ones trained from the CLI)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Optional

from studio.core.store import JobRecord
from studio.engine.job_kinds import ROLLOUTS_SOURCE

_ids = itertools.count()


def add_collect(store, folder: Path, status: str = "finished", episodes: int = 3, step: Optional[int] = None,
                error: str = "") -> JobRecord:
    """A collect job whose folder is ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    args = {"kind": "collect", "title": f"collect {episodes} episodes", "episodes": episodes, "steps": 40,
            "workers": 1, "seed": 0}
    return _add(store, ROLLOUTS_SOURCE, folder, args, status, episodes if step is None else step, episodes, error)


def add_training(store, spec: str, folder: Path, rollouts: Path, upstream: Optional[dict] = None,
                 status: str = "finished", step: int = 100, total: int = 100, checkpoint: bool = True,
                 overrides: Optional[dict] = None, error: str = "") -> JobRecord:
    """A training job of ``spec`` on ``rollouts``, built on ``upstream`` (spec -> checkpoint); with
    ``checkpoint``, its folder holds one (an empty file: the pipeline only looks for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    if checkpoint:
        (folder / "checkpoint.safetensors").touch()
    args = {"model": spec, "data": f"{ROLLOUTS_SOURCE}:{rollouts}", "steps": total, "seed": 0,
            "checkpoint_every": 500, "sample_every": 250, "overrides": overrides or {}, "title": f"{spec} run",
            "upstream": {name: str(Path(path).resolve()) for name, path in (upstream or {}).items()},
            "first_checkpoint_s": 30.0, "start_from": None}
    return _add(store, spec, folder, args, status, step, total, error)


def add_evaluation(store, folder: Path, controller: Path, scores: list, status: str = "finished") -> JobRecord:
    folder.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": str(controller.resolve()), "seed": 1_000_000, "episodes": len(scores), "max_steps": None,
              "scores": scores}
    if None not in scores:
        mean = sum(scores) / len(scores)
        report.update(mean=mean, std=(sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5)
    (folder / "evaluation.json").write_text(json.dumps(report))
    args = {"kind": "evaluate", "title": "evaluate", "checkpoint": str(controller.resolve()),
            "episodes": len(scores), "workers": 1, "seed": 1_000_000, "max_steps": None}
    return _add(store, "controller", folder, args, status, sum(s is not None for s in scores), len(scores), "")


def _add(store, spec, folder, args, status, step, total, error) -> JobRecord:
    job_id = f"job-{next(_ids):04d}"
    store.add_job(job_id, spec, str(folder), args, total)
    store.update_job(job_id, status=status, step=step, total_steps=total, error=error, started=time.time())
    time.sleep(0.002)  # the next job is newer
    return store.job(job_id)


def write_progress(folder: Path, points: list[tuple[float, dict]], start: float) -> None:
    """An events.jsonl whose run started at ``start`` and reported ``points`` ((time, fields) of each
    progress event)."""
    lines = [{"event": "started", "time": start, "step": 0, "total": 100, "resumed": False}]
    lines += [{"event": "progress", "time": t, **fields} for t, fields in points]
    (folder / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def tiny_world(root: Path) -> dict[str, Path]:
    """Rollouts (two 40-step episodes), then V, M and C trained a step or two each from the CLI, uncatalogued:
    {"rollouts": folder, "world-vae" / "mdn-rnn" / "controller": run folder}."""
    from studio.cli import main

    made = {"rollouts": root / "rollouts"}
    assert main(["dream", "collect", "--episodes", "2", "--steps", "40", "--workers", "1", "--out",
                 str(made["rollouts"])]) == 0
    stages = [("train-vae", "world-vae", None, ["batch_size=4", "width=8"]),
              ("train-rnn", "mdn-rnn", "world-vae", ["batch_size=2", "seq_len=8", "hidden=16"]),
              ("train-controller", "controller", "mdn-rnn",
               ["population=4", "rollouts_per_candidate=1", "max_steps=5", "workers=1"])]
    for command, model, before, settings in stages:
        made[model] = root / model
        upstream = ["--from", f"{before}={made[before]}"] if before else []
        sets = [word for setting in settings for word in ("--set", setting)]
        assert main(["dream", command, "--data", str(made["rollouts"]), "--steps", "1", "--out", str(made[model]),
                     "--no-catalogue", *upstream, *sets]) == 0, command
    return made
