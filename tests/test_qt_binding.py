"""The Qt binding must keep Python's reference counts: PySide6 6.12.0 did not
(each signal emit dropped a reference to True, each void call one to None), and
the studio crashed after a few thousand signals. This guards the pin in pyproject."""

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget


class Emitter(QObject):
    fired = Signal()
    carried = Signal(object)


def refcounts():
    return sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)


def test_signals_and_void_calls_keep_reference_counts(qapp):
    emitter, widget = Emitter(), QWidget()
    emitter.fired.connect(lambda: None)
    before = refcounts()
    for _ in range(500):
        emitter.fired.emit()
        emitter.carried.emit(None)
        widget.setVisible(False)
    after = refcounts()
    assert all(abs(a - b) < 50 for a, b in zip(after, before, strict=True)), (before, after)
