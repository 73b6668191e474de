"""The one request mechanism every panel uses (Qt-free).

A panel state runs its model work through a :class:`Work`: each request has a
*name* ("sample", "decode", "map"). Running a name again is newest-wins: the
request of that name still queued is dropped and the one running is cancelled
at its next step (the inference thread does that by key), and whatever the
older one still sends is dropped here, so a panel never keeps serial numbers of
its own. :meth:`Work.cancel` (the Cancel button, Esc) stops the shown requests and
tells each one's ``on_cancelled`` at once; :meth:`Work.reset` (another model was
chosen) and :meth:`Work.close` (the panel is gone) drop everything silently.

Requests with a ``label`` are *shown*: :attr:`Work.tasks` lists them with their
progress and an estimate of the time left, for a progress bar; quiet ones (a
decode while the mouse drags) are not. A failure goes to the request's
``on_error`` or, without one, to ``events.failed(title, message, detail)``, which
the panel shows as a message with a Details button.

A *session* (:meth:`Work.open_session`) is a long-lived, two-way request (see
:mod:`studio.engine.sessions`): a generator on the inference thread that reads the
inputs :meth:`Work.send` gives it and streams what it yields back. Sessions are
named too: opening a name again ends the one open under it, and nothing the old
one still sends arrives. :meth:`Work.reset` and :meth:`Work.close` end them as
they drop requests; Cancel and Esc do not (a session is no shown task).

The executor is the inference client (``InferenceClient``: callbacks arrive on
the GUI thread) or, in tests, anything with the same ``submit`` and ``unload``
(and ``open_session`` for a panel with sessions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from studio.ui.kit.evented import Events


class Executor(Protocol):
    def submit(self, model: Any, fn: Callable[[Any, Any], Any], *, key: Optional[str] = None,
               on_result: Optional[Callable] = None, on_error: Optional[Callable] = None,
               on_step: Optional[Callable] = None, on_cancelled: Optional[Callable] = None) -> Any:
        """Queue ``fn(model, ctx)``; the handle returned has ``cancel()``."""

    def unload(self, ref: Any) -> None:
        """Forget the loaded model ``ref`` (its checkpoint was saved again)."""

    def open_session(self, model: Any, fn: Callable[[Any, Any], Any], *, pace: float = 0.0,
                     wait_for_input: bool = False, on_output: Optional[Callable] = None,
                     on_error: Optional[Callable] = None, on_closed: Optional[Callable] = None) -> Any:
        """Start the session ``fn(model, ctx)``; the handle returned has ``send(value)`` and ``cancel()``."""


@dataclass
class OpenSession:
    """A session this work opened and has not seen end."""

    name: str
    handle: Any = None


@dataclass
class Task:
    """One request in flight."""

    name: str
    label: str  #: shown in the progress bar; "" for a quiet request
    title: str  #: the title of its error message
    on_cancelled: Optional[Callable[[], None]]
    started: float = field(default_factory=time.monotonic)
    step: int = 0
    total: int = 0
    handle: Any = None

    def eta_s(self, now: Optional[float] = None) -> Optional[float]:
        """Seconds left at the pace so far; None until a step with a known total is done."""
        if self.step <= 0 or self.total <= self.step:
            return None
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return elapsed / self.step * (self.total - self.step)


class Work:
    """The requests of one panel state. Events: ``changed()`` when a shown task starts, steps or
    ends; ``failed(title, message, detail)`` for a failure no ``on_error`` took."""

    def __init__(self, executor: Executor, owner: str) -> None:
        self.executor = executor
        self.owner = owner  #: makes the requests' keys unique to this state (one window's panel)
        self.events = Events("changed", "failed")
        self.closed = False
        self._tasks: dict[str, Task] = {}
        self._sessions: dict[str, OpenSession] = {}

    # -- running -------------------------------------------------------------------------------
    def run(self, name: str, model: Any, fn: Callable[[Any, Any], Any], *, on_result: Callable[[Any], None],
            on_step: Optional[Callable[[int, int, Any], None]] = None,
            on_error: Optional[Callable[[str, str], None]] = None,
            on_cancelled: Optional[Callable[[], None]] = None, label: str = "", title: str = "") -> None:
        """Run ``fn(model, ctx)`` on the inference thread (``model`` a ModelRef or None); an earlier
        request of the same ``name`` is overtaken. Callbacks come on the GUI thread, and only while
        this is the newest request of its name."""
        if self.closed:
            return
        self._drop(name)
        task = Task(name, label, title or (f"{label} failed" if label else "The request failed"), on_cancelled)
        self._tasks[name] = task

        def current() -> bool:
            return not self.closed and self._tasks.get(name) is task

        def ended(callback: Optional[Callable], *args: Any) -> None:
            if current():
                self._end(task)
                if callback is not None:
                    callback(*args)

        def failed(message: str, detail: str) -> None:
            if not current():
                return
            self._end(task)
            if on_error is not None:
                on_error(message, detail)
            else:
                self.events.failed.emit(task.title, message, detail)

        def stepped(step: int, total: int, payload: Any = None) -> None:
            if not current():
                return
            task.step, task.total = step, total
            if task.label:
                self.events.changed.emit()
            if on_step is not None:
                on_step(step, total, payload)

        task.handle = self.executor.submit(
            model, fn, key=f"{self.owner}:{name}", on_result=lambda result: ended(on_result, result),
            on_error=failed, on_step=stepped, on_cancelled=lambda: ended(on_cancelled))
        if label:
            self.events.changed.emit()

    def unload(self, ref: Any) -> None:
        self.executor.unload(ref)

    # -- sessions --------------------------------------------------------------------------------
    def open_session(self, name: str, model: Any, fn: Callable[[Any, Any], Any], *,
                     on_output: Callable[[Any], None], pace: float = 0.0,
                     on_error: Optional[Callable[[str, str], None]] = None,
                     on_closed: Optional[Callable[[str], None]] = None, title: str = "") -> None:
        """Open the session ``fn(model, ctx)`` on the inference thread (``model`` a ModelRef or None), one
        step every ``pace`` seconds at most, ending the one open as ``name``. ``on_output(value)`` hears
        each value it yields; a failure goes to ``on_error`` or, without one, to ``events.failed`` (titled
        ``title``); ``on_closed(how)`` hears its end (finished, cancelled or failed) unless this work ended
        it. Callbacks come on the GUI thread, and only while it is the session open as ``name``."""
        if self.closed:
            return
        self.close_session(name)
        entry = self._sessions[name] = OpenSession(name)

        def current() -> bool:
            return not self.closed and self._sessions.get(name) is entry

        def output(value: Any) -> None:
            if current():
                on_output(value)

        def failed(message: str, detail: str) -> None:
            if not current():
                return
            if on_error is not None:
                on_error(message, detail)
            else:
                self.events.failed.emit(title or "The session stopped", message, detail)

        def ended(how: str) -> None:
            if current():
                del self._sessions[name]
                if on_closed is not None:
                    on_closed(how)

        entry.handle = self.executor.open_session(model, fn, pace=pace, on_output=output, on_error=failed,
                                                  on_closed=ended)

    def send(self, name: str, value: Any) -> bool:
        """Give the session ``name`` an input for its next step; False when none is open."""
        entry = self._sessions.get(name)
        if entry is None or self.closed:
            return False
        entry.handle.send(value)
        return True

    def close_session(self, name: str) -> None:
        """End the session ``name`` without a word (nothing it still sends arrives)."""
        entry = self._sessions.pop(name, None)
        if entry is not None:
            entry.handle.cancel()

    def session_open(self, name: str) -> bool:
        return name in self._sessions

    # -- stopping --------------------------------------------------------------------------------
    def cancel(self, name: Optional[str] = None) -> None:
        """Stop the request ``name`` (or, without one, every shown request: what Cancel and Esc stop;
        quiet ones such as a checkpoint's hash go on): each is told ``on_cancelled`` now, and nothing it
        sends later arrives."""
        for task in [t for n, t in list(self._tasks.items()) if n == name or (name is None and t.label)]:
            self._end(task)
            task.handle.cancel()
            if task.on_cancelled is not None:
                task.on_cancelled()

    def drop(self, *names: str) -> None:
        """Stop these requests without a word: what they were for is gone."""
        for name in names:
            self._drop(name)

    def reset(self) -> None:
        """Drop every request and end every session without a word (what they were for is gone: another
        model, say)."""
        self.drop(*self._tasks)
        for name in list(self._sessions):
            self.close_session(name)

    def close(self) -> None:
        """The panel is gone: drop everything, and run nothing more."""
        self.reset()
        self.closed = True

    # -- what runs -------------------------------------------------------------------------------
    @property
    def tasks(self) -> list[Task]:
        """The shown requests still running, oldest first."""
        return [t for t in self._tasks.values() if t.label]

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def running(self, name: str) -> bool:
        return name in self._tasks

    def _drop(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.handle.cancel()
            if task.label:
                self.events.changed.emit()

    def _end(self, task: Task) -> None:
        if self._tasks.get(task.name) is task:
            del self._tasks[task.name]
            if task.label:
                self.events.changed.emit()
