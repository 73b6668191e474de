"""The folder one training run writes, and reading it back::

    OUT/job.json                  what was asked (model, data, config, steps, seed, upstream models, the
                                  checkpoint it trained further; a starter's also names its map's data)
    OUT/checkpoint.safetensors    the latest checkpoint (atomic; every N steps, on cancel, at the end)
    OUT/events.jsonl              one JSON object per line: progress, checkpoints, samples, the end
    OUT/samples/step-000500.png   sample grids as training goes
    OUT/log.txt                   what the process printed (jobs started by the app)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

from studio.core.errors import UserError

CHECKPOINT_NAME = "checkpoint.safetensors"
JOB_FILE = "job.json"
EVENTS_NAME = "events.jsonl"
LOG_NAME = "log.txt"


def checkpoint_in(path: Union[str, Path]) -> Path:
    """A run's folder stands for its latest checkpoint; anything else is used as given. A run that
    has not saved a checkpoint yet is a :class:`UserError` saying so."""
    path = Path(path)
    if path.is_dir() and (path / CHECKPOINT_NAME).is_file():
        return path / CHECKPOINT_NAME
    if path.is_dir() and (path / JOB_FILE).is_file():
        raise UserError(f"The run in {path} has not saved a checkpoint yet; train it longer, or wait "
                        "for its first checkpoint.")
    return path


def training_job(checkpoint: Union[str, Path]) -> dict[str, Any]:
    """The ``job.json`` a run wrote beside ``checkpoint`` (what it was trained on), or {}."""
    try:
        job = json.loads((Path(checkpoint).parent / JOB_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return job if isinstance(job, dict) else {}
