"""A polyphonic Music Transformer: a decoder-only GPT over the 388 performance events.

The blocks, the key/value cache and the generation session are the text GPT's
(:mod:`studio_builtins.text.gpt`): only the vocabulary (the events of
:mod:`.events`) and the reading and writing of notes are the music model's own.
Generation masks the ``NOTE_OFF`` of every pitch not sounding, so each event the
model picks means something.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

import torch

from studio.core.capabilities import ModelError, Note
from studio.core.music.score import DEFAULT_TICKS_PER_BEAT, Score, TempoChange
from studio_builtins.text.gpt import Decoder, GPTSession
from studio_builtins.text.sampling import choose

from .config import EventConfig
from .events import (
    DEFAULT_VELOCITY,
    NOTE_OFF,
    TIME_SHIFT,
    VELOCITY,
    VOCAB_SIZE,
    NoteAssembler,
    TimedNote,
    score_events,
    velocity_bin,
)
from .streaming import BEATS_PER_BAR, CONTROLS, check_request, prompt_end, seeded

#: events the model may write per beat of music before generation gives up (a model stuck on
#: note-ons without time shifts would otherwise never reach the last bar)
EVENTS_PER_BEAT = 64


class EventTransformer(Decoder):
    """Offers ``MusicGenerator`` (all voices merged into one); ``forward(idx)`` gives logits for training."""

    voices = ("music",)
    controls = CONTROLS
    beats_per_bar = BEATS_PER_BAR

    def __init__(self, config: EventConfig) -> None:
        _check(config)
        super().__init__(config, VOCAB_SIZE)

    # -- MusicGenerator ----------------------------------------------------------------------
    def generate(self, prompt: Sequence[Note], *, bars: int, seed: int, temperature: float = 1.0,
                 controls: Optional[Mapping[str, Any]] = None, use_cache: bool = True) -> Iterator[Note]:
        """Continue ``prompt`` (every voice, merged) for ``bars`` bars at the "tempo" control (default
        100 bpm), which turns beats into the seconds the events count. A note is yielded once its
        ``NOTE_OFF`` comes (or ``max_note_seconds`` after it began), in order of start; notes
        still sounding at the last bar end there. ``use_cache=False`` reruns the whole context for
        every event (for comparisons)."""
        tempo = check_request(bars, temperature, controls)
        timing = Score(tempos=[TempoChange(0.0, tempo)])
        start = prompt_end(prompt)
        tokens = score_events(timing, prompt)[-self.config.block_size:] or [VELOCITY + velocity_bin(DEFAULT_VELOCITY)]
        end = start + bars * self.beats_per_bar
        return self._stream(tokens, timing, start, end, temperature, seed, use_cache)

    def _stream(self, tokens: list[int], timing: Score, start: float, end: float, temperature: float,
                seed: int, use_cache: bool) -> Iterator[Note]:
        generator = seeded(seed)
        session = GPTSession(self, use_cache, with_attention=False)
        # the clock starts where the prompt's events end (its end on the 10-ms grid), at its last velocity
        assembler = NoteAssembler(round(timing.seconds_at(start) * 100) / 100, self.config.max_note_seconds)
        assembler.feed(next((t for t in reversed(tokens) if t >= VELOCITY), VELOCITY + velocity_bin(DEFAULT_VELOCITY)))
        end_seconds = timing.seconds_at(end)
        for _ in range(int(EVENTS_PER_BEAT * (end - start)) + 1):
            logits, _ = session.feed(tokens)
            silent = torch.ones(VOCAB_SIZE, dtype=torch.bool)  # the NOTE_OFFs of pitches not sounding
            silent[:NOTE_OFF] = silent[TIME_SHIFT:] = False
            silent[[NOTE_OFF + pitch for pitch in assembler.model_sounding]] = False
            token, _ = choose(logits.masked_fill(silent.to(logits.device), float("-inf")), temperature, None, None,
                              generator)
            tokens = [token]
            for note in assembler.feed(token):
                yield self._note(note, timing, start, end)
            if assembler.time >= end_seconds:
                break
        for note in assembler.finish(end_seconds):
            yield self._note(note, timing, start, end)

    @staticmethod
    def _note(note: TimedNote, timing: Score, start: float, end: float) -> Note:
        """A note in beats, on a grid of MIDI ticks (seconds at a tempo rarely make round beats)."""
        begin = max(start, _on_ticks(timing.beat_at(note.start)))
        finish = min(end, _on_ticks(timing.beat_at(note.end)))
        return Note(note.pitch, begin, max(1.0 / DEFAULT_TICKS_PER_BEAT, finish - begin), note.velocity)


def _on_ticks(beat: float) -> float:
    return round(beat * DEFAULT_TICKS_PER_BEAT) / DEFAULT_TICKS_PER_BEAT


def _check(config: EventConfig) -> None:
    """What the event model needs beyond the decoder's own checks of its shape."""
    if config.block_size < 2:
        raise ModelError(f"block_size must be at least 2 (an event and the one after it), not {config.block_size}.")
    if config.max_note_seconds <= 0:
        raise ModelError(f"max_note_seconds must be above 0, not {config.max_note_seconds}.")
    if config.transpose < 0:
        raise ModelError(f"transpose must be 0 or more semitones, not {config.transpose}.")
