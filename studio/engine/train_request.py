"""What `studio train` is asked (:class:`TrainRequest`), and what can be checked of it before
anything is written to ``--out`` or the workspace: the model, the data, the settings, the models a
stage builds on and the checkpoint a run trains further. Checkpoints are read by their header only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from studio.core.checkpoint import read_header
from studio.core.config import apply_overrides
from studio.core.errors import UserError
from studio.engine.run_folder import JOB_FILE, checkpoint_in
from studio.engine.stages import check_upstream


@dataclass
class TrainRequest:
    model: str
    out: Path
    data: Optional[str] = None  #: the --data argument; from job.json when resuming
    steps: Optional[int] = None  #: total steps; from job.json when resuming
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 500
    sample_every: int = 250
    #: write a first checkpoint this many seconds into training, before the cadence's first (None: not),
    #: so a model being trained can be tried out early
    first_checkpoint_s: Optional[float] = None
    overrides: dict[str, str] = field(default_factory=dict)  #: config field -> value, from --set
    #: the checkpoints (files or run folders) of the models this one builds on, by spec name (--from)
    upstream: dict[str, str] = field(default_factory=dict)
    #: a checkpoint of this model to train further (--start-from): a new run that starts from its weights
    #: and step (a starter, another run); None: from new weights
    start_from: Optional[str] = None


def check_request(registry, request: TrainRequest):
    """Check what can be checked before anything is written to ``--out``; returns the model's spec.

    Raises :class:`UserError` for a model that cannot be trained, a missing or
    unusable ``--data``, a bad ``--set``, missing or wrong models to build on
    (``--from``), a checkpoint to train further that does not fit (``--start-from``),
    or any of those with ``--resume`` of an existing run (its settings come from the
    run; they cannot change halfway).
    """
    from studio.core.data import resolve_data_argument

    spec = registry.model(request.model)
    if spec.trainer is None:
        raise UserError(f"The {spec.title} model cannot be trained in the studio.")
    if request.resume and (Path(request.out) / JOB_FILE).exists():
        changed = [f"--set ({', '.join(sorted(request.overrides))})"] if request.overrides else []
        changed += [f"--from ({', '.join(sorted(request.upstream))})"] if request.upstream else []
        changed += ["--start-from"] if request.start_from else []
        if changed:
            raise UserError(f"{' and '.join(changed)} cannot change a run that is resumed: its settings are those "
                            f"it started with ({Path(request.out) / JOB_FILE}). Train into a new --out folder "
                            "to use other settings.")
        return spec
    if not request.data or not request.steps:
        raise UserError("Say what to train on and for how long: --data SOURCE --steps N.")
    apply_overrides(spec.config(), request.overrides)
    resolve_data_argument(registry, spec.data_kind, request.data)
    check_upstream(registry, spec, request.upstream)
    check_start_from(spec, request)
    return spec


def check_start_from(spec, request: TrainRequest) -> Optional[str]:
    """The checkpoint a new run trains further (absolute), or None; a :class:`UserError` when it holds
    another model or has already trained ``--steps`` steps. Reads its header only."""
    if request.start_from is None:
        return None
    path = checkpoint_in(Path(request.start_from).expanduser())
    header = read_header(path)
    if header.spec != spec.name:
        raise UserError(f"--start-from {request.start_from}: it holds a {header.spec!r} model, not {spec.name!r}.")
    if request.steps is not None and request.steps <= header.step:
        raise UserError(f"{path.name} has already trained {header.step:,} steps; to train it further ask for "
                        f"more in all (--steps {header.step + 1000}, say).")
    return str(path.resolve())
