"""Sessions: long-lived, two-way requests on the inference thread.

A session is a generator function ``fn(model, ctx)``: every ``next()`` is one
step, and what it yields goes to the session's ``on_output`` (a dream's next
frame, a note). Inputs sent with :meth:`SessionHandle.send` (an action from the
keyboard, a new temperature) wait in the session's inbox; the generator reads
them with ``ctx.inputs()`` at the start of a step. A session keeps its own
reference to its model, so the inference cache may evict the model without
losing the session's state, and it ends on its own: when the generator returns,
when it is cancelled, or when a step raises.

The worker interleaves sessions with requests at step boundaries (see
:class:`~studio.engine.inference.InferenceWorker`): between two steps of a
session it runs at most one step of a request, and a request submitted while
sessions run starts after at most one step of each.

``pace`` is the least time between two steps (0: as often as the thread
allows); with ``wait_for_input`` a session steps only when an input waits. A
session may change that itself as it goes (``ctx.wait_for_input(True)``: a
dream that was paused uses no time until it is told to go on).
Nothing here imports Qt.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

#: How a session ended, as ``on_closed`` is told.
FINISHED, CANCELLED, FAILED = "finished", "cancelled", "failed"


@dataclass
class SessionCallbacks:
    """Called on the worker thread; any may be None."""

    on_output: Optional[Callable[[Any], None]] = None  #: each value the session yields
    on_error: Optional[Callable[[str, str], None]] = None  #: (message for the user, traceback)
    on_closed: Optional[Callable[[str], None]] = None  #: FINISHED, CANCELLED or FAILED, always last


class SessionContext:
    """Handed to a session's function: the device, its inbox and whether it was cancelled."""

    def __init__(self, session: Session, device: str) -> None:
        self._session = session
        self.device = device

    @property
    def cancelled(self) -> bool:
        return self._session.cancelled.is_set()

    def inputs(self) -> list[Any]:
        """Everything sent since the last call, oldest first (empty when nothing was)."""
        return self._session.take_inputs()

    def wait_for_input(self, on: bool = True) -> None:
        """From the next step on, step only when an input waits (``on``), or again at the pace."""
        self._session.wait_for_input = bool(on)


class Session:
    """The worker's record of one session; the owner holds its :class:`SessionHandle`."""

    def __init__(self, session_id: int, model: Any, fn: Callable[[Any, SessionContext], Iterator[Any]],
                 callbacks: SessionCallbacks, pace: float, wait_for_input: bool,
                 wake: Callable[[], None]) -> None:
        self.id = session_id
        self.model_ref = model  #: the ModelRef to load, or None
        self.fn = fn
        self.callbacks = callbacks
        self.pace = max(0.0, float(pace))
        self.wait_for_input = wait_for_input
        self.cancelled = threading.Event()
        self.model: Any = None  #: the session's own reference, once loaded
        self.stream: Optional[Iterator[Any]] = None  #: the generator, once started
        self.last_step = -float("inf")
        self._inbox: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._wake = wake

    def send(self, value: Any) -> None:
        with self._lock:
            self._inbox.append(value)
        self._wake()

    def wake(self) -> None:
        """Have the worker look at this session again (an input or a cancel arrived)."""
        self._wake()

    def take_inputs(self) -> list[Any]:
        with self._lock:
            values = list(self._inbox)
            self._inbox.clear()
        return values

    def has_input(self) -> bool:
        with self._lock:
            return bool(self._inbox)

    def start_step(self, now: float) -> None:
        """A step starts ``now``. The next is due a pace after this one was due, not after it started, so
        the thread's wake-up delays do not add up and a paced session keeps its rate; a step later than a
        whole pace (it waited for input, the thread was busy) counts from now."""
        due = self.last_step + self.pace
        self.last_step = due if 0 <= now - due < self.pace else now

    def due_in(self, now: float) -> Optional[float]:
        """Seconds until the next step is due (0 or less: now); None while it waits for input."""
        if self.cancelled.is_set():
            return 0.0  # due at once, to be closed
        if self.wait_for_input and not self.has_input():
            return None
        return self.last_step + self.pace - now


class SessionHandle:
    """What the owner of a session holds: send inputs to it, cancel it."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def id(self) -> int:
        return self._session.id

    def send(self, value: Any) -> None:
        """Queue an input for the session's next step."""
        self._session.send(value)

    def cancel(self) -> None:
        """End the session before its next step; ``on_closed(CANCELLED)`` follows."""
        self._session.cancelled.set()
        self._session.wake()

    @property
    def cancelled(self) -> bool:
        return self._session.cancelled.is_set()


def next_due(sessions: list[Session]) -> tuple[list[Session], Optional[float]]:
    """The sessions due for a step now, and how long until the next one is (None: no timed one)."""
    now = time.monotonic()
    due, wait = [], None
    for session in sessions:
        left = session.due_in(now)
        if left is None:
            continue
        if left <= 0:
            due.append(session)
        else:
            wait = left if wait is None else min(wait, left)
    return due, wait
