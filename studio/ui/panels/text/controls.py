"""The sampling controls: temperature, top-k, top-p, length and seed.

With *New seed each time* (on unless the artist turned it off; remembered), each
Generate moves the seed on once it has used it, so Generate, undo, Generate
writes something new, while the seed shown is always the one the next Generate
uses: a text reopened with its saved seed is written again exactly.
"""

from __future__ import annotations

import random
from typing import Any, Optional

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.ui.panels.text.generation import Sampling
from studio.ui.settings import Settings
from studio.ui.widgets.fields import int_spin

#: the most tokens one Generate writes: far beyond any context, short of a runaway
MAX_LENGTH = 20_000
#: where *New seed each time* is remembered
NEW_SEED_KEY = "text-composer/new-seed-each-time"


class SamplingControls(QWidget):
    """A row of labelled spin boxes whose values make a :class:`Sampling`."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        defaults = Sampling()
        self.temperature = _double(0.0, 5.0, 0.05, defaults.temperature, "Temperature")
        self.temperature.setToolTip("How adventurous the choice of each token is. 0 is greedy: always the most "
                                    "likely token, the same text every time; above 1 gets wild.")
        self.top_k = int_spin(0, 100_000, 0, "TopK")
        self.top_k.setSpecialValueText("off")
        self.top_k.setToolTip("Choose only among the k most likely tokens (off: all of them)")
        self.top_p = _double(0.05, 1.0, 0.05, 1.0, "TopP")
        self.top_p.setToolTip("Choose only among the most likely tokens that together make this share of the "
                              "probability (1: all of them)")
        self.length = int_spin(1, MAX_LENGTH, defaults.max_new_tokens, "Length")
        self.length.setSuffix(" tokens")
        self.length.setToolTip("How many tokens to write (a token is a character for character-level models)")
        self.seed = int_spin(0, 2**31 - 1, defaults.seed, "Seed")
        self.seed.setToolTip("The same seed and settings always write the same text")
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("A random seed")
        self.new_seed.clicked.connect(self.random_seed)
        self.new_seed_each_time = QCheckBox("New seed each time")
        self.new_seed_each_time.setObjectName("NewSeedEachTime")
        self.new_seed_each_time.setToolTip("After each Generate, pick a new seed, so generating again writes "
                                           "something different. The seed shown is the one the next Generate "
                                           "uses; the saved text records the seed each passage was written with.")
        self.new_seed_each_time.setChecked(Settings().get(NEW_SEED_KEY))
        self.new_seed_each_time.toggled.connect(lambda on: Settings().set(NEW_SEED_KEY, on))

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for caption, widget in (("Temperature", self.temperature), ("Top-k", self.top_k), ("Top-p", self.top_p),
                                ("Length", self.length), ("Seed", self.seed)):
            layout.addWidget(QLabel(caption))
            layout.addWidget(widget)
        layout.addWidget(self.new_seed)
        layout.addWidget(self.new_seed_each_time)

    def sampling(self) -> Sampling:
        top_p = round(self.top_p.value(), 4)
        return Sampling(temperature=round(self.temperature.value(), 4), top_k=self.top_k.value() or None,
                        top_p=top_p if top_p < 1.0 else None, max_new_tokens=self.length.value(),
                        seed=self.seed.value())

    def random_seed(self) -> None:
        self.seed.setValue(random.randrange(2**31))

    def used(self) -> None:
        """A generation started with the shown seed: move on to a new one if the artist asked for that."""
        if self.new_seed_each_time.isChecked():
            self.random_seed()

    def restore(self, params: dict[str, Any]) -> None:
        """Show the settings saved in ``params`` (a sidecar's); missing ones go back to the defaults."""
        sampling = Sampling.from_params(params)
        self.temperature.setValue(sampling.temperature)
        self.top_k.setValue(sampling.top_k or 0)
        self.top_p.setValue(sampling.top_p or 1.0)
        self.length.setValue(sampling.max_new_tokens)
        self.seed.setValue(sampling.seed)


def _double(low: float, high: float, step: float, value: float, name: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    spin.setObjectName(name)
    return spin

