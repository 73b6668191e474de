"""The inference thread: one long-lived worker owns the device and the loaded models.

Panels submit requests (a function to run on a loaded model); results, step
previews and errors come back through callbacks, called *on the worker
thread*: the UI's bridge turns them into Qt signals. Nothing here imports Qt.

- Every request can be cancelled; the model sees it at its next step
  (``ctx.step(...)`` raises :class:`Cancelled`).
- A request with a ``key`` replaces any queued request with the same key and
  cancels the running one (it stops at its next step), so while a slider is
  dragged only the newest position is computed and shown.
- Sessions (:mod:`studio.engine.sessions`) are long-lived, two-way requests.
  They share the thread with requests at step boundaries: every ``ctx.step``
  of a request gives each due session one step, and between requests the
  sessions step on their own.
- Loaded models are kept in a least-recently-used cache under a memory budget.
- An out-of-memory error (CUDA's, or the CPU allocator's) unloads models,
  frees the memory, reports a clear message and leaves the worker running.
- The worker runs torch with :func:`~studio.engine.machine.inference_threads` intra-op threads: its
  requests are small and interactive, and the GUI (and jobs) need cores too. Requests and session
  steps run in torch's inference mode (:func:`~studio.engine.machine.inference_mode`).
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.capabilities import Cancelled
from studio.core.errors import UserError
from studio.core.network_guard import network_blocked
from studio.engine.machine import free_memory, inference_mode, is_out_of_memory, model_bytes, use_inference_threads
from studio.engine.sessions import (
    CANCELLED,
    FAILED,
    FINISHED,
    Session,
    SessionCallbacks,
    SessionContext,
    SessionHandle,
    next_due,
)

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
    """Handed to a request's function: the device, and the per-step report/cancel point.

    :meth:`step` has the signature of a capability's ``on_step`` callback, so
    ``on_step=ctx.step`` hands it to a model."""

    def __init__(self, request: Request, device: str, between_steps: Callable[[], None]) -> None:
        self._request = request
        self.device = device
        self._between_steps = between_steps

    @property
    def cancelled(self) -> bool:
        return self._request.cancelled.is_set()

    def step(self, step: int, total: int, preview: Any = None) -> None:
        """Report progress and give the sessions their turn; raises :class:`Cancelled` if the
        request was cancelled (before or during the sessions' steps)."""
        if self._request.cancelled.is_set():
            raise Cancelled()
        if self._request.callbacks.on_step:
            self._request.callbacks.on_step(step, total, preview)
        self._between_steps()
        if self._request.cancelled.is_set():
            raise Cancelled()


ModelLoader = Callable[[ModelRef, str], Any]


class InferenceWorker:
    """Runs requests one at a time, and sessions between them, on a single thread that owns
    the models.

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
        #: called on the worker thread when it has run every request queued (the GUI relay then
        #: delivers what waits without waiting for its next frame)
        self.on_idle: Optional[Callable[[], None]] = None
        #: frees what a request that ran out of memory left (called on the worker thread; the GUI's client
        #: hands the collection to the GUI thread, where Qt objects caught in reference cycles may be freed)
        self.free_memory: Callable[[], None] = free_memory
        self._queue: collections.deque[Request] = collections.deque()
        self._sessions: list[Session] = []
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
        """Cancel everything and end the thread; sessions are told ``on_closed(CANCELLED)``."""
        with self._cond:
            self._stopping = True
            for request in self._queue:
                request.cancel()
            if self._current:
                self._current.cancel()
            for session in self._sessions:
                session.cancelled.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- requests ----------------------------------------------------------------
    def submit(self, model: Optional[ModelRef], fn: Callable[[Any, RequestContext], Any], *,
               key: Optional[str] = None, callbacks: Optional[Callbacks] = None) -> Request:
        """Queue ``fn(model, ctx)``. With ``key``, queued requests with the same key are dropped and
        a running one is cancelled (it stops at its next step): the newest wins."""
        request = Request(next(self._ids), model, fn, key, callbacks or Callbacks())
        with self._cond:
            if key is not None:
                stale = [r for r in self._queue if r.key == key]
                for r in stale:
                    self._queue.remove(r)
                    r.cancel()
                    _call(r.callbacks.on_cancelled)
                if self._current is not None and self._current.key == key:
                    self._current.cancel()
            self._queue.append(request)
            self._cond.notify()
        return request

    def open_session(self, model: Optional[ModelRef], fn: Callable[[Any, SessionContext], Any], *,
                     pace: float = 0.0, wait_for_input: bool = False,
                     callbacks: Optional[SessionCallbacks] = None) -> SessionHandle:
        """Start a session: ``fn(model, ctx)`` is a generator, each ``next()`` one step (see
        :mod:`studio.engine.sessions`). Its model is loaded before its first step."""
        session = Session(next(self._ids), model, fn, callbacks or SessionCallbacks(), pace, wait_for_input,
                          self._wake)
        with self._cond:
            if self._stopping:
                session.cancelled.set()
            self._sessions.append(session)
            self._cond.notify()
        return SessionHandle(session)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def set_device(self, device: str) -> None:
        """Move to another device: models are unloaded and reload there on next use."""
        self.submit(None, lambda _model, _ctx: self._switch_device(device))

    def unload(self, predicate: Callable[[ModelRef], bool] = lambda ref: True) -> None:
        """Forget loaded models (e.g. a checkpoint was rewritten); runs on the worker. Sessions keep
        the models they hold."""
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
                while not (self._stopping or self._queue):
                    due, wait = next_due(self._sessions)
                    if due:
                        break
                    self._cond.wait(wait)
                if self._stopping:
                    break
                request = self._current = self._queue.popleft() if self._queue else None
            if request is None:
                self._between_steps()
                continue
            try:
                self._execute(request)
            finally:
                with self._cond:
                    self._current = None
                    idle = not self._queue
            if idle:
                _call(self.on_idle)
        with self._cond:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            self._close_session(session, CANCELLED)

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
            ctx = RequestContext(request, self.device or "cpu", self._between_steps)
            ctx.step(0, 0)  # cancelled while loading? (and the sessions' turn)
            with inference_mode():
                result = request.fn(model, ctx)
        except Cancelled:
            _call(cb.on_cancelled)
            return
        except Exception as exc:
            # only text leaves this block: the exception's traceback holds the frames that hold the tensors
            error = (self._describe(exc, request.model), is_out_of_memory(exc))
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
            self.free_memory()
        _call(cb.on_error, message, detail)

    # -- sessions ----------------------------------------------------------------------
    def _between_steps(self) -> None:
        """One step of every session that is due (a request's step boundary, or an idle moment)."""
        if not self._sessions:  # the common case, at every step of every request: no lock needed
            return
        with self._cond:
            due, _wait = next_due(self._sessions)
        for session in due:
            self._step_session(session)

    def _step_session(self, session: Session) -> None:
        if session.cancelled.is_set():
            self._close_session(session, CANCELLED)
            return
        session.start_step(time.monotonic())
        error = None
        try:
            if session.stream is None:
                session.model = self._model(session.model_ref) if session.model_ref else None
                session.stream = iter(session.fn(session.model, SessionContext(session, self.device or "cpu")))
            with inference_mode():
                output = next(session.stream)
        except StopIteration:
            self._close_session(session, FINISHED)
            return
        except Cancelled:
            self._close_session(session, CANCELLED)
            return
        except Exception as exc:  # as for requests: only text leaves the block
            error = (self._describe(exc, session.model_ref), is_out_of_memory(exc))
        if error is None:
            _call(session.callbacks.on_output, output)
            return
        (message, detail), out_of_memory = error
        self._close_session(session, None)
        if out_of_memory:
            self._models.clear()
            self.free_memory()
        _call(session.callbacks.on_error, message, detail)
        _call(session.callbacks.on_closed, FAILED)

    def _close_session(self, session: Session, how: Optional[str]) -> None:
        """Forget ``session``, close its generator and drop its model; tell ``on_closed(how)``
        unless ``how`` is None (a failure, told after its error)."""
        with self._cond:
            if session in self._sessions:
                self._sessions.remove(session)
        stream, session.stream, session.model = session.stream, None, None
        if stream is not None and hasattr(stream, "close"):
            try:
                stream.close()
            except Exception:
                traceback.print_exc()
        if how is not None:
            _call(session.callbacks.on_closed, how)

    # -- models ------------------------------------------------------------------------
    def _model(self, ref: ModelRef) -> Any:
        if ref in self._models:
            self._models.move_to_end(ref)
            return self._models[ref][0]
        model = self._loader(ref, self.device or "cpu")
        size = model_bytes(model)
        while self._models and sum(s for _, s in self._models.values()) + size > self._budget:
            self._models.popitem(last=False)
        self._models[ref] = (model, size)
        return model

    def _describe(self, exc: Exception, model: Optional[ModelRef]) -> tuple[str, str]:
        detail = traceback.format_exc()
        if is_out_of_memory(exc):
            what = f" running {model.spec}" if model else ""
            advice = "" if (self.device or "cpu") == "cpu" else ", or switch to the CPU"
            return (f"Out of memory on {self.device}{what}. Loaded models were unloaded; try fewer or "
                    f"smaller images{advice}.", detail)
        if isinstance(exc, UserError):  # written for the artist: no traceback to show
            return str(exc), ""
        blocked = network_blocked(exc)
        if blocked is not None:  # a library wrapped the guard's error (urllib's URLError): show it as written
            return str(blocked), detail
        return f"Unexpected error: {type(exc).__name__}: {exc}", detail


def _call(callback: Optional[Callable], *args: Any) -> None:
    """Run a callback; a failing callback must not take the worker down."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        traceback.print_exc()
