"""The book's tokens for chapter 11's music transformer: a melody as (note, duration) pairs.

The book parses each chorale with music21 (``chordify``) into note names such as
``"C#4"`` or ``"rest"`` and quarter-length durations such as ``"0.5"`` or ``"1/3"``,
one pair per onset. This model keeps the top line of the music (the highest pitch
sounding at each onset, the "skyline"), so a chord becomes its top note and a
held soprano note stays one note while the lower voices move. Names are spelled as
music21 spells a MIDI pitch, without importing it.

The vocabularies are learnt from the training data and kept in the model config
as JSON; a note or duration the model has never seen is mapped to the nearest one
it knows when a prompt is read.

Not in the book: with ``bar_position``, each token also carries where in the bar the
next one starts (:func:`bar_positions`), in steps of the duration grid, from the
token's times and the piece's time signatures.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from studio.core.capabilities import ModelError, Note
from studio.core.music.score import TimeSignature

#: The token a piece starts with (note stream) and its duration (duration stream), as in the book.
START = "START"
START_DURATION = "0.0"
REST = "rest"
#: music21's spelling of the twelve pitch classes of a MIDI pitch
PITCH_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
#: durations are rounded to multiples of 1/24 beat: 32nd notes and every triplet down to 16th triplets
DURATION_GRID = 24


@dataclass(frozen=True)
class Event:
    """One element of a melody: a note (or a rest, ``pitch`` None) from ``start`` for ``duration`` beats."""

    pitch: int | None
    start: float
    duration: float


def note_name(pitch: int) -> str:
    """A MIDI pitch as music21 names it: 60 is ``"C4"``, 70 is ``"B-4"``. Below 12 (octave -1) music21's
    names collide ("E-1" is both MIDI 4 and 27): those are ``"MIDI4"``."""
    if pitch < 12:
        return f"MIDI{pitch}"
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def pitch_of(name: str) -> int:
    """The MIDI pitch of a :func:`note_name`."""
    if name.startswith("MIDI") and name[4:].isdigit():
        return int(name[4:])
    for length in (2, 1):
        if name[:length] in PITCH_NAMES and name[length:].isdigit():
            return PITCH_NAMES.index(name[:length]) + 12 * (int(name[length:]) + 1)
    raise ModelError(f"{name!r} is not a note name such as 'C4' or 'B-3'.")


def duration_name(beats: float) -> str:
    """A duration in beats as a quarter-length token: ``"1.0"``, ``"0.5"``, ``"1/3"`` (at least 1/24)."""
    value = max(Fraction(1, DURATION_GRID), Fraction(round(beats * DURATION_GRID), DURATION_GRID))
    if value.denominator & (value.denominator - 1) == 0:  # a power of two: music21 writes a decimal
        return str(float(value))
    return f"{value.numerator}/{value.denominator}"


def duration_value(name: str) -> float:
    return float(Fraction(name))


def top_line(notes: Iterable[Note]) -> list[Event]:
    """The highest note sounding at each onset of ``notes`` (any voices), with rests where nothing
    sounds: a melody in time order whose elements follow one another without gaps or overlaps."""
    notes = [n for n in notes if n.duration > 0]
    if not notes:
        return []
    boundaries = sorted({n.start for n in notes} | {n.start + n.duration for n in notes})
    starting: dict[float, list[Note]] = {}
    for n in notes:
        starting.setdefault(n.start, []).append(n)
    active: list[Note] = []
    line: list[Event] = []
    top_of_last = None
    for here, after in itertools.pairwise(boundaries):
        active = [n for n in active if n.start + n.duration > here] + starting.get(here, [])
        top = max(active, key=lambda n: (n.pitch, n.duration), default=None)
        if line and top is top_of_last:  # the same note (or the same silence) goes on
            last = line[-1]
            line[-1] = Event(last.pitch, last.start, after - last.start)
        else:
            line.append(Event(None if top is None else top.pitch, here, after - here))
        top_of_last = top
    return line


def melody_tokens(notes: Iterable[Note]) -> list[tuple[str, str]]:
    """A piece's (note, duration) tokens: ``START`` first, then its top line."""
    return [(note, duration) for note, duration, _ in timed_tokens(notes)]


def timed_tokens(notes: Iterable[Note]) -> list[tuple[str, str, float]]:
    """:func:`melody_tokens` with the beat each token starts at (``START``: where the first note does)."""
    line = top_line(notes)
    tokens = [(START, START_DURATION, line[0].start if line else 0.0)]
    for event in line:
        tokens.append((REST if event.pitch is None else note_name(event.pitch), duration_name(event.duration),
                       event.start))
    return tokens


def bar_step(beat: float, signatures: Sequence[TimeSignature], steps: int) -> int:
    """Where ``beat`` falls in its bar, in steps of 1/:data:`DURATION_GRID` beat from the bar line (bars
    counted from the last time signature at or before it, which starts a bar), at most ``steps - 1``."""
    signature = max((s for s in signatures if s.beat <= beat + 1e-9), key=lambda s: s.beat,
                    default=TimeSignature(0.0))
    bar = round(signature.beats_per_bar * DURATION_GRID)
    return min(steps - 1, round((beat - signature.beat) * DURATION_GRID) % max(1, bar))


def bar_positions(starts: Sequence[float], end: float, signatures: Sequence[TimeSignature],
                  steps: int) -> list[int]:
    """The bar position each token of a melody is read with: where the next token starts (the last
    token: ``end``, where it ends). ``starts`` are the tokens' starts; what a token predicts is what
    comes at the position it carries."""
    return [bar_step(beat, signatures, steps) for beat in [*starts[1:], end][:len(starts)]]


class MelodyVocab:
    """The note and duration tokens a model knows, with ``START`` first in each."""

    def __init__(self, notes: Sequence[str], durations: Sequence[str]) -> None:
        if not notes or notes[0] != START or not durations or durations[0] != START_DURATION:
            raise ModelError("A melody vocabulary starts with the START note and its 0.0 duration.")
        self.notes = list(notes)
        self.durations = list(durations)
        self._note_ids = {name: i for i, name in enumerate(self.notes)}
        self._duration_ids = {name: i for i, name in enumerate(self.durations)}
        #: (pitch, id) of every pitched note token, for the nearest-note lookup
        self._pitches = [(pitch_of(name), i) for i, name in enumerate(self.notes) if name not in (START, REST)]
        self._values = [(duration_value(name), i) for i, name in enumerate(self.durations) if i > 0]

    @classmethod
    def learn(cls, pieces: Iterable[Sequence[tuple[str, str]]]) -> MelodyVocab:
        notes, durations = set(), set()
        for tokens in pieces:
            for note, duration in tokens:
                notes.add(note)
                durations.add(duration)
        notes.discard(START)
        durations.discard(START_DURATION)
        pitched = sorted((n for n in notes if n != REST), key=pitch_of)
        return cls([START, *([REST] if REST in notes else []), *pitched],
                   [START_DURATION, *sorted(durations, key=duration_value)])

    @classmethod
    def from_json(cls, text: str) -> MelodyVocab:
        try:
            data = json.loads(text)
            return cls(data["notes"], data["durations"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"The model's note vocabulary is damaged ({exc}); train it again.") from exc

    def to_json(self) -> str:
        return json.dumps({"notes": self.notes, "durations": self.durations})

    def note_id(self, name: str) -> int:
        """The id of a note token; an unknown note is the nearest known pitch."""
        if name in self._note_ids:
            return self._note_ids[name]
        if not self._pitches:
            raise ModelError("The model knows no pitched notes.")
        pitch = pitch_of(name)
        return min(self._pitches, key=lambda known: (abs(known[0] - pitch), known[0]))[1]

    def duration_id(self, name: str) -> int:
        """The id of a duration token; an unknown duration is the nearest known one."""
        if name in self._duration_ids:
            return self._duration_ids[name]
        value = duration_value(name)
        return min(self._values, key=lambda known: (abs(known[0] - value), known[0]))[1]

    def encode(self, tokens: Iterable[tuple[str, str]]) -> tuple[list[int], list[int]]:
        """Ids of the two streams; rests are left out when the model never saw one."""
        notes, durations, _ = self.encode_timed((note, duration, 0.0) for note, duration in tokens)
        return notes, durations

    def encode_timed(self, tokens: Iterable[tuple[str, str, float]]) -> tuple[list[int], list[int], list[float]]:
        """:meth:`encode` of :func:`timed_tokens`, with the starts of the tokens kept."""
        notes, durations, starts = [], [], []
        for note, duration, start in tokens:
            if note == REST and REST not in self._note_ids:
                continue
            notes.append(self.note_id(note))
            durations.append(self.duration_id(duration))
            starts.append(start)
        return notes, durations, starts
