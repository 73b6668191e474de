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

The executor is the inference client (``InferenceClient``: callbacks arrive on
the GUI thread) or, in tests, anything with the same ``submit`` and ``unload``.
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
        """Drop every request without a word (what they were for is gone: another model, say)."""
        self.drop(*self._tasks)

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
