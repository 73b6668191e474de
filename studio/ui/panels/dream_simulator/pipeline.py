"""The World Models pipeline as the Dream Simulator lists it: Collect, V, M, C and Evaluate, each with its state,
its job, what it was trained on, and whether it can run now (or why not).

Qt-free. Worked out from the workspace's job records: a training job's arguments name its data (the rollouts
folder, a collect job's folder) and the checkpoints it was built on (``upstream``), an evaluate job's the
controller it drove. One pipeline is shown at a time, followed through those links from an *anchor*: the model
chosen in the panel, or the job last started from the stage list (:meth:`Pipeline.stages`). A checkpoint made
elsewhere is followed through the ``job.json`` beside it; a starter the studio ships counts as done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from studio.core.starters import starters as shipped_starters
from studio.engine import evaluation, job_kinds
from studio.engine.run_folder import CHECKPOINT_NAME, training_job

COLLECT, VISION, MEMORY, CONTROLLER, EVALUATE = "collect", "world-vae", "mdn-rnn", "controller", "evaluate"
ORDER = (COLLECT, VISION, MEMORY, CONTROLLER, EVALUATE)
TRAINED = (VISION, MEMORY, CONTROLLER)  #: the stages that are `studio train` of their spec
TITLES = {COLLECT: "Collect", VISION: "V · vision", MEMORY: "M · memory", CONTROLLER: "C · controller",
          EVALUATE: "Evaluate"}
#: what each stage does, for its tooltip
ABOUT = {COLLECT: "Drive CarRacing with a smooth random policy and save the rollouts",
         VISION: "A VAE compressing each frame of the rollouts into a latent z",
         MEMORY: "An MDN-RNN learning V's latents of the rollouts: the dream",
         CONTROLLER: "A linear controller on [z, h] evolved with CMA-ES, in M's dream or the real CarRacing",
         EVALUATE: "The controller on random real tracks: its score, mean ± std"}
#: what a stage needs of the one before, said when that one is not done
NEEDS = {VISION: "Collect rollouts first: V learns their frames.",
         MEMORY: "Train V first: M learns V's latents of the rollouts.",
         CONTROLLER: "Train M first: C is evolved in M's dream.",
         EVALUATE: "Evolve C first: Evaluate drives it on real tracks."}

#: what a step of each stage's job counts (a training step otherwise)
UNITS = {COLLECT: "episode", CONTROLLER: "generation", EVALUATE: "track"}

NOT_STARTED, QUEUED, RUNNING, DONE, INTERRUPTED, FAILED = (
    "not started", "queued", "running", "done", "interrupted", "failed")
ACTIVE_STATES = (QUEUED, RUNNING)
_STATE_OF_STATUS = {"queued": QUEUED, "running": RUNNING, "finished": DONE, "cancelled": INTERRUPTED,
                    "interrupted": INTERRUPTED, "failed": FAILED}


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline as shown: what it is, how far it got, what it was made from, what may run."""

    key: str
    title: str
    state: str = NOT_STARTED
    job_id: Optional[str] = None
    step: int = 0
    total: int = 0
    unit: str = "step"  #: what a step counts (:data:`UNITS`)
    eta_s: Optional[float] = None  #: while running, from the job's last progress event
    message: str = ""  #: why it failed or stopped
    product: Optional[str] = None  #: what it made: the rollouts folder, a checkpoint file
    rollouts: Optional[str] = None  #: the rollouts folder it was trained on (collect: the one it fills)
    episodes: Optional[int] = None  #: episodes in that folder
    built_on: Optional[str] = None  #: the checkpoint of the stage before that it started from
    shipped: bool = False  #: a starter the studio ships (or part of one)
    result: Mapping[str, Any] = field(default_factory=dict)  #: Evaluate's report (scores, mean, std)
    settings: Mapping[str, Any] = field(default_factory=dict)  #: its job's settings (episodes, overrides...)
    runnable: bool = False  #: Run may start a new job of this stage now
    why_not: str = ""  #: when it may not
    run_rollouts: Optional[str] = None  #: the rollouts folder a new run would train on
    run_upstream: Optional[str] = None  #: the checkpoint a new run would start from

    @property
    def action(self) -> str:
        """What the stage's button does: "cancel" while it runs, "resume" after a stop, else "run"."""
        if self.state in ACTIVE_STATES:
            return "cancel"
        return "resume" if self.state == INTERRUPTED else "run"


@dataclass
class _Node:
    """A stage found in the pipeline: its job (None for a folder or checkpoint made elsewhere)."""

    job: Any = None
    product: Optional[str] = None
    shipped: bool = False
    rollouts: Optional[str] = None
    upstream: Optional[str] = None  #: the checkpoint of the stage before
    settings: Mapping[str, Any] = field(default_factory=dict)


class Pipeline:
    """The pipeline's stages from a workspace's jobs. ``episodes_in(folder)`` counts a rollouts folder's
    readable episodes (None when it cannot be read); ``starters()`` lists the starters shipped."""

    def __init__(self, jobs: Callable[[], list[Any]], episodes_in: Callable[[str], Optional[int]],
                 starters: Callable[[], list[Any]] = shipped_starters) -> None:
        self._jobs = jobs
        self._episodes_in = episodes_in
        self._starters = starters

    def stages(self, anchor: Optional[str] = None, live: Mapping[str, Mapping] = {}) -> list[Stage]:
        """Every stage, in order, of the pipeline through ``anchor`` (a checkpoint, a run folder or a rollouts
        folder); without one, through the newest job of the pipeline. ``live``: each job's last progress event."""
        jobs = self._jobs()
        starters = {_key(s.checkpoint): s for s in self._starters()}
        finder = _Finder(jobs, starters)
        nodes: dict[str, _Node] = {}
        start = finder.locate(anchor) if anchor else finder.newest()
        if start is not None:
            nodes[start[0]] = start[1]
            finder.walk_up(start[0], nodes)
            finder.walk_down(start[0], nodes)
        shown = [self._stage(key, nodes.get(key), live) for key in ORDER]
        collected = [job for job in finder.jobs if _stage_key(job) == COLLECT and job.status == "finished"]
        newest = max(collected, key=lambda j: j.created).out_dir if collected else None
        return _with_runs(shown, newest)

    def _stage(self, key: str, node: Optional[_Node], live: Mapping[str, Mapping]) -> Stage:
        stage = Stage(key, TITLES[key], unit=UNITS.get(key, "step"))
        if node is None:
            return stage
        episodes = self._episodes_in(node.rollouts) if node.rollouts and not node.shipped else None
        stage = replace(stage, product=node.product, rollouts=node.rollouts, episodes=episodes,
                        built_on=node.upstream, shipped=node.shipped, settings=node.settings)
        job = node.job
        if job is None:  # a folder or a checkpoint made outside the studio's jobs, or shipped
            return replace(stage, state=DONE if node.shipped or node.product else NOT_STARTED)
        state = _STATE_OF_STATUS.get(job.status, FAILED)
        message = "cancelled" if job.status == "cancelled" else job.error
        eta = live.get(job.id, {}).get("eta_s") if state == RUNNING else None
        result = evaluation.read(job.out_dir) if key == EVALUATE else {}
        return replace(stage, state=state, job_id=job.id, step=job.step, total=job.total_steps, eta_s=eta,
                       message=message if state in (INTERRUPTED, FAILED) else "", result=result)


class _Finder:
    """Follows the links between jobs, checkpoints and rollouts folders."""

    def __init__(self, jobs: list[Any], starters: Mapping[str, Any]) -> None:
        self.jobs = [job for job in jobs if _stage_key(job) is not None]
        self.starters = starters
        self._by_folder = {_key(job.out_dir): job for job in self.jobs}

    def newest(self) -> Optional[tuple[str, _Node]]:
        if not self.jobs:
            return None
        job = max(self.jobs, key=lambda j: j.created)
        return _stage_key(job), self._node_of_job(job)

    def locate(self, path: str) -> Optional[tuple[str, _Node]]:
        """The stage ``path`` is the product of, and its node."""
        target = Path(path)
        if target.is_dir() and (target / CHECKPOINT_NAME).is_file():  # a run's folder stands for its checkpoint
            target = target / CHECKPOINT_NAME
        job = self._by_folder.get(_key(target)) or (self._by_folder.get(_key(target.parent))
                                                     if target.suffix else None)
        if job is not None:
            return _stage_key(job), self._node_of_job(job)
        starter = self.starters.get(_key(target))
        if starter is not None and starter.spec in TRAINED:
            return starter.spec, self._made_elsewhere(starter.spec, target, shipped=True)
        if target.is_dir():
            return COLLECT, _Node(product=str(target), rollouts=str(target))
        if target.is_file():
            from studio.core.checkpoint import CheckpointError, read_header

            try:
                spec = read_header(target).spec
            except CheckpointError:
                return None
            return (spec, self._made_elsewhere(spec, target, shipped=False)) if spec in TRAINED else None
        return None

    def walk_up(self, key: str, nodes: dict[str, _Node]) -> None:
        """The stages before ``key``, from what each was made of."""
        while key != COLLECT:
            node = nodes[key]
            before = ORDER[ORDER.index(key) - 1]
            source = node.rollouts if before == COLLECT else node.upstream
            if source is None:
                return
            found = self.locate(source)
            if found is None or found[0] != before:  # gone (made on another machine, a starter's), or unknown
                if not node.shipped:
                    return
                found = (before, self._shipped_part(before, node.rollouts))
            nodes[before] = found[1]
            key = before

    def walk_down(self, key: str, nodes: dict[str, _Node]) -> None:
        """The stages after ``key``: the newest job of each built on the product of the one before."""
        while key != EVALUATE:
            product = nodes[key].product
            after = ORDER[ORDER.index(key) + 1]
            if product is None:
                return
            built = [job for job in self.jobs if _stage_key(job) == after and _made_from(job, key) == _key(product)]
            if not built:
                return
            nodes[after] = self._node_of_job(max(built, key=lambda j: j.created))
            key = after

    # -- nodes ----------------------------------------------------------------------------------------------
    def _node_of_job(self, job: Any) -> _Node:
        key = _stage_key(job)
        out = Path(job.out_dir)
        if key == COLLECT:
            settings = {name: job.args[name] for name in ("episodes", "steps", "workers", "seed")}
            return _Node(job, str(out), rollouts=str(out), settings=settings)
        if key == EVALUATE:
            settings = {name: job.args[name] for name in ("episodes", "workers", "seed")}
            return _Node(job, upstream=job.args["checkpoint"], settings=settings)
        checkpoint = out / CHECKPOINT_NAME
        before = ORDER[ORDER.index(key) - 1]
        return _Node(job, str(checkpoint) if checkpoint.is_file() else None, rollouts=_rollouts(job.args.get("data")),
                     upstream=job.args.get("upstream", {}).get(before),
                     settings={"steps": job.args.get("steps"), **job.args.get("overrides", {})})

    def _made_elsewhere(self, spec: str, checkpoint: Path, shipped: bool) -> _Node:
        """A checkpoint with no job here: what its ``job.json`` says it was made of."""
        made = training_job(checkpoint)
        before = ORDER[ORDER.index(spec) - 1]
        return _Node(product=str(checkpoint), shipped=shipped, rollouts=_rollouts(made.get("data")),
                     upstream=made.get("upstream", {}).get(before),
                     settings={"steps": made.get("steps"), **made.get("config", {})})

    def _shipped_part(self, key: str, rollouts: Optional[str]) -> _Node:
        """A stage of a starter's pipeline that is not here: a starter of its own, or done where the starter
        was made (its model is inside the starter: C holds M, M holds V), on the same ``rollouts``."""
        starter = next((s for s in self.starters.values() if s.spec == key), None)
        if starter is not None:
            return self._made_elsewhere(key, Path(starter.checkpoint), shipped=True)
        return _Node(shipped=True, rollouts=rollouts)


def _with_runs(stages: list[Stage], collected: Optional[str]) -> list[Stage]:
    """Each stage with whether it may run now: the stage before must be done and have made what it needs.
    A new run trains on the pipeline's rollouts, or (a starter's pipeline, collected elsewhere) on
    ``collected``, the newest rollouts collected here."""
    collect = stages[0]
    rollouts = collect.product if collect.state == DONE and collect.product else collected
    shown = []
    for index, stage in enumerate(stages):
        if stage.state in ACTIVE_STATES:
            shown.append(replace(stage, why_not="It is running; cancel it first to run it again."))
            continue
        if stage.key == COLLECT:
            shown.append(replace(stage, runnable=True))
            continue
        before = stages[index - 1]
        why_not = _why_not(stage.key, before, rollouts)
        upstream = before.product if stage.key != VISION else None
        shown.append(replace(stage, runnable=not why_not, why_not=why_not,
                             run_rollouts=rollouts if stage.key != EVALUATE else None, run_upstream=upstream))
    return shown


def _why_not(key: str, before: Stage, rollouts: Optional[str]) -> str:
    if before.state in ACTIVE_STATES:
        how_far = f" ({before.unit} {before.step:,} of {before.total:,})" if before.total else ""
        return (f"{before.title} is still running{how_far}; {TITLES[key]} starts from what it makes once it is "
                "done.")
    if before.state != DONE:
        return NEEDS[key]
    if before.product is None and key != VISION:
        return (f"{before.title} was shipped inside the starter, not as a checkpoint of its own: run "
                f"{before.title} here first.")
    if rollouts is None and key != EVALUATE:
        return f"{TITLES[key]} trains on rollouts collected here: run Collect first."
    return ""


def _stage_key(job: Any) -> Optional[str]:
    kind = job_kinds.kind_of(job)
    if kind in (job_kinds.COLLECT, job_kinds.EVALUATE):
        return kind
    return job.spec if job.spec in TRAINED else None


def _made_from(job: Any, key: str) -> Optional[str]:
    """What a job of the stage after ``key`` was made from (a folder or checkpoint, as compared)."""
    if key == COLLECT:
        folder = _rollouts(job.args.get("data"))
        return _key(folder) if folder else None
    if key == CONTROLLER:
        return _key(job.args["checkpoint"])
    path = job.args.get("upstream", {}).get(key)
    return _key(path) if path else None


def _rollouts(data: Optional[str]) -> Optional[str]:
    """The folder of a rollouts data argument (``carracing-rollouts:FOLDER`` or the folder alone)."""
    if not data:
        return None
    source, sep, location = data.partition(":")
    if sep and source == job_kinds.ROLLOUTS_SOURCE:
        return location
    return None if sep else data


def _key(path: Any) -> str:
    return str(Path(path).expanduser().resolve())
