"""Brings engine callbacks (called on worker threads) onto the GUI thread."""

from __future__ import annotations

import collections
import functools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from studio.engine.inference import Callbacks, InferenceWorker, ModelRef, Request, RequestContext
from studio.engine.machine import free_memory
from studio.engine.sessions import SessionCallbacks, SessionContext, SessionHandle


class GuiRelay(QObject):
    """Calls functions on the thread this object lives in (the GUI thread).

    ``relay.call(fn, *args)`` may be used from any thread. Calls wait in a
    Python queue, in order, and a signal without arguments wakes the GUI
    thread to run them: only the wake-up goes through Qt's event queue, so no
    Python object has to be converted for it.

    One wake-up serves every call queued before it is handled: it is sent only
    when the queue goes from empty to waiting. A stream of calls (results of a
    slider being dragged, a job's events) is drained at most once per
    :data:`FRAME_S`; a call after a quiet spell runs at the next turn of the
    event loop. Each Qt wake-up costs the worker and the GUI thread a switch
    and the GIL, which a stream of small requests would otherwise pay per call.
    When the stream ends (:meth:`flush`: the inference thread has nothing more
    to do), what waits for its frame is drained at once: the last result of a
    burst (the image under the mouse when a drag stops) is not held back.
    """

    FRAME_S = 1 / 60

    _wake = Signal()
    _flush = Signal()

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._pending: collections.deque[tuple[Callable, tuple]] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False  #: a wake-up is on its way, or a drain is due
        self._last_drain = -1.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._drain)
        self._wake.connect(self._woken, Qt.QueuedConnection)
        self._flush.connect(self._flushed, Qt.QueuedConnection)

    def call(self, fn: Optional[Callable], *args: Any) -> None:
        if fn is None:
            return
        with self._lock:
            self._pending.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    def wrap(self, fn: Optional[Callable]) -> Optional[Callable]:
        """``fn`` made safe to call from any thread (it will run on the GUI thread)."""
        if fn is None:
            return None
        return functools.partial(self.call, fn)

    def flush(self) -> None:
        """No more calls are coming for now (any thread): run the waiting ones without waiting for the
        next frame."""
        with self._lock:
            waiting = self._scheduled and bool(self._pending)
        if waiting:
            self._flush.emit()

    @Slot()
    def _flushed(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self._drain()

    @Slot()
    def _woken(self) -> None:
        wait = self._last_drain + self.FRAME_S - time.monotonic()
        if wait > 0:
            self._timer.start(max(1, round(wait * 1000)))
        else:
            self._drain()

    @Slot()
    def _drain(self) -> None:
        self._last_drain = time.monotonic()
        with self._lock:
            self._scheduled = False  # calls queued from now on send a new wake-up
        pending = self._pending
        while pending:
            fn, args = pending.popleft()
            try:
                fn(*args)
            except Exception:  # one failing callback must not hold back the others
                sys.excepthook(*sys.exc_info())


class InferenceClient(QObject):
    """The panels' handle on the inference thread; callbacks arrive on the GUI thread."""

    device_changed = Signal(str)  #: a description for the status bar

    def __init__(self, worker: InferenceWorker, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.relay = GuiRelay(self)
        worker.on_device = self.report_device
        worker.on_idle = self.relay.flush
        # a collection on the worker thread could run Qt destructors there (a crash): collect on the GUI thread
        worker.free_memory = lambda: self.relay.call(free_memory)

    def submit(self, model: Optional[ModelRef], fn: Callable[[Any, RequestContext], Any], *,
               key: Optional[str] = None,
               on_result: Optional[Callable[[Any], None]] = None,
               on_error: Optional[Callable[[str, str], None]] = None,
               on_step: Optional[Callable[[int, int, Any], None]] = None,
               on_cancelled: Optional[Callable[[], None]] = None) -> Request:
        wrap = self.relay.wrap
        callbacks = Callbacks(wrap(on_result), wrap(on_error), wrap(on_step), wrap(on_cancelled))
        return self.worker.submit(model, fn, key=key, callbacks=callbacks)

    def open_session(self, model: Optional[ModelRef], fn: Callable[[Any, SessionContext], Any], *,
                     pace: float = 0.0, wait_for_input: bool = False,
                     on_output: Optional[Callable[[Any], None]] = None,
                     on_error: Optional[Callable[[str, str], None]] = None,
                     on_closed: Optional[Callable[[str], None]] = None) -> SessionHandle:
        """A session on the inference thread (see :mod:`studio.engine.sessions`); its outputs,
        error and end arrive on the GUI thread."""
        wrap = self.relay.wrap
        return self.worker.open_session(model, fn, pace=pace, wait_for_input=wait_for_input,
                                        callbacks=SessionCallbacks(wrap(on_output), wrap(on_error), wrap(on_closed)))

    def unload(self, ref: ModelRef) -> None:
        """Forget the loaded model ``ref`` (its checkpoint was saved again): the next request loads it anew."""
        self.worker.unload(lambda loaded: loaded == ref)

    def report_device(self, choice: Any) -> None:
        """``on_device`` for the worker: called on the worker thread."""
        if isinstance(choice, Exception):
            text = f"unavailable ({choice})"
        else:
            text = choice.description + (f" — {choice.warning}" if choice.warning else "")
        self.relay.call(self.device_changed.emit, text)

    def shutdown(self) -> None:
        self.worker.stop()
