"""Rendering through FluidSynth (pyfluidsynth) with a General MIDI SoundFont, offline.

No audio driver is ever started: a ``fluidsynth.Synth`` is made at the render's sample rate, the
SoundFont loaded, a program selected per track, and the notes' on/off events applied between blocks
of its float output. The result has the built-in synthesizer's shape and timeline (see
:mod:`studio.core.music.synth`): float32 stereo, frame 0 at beat 0, a window ``[start_beat, end_beat)``
or the whole piece plus :data:`~studio.core.music.synth.RELEASE_TAIL_SECONDS` (room for the reverb).

Each track gets a synthesizer channel of its own (tracks of a score drawn in the studio often share
MIDI channel 0 with different programs); a track on MIDI channel 9 plays the SoundFont's drum kits.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from studio.core.music.score import Score
from studio.core.music.synth import DRUM_CHANNEL, end_frame, frame_at, soft_limit

#: environment variable naming a SoundFont (.sf2/.sf3) to use instead of the system's
SOUNDFONT_VARIABLE = "STUDIO_SOUNDFONT"
#: where Debian, Fedora, Arch and Homebrew put General MIDI SoundFonts, in order of preference
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf3/MuseScore_General.sf3", "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/usr/share/soundfonts/freepats-general-midi.sf2", "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
)
#: FluidSynth's output gain: a chorale about as loud as with the built-in synthesizer (a dense piece goes
#: through the same soft limiter)
_GAIN = 1.5
_DRUM_BANK = 128


def find_soundfont(setting: Union[str, os.PathLike, None] = None) -> Optional[Path]:
    """The SoundFont to use: ``setting`` (the studio's), else ``$STUDIO_SOUNDFONT``, else the first
    system one that exists; None when there is none. A setting that names no file is passed over."""
    for candidate in (setting, os.environ.get(SOUNDFONT_VARIABLE), *SYSTEM_SOUNDFONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def fluidsynth_status() -> tuple[bool, str]:
    """Whether pyfluidsynth and the FluidSynth library can be loaded, and if not why not."""
    try:
        _fluidsynth()
    except ImportError as exc:
        return False, f"FluidSynth cannot be used ({exc}); install libfluidsynth3 and pyfluidsynth"
    except OSError as exc:
        return False, f"the FluidSynth library failed to load: {exc}"
    return True, "FluidSynth is available"


class FluidRenderer:
    """Renders with FluidSynth and one SoundFont; same calls as the built-in synthesizer."""

    def __init__(self, soundfont: Union[str, os.PathLike]):
        self.soundfont = Path(soundfont)
        self.name = f"FluidSynth ({self.soundfont.name})"

    def render(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> np.ndarray:
        stream = self.stream(score, sample_rate, start_beat=start_beat, end_beat=end_beat)
        try:
            return stream.read(stream.end - stream.position)
        finally:
            stream.close()

    def stream(self, score: Score, sample_rate: int = 44100, *, start_beat: float = 0.0,
               end_beat: Optional[float] = None) -> FluidStream:
        return FluidStream(score, self.soundfont, sample_rate, start_beat=start_beat, end_beat=end_beat)


class FluidStream:
    """One render, block by block: the synthesizer keeps playing between :meth:`read` calls."""

    def __init__(self, score: Score, soundfont: Path, sample_rate: int = 44100, *, start_beat: float = 0.0,
                 end_beat: Optional[float] = None):
        fluidsynth = _fluidsynth()
        self.position = frame_at(score, start_beat, sample_rate)
        self.end = max(self.position, end_frame(score, sample_rate, end_beat))
        self._synth = fluidsynth.Synth(gain=_GAIN, samplerate=float(sample_rate))
        font = self._synth.sfload(str(soundfont))
        if font == -1:
            self._synth.delete()
            raise OSError(f"FluidSynth could not load the SoundFont {soundfont}")
        for index, track in enumerate(score.tracks):
            drum = track.channel == DRUM_CHANNEL
            self._synth.program_select(_channel(index), font, _DRUM_BANK if drum else 0, track.program)
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1))
        self._events = _events(score, sample_rate, self.position, self.end)
        self._next = 0

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (fewer at the end; none once it is over)."""
        last = min(self.position + frames, self.end)
        blocks = []
        while self.position < last:
            while self._next < len(self._events) and self._events[self._next][0] <= self.position:
                self._apply(self._events[self._next])
                self._next += 1
            upcoming = self._events[self._next][0] if self._next < len(self._events) else last
            count = min(upcoming, last) - self.position
            blocks.append(self._samples(count))
            self.position += count
        return soft_limit(np.concatenate(blocks) if blocks else np.zeros((0, 2), dtype=np.float32))

    def _samples(self, frames: int) -> np.ndarray:
        """FluidSynth's float output, unclipped (its 16-bit one clips a dense piece), interleaved stereo."""
        out = np.empty((frames, 2), dtype=np.float32)
        address = out.ctypes.data
        self._write_float(self._synth.synth, frames, address, 0, 2, address, 1, 2)
        return out

    def close(self) -> None:
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def _apply(self, event: tuple[int, int, int, int, int]) -> None:
        _frame, is_on, channel, pitch, velocity = event
        if is_on:
            self._synth.noteon(channel, pitch, velocity)
        else:
            self._synth.noteoff(channel, pitch)


def _channel(track_index: int) -> int:
    """The synthesizer channel of a track: its own, never one FluidSynth keeps for drums (9, 25, ...)."""
    return track_index + track_index // 15 + (1 if track_index % 15 >= DRUM_CHANNEL else 0)


def _events(score: Score, sample_rate: int, first: int, last: int) -> list[tuple[int, int, int, int, int]]:
    """(frame, on?, channel, pitch, velocity) of the notes sounding in ``[first, last)``, in order,
    offs before ons at one frame (a repeated key sounds again); a note struck before ``first`` starts there."""
    events = []
    for note in score.notes:
        on = frame_at(score, note.start, sample_rate)
        off = max(on + 1, frame_at(score, note.start + note.duration, sample_rate))
        if off <= first or on >= last:
            continue
        channel = _channel(note.voice if 0 <= note.voice < len(score.tracks) else 0)
        events.append((max(on, first), 1, channel, note.pitch, min(127, max(1, note.velocity))))
        if off < last:
            events.append((off, 0, channel, note.pitch, 0))
    events.sort()
    return events


def _fluidsynth():
    """pyfluidsynth, imported on first use; its import prints a line when $CI is set, kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        import fluidsynth
    return fluidsynth
