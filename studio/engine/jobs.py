"""Training jobs: each in its own process, followed through its events file, kept in the store.

A job is `studio train ... --out WORKSPACE/jobs/ID` run as a child process, so
a crash or an out-of-memory error kills the job and not the app. A monitor
thread follows each running job's ``events.jsonl``, updates the store and
hands every event to ``on_event(job_id, event)`` (called on the monitor
thread). Jobs keep running if the app quits; the next start finds them again,
or marks them interrupted (resumable from their last checkpoint) if they died.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.errors import UserError
from studio.core.store import JobRecord
from studio.engine.events import TERMINAL, EventReader
from studio.engine.training import CHECKPOINT_NAME

POLL_S = 0.1
LOG_NAME = "log.txt"
ACTIVE = ("queued", "running")


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


@dataclass
class _Running:
    job_id: str
    out: Path
    reader: EventReader
    process: Optional[subprocess.Popen] = None  #: None when found again after a restart
    pid: Optional[int] = None
    ended: Optional[dict[str, Any]] = None  #: the terminal event, once seen


class JobManager:
    def __init__(self, workspace, registry, on_event: Optional[Callable[[str, dict], None]] = None,
                 device: str = "auto", python: str = sys.executable) -> None:
        self.workspace = workspace
        self.registry = registry
        self.store = workspace.store
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
    def start(self, options: JobOptions) -> str:
        """Check what can be checked here (model, data), then start the job's process."""
        from studio.core.config import apply_overrides
        from studio.core.data import resolve_data_argument

        spec = self.registry.model(options.model)
        if spec.trainer is None:
            raise UserError(f"The {spec.title} model cannot be trained in the studio.")
        apply_overrides(spec.config(), options.overrides)
        source, location = resolve_data_argument(self.registry, spec.data_kind, options.data)
        self.store.add_dataset(source.name, location, source.kind)
        job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        out = self.workspace.folder("jobs") / job_id
        title = options.title or f"{options.model} on {options.data}"
        args = {"model": options.model, "data": options.data, "steps": options.steps, "seed": options.seed,
                "checkpoint_every": options.checkpoint_every, "sample_every": options.sample_every,
                "overrides": options.overrides, "title": title}
        model_id = self.store.add_model(title, options.model, options.overrides)
        self.store.add_job(job_id, options.model, str(out), args, options.steps, model_id)
        self._spawn(job_id, out, args, resume=False)
        return job_id

    def resume(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.status in ACTIVE:
            raise UserError("This job is already running.")
        out = Path(job.out_dir)
        if not (out / CHECKPOINT_NAME).exists():
            raise UserError("This job saved no checkpoint before it stopped; start a new job instead.")
        self.store.update_job(job_id, status="queued", exit_code=None, error="", finished=None)
        self._spawn(job_id, out, job.args, resume=True)

    def cancel(self, job_id: str) -> None:
        """Ask the job to stop: it checkpoints after its current step and exits."""
        with self._lock:
            running = self._running.get(job_id)
        if running is None or running.pid is None:
            return
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
        return EventReader(Path(self._job(job_id).out_dir) / "events.jsonl").read_new()

    def log_tail(self, job_id: str, lines: int = 15) -> str:
        path = Path(self._job(job_id).out_dir) / LOG_NAME
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop following jobs; running ones carry on and are found again next time."""
        self._stop.set()
        self._thread.join(2)

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, job_id: str, out: Path, args: dict, resume: bool) -> None:
        out.mkdir(parents=True, exist_ok=True)
        command = [self.python, "-m", "studio", "--device", self.device, "train", args["model"],
                   "--out", str(out), "--seed", str(args["seed"]),
                   "--checkpoint-every", str(args["checkpoint_every"]), "--sample-every", str(args["sample_every"])]
        if resume:
            command.append("--resume")
        else:
            command += ["--data", args["data"], "--steps", str(args["steps"])]
            for name, value in args.get("overrides", {}).items():
                command += ["--set", f"{name}={value}"]
        reader = EventReader(out / "events.jsonl")
        reader.read_new()  # skip what earlier runs of this job wrote
        with open(out / LOG_NAME, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.store.update_job(job_id, status="running", pid=process.pid, started=time.time())
        with self._lock:
            self._running[job_id] = _Running(job_id, out, reader, process, process.pid)

    def _reattach(self) -> None:
        """After a restart: follow jobs still running, mark the dead ones interrupted."""
        for job in self.store.jobs():
            if job.status not in ACTIVE:
                continue
            out = Path(job.out_dir)
            if job.pid and _alive(job.pid, out):
                reader = EventReader(out / "events.jsonl")
                self._running[job.id] = _Running(job.id, out, reader, None, job.pid)
            else:
                events = EventReader(out / "events.jsonl").read_new()
                ended = next((e for e in reversed(events) if e["event"] in TERMINAL), None)
                self._finish(job.id, out, ended, exit_code=None)

    def _monitor(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                running = list(self._running.values())
            for job in running:
                self._poll(job)

    def _poll(self, job: _Running) -> None:
        for event in job.reader.read_new():
            self._record(job, event)
            if self.on_event:
                self.on_event(job.job_id, event)
        exit_code = job.process.poll() if job.process else (None if _alive(job.pid, job.out) else -1)
        if exit_code is None:
            return
        for event in job.reader.read_new():  # what it wrote just before exiting
            self._record(job, event)
            if self.on_event:
                self.on_event(job.job_id, event)
        with self._lock:
            self._running.pop(job.job_id, None)
        status = self._finish(job.job_id, job.out, job.ended, exit_code if job.process else None)
        if self.on_event:
            self.on_event(job.job_id, {"event": "ended", "status": status, "time": time.time()})

    def _record(self, job: _Running, event: dict) -> None:
        kind = event["event"]
        if kind == "progress":
            self.store.update_job(job.job_id, step=event["step"], total_steps=event["total"])
        elif kind == "started":
            self.store.update_job(job.job_id, step=event["step"], total_steps=event["total"])
        elif kind == "checkpoint":
            record = self.store.job(job.job_id)
            self.store.add_checkpoint(record.spec, event["path"], event["step"], record.model_id)
            self.store.update_job(job.job_id, step=event["step"])
        elif kind in TERMINAL:
            job.ended = event

    def _finish(self, job_id: str, out: Path, ended: Optional[dict], exit_code: Optional[int]) -> str:
        """Record how a job ended; returns its status."""
        kind = ended["event"] if ended else None
        if kind == "finished":
            status, error = "finished", ""
        elif kind == "cancelled":
            status, error = "cancelled", ""
        elif kind == "error":
            status, error = "failed", ended["message"]
        else:
            status = "interrupted" if exit_code is None else "failed"
            error = _death_message(exit_code) + _tail(out / LOG_NAME)
        fields: dict[str, Any] = {"status": status, "error": error, "finished": time.time(), "pid": None}
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if ended and "step" in ended:
            fields["step"] = ended["step"]
        self.store.update_job(job_id, **fields)
        return status

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.job(job_id)
        if job is None:
            raise UserError(f"No job {job_id} in this workspace.")
        return job


def _death_message(exit_code: Optional[int]) -> str:
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


def _alive(pid: Optional[int], out: Path) -> bool:
    """Whether ``pid`` is still our job (not a new process that reused the number)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return str(out) in cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return False
    return True
