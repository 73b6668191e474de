"""Staged models: a model built on other trained models.

World Models is the example: a VAE learns the frames, an MDN-RNN learns the
VAE's latents, a controller is evolved in the RNN's dream. Each is a spec that
names what it is built on (``ModelSpec.builds_on``) and each stage is a job:
its request names the checkpoints of the stages before it (``studio train
--from NAME=PATH``, a checkpoint file or a run's folder), the runner loads them
and hands them to the trainer as ``upstream``, and ``job.json`` keeps the
resolved paths so a resumed stage starts from the same models. A stage's data
may be another run's output too, through a dataset source that reads a run's
folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.checkpoint import read_header
from studio.core.errors import UserError
from studio.engine.run_folder import checkpoint_in


def check_upstream(registry: Any, spec: Any, upstream: dict[str, str]) -> dict[str, str]:
    """The checkpoint each model ``spec`` builds on comes from, by spec name, as absolute paths.

    Raises :class:`UserError` when one is missing, named but not built on, or not a
    checkpoint of that model. Reads checkpoint headers only."""
    unknown = sorted(set(upstream) - set(spec.builds_on))
    if unknown:
        built_on = ", ".join(spec.builds_on) or "no other model"
        raise UserError(f"The {spec.title} model is built on {built_on}, not on {', '.join(unknown)}; "
                        "leave out that --from.")
    missing = [name for name in spec.builds_on if name not in upstream]
    if missing:
        hints = " ".join(f"--from {name}=RUN_FOLDER" for name in missing)
        raise UserError(f"The {spec.title} model is built on trained {', '.join(missing)} model"
                        f"{'s' if len(missing) > 1 else ''}: name {'their' if len(missing) > 1 else 'its'} "
                        f"checkpoint or run folder with {hints}.")
    resolved = {}
    for name in spec.builds_on:
        registry.model(name)  # installed?
        path = checkpoint_in(Path(upstream[name]).expanduser())
        holds = read_header(path).spec
        if holds != name:
            raise UserError(f"--from {name}={upstream[name]}: that checkpoint holds a {holds!r} model, not {name!r}.")
        resolved[name] = str(path.resolve())
    return resolved


def load_upstream(registry: Any, upstream: dict[str, str], device: str) -> dict[str, Any]:
    """The trained models a stage starts from, loaded on ``device``, by spec name."""
    from studio.core.checkpoint import load_model

    return {name: load_model(registry, name, path, device) for name, path in upstream.items()}


def stage_of(job: Any, jobs: list[Any]) -> tuple[int, list[Any]]:
    """Which stage of its pipeline a job is (1 when it builds on nothing), and the jobs it builds on, found by
    their folders among ``jobs`` (store records): the checkpoints a training job starts from, and the collect
    job whose folder is its data (then collecting is the first stage); the controller an evaluate job drives."""
    from studio.engine import job_kinds

    sources = [Path(path).parent for path in job.args.get("upstream", {}).values()]
    kind = job_kinds.kind_of(job)
    if kind == job_kinds.EVALUATE:
        sources.append(Path(job.args["checkpoint"]).parent)
    collected = {str(Path(j.out_dir).resolve()) for j in jobs if job_kinds.kind_of(j) == job_kinds.COLLECT}
    if kind == job_kinds.TRAIN and job.args.get("data"):
        location = job.args["data"].partition(":")[2] or job.args["data"]
        if str(Path(location).expanduser().resolve()) in collected:
            sources.append(Path(location).expanduser())
    parents = []
    for source in sources:
        folder = str(source.resolve())
        parents += [j for j in jobs if j.id != job.id and str(Path(j.out_dir).resolve()) == folder]
    if not parents:
        return 1, []
    return 1 + max(stage_of(parent, jobs)[0] for parent in parents), parents
