"""A piece of music as the studio holds it: the contract's :class:`~studio.core.capabilities.Note`
(times in beats), the tracks they belong to, and the tempo and time-signature maps.

There is one representation of notes. A MIDI file's ticks become beats as ``tick / ticks_per_beat``
and go back as ``round(beat * ticks_per_beat)``: a float64 holds every tick of any real file exactly
enough for that round trip, so the score keeps the file's ``ticks_per_beat`` and nothing else about
ticks. ``Note.voice`` is the index of the note's track in :attr:`Score.tracks`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.capabilities import Note

#: ticks per beat the studio writes when a score does not come from a file
DEFAULT_TICKS_PER_BEAT = 480
DEFAULT_BPM = 100.0


@dataclass(frozen=True)
class Track:
    """One voice of a score: what it is called and how it sounds."""

    name: str
    channel: int = 0  #: MIDI channel 0-15 (9 is General MIDI's drums)
    program: int = 0  #: General MIDI program 0-127 (0: acoustic grand piano)


@dataclass(frozen=True)
class TempoChange:
    beat: float
    bpm: float


@dataclass(frozen=True)
class TimeSignature:
    beat: float
    numerator: int = 4
    denominator: int = 4

    @property
    def beats_per_bar(self) -> float:
        """Bar length in quarter-note beats (6/8: 3.0)."""
        return self.numerator * 4.0 / self.denominator


class TimeMaps:
    """The tempo and bar length at the start, for anything holding the two maps (a score, the piano
    roll's document)."""

    tempos: Sequence[TempoChange]
    time_signatures: Sequence[TimeSignature]

    @property
    def bpm(self) -> float:
        """The tempo at the start."""
        return self.tempos[0].bpm

    @property
    def beats_per_bar(self) -> float:
        """The bar length at the start, in beats."""
        return self.time_signatures[0].beats_per_bar


@dataclass
class Score(TimeMaps):
    """Notes (sorted by start, then pitch) and the tracks, tempo and metre they are played with."""

    notes: list[Note] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=lambda: [Track("Track 1")])
    tempos: list[TempoChange] = field(default_factory=lambda: [TempoChange(0.0, DEFAULT_BPM)])
    time_signatures: list[TimeSignature] = field(default_factory=lambda: [TimeSignature(0.0)])
    ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT
    name: str = ""
    #: what made it (the studio's generation parameters), kept in a MIDI text meta event
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.notes = sorted_notes(self.notes)
        if not self.tempos or self.tempos[0].beat > 0:
            self.tempos = [TempoChange(0.0, self.tempos[0].bpm if self.tempos else DEFAULT_BPM), *self.tempos]
        if not self.time_signatures or self.time_signatures[0].beat > 0:
            self.time_signatures = [TimeSignature(0.0), *self.time_signatures]

    # -- time ---------------------------------------------------------------------------------
    @property
    def length_beats(self) -> float:
        """Where the last note ends (0 for no notes)."""
        return max((n.start + n.duration for n in self.notes), default=0.0)

    def seconds_at(self, beat: float) -> float:
        """The time of ``beat`` in seconds from the start, through every tempo change before it."""
        seconds, previous = 0.0, self.tempos[0]
        for change in self.tempos[1:]:
            if change.beat >= beat:
                break
            seconds += (change.beat - previous.beat) * 60.0 / previous.bpm
            previous = change
        return seconds + (beat - previous.beat) * 60.0 / previous.bpm

    def beat_at(self, seconds: float) -> float:
        """The inverse of :meth:`seconds_at`."""
        elapsed, previous = 0.0, self.tempos[0]
        for change in self.tempos[1:]:
            span = (change.beat - previous.beat) * 60.0 / previous.bpm
            if elapsed + span >= seconds:
                break
            elapsed += span
            previous = change
        return previous.beat + (seconds - elapsed) * previous.bpm / 60.0

    @property
    def length_seconds(self) -> float:
        return self.seconds_at(self.length_beats)

    # -- notes --------------------------------------------------------------------------------
    def voice_notes(self, voice: int) -> list[Note]:
        return [n for n in self.notes if n.voice == voice]

    def notes_between(self, start: float, end: float) -> list[Note]:
        """Notes that start in ``[start, end)``."""
        starts = [n.start for n in self.notes]
        return self.notes[bisect.bisect_left(starts, start):bisect.bisect_left(starts, end)]

    def with_notes(self, notes: Iterable[Note]) -> Score:
        """A copy with other notes (tracks, tempo and metre shared as they are immutable)."""
        return replace(self, notes=list(notes), tracks=list(self.tracks), tempos=list(self.tempos),
                       time_signatures=list(self.time_signatures), params=dict(self.params))


def sorted_notes(notes: Iterable[Note]) -> list[Note]:
    """Notes in playing order: by start, then voice, then pitch."""
    return sorted(notes, key=lambda n: (n.start, n.voice, n.pitch, n.duration))


def note_ticks(note: Note, ticks_per_beat: int) -> tuple[int, int]:
    """A note's (start, end) in ticks."""
    start = round(note.start * ticks_per_beat)
    return start, max(start + 1, round((note.start + note.duration) * ticks_per_beat))


def transposed(notes: Sequence[Note], semitones: int) -> list[Note]:
    return [replace(n, pitch=min(127, max(0, n.pitch + semitones))) for n in notes]
