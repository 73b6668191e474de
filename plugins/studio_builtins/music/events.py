"""The event vocabulary of the Music Transformer paper (Huang et al., 2018): 388 tokens.

``NOTE_ON`` and ``NOTE_OFF`` for each of the 128 MIDI pitches, 100 ``TIME_SHIFT``
steps of 10 ms (10 ms to 1 s; a longer gap is several shifts) and 32 ``VELOCITY``
bins (a velocity token holds until the next one). Time is in seconds at the
piece's tempo, so a score is read through its tempo map (:meth:`Score.seconds_at`)
and generated seconds go back to beats through the tempo the piece is played at.

:class:`NoteAssembler` turns generated events back into notes as they become
certain: a note is known once its ``NOTE_OFF`` comes, and notes are handed out in
order of their start, so a held note keeps back those that started after it.
A note held longer than ``max_note_seconds`` is ended there, so one long note
cannot keep the rest of the music from reaching the roll.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from studio.core.capabilities import Note
from studio.core.music.score import Score

NOTE_ON = 0
NOTE_OFF = 128
TIME_SHIFT = 256
VELOCITY = 356
VOCAB_SIZE = 388
TIME_STEPS = 100  #: shifts of 1 .. 100 steps
STEP_SECONDS = 0.01
VELOCITY_BINS = 32
DEFAULT_VELOCITY = 80


def velocity_bin(velocity: int) -> int:
    return min(VELOCITY_BINS - 1, max(0, velocity) * VELOCITY_BINS // 128)


def bin_velocity(index: int) -> int:
    """The velocity a bin plays at: the middle of its range."""
    return index * (128 // VELOCITY_BINS) + 128 // VELOCITY_BINS // 2


def time_shifts(steps: int) -> list[int]:
    """The ``TIME_SHIFT`` tokens that move the clock on by ``steps`` 10-ms steps."""
    tokens = []
    while steps > 0:
        shift = min(steps, TIME_STEPS)
        tokens.append(TIME_SHIFT + shift - 1)
        steps -= shift
    return tokens


def score_events(score: Score, notes: Iterable[Note] | None = None) -> list[int]:
    """The event tokens of ``notes`` (default: all of ``score``'s, every voice merged) at ``score``'s tempo.

    Times are rounded to the 10-ms grid and every note lasts at least one step. At one
    instant, note-offs come before note-ons; a note-on of a pitch still sounding (two
    overlapping notes of one pitch) ends the earlier note there.
    """
    timeline = []  # (step, 0 off / 1 on, pitch, index, velocity)
    for index, note in enumerate(score.notes if notes is None else notes):
        if not 0 <= note.pitch <= 127:
            continue
        on = round(score.seconds_at(note.start) / STEP_SECONDS)
        off = max(on + 1, round(score.seconds_at(note.start + note.duration) / STEP_SECONDS))
        timeline.append((on, 1, note.pitch, index, note.velocity))
        timeline.append((off, 0, note.pitch, index, note.velocity))
    timeline.sort()
    tokens: list[int] = []
    sounding: dict[int, int] = {}  # pitch -> index of the note that holds it
    clock, velocity = 0, None
    for step, is_on, pitch, index, note_velocity in timeline:
        if is_on or sounding.get(pitch) == index:
            tokens.extend(time_shifts(step - clock))
            clock = max(clock, step)
        if not is_on:
            if sounding.get(pitch) == index:
                tokens.append(NOTE_OFF + pitch)
                del sounding[pitch]
            continue
        if pitch in sounding:
            tokens.append(NOTE_OFF + pitch)
        if velocity_bin(note_velocity) != velocity:
            velocity = velocity_bin(note_velocity)
            tokens.append(VELOCITY + velocity)
        tokens.append(NOTE_ON + pitch)
        sounding[pitch] = index
    return tokens


@dataclass(frozen=True, order=True)
class TimedNote:
    """A note in seconds, as the events make it (ordered by start, then pitch)."""

    start: float
    pitch: int
    end: float
    velocity: int


class NoteAssembler:
    """Reads generated events one at a time from a clock starting at ``start`` seconds and hands
    out the notes that are certain, in order of their start (see the module's docstring)."""

    def __init__(self, start: float, max_note_seconds: float) -> None:
        self.time = start
        self.max_note_seconds = max_note_seconds
        self.velocity = bin_velocity(velocity_bin(DEFAULT_VELOCITY))
        #: pitches the model has turned on and not yet off (a note ended early by the cap stays here)
        self.model_sounding: set[int] = set()
        self._open: dict[int, tuple[float, int]] = {}  # pitch -> (start, velocity), not yet handed out
        self._finished: list[TimedNote] = []  # a heap by start

    def feed(self, token: int) -> list[TimedNote]:
        if NOTE_ON <= token < NOTE_OFF:
            pitch = token - NOTE_ON
            self._close(pitch, self.time)
            self._open[pitch] = (self.time, self.velocity)
            self.model_sounding.add(pitch)
        elif token < TIME_SHIFT:
            pitch = token - NOTE_OFF
            self._close(pitch, self.time)
            self.model_sounding.discard(pitch)
        elif token < VELOCITY:
            self.time += (token - TIME_SHIFT + 1) * STEP_SECONDS
            for pitch, (start, _) in list(self._open.items()):
                if self.time - start >= self.max_note_seconds:
                    self._close(pitch, start + self.max_note_seconds)
        else:
            self.velocity = bin_velocity(token - VELOCITY)
        return self._ready()

    def finish(self, end: float) -> list[TimedNote]:
        """Every note still to come, those still sounding ended at ``end`` (or at the cap, if sooner)."""
        for pitch, (start, _) in list(self._open.items()):
            self._close(pitch, min(end, start + self.max_note_seconds))
        return self._ready()

    def _close(self, pitch: int, end: float) -> None:
        if pitch in self._open:
            start, velocity = self._open.pop(pitch)
            heapq.heappush(self._finished, TimedNote(start, pitch, max(end, start + STEP_SECONDS), velocity))

    def _ready(self) -> list[TimedNote]:
        first_open = min((start for start, _ in self._open.values()), default=float("inf"))
        ready = []
        while self._finished and self._finished[0].start <= first_open:
            ready.append(heapq.heappop(self._finished))
        return ready
