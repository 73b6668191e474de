"""The built-in synthesizer: a small, pleasant sound for any score, in numpy, with no library to install.

Each note is a band-limited wavetable (a few harmonics, one table per General MIDI program family and
number of harmonics below Nyquist) read at the note's frequency, in two layers: a mellow one that
follows the ADSR envelope and a bright one that also fades, so a piano-like note darkens as it decays.
Velocity sets loudness, each track has its place in the stereo field, drums (channel 9) are short
noise bursts. Everything is computed per note on whole arrays (no per-sample Python), and a soft
limiter keeps the mix inside [-1, 1] however many voices sound.

A render is a window of one fixed timeline: ``render(score, start_beat=a, end_beat=b)`` is exactly the
frames ``[frame_at(a), frame_at(b))`` of the whole piece, notes struck before ``a`` included, so
windows rendered one after another join without a seam (the player streams this way). Without
``end_beat`` the render goes on :data:`RELEASE_TAIL_SECONDS` after the last note ends.

How fast it is: :func:`synth_realtime_factor` gives seconds of audio per second of process CPU time.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from studio.core.music.score import Score

#: how long a render goes on after the last note ends, for the notes' release (and FluidSynth's reverb)
RELEASE_TAIL_SECONDS = 1.0
#: drums: General MIDI's percussion channel (0-based)
DRUM_CHANNEL = 9
_TABLE_SIZE = 4096
#: loudness of one note at full velocity before the limiter (four loud voices stay near the knee)
_NOTE_GAIN = 0.32
#: the limiter is linear below this level and bends smoothly towards 1 above it
_LIMIT_KNEE = 0.6
_LIMIT_CEILING = 0.99
#: the bright layer against the mellow one, at the note's start
_BRIGHT_GAIN = 0.6
#: how long a drum sounds, however long its note (a hit, not a held key)
_DRUM_SECONDS = 0.4


@dataclass(frozen=True)
class Timbre:
    """How a family of General MIDI programs sounds: harmonic amplitudes and an envelope (seconds)."""

    mellow: tuple[float, ...]  #: amplitudes of harmonics 1, 2, ... of the sustained layer
    bright: tuple[float, ...]  #: of the layer that fades with ``brightness_decay``
    attack: float
    decay: float  #: time constant of the fall from the peak towards ``sustain``
    sustain: float  #: level held while the key is down (0: the note dies away, like a piano)
    release: float  #: fade after the note ends (at most RELEASE_TAIL_SECONDS)
    brightness_decay: float


PIANO = Timbre((1.0, 0.35, 0.12, 0.05), (0.0, 0.45, 0.3, 0.2, 0.12, 0.08, 0.05), 0.004, 1.2, 0.0, 0.25, 0.35)
ORGAN = Timbre((1.0, 0.6, 0.0, 0.35, 0.0, 0.2, 0.0, 0.12), (0.0,), 0.012, 0.1, 1.0, 0.07, 1.0)
STRINGS = Timbre((1.0, 0.5, 0.33, 0.25, 0.2, 0.16, 0.14, 0.12), (0.0,), 0.09, 0.3, 0.85, 0.3, 1.0)
PLUCKED = Timbre((1.0, 0.4, 0.2, 0.1), (0.0, 0.6, 0.45, 0.3, 0.2, 0.1), 0.003, 0.6, 0.0, 0.15, 0.12)
BRASS = Timbre((1.0, 0.7, 0.5, 0.35, 0.25, 0.18), (0.0, 0.3, 0.3, 0.2), 0.04, 0.2, 0.8, 0.12, 0.4)
REED = Timbre((1.0, 0.1, 0.5, 0.08, 0.3, 0.05, 0.15), (0.0,), 0.03, 0.2, 0.85, 0.1, 1.0)
SOFT = Timbre((1.0, 0.25, 0.08), (0.0, 0.2, 0.1), 0.02, 0.5, 0.7, 0.2, 0.5)

#: program // 8 (the General MIDI family) -> timbre
_FAMILIES = {0: PIANO, 1: PLUCKED, 2: ORGAN, 3: PLUCKED, 4: STRINGS, 5: STRINGS, 6: BRASS, 7: REED, 8: REED,
             9: SOFT, 10: SOFT, 11: SOFT, 12: PLUCKED}


def timbre_for(program: int) -> Timbre:
    """The timbre of a General MIDI program (0-127)."""
    return _FAMILIES.get(program // 8, SOFT)


def frame_at(score: Score, beat: float, sample_rate: int) -> int:
    return round(score.seconds_at(beat) * sample_rate)


def end_frame(score: Score, sample_rate: int, end_beat: Optional[float] = None) -> int:
    """The frame a render stops at: ``end_beat``'s, else the last note's end plus the release tail."""
    if end_beat is not None:
        return frame_at(score, end_beat, sample_rate)
    return frame_at(score, score.length_beats, sample_rate) + round(RELEASE_TAIL_SECONDS * sample_rate)


def render(score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
           end_beat: Optional[float] = None) -> np.ndarray:
    """The score as float32 stereo ``(frames, 2)`` in [-1, 1], from ``start_beat`` to ``end_beat``
    (see the module's docstring for what a window is)."""
    stream = SynthStream(score, sample_rate, start_beat=start_beat, end_beat=end_beat)
    return stream.read(stream.end - stream.position)


class SynthStream:
    """One render, made block by block as it is asked for (what the player plays from). The notes'
    frames are worked out once, so a block costs only the notes that sound in it."""

    def __init__(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
                 end_beat: Optional[float] = None):
        self.sample_rate = sample_rate
        self.position = frame_at(score, start_beat, sample_rate)
        self.end = max(self.position, end_frame(score, sample_rate, end_beat))
        count = len(score.tracks)
        self._pans = [_pan(index, count) for index in range(count)]
        self._notes, on, stop = [], [], []
        for note in score.notes:
            track_index = note.voice if 0 <= note.voice < count else 0
            track = score.tracks[track_index]
            timbre = None if track.channel == DRUM_CHANNEL else timbre_for(track.program)
            start = frame_at(score, note.start, sample_rate)
            held = max(start + 1, frame_at(score, note.start + note.duration, sample_rate)) - start
            if timbre is None:
                ring = round(_DRUM_SECONDS * sample_rate)
            else:
                ring = held + round(timbre.release * sample_rate)
            self._notes.append((note, track_index, timbre, held))
            on.append(start)
            stop.append(start + ring)
        self._on, self._stop = np.array(on, dtype=np.int64), np.array(stop, dtype=np.int64)

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (fewer at the end; none once it is over)."""
        first, last = self.position, min(self.position + frames, self.end)
        self.position = last
        mix = np.zeros((last - first, 2), dtype=np.float32)
        for i in np.flatnonzero((self._on < last) & (self._stop > first)):
            note, track_index, timbre, held = self._notes[i]
            on = int(self._on[i])
            lo, hi = max(on, first), min(int(self._stop[i]), last)
            since = np.arange(lo - on, hi - on)  # frames since the note began
            if timbre is None:
                voice = _drum(note.pitch, since, self.sample_rate)
            else:
                voice = _tone(note.pitch, since, held / self.sample_rate, timbre, self.sample_rate)
            voice *= np.float32(_NOTE_GAIN * (max(1, note.velocity) / 127.0) ** 1.5)
            left, right = self._pans[track_index]
            mix[lo - first:hi - first, 0] += voice * left
            mix[lo - first:hi - first, 1] += voice * right
        return soft_limit(mix)

    def close(self) -> None:
        """Nothing to free; here so every renderer's stream is closed the same way."""


def soft_limit(mix: np.ndarray) -> np.ndarray:
    """Linear below the knee, a tanh bend above it up to a ceiling just under 1 (16-bit full scale is
    never hit); sample by sample, so windows rendered apart join exactly."""
    level = np.abs(mix)
    loud = level > _LIMIT_KNEE
    if loud.any():
        room = _LIMIT_CEILING - _LIMIT_KNEE
        mix[loud] = np.sign(mix[loud]) * (_LIMIT_KNEE + room * np.tanh((level[loud] - _LIMIT_KNEE) / room))
    return mix


def synth_realtime_factor(score: Score, sample_rate: int = 44100, render_fn=None) -> float:
    """Seconds of audio rendered per second of this process's CPU time (``time.process_time``)."""
    render_fn = render_fn or render
    began = time.process_time()
    frames = len(render_fn(score, sample_rate))
    spent = max(time.process_time() - began, 1e-6)
    return frames / sample_rate / spent


def _tone(pitch: int, frames: np.ndarray, held: float, timbre: Timbre, sample_rate: int) -> np.ndarray:
    frequency = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    harmonics = max(1, int(sample_rate / 2 / frequency))
    # the phase in float64 (a float32 one drifts audibly on long high notes), then a table lookup
    index = (frames * (frequency * _TABLE_SIZE / sample_rate)).astype(np.int64) & (_TABLE_SIZE - 1)
    t = frames.astype(np.float32) / np.float32(sample_rate)
    voice = _table(timbre.mellow, harmonics)[index]
    if any(timbre.bright[:harmonics]):
        fade = np.exp(-t / np.float32(timbre.brightness_decay))
        voice += _table(timbre.bright, harmonics)[index] * (fade * np.float32(_BRIGHT_GAIN))
    return voice * _envelope(t, held, timbre)


def _envelope(t: np.ndarray, held: float, timbre: Timbre) -> np.ndarray:
    """Attack to 1, fall towards the sustain level, then release from wherever it was at key-up."""
    attack = np.minimum(t / np.float32(timbre.attack), 1.0)
    after = np.maximum(t - np.float32(timbre.attack), 0.0)
    level = timbre.sustain + (1.0 - timbre.sustain) * np.exp(-after / np.float32(timbre.decay))
    released_from = timbre.sustain + (1.0 - timbre.sustain) * np.exp(-max(held - timbre.attack, 0.0) / timbre.decay)
    released_from *= min(held / timbre.attack, 1.0)
    release = released_from * np.maximum(1.0 - (t - np.float32(held)) / np.float32(timbre.release), 0.0)
    return np.where(t < held, attack * level, release).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _table(amplitudes: tuple[float, ...], harmonics: int) -> np.ndarray:
    """One period of the harmonics below Nyquist, peaking at 1."""
    phase = np.arange(_TABLE_SIZE) * (2 * np.pi / _TABLE_SIZE)
    wave = np.zeros(_TABLE_SIZE)
    for h, amplitude in enumerate(amplitudes[:harmonics]):
        wave += amplitude * np.sin((h + 1) * phase)
    return (wave / max(np.abs(wave).max(), 1e-9)).astype(np.float32)


def _drum(pitch: int, frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """A noise burst, the same for a pitch every time (and in every window); higher keys are shorter."""
    noise = np.random.default_rng(pitch).uniform(-1, 1, frames[-1] + 1).astype(np.float32)[frames]
    t = frames.astype(np.float32) / np.float32(sample_rate)
    ring = np.float32(0.02 + 0.08 * (1 - min(max(pitch - 35, 0), 46) / 46))
    return noise * np.exp(-t / ring) * np.maximum(1 - t / np.float32(_DRUM_SECONDS), 0)


def _pan(index: int, count: int) -> tuple[float, float]:
    """Equal-power gains; tracks spread evenly from left to right (one track: the middle)."""
    position = 0.0 if count < 2 else -0.6 + 1.2 * index / (count - 1)  # -1 left .. 1 right
    angle = (position + 1) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))
