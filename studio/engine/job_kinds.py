"""The kinds of job the :class:`~studio.engine.jobs.JobManager` runs, each a `studio` command in its own process.

- ``train``: `studio train MODEL --out JOB_FOLDER ...` (:class:`~studio.engine.catalogue.JobOptions`).
- ``collect``: `studio dream collect --out JOB_FOLDER ...` (:class:`CollectOptions`): the job's folder *is*
  the rollouts folder (the episodes, ``rollouts.json``, beside ``events.jsonl`` and ``log.txt``), so a stage
  trained on it names the job's folder as its data. Collecting resumes by nature: the folder keeps its
  finished episodes and the same command drives the missing ones.
- ``evaluate``: `studio dream evaluate --out JOB_FOLDER ...` (:class:`EvaluateOptions`): the scores, mean and
  standard deviation go to ``JOB_FOLDER/evaluation.json`` track by track (:mod:`studio.engine.evaluation`),
  and the same command scores the tracks still missing.

Every kind writes the same ``events.jsonl`` (started, progress with step, total and ETA, finished, cancelled
or error), so the job list, the store and the Jobs dock follow them alike. A job's kind is ``args["kind"]``
in its store record (``train`` when absent: the records made before there were other kinds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from studio.core.errors import UserError
from studio.engine.catalogue import JobOptions

TRAIN, COLLECT, EVALUATE = "train", "collect", "evaluate"
#: the dataset source a collect job fills, and whose tools collect and evaluate
ROLLOUTS_SOURCE = "carracing-rollouts"
#: the first track an evaluation drives by default: far from the seeds collecting starts at (0, 1, 2, ...)
EVALUATE_SEED = 1_000_000


@dataclass
class CollectOptions:
    """What a new collect job drives; mirrors `studio dream collect`'s options."""

    episodes: int
    steps: int = 1000  #: per episode, at most (CarRacing's own limit)
    workers: int = 2
    seed: int = 0
    title: str = ""


@dataclass
class EvaluateOptions:
    """What a new evaluate job scores; mirrors `studio dream evaluate`'s options."""

    checkpoint: str  #: a controller checkpoint (or its run folder)
    episodes: int = 100  #: tracks
    workers: int = 2
    seed: int = EVALUATE_SEED
    max_steps: Optional[int] = None  #: steps per track at most; None: CarRacing's own 1000 (the task's score)
    title: str = ""


AnyOptions = Union[JobOptions, CollectOptions, EvaluateOptions]


def kind_of(job: Any) -> str:
    """The kind of a store job record."""
    return job.args.get("kind", TRAIN)


def prepare(registry: Any, options: Union[CollectOptions, EvaluateOptions]) -> tuple[str, dict[str, Any], int]:
    """What the store records for a new collect or evaluate job: (its spec column, its args, its total steps).
    Raises :class:`UserError` for settings that cannot work, before anything starts."""
    for name in ("episodes", "workers", "steps", "max_steps"):
        if getattr(options, name, None) is not None and getattr(options, name) < 1:
            raise UserError(f"The {name} setting must be at least 1, not {getattr(options, name)}.")
    check_installed(registry, ROLLOUTS_SOURCE)
    if isinstance(options, CollectOptions):
        title = options.title or f"collect {options.episodes} episodes"
        args = {"kind": COLLECT, "title": title, "episodes": options.episodes, "steps": options.steps,
                "workers": options.workers, "seed": options.seed}
        return ROLLOUTS_SOURCE, args, options.episodes
    from studio.core.checkpoint import read_header
    from studio.engine.run_folder import checkpoint_in

    checkpoint = checkpoint_in(Path(options.checkpoint).expanduser())
    spec = read_header(checkpoint).spec
    title = options.title or f"evaluate {Path(checkpoint).parent.name} on {options.episodes} tracks"
    args = {"kind": EVALUATE, "title": title, "checkpoint": str(checkpoint.resolve()), "episodes": options.episodes,
            "workers": options.workers, "seed": options.seed, "max_steps": options.max_steps}
    return spec, args, options.episodes


def check_installed(registry: Any, name: str) -> None:
    """The plugin a job needs is loaded: ``name`` is a model spec or, for collect and evaluate, the source
    whose tools they use. A :class:`UserError` naming it otherwise."""
    if name == ROLLOUTS_SOURCE:
        if name not in registry.dataset_sources:
            raise UserError(f"No installed plugin offers the {name} source (see `studio plugins list`).")
        return
    registry.model(name)


def job_needs(job: Any) -> str:
    """The spec or source whose plugin a stored job needs (see :func:`check_installed`)."""
    return ROLLOUTS_SOURCE if kind_of(job) in (COLLECT, EVALUATE) else job.spec


def command_line(python: str, device: str, args: dict[str, Any], out: Path, resume: bool) -> list[str]:
    """The command a job of any kind runs, from its store args; ``resume``: a training job continues from
    its checkpoint (collect and evaluate jobs run the same command again, which resumes them)."""
    kind = args.get("kind", TRAIN)
    command = [python, "-m", "studio", "--device", device]
    if kind == COLLECT:
        return command + ["dream", "collect", "--episodes", str(args["episodes"]), "--steps", str(args["steps"]),
                          "--workers", str(args["workers"]), "--seed", str(args["seed"]), "--out", str(out)]
    if kind == EVALUATE:
        command += ["dream", "evaluate", "--checkpoint", args["checkpoint"], "--episodes", str(args["episodes"]),
                    "--workers", str(args["workers"]), "--seed", str(args["seed"]), "--out", str(out)]
        return command + (["--max-steps", str(args["max_steps"])] if args.get("max_steps") else [])
    command += ["train", args["model"], "--out", str(out), "--no-catalogue", "--seed", str(args["seed"]),
                "--checkpoint-every", str(args["checkpoint_every"]), "--sample-every", str(args["sample_every"])]
    if args.get("first_checkpoint_s") is not None:
        command += ["--first-checkpoint-after", str(args["first_checkpoint_s"])]
    if resume:
        return command + ["--resume"]
    command += ["--data", args["data"], "--steps", str(args["steps"])]
    for name, value in args.get("overrides", {}).items():
        command += ["--set", f"{name}={value}"]
    for name, path in args.get("upstream", {}).items():
        command += ["--from", f"{name}={path}"]
    if args.get("start_from"):
        command += ["--start-from", args["start_from"]]
    return command
