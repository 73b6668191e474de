"""Change notifications for plain-Python panel state (no Qt), after napari's evented models.

A state object holds an :class:`Events` of named :class:`Signal` s; a Qt view
connects to them and redraws, a test connects a list. Callbacks run at once, in
the thread that emits (the GUI thread: panel states are changed there only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """Callbacks called, in the order connected, with what :meth:`emit` is given."""

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> None:
        if slot not in self._slots:
            self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any]) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        for slot in list(self._slots):
            slot(*args)


class Events:
    """A namespace of signals: ``Events("model", "grid")`` has ``.model`` and ``.grid``."""

    def __init__(self, *names: str) -> None:
        for name in names:
            setattr(self, name, Signal())
