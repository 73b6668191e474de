"""Continue and Variations on the inference thread (Qt-free): what the piano roll asks of a
MusicGenerator.

:func:`continuation` and :func:`variations` run on the inference thread. Every note comes back
as a step of the request, ``ctx.step(sixteenths, total, note)``: that is the progress (how far into
the bars asked for the model has written), the note itself (so it streams into the roll), and the
point where a cancel stops the model within one note.

The model is given the primer (:meth:`PianoRollState.notes_before`: the notes before the playhead,
or the selection) moved back to start near beat 0, on a bar line so its metre is kept, and its
notes are moved forward to where the primer ends in the roll. What comes after the bars asked for
is dropped, and a note still sounding there is cut at the bar line, so "4 bars" is 4 bars.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any

from studio.core.capabilities import Note
from studio.core.errors import UserError

MAX_SEED = 2**31 - 1
MAX_BARS = 64
MAX_VARIATIONS = 8
#: progress is counted in sixteenth notes of the bars asked for
STEPS_PER_BEAT = 4


@dataclass(frozen=True)
class ContinueSettings:
    """How the next Continue or Variations writes."""

    bars: int = 4
    temperature: float = 1.0
    seed: int = 0
    count: int = 3  #: variations written at once, seeds ``seed .. seed + count - 1``

    def check(self) -> ContinueSettings:
        """Itself, or a :class:`ValueError` saying what is allowed."""
        if not 1 <= self.bars <= MAX_BARS:
            raise ValueError(f"A continuation is 1 to {MAX_BARS} bars long, not {self.bars}.")
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f"The temperature goes from 0 (greedy) to 5 (wild), not {self.temperature}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"A seed is a whole number from 0 to {MAX_SEED}, not {self.seed}.")
        if not 2 <= self.count <= MAX_VARIATIONS:
            raise ValueError(f"Variations writes 2 to {MAX_VARIATIONS} continuations at once, not {self.count}.")
        return self

    @classmethod
    def from_params(cls, params: dict[str, Any], default: ContinueSettings) -> ContinueSettings:
        """The settings recorded in ``params`` (an exported MIDI file's); missing or unreadable ones are
        ``default``'s."""
        values = {}
        for name, kind in (("bars", int), ("temperature", float), ("seed", int)):
            try:
                values[name] = kind(params[name])
            except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: a saved Infinity
                continue
        try:
            return dataclasses.replace(default, **values).check()
        except ValueError:
            return default


@dataclass(frozen=True)
class Primer:
    """What a continuation starts from, in the model's time (see the module's docstring)."""

    notes: tuple[Note, ...]
    offset: float  #: beats from the model's time to the roll's
    start: float  #: where the continuation begins, in the model's time (the primer's end)
    beats: float  #: how long it is, in beats
    beats_per_bar: float  #: the roll's bar
    controls: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, notes: Sequence[Note], *, at: float, bars: int, beats_per_bar: float, bpm: float) -> Primer:
        """The primer of ``notes`` (in the roll's time); with none, the continuation begins ``at`` (the
        playhead)."""
        if notes:
            offset = math.floor(min(n.start for n in notes) / beats_per_bar) * beats_per_bar
            end = max(n.start + n.duration for n in notes)
        else:
            offset = end = at
        moved = tuple(dataclasses.replace(n, start=n.start - offset) for n in notes)
        return cls(moved, offset, end - offset, bars * beats_per_bar, beats_per_bar, {"tempo": bpm})

    @property
    def end(self) -> float:
        """Where the continuation must end, in the model's time."""
        return self.start + self.beats

    def total(self) -> int:
        return max(1, round(self.beats * STEPS_PER_BEAT))

    def progress(self, note: Note) -> int:
        """How far ``note`` (in the roll's time) is into the continuation, in steps."""
        return min(self.total(), max(0, round((note.start - self.offset - self.start) * STEPS_PER_BEAT)))


@dataclass(frozen=True)
class ModelVoices:
    """The first payload of a request: the names of the voices the model writes."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class VariationNote:
    """A note of the ``index``-th variation."""

    index: int
    note: Note


def notes(model: Any, primer: Primer, settings: ContinueSettings, seed: int) -> Iterator[Note]:
    """The model's continuation of ``primer``, in the roll's time; the model's generator is closed when
    the consumer stops, cancelled or not."""
    voices = max(1, len(getattr(model, "voices", ()) or ()))
    prompt = [n if n.voice < voices else dataclasses.replace(n, voice=0) for n in primer.notes]
    model_bar = float(getattr(model, "beats_per_bar", 0) or primer.beats_per_bar)
    understood = set(getattr(model, "controls", ()) or ())
    controls = {k: v for k, v in primer.controls.items() if k in understood} or None
    stream = model.generate(prompt, bars=max(1, math.ceil(primer.beats / model_bar)), seed=seed,
                            temperature=settings.temperature, controls=controls)
    with closing(stream):
        for note in stream:
            if note.start >= primer.end - 1e-9:
                return
            if not 0 <= note.pitch <= 127 or note.duration <= 0 or note.start < 0:
                raise UserError(f"The model wrote a note the roll cannot hold ({note}): a MIDI pitch is 0-127, "
                                "and a note starts at beat 0 or later and lasts a while. Its plugin is at fault.")
            duration = min(note.duration, primer.end - note.start)
            yield dataclasses.replace(note, start=note.start + primer.offset, duration=duration)


def continuation(model: Any, ctx: Any, primer: Primer, settings: ContinueSettings) -> int:
    """Stream one continuation of ``primer``; returns how many notes it wrote."""
    total = primer.total()
    ctx.step(0, total, ModelVoices(tuple(getattr(model, "voices", ()) or ())))
    written = 0
    for note in notes(model, primer, settings, settings.seed):
        written += 1
        ctx.step(primer.progress(note), total, note)
    return written


def variations(model: Any, ctx: Any, primer: Primer, settings: ContinueSettings) -> int:
    """Stream ``settings.count`` continuations with seeds ``seed, seed + 1, ...``, a note of each in
    turn, so they grow side by side; each is the continuation it would be on its own."""
    count = settings.count
    total = count * primer.total()
    ctx.step(0, total, ModelVoices(tuple(getattr(model, "voices", ()) or ())))
    progress = [0] * count
    written = 0
    with ExitStack() as streams:
        running = {i: streams.enter_context(closing(notes(model, primer, settings, settings.seed + i)))
                   for i in range(count)}
        while running:
            for index, stream in list(running.items()):
                note = next(stream, None)
                if note is None:
                    del running[index]
                    progress[index] = primer.total()
                    continue
                written += 1
                progress[index] = primer.progress(note)
                ctx.step(sum(progress), total, VariationNote(index, note))
    return written
