"""Jobs: each in its own process, followed through its events file, kept in the store.

A job is `studio train ... --out WORKSPACE/jobs/ID` run as a child process, so
a crash or an out-of-memory error kills the job and not the app; collecting
rollouts and evaluating a controller run as jobs the same way
(:mod:`studio.engine.job_kinds`, which builds every kind's command line). A monitor
thread follows each running job's ``events.jsonl``, updates the store and
hands every event to ``on_event(job_id, event)`` (called on the monitor
thread). Jobs keep running if the app quits; the next start finds them again,
or marks them interrupted (resumable from their last checkpoint) if they died.
Found again, a job's past events update the store once, quietly; ``on_event``
sees only what it writes from then on (the dock reads the past with
:meth:`JobManager.history`). Runs started with `studio train` on the command
line are catalogued the same way (:mod:`studio.engine.catalogue`) and found too.
Running jobs share the cores equally (:mod:`studio.engine.thread_policy`).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.errors import UserError
from studio.core.store import JobRecord
from studio.engine import job_kinds
from studio.engine.catalogue import JobOptions, RunCatalogue, new_job_id
from studio.engine.events import TERMINAL, EventReader
from studio.engine.job_kinds import AnyOptions, CollectOptions, EvaluateOptions
from studio.engine.run_folder import EVENTS_NAME, JOB_FILE, LOG_NAME
from studio.engine.thread_policy import job_environment, share, usable_cores, write_budget

__all__ = ["ACTIVE", "CollectOptions", "EvaluateOptions", "JobManager", "JobOptions"]

POLL_S = 0.1
ACTIVE = ("queued", "running")


@dataclass
class _Running:
    job_id: str
    out: Path
    reader: EventReader
    process: Optional[subprocess.Popen] = None  #: None when found again after a restart
    pid: Optional[int] = None
    ended: Optional[dict[str, Any]] = None  #: the terminal event, once seen
    cancel_requested: bool = False  #: then a death by SIGTERM is a cancel, not a failure


class JobManager:
    def __init__(self, workspace, registry, on_event: Optional[Callable[[str, dict], None]] = None,
                 device: str = "auto", python: str = sys.executable) -> None:
        self.workspace = workspace
        self.registry = registry
        self.store = workspace.store
        self.catalogue = RunCatalogue(workspace.store)
        self.on_event = on_event
        self.device = device
        self.python = python
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reattach()
        self._thread = threading.Thread(target=self._monitor, name="studio-jobs", daemon=True)
        self._thread.start()

    # -- commands ------------------------------------------------------------------
    def start(self, options: AnyOptions) -> str:
        """Check what can be checked here (model, settings, the models it builds on; the data when
        it is catalogued), then start the job's process. ``options`` says the kind: a training job
        (:class:`JobOptions`), or a collect or evaluate job (:mod:`studio.engine.job_kinds`)."""
        if not isinstance(options, JobOptions):
            return self._start_tool(options)
        from studio.core.config import apply_overrides
        from studio.engine.stages import check_upstream
        from studio.engine.train_request import TrainRequest, check_start_from

        spec = self.registry.model(options.model)
        if spec.trainer is None:
            raise UserError(f"The {spec.title} model cannot be trained in the studio.")
        apply_overrides(spec.config(), options.overrides)
        options = dataclasses.replace(options, upstream=check_upstream(self.registry, spec, options.upstream))
        check_start_from(spec, TrainRequest(options.model, Path(), steps=options.steps, start_from=options.start_from))
        job_id = new_job_id()
        out = self.workspace.folder("jobs") / job_id
        self.catalogue.add(self.registry, options, out, job_id)
        self._spawn(job_id, out, self._job(job_id).args, resume=False)
        return job_id

    def _start_tool(self, options) -> str:
        """A collect or evaluate job; a collect job's folder is the rollouts folder, listed as a dataset."""
        spec, args, total = job_kinds.prepare(self.registry, options)
        job_id = new_job_id()
        out = self.workspace.folder("jobs") / job_id
        self.store.add_job(job_id, spec, str(out), args, total)
        if args["kind"] == job_kinds.COLLECT:
            self.store.add_dataset(job_kinds.ROLLOUTS_SOURCE, str(out), "rollouts")
        self._spawn(job_id, out, args, resume=False)
        return job_id

    def resume(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.status in ACTIVE:
            raise UserError("This job is already running.")
        job_kinds.check_installed(self.registry, job_kinds.job_needs(job))  # the message names a plugin that failed
        out = Path(job.out_dir)
        self.store.update_job(job_id, status="queued", exit_code=None, error="", finished=None)
        # from its checkpoint; one stopped before it wrote job.json starts again from the beginning
        self._spawn(job_id, out, job.args, resume=(out / JOB_FILE).exists())

    def cancel(self, job_id: str) -> None:
        """Ask the job to stop: it checkpoints after its current step and exits."""
        with self._lock:
            running = self._running.get(job_id)
        if running is None or running.pid is None:
            return
        running.cancel_requested = True
        try:
            os.kill(running.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def delete(self, job_id: str) -> None:
        """Forget a finished job (its folder and checkpoint stay on disk)."""
        if self._job(job_id).status in ACTIVE:
            raise UserError("Cancel the job before removing it.")
        self.store.delete_job(job_id)

    def jobs(self) -> list[JobRecord]:
        return self.store.jobs()

    def history(self, job_id: str) -> list[dict[str, Any]]:
        """Every event the job has written so far, for plots and the log view."""
        return EventReader(Path(self._job(job_id).out_dir) / EVENTS_NAME).read_new()

    def close(self) -> None:
        """Stop following jobs; running ones carry on and are found again next time."""
        self._stop.set()
        self._thread.join(2)

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, job_id: str, out: Path, args: dict, resume: bool) -> None:
        out.mkdir(parents=True, exist_ok=True)
        command = job_kinds.command_line(self.python, self.device, args, out, resume)
        reader = EventReader(out / EVENTS_NAME)
        reader.read_new()  # skip what earlier runs of this job wrote
        threads = self._share_cores(adding=out)
        with open(out / LOG_NAME, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1", **job_environment(threads)})
        self.store.update_job(job_id, status="running", pid=process.pid, started=time.time())
        with self._lock:
            self._running[job_id] = _Running(job_id, out, reader, process, process.pid)

    def _share_cores(self, adding: Optional[Path] = None) -> int:
        """Split the cores among the running jobs (and one about to start in ``adding``): each job's
        budget goes to its run folder, which a training job reads between steps
        (:mod:`studio.engine.thread_policy`); the new job's budget is returned."""
        with self._lock:
            folders = [job.out for job in self._running.values()]
        if adding is not None:
            folders.append(adding)
        threads = share(usable_cores(), len(folders))
        for folder in folders:
            try:
                write_budget(folder, threads)
            except OSError:  # a folder gone: its job is ending; the others still get theirs
                pass
        return threads

    def _reattach(self) -> None:
        """After a restart: follow jobs still running, mark the dead ones interrupted.

        What a job wrote while nobody watched updates the store here, once; the
        monitor then follows from the end of the file, so no event is handed to
        ``on_event`` twice."""
        for job in self.store.jobs():
            if job.status not in ACTIVE:
                continue
            out = Path(job.out_dir)
            alive = bool(job.pid) and _alive(job.pid, out)
            reader = EventReader(out / EVENTS_NAME)
            running = _Running(job.id, out, reader, None, job.pid)
            for event in reader.read_new():  # the history
                self._record(running, event)
            if alive:
                self._running[job.id] = running
            else:
                self.catalogue.finish(job.id, out, running.ended, exit_code=None)

    def _monitor(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                running = list(self._running.values())
            for job in running:
                self._poll(job)

    def _poll(self, job: _Running) -> None:
        self._follow(job)
        if job.process is not None:
            if not _exited(job.process):
                return
            if job.process.returncode is None:  # not collected yet: the number is still the job's
                _end_group(job.process.pid)
            exit_code = job.process.wait()
        elif _alive(job.pid, job.out):
            return
        else:
            exit_code = -1
        self._follow(job)  # what it wrote just before exiting
        with self._lock:
            self._running.pop(job.job_id, None)
        self._share_cores()  # the cores it leaves go to the jobs still running
        status = self.catalogue.finish(job.job_id, job.out, job.ended, exit_code if job.process else None,
                                       cancel_requested=job.cancel_requested)
        if self.on_event:
            self.on_event(job.job_id, {"event": "ended", "status": status, "time": time.time()})

    def _follow(self, job: _Running) -> None:
        for event in job.reader.read_new():
            self._record(job, event)
            if self.on_event:
                self.on_event(job.job_id, event)

    def _record(self, job: _Running, event: dict) -> None:
        self.catalogue.record(job.job_id, event)
        if event["event"] in TERMINAL:
            job.ended = event
        elif event["event"] == "started":
            job.ended = None  # a resumed run: what ended the last one is history

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.job(job_id)
        if job is None:
            raise UserError(f"No job {job_id} in this workspace.")
        return job


def _exited(process: subprocess.Popen) -> bool:
    """Whether a job's process has ended, without collecting its exit (its number stays taken until then)."""
    if not hasattr(os, "waitid"):
        return process.poll() is not None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # collected already (then its returncode says so)
        return True


def _end_group(pid: int) -> None:
    """End what an ended job's process left running: its worker processes (collecting, scoring) outlive a job
    killed from outside (SIGKILL, out of memory) and would go on driving. The job led its own process group,
    whose number is the job's own while its ended process is not collected yet."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: Optional[int], out: Path) -> bool:
    """Whether ``pid`` is still our job (not a new process that reused the number): its
    command line names ``out`` (relative to its working folder, as `studio train` may)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): trust the number
    try:
        words = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return False
    target = os.path.normpath(str(out))
    for word in words:
        word = word.removeprefix("--out=")
        if word and os.path.normpath(os.path.join(cwd, word)) == target:
            return True
    return False
