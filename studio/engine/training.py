"""The training entry point: what `studio train` runs, alone, under a job or under torchrun.

One run trains one model into an output folder (:mod:`studio.engine.run_folder`).
A model that builds on others (a stage of a pipeline, :mod:`studio.engine.stages`)
starts from their checkpoints, named in the request and kept in ``job.json``.

A cancel (SIGTERM or SIGINT) takes effect after the current step (or
validation batch): a checkpoint is written and the run ends with a "cancelled"
event. Before the first step (importing torch, loading the data) there is
nothing new to save: the process writes the "cancelled" event and ends at once
(:mod:`studio.engine.cancel`). ``--resume``
continues from the checkpoint's step with the same batches, optimizer and
random state. Under ``torchrun`` every rank trains its slice of each batch
(DistributedDataParallel); rank 0 alone writes files.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from studio.core.atomic import SaveError
from studio.core.capabilities import Cancelled
from studio.core.checkpoint import (
    CheckpointError,
    discard_unfinished_saves,
    read_checkpoint,
    read_header,
    save_checkpoint,
)
from studio.core.config import apply_overrides, config_dict, config_from_dict
from studio.core.errors import UserError
from studio.engine.cancel import CancelRequested, CancelSignal, process_signal
from studio.engine.events import EventLog
from studio.engine.run_folder import CHECKPOINT_NAME, EVENTS_NAME, JOB_FILE
from studio.engine.stages import check_upstream, load_upstream
from studio.engine.thread_policy import JobThreads
from studio.engine.train_request import TrainRequest, check_request, check_start_from


class Diverged(UserError):
    """Training diverged: a loss or the weights became NaN or infinite."""


class Run:
    """One training run; :meth:`execute` returns the exit status."""

    def __init__(self, registry, request: TrainRequest, echo: bool = True,
                 on_event: Optional[Callable[[dict], None]] = None) -> None:
        self.registry = registry
        self.request = request
        self.out = Path(request.out)
        #: SIGTERM/SIGINT set ``cancel``; the process's handler when the entry point installed one
        self._signal = process_signal() or CancelSignal()
        self.cancel = self._signal.requested
        self.rank, self.world_size = _distributed_rank()
        self.log = EventLog(self.out / EVENTS_NAME, echo=echo, enabled=self.rank == 0, on_event=on_event)
        self.trainer = None  #: set once built; lets a caller inspect the trained model
        self._step: Optional[int] = None  #: where the run is, once known
        self._total: Optional[int] = None
        self._saved_step: Optional[int] = None  #: the step of the last checkpoint this run wrote or resumed

    # -- the run ------------------------------------------------------------------
    def execute(self) -> int:
        own_handler = not self._signal.installed and self._signal.install()
        try:
            return self._train()
        except CancelRequested:  # while loading, before the first step
            self.log.emit("cancelled", step=self._step, total=self._total)
            return 0
        except UserError as exc:
            self.log.emit("error", message=str(exc), detail="")
            return 1
        except Exception as exc:
            if _out_of_memory(exc):
                self.log.emit("error", message=self._out_of_memory_message(exc), detail=traceback.format_exc())
                return 1
            self.log.emit("error", message=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc())
            return 1
        finally:
            if own_handler:
                self._signal.uninstall()

    def _train(self) -> int:
        from studio.core.data import load_data
        from studio.core.specs import resolve

        spec = check_request(self.registry, self.request)
        # everything before the first step can take long (torch, the data); a cancel ends it at once
        with self._signal.interruptible(self._exit_cancelled):
            job, checkpoint = self._job_description(spec)
            self._step, self._total = (checkpoint.step if checkpoint else 0), job["steps"]
            device = self._device()
            config = config_from_dict(spec.config, job["config"])
            dataset = load_data(self.registry, spec.data_kind, job["data"], config)
            if dataset.skipped:
                self.log.emit("data", skipped=len(dataset.skipped), message=skipped_message(dataset.skipped))
            extra = {"upstream": load_upstream(self.registry, job["upstream"], device)} if spec.builds_on else {}
            trainer = resolve(spec.trainer)(config, dataset.split(seed=job["seed"]), device=device, seed=job["seed"],
                                            **extra)
            trainer.stop_requested = self.cancel.is_set  # lets a long validation stop between batches
            self.trainer = trainer
            start, resumed = 0, checkpoint is not None
            if checkpoint is not None:
                trainer.restore(checkpoint.state)
                start = self._saved_step = checkpoint.step
            elif job.get("start_from"):
                start = self._start_from(trainer, job["start_from"])
        total = job["steps"]
        self.log.emit("started", step=start, total=total, resumed=resumed, device=device,
                      pid=os.getpid(), world_size=self.world_size)
        if start >= total:
            self.log.emit("finished", step=start, total=total)
            return 0
        return self._loop(spec, trainer, start, total)

    def _start_from(self, trainer, path: str) -> int:
        """Restore a new run's trainer from another run's checkpoint (``--start-from``); its step."""
        checkpoint = read_checkpoint(path)
        try:
            trainer.restore(checkpoint.state)
        except (RuntimeError, KeyError, ValueError) as exc:  # torch's words for weights of another shape
            raise UserError(f"The weights of {path} do not fit this run's settings (a --set that changes the "
                            f"model's size?): {str(exc).splitlines()[0]}") from exc
        self.log.emit("note", message=f"starting from {path} at step {checkpoint.step}")
        return checkpoint.step

    def _loop(self, spec, trainer, start: int, total: int) -> int:
        if self.world_size > 1:  # each rank keeps the threads torchrun gave it
            return self._steps(spec, trainer, start, total, None)
        threads = JobThreads(self.out, self._note)
        try:
            return self._steps(spec, trainer, start, total, threads)
        finally:
            threads.restore()

    def _steps(self, spec, trainer, start: int, total: int, threads: Optional[JobThreads]) -> int:
        request = self.request
        step = start
        meter = _Throughput(start, self.world_size)
        early = None if request.first_checkpoint_s is None else time.monotonic() + request.first_checkpoint_s
        began = time.perf_counter()
        for progress in trainer.steps(start, total):
            if threads is not None:  # the step alone: checkpoints and samples below are not the trainer's speed
                threads.step_done(time.perf_counter() - began)
            step = self._step = progress.step  # (self._step: where an error found the run)
            self._check_finite(progress)
            meter.add(progress)
            if self._agreed_to_stop():
                return self._cancelled(spec, trainer, step, total)
            if meter.due() or step == total:
                self.log.emit("progress", **meter.report(total))
            if step % request.checkpoint_every == 0 and step != total:
                early = None
                self._validate(trainer, step)
                self._checkpoint(spec, trainer, step)
                if self.world_size == 1 and self.cancel.is_set():  # cancelled while validating
                    self.log.emit("cancelled", step=step, total=total)
                    return 0
            elif early is not None and step != total and time.monotonic() >= early:
                early = None  # the first checkpoint, early: the model can be tried while it trains
                self._checkpoint(spec, trainer, step)  # (rank 0's alone: no rank waits for another here)
            if step % request.sample_every == 0 and step != total:
                self._samples(trainer, step)
            began = time.perf_counter()
        validated = self._validate(trainer, step)
        self._checkpoint(spec, trainer, step)
        if validated:
            self._samples(trainer, step)
        self.log.emit("finished", step=step, total=total)
        return 0

    def _note(self, message: str) -> None:
        self.log.emit("note", message=message)

    def _exit_cancelled(self) -> None:
        """Cancelled before the first step, with nothing new to save: say so and end the process."""
        self.log.emit("cancelled", step=self._step, total=self._total)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _cancelled(self, spec, trainer, step: int, total: int) -> int:
        self._checkpoint(spec, trainer, step)
        self.log.emit("cancelled", step=step, total=total)
        return 0

    # -- pieces -----------------------------------------------------------------------
    def _job_description(self, spec) -> tuple[dict[str, Any], Any]:
        """What to train (job.json) and the checkpoint to resume from, if any."""
        request = self.request
        job_file = self.out / JOB_FILE
        checkpoint = None
        if request.resume and (self.out / CHECKPOINT_NAME).exists():
            checkpoint = read_checkpoint(self.out / CHECKPOINT_NAME)
            if checkpoint.spec != spec.name:
                raise CheckpointError(f"{self.out} holds a {checkpoint.spec!r} run, not {spec.name!r}.")
        if request.resume and job_file.exists():
            job = json.loads(job_file.read_text())
            if request.steps:
                job["steps"] = request.steps
            job.setdefault("upstream", {})
            if checkpoint is not None:
                job["config"] = checkpoint.config  # learned parts (a tokenizer) live in the config
        else:
            if request.resume:
                self.log.emit("note", message=f"nothing to resume in {self.out}; starting from step 0")
            start_from = check_start_from(spec, request)
            base = spec.config() if start_from is None else \
                config_from_dict(spec.config, read_header(start_from).config)
            config = apply_overrides(base, request.overrides)
            job = {"model": spec.name, "data": request.data, "steps": request.steps, "seed": request.seed,
                   "config": config_dict(config), "upstream": check_upstream(self.registry, spec, request.upstream),
                   "start_from": start_from}
        if self.rank == 0:
            from studio.core.atomic import atomic_write, leftovers

            # a run killed while saving (SIGKILL, out of memory) left its temporary files: each as big as a save
            discard_unfinished_saves(self.out / CHECKPOINT_NAME)
            for unfinished in leftovers(job_file):
                unfinished.unlink(missing_ok=True)
            atomic_write(job_file, json.dumps(job, indent=2))
        return job, checkpoint

    def _device(self) -> str:
        from studio.core.device import pick_device

        if self.world_size > 1:
            _init_process_group()
            import torch

            if torch.cuda.is_available():
                return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            return "cpu"
        choice = pick_device(self.request.device)
        if choice.warning:
            self.log.emit("note", message=choice.warning)
        return choice.name

    def _checkpoint(self, spec, trainer, step: int) -> None:
        if self.rank != 0:
            return
        path = self.out / CHECKPOINT_NAME
        state = trainer.state()
        broken = next((name for name, tensor in state.tensors.items()
                       if name.startswith("model.") and not _all_finite(tensor)), None)
        if broken is not None:  # the step's loss was still finite, but its update was not
            raise Diverged(f"Training stopped at step {step:,}: the weights ({broken}) are no longer numbers. "
                           + self._kept())
        try:
            save_checkpoint(path, spec.name, trainer.config, step, state)
        except SaveError as exc:  # a full disk, a folder gone read-only: the last checkpoint is still whole
            kept = (f"The checkpoint of step {self._saved_step:,} is kept" if self._saved_step is not None
                    else "No checkpoint was saved before")
            advice = "free some space on the disk" if exc.errno == errno.ENOSPC else "fix what stopped the save"
            raise UserError(f"Training stopped at step {step:,}: {exc} {kept}: {advice}, then resume the job.") \
                from exc
        self._saved_step = step
        self.log.emit("checkpoint", step=step, path=str(path))

    def _out_of_memory_message(self, exc: BaseException) -> str:
        where = f" at step {self._step:,}" if self._step is not None else ""
        asked = re.search(r"allocate (\d+) bytes", str(exc))  # torch's allocators say how much
        detail = f" (it asked for {int(asked.group(1)) / 2**30:.2f} GiB at once)" if asked else ""
        kept = (f"The last checkpoint (step {self._saved_step:,}) is kept" if self._saved_step is not None
                else "No checkpoint was saved")
        return (f"The job ran out of memory{where}{detail}. {kept}. A smaller batch (--set batch_size=...) "
                "or a smaller model needs less; other jobs and programs running beside it leave it less.")

    def _check_finite(self, progress) -> None:
        """A loss that is NaN or infinite ends the run before anything is saved from it."""
        for name, value in progress.losses.items():
            if not math.isfinite(float(value)):
                raise Diverged(f"Training stopped at step {progress.step:,}: the {name} became {float(value)} "
                               f"(not a number the model can learn from). {self._kept()}")

    def _kept(self) -> str:
        kept = (f"The last good checkpoint (step {self._saved_step:,}) is kept" if self._saved_step is not None
                else "No checkpoint was saved")
        return (f"{kept}. A lower learning rate (--set learning_rate=...) or a smaller batch usually helps; "
                "resuming would only diverge again.")

    def _validate(self, trainer, step: int) -> bool:
        """Held-out losses with every checkpoint, so the Jobs dock can plot them as training goes.
        False when a cancel stopped the validation (it is then skipped)."""
        if self.rank != 0:
            return True
        try:
            losses = trainer.validate()
        except Cancelled:
            self.log.emit("note", message=f"validation at step {step} skipped: the run was cancelled")
            return False
        self.log.emit("validation", step=step, losses=_floats(losses))
        return True

    def _samples(self, trainer, step: int) -> None:
        if self.rank != 0:
            return
        picture = trainer.preview(seed=0)
        if picture is None:
            return
        from studio.core.imaging import save_png

        path = self.out / "samples" / f"step-{step:06d}.png"
        save_png(picture, path)
        self.log.emit("samples", step=step, path=str(path))

    def _agreed_to_stop(self) -> bool:
        """Whether to stop now; under torchrun every rank must stop at the same step."""
        if self.world_size == 1:
            return self.cancel.is_set()
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1.0 if self.cancel.is_set() else 0.0])
        if dist.get_backend() == "nccl":
            flag = flag.cuda()
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def skipped_message(skipped: list[tuple[str, str]], shown: int = 20) -> str:
    """The job log's line for files a dataset could not read: how many, and the first few."""
    count = len(skipped)
    noun = "file" if count == 1 else "files"
    listed = "; ".join(f"{name} ({why})" for name, why in skipped[:shown])
    if count > shown:
        return f"skipped {count} unreadable {noun} (first {shown}: {listed})"
    return f"skipped {count} unreadable {noun}: {listed}"


class _Throughput:
    """Averages losses between reports and estimates speed and time left."""

    REPORT_EVERY_S = 0.25

    def __init__(self, start: int, world_size: int = 1) -> None:
        self.world_size = world_size  #: every rank processes as many items as this one
        self.first_step = start
        self.started = self.last_report = time.perf_counter()
        self.sums: dict[str, float] = {}
        self.count = 0
        self.items = 0
        self.step = start
        self.epoch = 0.0

    def add(self, progress) -> None:
        self.step, self.epoch = progress.step, progress.epoch
        self.items += progress.items * self.world_size
        self.count += 1
        for k, v in progress.losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)

    def due(self) -> bool:
        return time.perf_counter() - self.last_report >= self.REPORT_EVERY_S

    def report(self, total: int) -> dict[str, Any]:
        now = time.perf_counter()
        elapsed = max(now - self.started, 1e-9)
        steps_per_s = (self.step - self.first_step) / elapsed
        losses = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        report = {
            "step": self.step, "total": total, "epoch": round(self.epoch, 4), "losses": losses,
            "items_per_s": round(self.items / max(now - self.last_report, 1e-9), 2),
            "eta_s": round((total - self.step) / steps_per_s, 1) if steps_per_s > 0 else None,
        }
        self.sums, self.count, self.items, self.last_report = {}, 0, 0, now
        return report


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: Python's ``MemoryError`` (numpy's too), torch's ``OutOfMemoryError``
    (CUDA), or the ``RuntimeError`` torch's CPU allocator raises ("can't allocate memory")."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def _all_finite(tensor: Any) -> bool:
    """Whether every number in a torch tensor or numpy array is finite (other values count as finite)."""
    if hasattr(tensor, "isfinite"):
        return bool(tensor.isfinite().all())
    import numpy as np

    array = np.asarray(tensor)
    return array.dtype.kind not in "fc" or bool(np.isfinite(array).all())


def _floats(losses) -> dict[str, float]:
    return {k: float(v) for k, v in losses.items()}


def _distributed_rank() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def _init_process_group() -> None:
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)


def run(registry, request: TrainRequest, echo: bool = True,
        on_event: Optional[Callable[[dict], None]] = None) -> int:
    """Train as `studio train` does; returns the process exit status.
    ``on_event(record)`` sees every event written (rank 0 only)."""
    try:
        return Run(registry, request, echo=echo, on_event=on_event).execute()
    finally:
        _shutdown_distributed()
        sys.stdout.flush()


def _shutdown_distributed() -> None:
    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
