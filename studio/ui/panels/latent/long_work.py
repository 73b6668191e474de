"""The Latent Explorer's long requests (encoding the map's data, a folder vector's folders) and the
progress bar and Cancel button they share.

Each request is tracked under its own name, so starting one never loses
another: Cancel stops every one still running, and the bar hides when the last
one ends.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtWidgets import QProgressBar, QPushButton


class LongWork:
    def __init__(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.button = QPushButton("Cancel")
        self.button.setToolTip("Stop encoding")
        self.button.hide()
        self.button.clicked.connect(self.cancel_all)
        #: what -> (label, request, token); the token tells a request from a later one of the same name
        self._running: dict[str, tuple[str, Any, object]] = {}

    def running(self) -> list[str]:
        return list(self._running)

    def start(self, what: str, label: str, submit: Callable[..., Any], *, on_result: Callable,
              on_error: Callable, on_cancelled: Callable) -> None:
        """Start a request with ``submit(on_result=..., on_error=..., on_cancelled=..., on_step=...)``;
        whichever of its callbacks comes marks it ended before it runs."""
        token = object()

        def ending(callback: Callable) -> Callable:
            def run(*args) -> None:
                self._ended(what, token)
                callback(*args)
            return run

        def step(done: int, total: int, _preview=None) -> None:
            if self._current(what, token) and total:
                self.progress.setRange(0, total)
                self.progress.setValue(done)
                self.progress.setFormat(f"{label} %p%")

        self.cancel(what)
        request = submit(on_result=ending(on_result), on_error=ending(on_error),
                         on_cancelled=ending(on_cancelled), on_step=step)
        self._running[what] = (label, request, token)
        self._show()

    def cancel(self, what: str) -> None:
        entry = self._running.pop(what, None)
        if entry is not None:
            entry[1].cancel()
        self._show()

    def cancel_all(self) -> None:
        for what in list(self._running):
            self.cancel(what)

    def _current(self, what: str, token: object) -> bool:
        entry: Optional[tuple] = self._running.get(what)
        return entry is not None and entry[2] is token

    def _ended(self, what: str, token: object) -> None:
        if self._current(what, token):
            del self._running[what]
        self._show()

    def _show(self) -> None:
        busy = bool(self._running)
        self.progress.setVisible(busy)
        self.button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # busy until the running one reports its steps
            self.progress.setFormat(" · ".join(label for label, _, _ in self._running.values()) + " %p%")
