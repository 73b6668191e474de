"""The piano roll's grid, Qt-free: snap values (straight and triplet), bars from the time-signature
map, pitch names and the track colours.

Times are in beats (quarter notes), as everywhere in the studio; the grid runs from beat 0 through
every bar whatever the metre, so a 1/8 snap is an eighth note in 3/4 and in 6/8 alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Optional

from studio.core.music.score import TimeSignature

#: snap name -> grid step in beats (None: off). Triplets fit three in the time of two.
SNAPS: dict[str, Optional[float]] = {
    "1/4": 1.0,
    "1/8": 0.5,
    "1/16": 0.25,
    "1/32": 0.125,
    "1/4T": 2.0 / 3.0,
    "1/8T": 1.0 / 3.0,
    "1/16T": 1.0 / 6.0,
    "Off": None,
}
DEFAULT_SNAP = "1/16"
#: the length a note is drawn with when the snap is off, in beats
FREE_LENGTH = 0.25
#: the shortest note an edit leaves, in beats (a 1/128 note)
MIN_LENGTH = 1.0 / 32.0

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BLACK = frozenset((1, 3, 6, 8, 10))

#: distinct track colours, in the order new tracks take them
PALETTE = ("#3d8bfd", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
           "#9c755f", "#4e79a7", "#a0cbe8", "#8cd17d")


def nearest(beat: float, step: Optional[float]) -> float:
    """``beat`` on the nearest grid line (as it is when the snap is off)."""
    return beat if step is None else round(beat / step) * step


def floor(beat: float, step: Optional[float]) -> float:
    """The grid line at or before ``beat``: where a click inside a grid cell draws its note."""
    # a hair of tolerance so 0.9999999 (a triplet line reached by adding thirds) counts as 1
    return beat if step is None else math.floor(beat / step + 1e-9) * step


def bars(time_signatures: Sequence[TimeSignature], start: float, end: float) -> Iterator[tuple[float, int, float]]:
    """``(beat, bar number from 1, beats in that bar)`` of every bar starting in ``[start, end)``.

    A time signature takes effect at its own beat; one that falls inside a bar starts a new bar there."""
    signatures = sorted(time_signatures, key=lambda s: s.beat) or [TimeSignature(0.0)]
    number, beat = 1, 0.0
    for i, signature in enumerate(signatures):
        length = signature.beats_per_bar
        until = signatures[i + 1].beat if i + 1 < len(signatures) else math.inf
        beat = signature.beat
        if until < start:  # skip whole sections before the range without walking their bars
            number += math.ceil((until - beat) / length - 1e-9)
            continue
        if beat < start:
            skipped = max(0, math.floor((start - beat) / length + 1e-9))
            number += skipped
            beat += skipped * length
        while beat < min(until, end) - 1e-9:
            if beat >= start - 1e-9:
                yield beat, number, length
            number += 1
            beat += length
        if until >= end:
            return


def pitch_name(pitch: int) -> str:
    """MIDI 60 is C4 (middle C), as in most DAWs and music21."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def is_black(pitch: int) -> bool:
    return pitch % 12 in BLACK


def free_colour(used: Sequence[str]) -> str:
    """The first palette colour no track has yet (the palette again once all are taken)."""
    for colour in PALETTE:
        if colour not in used:
            return colour
    return PALETTE[len(used) % len(PALETTE)]
