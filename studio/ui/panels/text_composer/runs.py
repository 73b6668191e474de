"""Runs of generated tokens as the composer's editor keeps them, and their tint levels.

A run is consecutive tokens of one generation whose probabilities fall in the same
tint level: the editor inserts it with one character format, so a long stream is
a few fragments rather than one per token.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from PySide6.QtGui import QColor

#: tokens at least this likely are not tinted; below, TINT_LEVELS grow stronger down to FULL_TINT_BELOW
#: (a character model at temperature 0.8 often picks characters of 0.1-0.3: those are ordinary)
NO_TINT_ABOVE, FULL_TINT_BELOW = 0.1, 0.002
TINT_LEVELS = 4
TINT = QColor(255, 120, 60)


@dataclass
class Run:
    """Consecutive tokens of one generation at one tint level, inserted with one format."""

    generation: int
    first: int  #: index of the first token in its generation
    level: int  #: its tint level (0: not tinted)
    lengths: list[int] = field(default_factory=list)  #: each token's length in the document's units
    probabilities: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  #: running total of ``lengths``

    def add(self, text: str, probability: float) -> None:
        self.lengths.append(document_length(text))
        self.ends.append((self.ends[-1] if self.ends else 0) + self.lengths[-1])
        self.probabilities.append(float(probability))

    def token_at(self, offset: int) -> int:
        """The position in this run of the token holding the character ``offset`` characters in."""
        return min(bisect.bisect_right(self.ends, offset), len(self.ends) - 1)

    def span(self, k: int) -> tuple[int, int]:
        """Where the ``k``-th token of the run starts and ends, in characters from the run's start."""
        return self.ends[k] - self.lengths[k], self.ends[k]


def tint_level(probability: float) -> int:
    """0 for a token at least :data:`NO_TINT_ABOVE` likely; 1 to :data:`TINT_LEVELS` the less likely it
    was (a log scale down to :data:`FULL_TINT_BELOW`), so only the surprising choices stand out."""
    if probability >= NO_TINT_ABOVE:
        return 0
    position = math.log(max(probability, 1e-12) / NO_TINT_ABOVE) / math.log(FULL_TINT_BELOW / NO_TINT_ABOVE)
    return 1 + min(TINT_LEVELS - 1, int(position * TINT_LEVELS))


def level_colour(level: int) -> QColor:
    colour = QColor(TINT)
    colour.setAlpha(int(round(170 * level / TINT_LEVELS)))
    return colour


def tint(probability: float) -> QColor:
    """The tint of a token of this probability (transparent for a likely one)."""
    return level_colour(tint_level(probability))


def document_length(text: str) -> int:
    """How many positions ``text`` takes in a QTextDocument's fragments: UTF-16 code units, line
    breaks not counted (they become paragraph separators, outside every fragment)."""
    return len(text.encode("utf-16-le")) // 2 - text.count("\n")
