"""Small input widgets the panels and dialogs share."""

from PySide6.QtWidgets import QSpinBox


def int_spin(low: int, high: int, value: int, name: str = "") -> QSpinBox:
    """A spin box for whole numbers (thousands grouped when they get large)."""
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setGroupSeparatorShown(high >= 100_000)
    if name:
        spin.setObjectName(name)
    return spin
