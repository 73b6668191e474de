"""Brings engine callbacks (called on worker threads) onto the GUI thread."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, Optional

from PySide6.QtCore import QObject, Signal, Slot

from studio.engine.inference import Callbacks, InferenceWorker, ModelRef, Request, RequestContext


class GuiRelay(QObject):
    """Calls functions on the thread this object lives in (the GUI thread).

    ``relay.call(fn, *args)`` may be used from any thread. Calls wait in a
    Python queue, in order, and a signal without arguments wakes the GUI
    thread to run them: only the wake-up goes through Qt's event queue, so no
    Python object has to be converted for it.
    """

    _wake = Signal()

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._pending: collections.deque[tuple[Callable, tuple]] = collections.deque()
        self._wake.connect(self._drain)

    def call(self, fn: Optional[Callable], *args: Any) -> None:
        if fn is not None:
            self._pending.append((fn, args))
            self._wake.emit()

    def wrap(self, fn: Optional[Callable]) -> Optional[Callable]:
        """``fn`` made safe to call from any thread (it will run on the GUI thread)."""
        if fn is None:
            return None
        return lambda *args: self.call(fn, *args)

    @Slot()
    def _drain(self) -> None:
        while self._pending:
            fn, args = self._pending.popleft()
            fn(*args)


class InferenceClient(QObject):
    """The panels' handle on the inference thread; callbacks arrive on the GUI thread."""

    device_changed = Signal(str)  #: a description for the status bar

    def __init__(self, worker: InferenceWorker, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.relay = GuiRelay(self)
        worker.on_device = self.report_device

    def submit(self, model: Optional[ModelRef], fn: Callable[[Any, RequestContext], Any], *,
               key: Optional[str] = None,
               on_result: Optional[Callable[[Any], None]] = None,
               on_error: Optional[Callable[[str, str], None]] = None,
               on_step: Optional[Callable[[int, int, Any], None]] = None,
               on_cancelled: Optional[Callable[[], None]] = None) -> Request:
        wrap = self.relay.wrap
        callbacks = Callbacks(wrap(on_result), wrap(on_error), wrap(on_step), wrap(on_cancelled))
        return self.worker.submit(model, fn, key=key, callbacks=callbacks)

    def report_device(self, choice: Any) -> None:
        """``on_device`` for the worker: called on the worker thread."""
        if isinstance(choice, Exception):
            text = f"unavailable ({choice})"
        else:
            text = choice.description + (f" — {choice.warning}" if choice.warning else "")
        self.relay.call(self.device_changed.emit, text)

    def shutdown(self) -> None:
        self.worker.stop()
