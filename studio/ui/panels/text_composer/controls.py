"""The sampling controls: temperature, top-k, top-p, length and seed, drawing the composer state's
:class:`~.generation.Sampling` and setting it.

With *New seed each time* (on unless the artist turned it off; remembered), each
Generate moves the seed on once it has used it, so Generate, undo, Generate
writes something new, while the seed shown is always the one the next Generate
uses: a text reopened with its saved seed is written again exactly.
"""

from __future__ import annotations

import random
from typing import Optional

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.ui.panels.text_composer.generation import Sampling
from studio.ui.panels.text_composer.state import MAX_LENGTH, MAX_SEED, ComposerState
from studio.ui.settings import Setting
from studio.ui.widgets.fields import int_spin

#: where *New seed each time* is remembered
NEW_SEED = Setting("text-composer/new-seed-each-time", bool, True, "Text Composer: a new seed after each Generate")


class SamplingControls(QWidget):
    """A row of labelled spin boxes over ``state.sampling``; ``settings`` keeps *New seed each time*."""

    def __init__(self, state: ComposerState, settings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.temperature = _double(0.0, 5.0, 0.05, 0.0, "Temperature")
        self.temperature.setToolTip("How adventurous the choice of each token is. 0 is greedy: always the most "
                                    "likely token, the same text every time; above 1 gets wild.")
        self.top_k = int_spin(0, 100_000, 0, "TopK")
        self.top_k.setSpecialValueText("off")
        self.top_k.setToolTip("Choose only among the k most likely tokens (off: all of them)")
        self.top_p = _double(0.05, 1.0, 0.05, 1.0, "TopP")
        self.top_p.setToolTip("Choose only among the most likely tokens that together make this share of the "
                              "probability (1: all of them)")
        self.length = int_spin(1, MAX_LENGTH, 1, "Length")
        self.length.setSuffix(" tokens")
        self.length.setToolTip("How many tokens to write (a token is a character for character-level models)")
        self.seed = int_spin(0, MAX_SEED, 0, "Seed")
        self.seed.setToolTip("The same seed and settings always write the same text")
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("A random seed")
        self.new_seed.clicked.connect(self.random_seed)
        self.new_seed_each_time = QCheckBox("New seed each time")
        self.new_seed_each_time.setObjectName("NewSeedEachTime")
        self.new_seed_each_time.setToolTip("After each Generate, pick a new seed, so generating again writes "
                                           "something different. The seed shown is the one the next Generate "
                                           "uses; the saved text records the seed each passage was written with.")
        state.new_seed_each_time = settings.get(NEW_SEED.key)
        self.new_seed_each_time.setChecked(state.new_seed_each_time)
        self.new_seed_each_time.toggled.connect(lambda on: (setattr(state, "new_seed_each_time", on),
                                                            settings.set(NEW_SEED.key, on)))

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for caption, widget in (("Temperature", self.temperature), ("Top-k", self.top_k), ("Top-p", self.top_p),
                                ("Length", self.length), ("Seed", self.seed)):
            layout.addWidget(QLabel(caption))
            layout.addWidget(widget)
            widget.valueChanged.connect(lambda _value: self._changed())
        layout.addWidget(self.new_seed)
        layout.addWidget(self.new_seed_each_time)
        state.events.sampling.connect(self.show_sampling)
        self.show_sampling()

    def sampling(self) -> Sampling:
        """The settings as the spin boxes show them."""
        top_p = round(self.top_p.value(), 4)
        return Sampling(temperature=round(self.temperature.value(), 4), top_k=self.top_k.value() or None,
                        top_p=top_p if top_p < 1.0 else None, max_new_tokens=self.length.value(),
                        seed=self.seed.value())

    def _changed(self) -> None:
        self.state.set_sampling(self.sampling())  # the spin boxes' ranges keep it valid

    def show_sampling(self) -> None:
        """Show the state's settings without reporting them back."""
        sampling = self.state.sampling
        for spin, value in ((self.temperature, sampling.temperature), (self.top_k, sampling.top_k or 0),
                            (self.top_p, sampling.top_p or 1.0), (self.length, sampling.max_new_tokens),
                            (self.seed, sampling.seed)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def random_seed(self) -> None:
        self.seed.setValue(random.randrange(MAX_SEED))

    def restore(self, params: dict) -> None:
        """Show the settings saved in ``params`` (a sidecar's); missing ones go back to the defaults."""
        self.state.set_sampling(Sampling.from_params(params))


def _double(low: float, high: float, step: float, value: float, name: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    spin.setObjectName(name)
    return spin
