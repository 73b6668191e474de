"""Workspaces as the studio leaves them, written with its own writers but without training anything: run
folders of each job kind and the parameters an export carries (for tests/test_catalogue_rebuild.py and
benchmarks/_robustness_rebuild.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from studio.core.checkpoint import FORMAT
from studio.engine.events import EventLog
from studio.engine.run_folder import CHECKPOINT_NAME, JOB_FILE


def write_checkpoint(path: Path, spec: str, step: int) -> Path:
    save_file({"model.w": np.zeros(2, np.float32)}, str(path),
              metadata={"studio.format": FORMAT, "studio.model": spec, "studio.config": "{}", "studio.step": str(step)})
    return path


def training_run(out: Path, spec: str, steps: int, done: int, end: str | None, pid: int = 0) -> Path:
    """A run folder as `studio train` writes it: job.json, events with losses, a checkpoint at ``done``."""
    out.mkdir(parents=True)
    (out / JOB_FILE).write_text(json.dumps({"model": spec, "data": "digits", "steps": steps, "seed": 3,
                                            "config": {}, "upstream": {}, "start_from": None}))
    log = EventLog(out / "events.jsonl", echo=False)
    log.emit("started", step=0, total=steps, resumed=False, device="cpu", pid=pid or 4_000_000, world_size=1)
    for step in range(10, done + 1, 10):
        log.emit("progress", step=step, total=steps, losses={"loss": 1.0 / step})
    log.emit("checkpoint", step=done, path=str(out / CHECKPOINT_NAME))
    write_checkpoint(out / CHECKPOINT_NAME, spec, done)
    if end:
        log.emit(end, step=done, total=steps)
    return out


def collect_job(out: Path) -> Path:
    out.mkdir(parents=True)
    (out / "rollouts.json").write_text(json.dumps({"seed": 7, "steps": 300, "requested": 4, "episodes": 4}))
    log = EventLog(out / "events.jsonl", echo=False)
    log.emit("started", step=0, total=4, resumed=False, pid=4_000_001, unit="episode")
    log.emit("finished", step=4, total=4, unit="episode", steps=1200)
    return out


def evaluation_job(out: Path, controller: Path) -> Path:
    out.mkdir(parents=True)
    (out / "evaluation.json").write_text(json.dumps({"checkpoint": str(controller), "seed": 1_000_000, "episodes": 2,
                                                     "max_steps": None, "scores": [812.0, 790.0]}))
    log = EventLog(out / "events.jsonl", echo=False)
    log.emit("started", step=0, total=2, resumed=False, pid=4_000_002, unit="track")
    log.emit("finished", step=2, total=2, unit="track", mean=801.0, std=11.0)
    return out


def export_params(checkpoint: Path, spec: str, panel: str) -> dict:
    return {"panel": panel, "model": spec, "checkpoint": str(checkpoint), "checkpoint_sha256": "ab" * 32,
            "step": 40, "seed": 5}
