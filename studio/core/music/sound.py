"""Which synthesizer the studio plays and renders with: FluidSynth with a General MIDI SoundFont
when both are there, else the built-in one; or the artist's choice (a *sound*: :func:`for_sound`).
Both have ``.name``, ``.render(score, sample_rate, *, start_beat, end_beat)`` (float32 stereo) and
``.stream(...)`` (the same render block by block, with ``.read(frames)``, ``.position``, ``.end`` and
``.close()``)."""

from __future__ import annotations

import os
from typing import Optional, Protocol, Union

import numpy as np

from studio.core.music import synth
from studio.core.music.fluid import FluidRenderer, find_soundfont, fluidsynth_status
from studio.core.music.score import Score


class AudioStream(Protocol):
    position: int  #: the next frame :meth:`read` returns, on the score's timeline
    end: int

    def read(self, frames: int) -> np.ndarray: ...

    def close(self) -> None: ...


class Renderer(Protocol):
    name: str

    def render(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> np.ndarray: ...

    def stream(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> AudioStream: ...


class BuiltinRenderer:
    """The built-in synthesizer (:mod:`studio.core.music.synth`)."""

    name = "built-in synthesizer"

    def render(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> np.ndarray:
        return synth.render(score, sample_rate, start_beat=start_beat, end_beat=end_beat)

    def stream(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> synth.SynthStream:
        return synth.SynthStream(score, sample_rate, start_beat=start_beat, end_beat=end_beat)


def renderer(soundfont: Union[str, os.PathLike, None] = None) -> Renderer:
    """FluidSynth with ``soundfont`` (or the one :func:`~studio.core.music.fluid.find_soundfont`
    finds) when FluidSynth loads, else the built-in synthesizer."""
    found = find_soundfont(soundfont)
    if found is not None and fluidsynth_status()[0]:
        return FluidRenderer(found)
    return BuiltinRenderer()


#: the sound choices besides a SoundFont's path: FluidSynth when it can, else the built-in synthesizer
SOUND_AUTOMATIC = ""
#: the built-in synthesizer, always
SOUND_BUILTIN = "builtin"


def for_sound(sound: str) -> Renderer:
    """The renderer a sound choice names: :data:`SOUND_AUTOMATIC`, :data:`SOUND_BUILTIN` or a SoundFont's
    path (FluidSynth with it, or the built-in synthesizer when FluidSynth does not load). What the piano
    roll plays with and its WAV export renders with, so the file sounds as the roll did."""
    return BuiltinRenderer() if sound == SOUND_BUILTIN else renderer(sound or None)
