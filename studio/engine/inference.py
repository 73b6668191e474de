"""The inference thread: one long-lived worker owns the device and the loaded models.

Panels submit requests (a function to run on a loaded model); results, step
previews and errors come back through callbacks, called *on the worker
thread*: the UI's bridge turns them into Qt signals. Nothing here imports Qt.

- Every request can be cancelled; the model sees it at its next step
  (``ctx.step(...)`` raises :class:`Cancelled`).
- A request with a ``key`` replaces any queued request with the same key, so
  while a slider is dragged only the newest position is computed.
- Loaded models are kept in a least-recently-used cache under a memory budget.
- An out-of-memory error (CUDA's, or the CPU allocator's) unloads models,
  frees the memory, reports a clear message and leaves the worker running.
- The worker runs torch with :func:`inference_threads` intra-op threads: its
  requests are small and interactive, and the GUI (and jobs) need cores too.
"""

from __future__ import annotations

import collections
import gc
import itertools
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.capabilities import Cancelled, StepCallback
from studio.core.errors import UserError

DEFAULT_BUDGET_MB = 4096


@dataclass(frozen=True)
class ModelRef:
    """Which model to run: a spec name and the checkpoint (file or folder) to load."""

    spec: str
    checkpoint: str


@dataclass
class Callbacks:
    """Called on the worker thread; any may be None."""

    on_result: Optional[Callable[[Any], None]] = None
    on_error: Optional[Callable[[str, str], None]] = None  #: (message for the user, traceback)
    on_step: Optional[Callable[[int, int, Any], None]] = None
    on_cancelled: Optional[Callable[[], None]] = None


@dataclass(slots=True)
class Request:
    id: int
    model: Optional[ModelRef]
    fn: Callable[[Any, RequestContext], Any]
    key: Optional[str]
    callbacks: Callbacks
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()


class RequestContext:
    """Handed to a request's function: the device, and the per-step report/cancel point."""

    def __init__(self, request: Request, device: str) -> None:
        self._request = request
        self.device = device

    @property
    def cancelled(self) -> bool:
        return self._request.cancelled.is_set()

    def step(self, step: int, total: int, preview: Any = None) -> None:
        """Report progress; raises :class:`Cancelled` if the request was cancelled."""
        if self._request.cancelled.is_set():
            raise Cancelled()
        if self._request.callbacks.on_step:
            self._request.callbacks.on_step(step, total, preview)

    @property
    def on_step(self) -> StepCallback:
        """This context as a capability ``on_step`` callback."""
        return self.step


ModelLoader = Callable[[ModelRef, str], Any]


class InferenceWorker:
    """Runs requests one at a time on a single thread that owns the models.

    ``loader(ref, device)`` loads a model; the default loads a studio checkpoint
    through the registry (:func:`studio.core.checkpoint.load_model`).
    """

    def __init__(self, loader: ModelLoader, device: str = "auto", budget_mb: int = DEFAULT_BUDGET_MB,
                 on_device: Optional[Callable[[Any], None]] = None) -> None:
        self._loader = loader
        self._requested_device = device
        self._budget = budget_mb * 2**20
        #: called on the worker thread with a DeviceChoice (or the exception) when the device is known
        self.on_device = on_device
        self._queue: collections.deque[Request] = collections.deque()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._models: collections.OrderedDict[ModelRef, tuple[Any, int]] = collections.OrderedDict()
        self._current: Optional[Request] = None
        self._stopping = False
        self.device: Optional[str] = None
        self._thread = threading.Thread(target=self._run, name="studio-inference", daemon=True)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> InferenceWorker:
        with self._cond:
            if not self._stopping and self._thread.ident is None:
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            for request in self._queue:
                request.cancel()
            if self._current:
                self._current.cancel()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- requests ----------------------------------------------------------------
    def submit(self, model: Optional[ModelRef], fn: Callable[[Any, RequestContext], Any], *,
               key: Optional[str] = None, callbacks: Optional[Callbacks] = None) -> Request:
        """Queue ``fn(model, ctx)``; with ``key``, drop queued requests with the same key."""
        request = Request(next(self._ids), model, fn, key, callbacks or Callbacks())
        with self._cond:
            if key is not None:
                stale = [r for r in self._queue if r.key == key]
                for r in stale:
                    self._queue.remove(r)
                    r.cancel()
                    _call(r.callbacks.on_cancelled)
            self._queue.append(request)
            self._cond.notify()
        return request

    def cancel_all(self) -> None:
        with self._cond:
            for request in list(self._queue):
                request.cancel()
            if self._current:
                self._current.cancel()

    def set_device(self, device: str) -> None:
        """Move to another device: models are unloaded and reload there on next use."""
        self.submit(None, lambda _model, _ctx: self._switch_device(device))

    def unload(self, predicate: Callable[[ModelRef], bool] = lambda ref: True) -> None:
        """Forget loaded models (e.g. a checkpoint was rewritten); runs on the worker."""
        def drop(_model, _ctx):
            for ref in [r for r in self._models if predicate(r)]:
                del self._models[ref]
        self.submit(None, drop)

    @property
    def loaded(self) -> list[ModelRef]:
        return list(self._models)

    # -- the thread ---------------------------------------------------------------
    def _run(self) -> None:
        self._switch_device(self._requested_device)
        use_inference_threads()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                request = self._current = self._queue.popleft()
            try:
                self._execute(request)
            finally:
                with self._cond:
                    self._current = None

    def _switch_device(self, requested: str) -> None:
        from studio.core.device import pick_device

        try:
            choice = pick_device(requested)
        except Exception as exc:  # torch missing or broken: say so, keep serving CPU-free requests
            self.device = "cpu"
            _call(self.on_device, exc)
            return
        self._models.clear()
        self.device = choice.name
        _call(self.on_device, choice)

    def _execute(self, request: Request) -> None:
        cb = request.callbacks
        if request.cancelled.is_set():
            _call(cb.on_cancelled)
            return
        error = None
        try:
            model = self._model(request.model) if request.model else None
            ctx = RequestContext(request, self.device or "cpu")
            ctx.step(0, 0)  # cancelled while loading?
            result = request.fn(model, ctx)
        except Cancelled:
            _call(cb.on_cancelled)
            return
        except Exception as exc:
            # only text leaves this block: the exception's traceback holds the frames that hold the tensors
            error = (self._describe(exc, request), _is_out_of_memory(exc))
        if error is None:
            if request.cancelled.is_set():
                _call(cb.on_cancelled)
            else:
                _call(cb.on_result, result)
            return
        (message, detail), out_of_memory = error
        if out_of_memory:
            model = ctx = None
            self._models.clear()
            _free_memory()
        _call(cb.on_error, message, detail)

    def _model(self, ref: ModelRef) -> Any:
        if ref in self._models:
            self._models.move_to_end(ref)
            return self._models[ref][0]
        model = self._loader(ref, self.device or "cpu")
        size = _model_bytes(model)
        while self._models and sum(s for _, s in self._models.values()) + size > self._budget:
            self._models.popitem(last=False)
        self._models[ref] = (model, size)
        return model

    def _describe(self, exc: Exception, request: Request) -> tuple[str, str]:
        detail = traceback.format_exc()
        if _is_out_of_memory(exc):
            what = f" running {request.model.spec}" if request.model else ""
            advice = "" if (self.device or "cpu") == "cpu" else ", or switch to the CPU"
            return (f"Out of memory on {self.device}{what}. Loaded models were unloaded; try fewer or "
                    f"smaller images{advice}.", detail)
        if isinstance(exc, UserError):
            return str(exc), detail
        return f"Unexpected error: {type(exc).__name__}: {exc}", detail


def _call(callback: Optional[Callable], *args: Any) -> None:
    """Run a callback; a failing callback must not take the worker down."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        traceback.print_exc()


def _model_bytes(model: Any) -> int:
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return 0
    try:
        return sum(p.numel() * p.element_size() for p in parameters())
    except Exception:
        return 0


#: How out-of-memory errors read: CUDA's and MPS's, and the CPU allocator's
#: ("DefaultCPUAllocator: can't allocate memory ... (Cannot allocate memory)").
_OUT_OF_MEMORY_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _is_out_of_memory(exc: Exception) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OUT_OF_MEMORY_TEXT)


def _free_memory() -> None:
    """Collect what the failed request left (call outside the ``except`` block), then give
    the cached GPU memory back."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def inference_threads() -> int:
    """Torch intra-op threads for the inference thread: half the cores this process may use, at
    least one. Its requests (a decode, a sampling step) are too small to gain from many threads,
    whose wake-ups cost more than they save, and the GUI and training jobs need cores too."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def use_inference_threads() -> None:
    """Give torch :func:`inference_threads` threads in the calling thread (OpenMP's setting is
    per thread, so call it in the thread that runs the models; a benchmark's direct calls too)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(inference_threads())
