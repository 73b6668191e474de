"""Cancelling a training process: SIGTERM and SIGINT become a request to stop.

A job is cancelled with SIGTERM. Python's default for it is to die at once
(exit -15, no checkpoint), so the job's entry point installs the handler before
anything else (:func:`install_for_process`, called from ``studio/__main__.py``).
From then on a signal sets :attr:`CancelSignal.requested`; the training loop
checks it after every step, and validation between batches.

Work that cannot check a flag and has nothing to save yet (importing torch,
loading a dataset through a plugin's loader) runs inside
:meth:`CancelSignal.interruptible`: a signal there calls the block's
``exit_now``, which reports the cancel and ends the process at once. (Raising
an exception from the handler instead, as Ctrl+C does, would break whatever
module was being imported at that moment, and the run would then fail with a
confusing error rather than stop.) A cancel asked before the block, or during
it without a handler (a run on another thread), raises
:class:`CancelRequested` at the block's edges, where that is safe. It derives
from ``BaseException`` so no ``except Exception`` swallows it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any, Callable, Optional

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CancelRequested(BaseException):
    """A cancel arrived while the run was doing something it cannot stop between steps."""


class CancelSignal:
    def __init__(self) -> None:
        self.requested = threading.Event()
        self.installed = False
        self._exit_now: Optional[Callable[[], Any]] = None
        self._previous: dict[int, Any] = {}

    def install(self) -> bool:
        """Handle SIGTERM/SIGINT (only possible on the main thread); True if handled."""
        if self.installed:
            return True
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        self.installed = True
        return True

    def uninstall(self) -> None:
        """Put back the handlers :meth:`install` replaced."""
        if not self.installed:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        self.installed = False

    def _handle(self, _signum: int, _frame: Any) -> None:
        self.requested.set()
        exit_now, self._exit_now = self._exit_now, None
        if exit_now is not None:
            exit_now()

    @contextlib.contextmanager
    def interruptible(self, exit_now: Callable[[], Any]) -> Iterator[None]:
        """A block a signal ends by calling ``exit_now()`` (it should end the process);
        raises :class:`CancelRequested` on entry and on leaving if a cancel was asked."""
        if self.requested.is_set():
            raise CancelRequested()
        self._exit_now = exit_now
        try:
            yield
        finally:
            self._exit_now = None
        if self.requested.is_set():
            raise CancelRequested()


#: The process's handler, once :func:`install_for_process` has run.
_PROCESS: Optional[CancelSignal] = None


def install_for_process() -> CancelSignal:
    """Install the handler for this whole process (a training process's first act)."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = CancelSignal()
    _PROCESS.install()
    return _PROCESS


def process_signal() -> Optional[CancelSignal]:
    """The process-wide handler if the entry point installed one."""
    return _PROCESS if _PROCESS is not None and _PROCESS.installed else None
