"""Small input widgets the panels and dialogs share."""

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QPushButton, QSpinBox


def button(text: str, tip: str, slot: Callable[[], Any]) -> QPushButton:
    """A push button that calls ``slot()`` and explains itself in a tooltip."""
    widget = QPushButton(text)
    widget.setToolTip(tip)
    widget.clicked.connect(lambda _checked=False: slot())
    return widget


def int_spin(low: int, high: int, value: int, name: str = "") -> QSpinBox:
    """A spin box for whole numbers (thousands grouped when they get large)."""
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setGroupSeparatorShown(high >= 100_000)
    if name:
        spin.setObjectName(name)
    return spin
