"""How a training run is listed in the workspace catalogue: the job, the model it
trains, the data it used, its checkpoints, and how it ended.

The app's job runner (:class:`~studio.engine.jobs.JobManager`) and
`studio train` on the command line both record runs through
:class:`RunCatalogue`, so a model trained either way shows in the panels.
"""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from studio.engine.events import TERMINAL
from studio.engine.run_folder import JOB_FILE, LOG_NAME


@dataclass
class JobOptions:
    """What a new job trains; mirrors `studio train`'s options."""

    model: str
    data: str
    steps: int
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 250
    overrides: dict[str, str] = field(default_factory=dict)
    title: str = ""
    #: a first checkpoint this many seconds into training (a job from the app: within its first minute, so
    #: the panels can offer the model while it trains); None: only at the cadence
    first_checkpoint_s: Optional[float] = 30.0
    #: a checkpoint of this model to train further (a starter, another run); None: new weights
    start_from: Optional[str] = None
    #: checkpoints of the models it builds on, by spec name (see :mod:`studio.engine.stages`)
    upstream: dict[str, str] = field(default_factory=dict)


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class RunCatalogue:
    """Records runs in one workspace's store."""

    def __init__(self, store) -> None:
        self.store = store

    def add(self, registry, options: JobOptions, out: Path, job_id: Optional[str] = None) -> str:
        """Catalogue a new run (its dataset, the model it trains, the job, queued); returns the job id.
        Raises :class:`~studio.core.data.DataError` for data that cannot be used."""
        from studio.core.data import resolve_data_argument

        spec = registry.model(options.model)
        source, location = resolve_data_argument(registry, spec.data_kind, options.data)
        self.store.add_dataset(source.name, location, source.kind)
        job_id = job_id or new_job_id()
        title = options.title or f"{options.model} on {options.data}"
        args = {"model": options.model, "data": options.data, "steps": options.steps, "seed": options.seed,
                "checkpoint_every": options.checkpoint_every, "sample_every": options.sample_every,
                "overrides": options.overrides, "title": title, "upstream": options.upstream,
                "first_checkpoint_s": options.first_checkpoint_s, "start_from": options.start_from}
        model_id = self.store.add_model(title, options.model, options.overrides)
        self.store.add_job(job_id, options.model, str(out), args, options.steps, model_id)
        return job_id

    def job_in(self, out: Path):
        """The job record whose output folder is ``out``, if any."""
        target = str(Path(out).resolve())
        return next((job for job in self.store.jobs() if str(Path(job.out_dir).resolve()) == target), None)

    def record(self, job_id: str, event: dict[str, Any]) -> None:
        """Keep the store up to date with one of the run's events."""
        kind = event["event"]
        if kind in ("progress", "started"):
            self.store.update_job(job_id, step=event["step"], total_steps=event["total"])
        elif kind == "checkpoint":
            record = self.store.job(job_id)
            if record is None:
                return
            self.store.add_checkpoint(record.spec, event["path"], event["step"], record.model_id)
            self.store.update_job(job_id, step=event["step"])

    def finish(self, job_id: str, out: Path, ended: Optional[dict], exit_code: Optional[int],
               cancel_requested: bool = False) -> str:
        """Record how a run ended (``ended``: its terminal event, if it wrote one); returns its status.

        ``exit_code`` is None when the process ended unwatched. A process that
        died of SIGTERM after a cancel was asked for (before it could handle
        the signal) was cancelled, not failed.
        """
        kind = ended["event"] if ended else None
        if kind == "finished":
            status, error = "finished", ""
        elif kind == "cancelled":
            status, error = "cancelled", ""
        elif kind == "error":
            status = "failed"
            error = ended["message"] + (f"\n{death_message(exit_code)}" if exit_code is not None else "")
        elif cancel_requested and exit_code in (None, -signal.SIGTERM):
            status, error = "cancelled", ""
        else:
            status = "interrupted" if exit_code is None else "failed"
            error = death_message(exit_code) + _tail(Path(out) / LOG_NAME)
        fields: dict[str, Any] = {"status": status, "error": error, "finished": time.time(), "pid": None}
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if ended and ended.get("step") is not None:
            fields["step"] = ended["step"]
        self.store.update_job(job_id, **fields)
        return status


def death_message(exit_code: Optional[int]) -> str:
    if exit_code is None:
        return "The job's process ended while the studio was not watching (killed, or the machine restarted)."
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = ""
        hint = " (killed: out of memory, or stopped from outside)" if exit_code == -signal.SIGKILL else ""
        return f"The job's process was killed by signal {-exit_code} {name}{hint}."
    return f"The job's process exited with code {exit_code}."


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except FileNotFoundError:
        return ""
    return ("\nLast lines of its log:\n" + "\n".join(text)) if text else ""


class RunRecorder:
    """Catalogues a `studio train` run made in this process, as the app's job runner would.

    ``recorder.on_event`` goes to :func:`studio.engine.training.run`; the run's
    last event records how it ended (a run cancelled while it starts ends its
    process right after that event). Call :meth:`close` with the exit status
    at the end, for a run that ended without one.
    """

    def __init__(self, catalogue: RunCatalogue, job_id: str, out: Path) -> None:
        self.catalogue = catalogue
        self.job_id = job_id
        self.out = out
        self.ended: Optional[dict] = None
        self.status: Optional[str] = None  #: once the end is recorded

    @classmethod
    def start(cls, catalogue: RunCatalogue, registry, request, pid: int) -> RunRecorder:
        """List the run (or find it again when resuming) and mark it running in process ``pid``."""
        out = Path(request.out).resolve()
        job = catalogue.job_in(out) if request.resume else None
        if job is None:
            options = _options_of(request, out)
            job_id = catalogue.add(registry, options, out)
        else:
            job_id = job.id
        catalogue.store.update_job(job_id, status="running", pid=pid, started=time.time(), exit_code=None,
                                   error="", finished=None)
        return cls(catalogue, job_id, out)

    def on_event(self, event: dict[str, Any]) -> None:
        self.catalogue.record(self.job_id, event)
        if event["event"] in TERMINAL:
            self.ended = event
            exit_code = 1 if event["event"] == "error" else 0  # what the run returns after it
            self.status = self.catalogue.finish(self.job_id, self.out, event, exit_code)

    def close(self, exit_code: int) -> str:
        if self.status is None:
            self.status = self.catalogue.finish(self.job_id, self.out, self.ended, exit_code)
        return self.status


def _options_of(request, out: Path) -> JobOptions:
    """The job options of a command-line run (from its job.json when resuming one made elsewhere)."""
    import json

    data, steps, seed, upstream = request.data, request.steps, request.seed, dict(request.upstream)
    if request.resume and (out / JOB_FILE).exists():
        job = json.loads((out / JOB_FILE).read_text())
        data, steps, seed = job["data"], request.steps or job["steps"], job["seed"]
        upstream = job.get("upstream", {})
    return JobOptions(model=request.model, data=data, steps=steps, seed=seed,
                      checkpoint_every=request.checkpoint_every, sample_every=request.sample_every,
                      overrides=dict(request.overrides), title=f"{request.model} on {data} ({out.name})",
                      upstream=upstream, first_checkpoint_s=request.first_checkpoint_s,
                      start_from=request.start_from)
