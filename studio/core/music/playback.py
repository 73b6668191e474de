"""Playing a score through the sound card, in a thread of the player's own (never the GUI's, never
the inference thread's).

One thread and one ``sounddevice.OutputStream`` per player, opened when something is to be heard
and closed when it has gone quiet. The thread renders the score block by block (a thirtieth of a
second) with the renderer's stream, mixes in the short key sounds of :meth:`Player.play_pitch`, and
writes the blocks with blocking writes. It paces itself against the clock as well as against the
device, so a sink that takes samples as fast as they come (ALSA's null device in the tests) plays in
real time too. The playing position is the clock's time since the stream started (what is being
heard now), never more than what was written; it goes to ``on_position`` in
beats, through the score's tempo map, once a block (about 30 times a second).

Callbacks come from the player's thread: a Qt panel relays them to its own thread. Whatever goes
wrong in the thread reaches ``on_error(message)`` (or the log when there is none), never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from studio.core.capabilities import Note
from studio.core.errors import UserError
from studio.core.music.score import Score, TempoChange, Track
from studio.core.music.synth import frame_at

log = logging.getLogger(__name__)

NO_DEVICE = "No audio output device was found, so nothing can be played; everything else works."
#: frames per block: how often the position is reported and how soon a stop is heard
BLOCKS_PER_SECOND = 30
#: the output latency asked for: enough that a busy GUI thread holding the GIL does not make it stutter
LATENCY_SECONDS = 0.08
#: how long the stream stays open with nothing to play (a run of key clicks reuses it)
IDLE_SECONDS = 1.5
#: how long a key of the keyboard sounds
KEY_SECONDS = 0.6


class AudioUnavailable(UserError):
    """Nothing can be played here (no output device, no PortAudio); the message says so."""


def audio_status() -> tuple[bool, str]:
    """Whether there is an audio output device, and a sentence for the user either way."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        return False, f"No audio output: PortAudio cannot be loaded ({exc}); everything else works."
    try:
        device = sounddevice.query_devices(kind="output")
    except sounddevice.PortAudioError:
        return False, NO_DEVICE
    if not device or device.get("max_output_channels", 0) < 1:
        return False, NO_DEVICE
    return True, f"Audio output: {device['name']}"


@dataclass(eq=False)
class _Playback:
    """One :meth:`Player.play`: what is played and who hears about it."""

    score: Score
    start_frame: int  #: where on the score's timeline it starts
    loop: Optional[tuple[int, int]]  #: (first, last) frame of the loop region
    on_position: Optional[Callable[[float], Any]]
    on_finished: Optional[Callable[[], Any]]
    on_error: Optional[Callable[[str], Any]]
    stream: Any = None  #: the renderer's stream of the current pass
    began: int = 0  #: the player's written-frame count when its first frame was written
    written: int = 0  #: frames of it written so far
    done: bool = False  #: all of it written

    def timeline_frame(self, frames_played: int) -> int:
        """The score's frame that is heard ``frames_played`` frames after it began (loops wrap)."""
        if self.loop is None:
            return self.start_frame + frames_played
        first, last = self.loop
        into_first_pass = last - self.start_frame
        if frames_played < into_first_pass:
            return self.start_frame + frames_played
        return first + (frames_played - into_first_pass) % (last - first)


@dataclass
class _Shot:
    """A short sound (a key of the keyboard) mixed over whatever plays."""

    samples: np.ndarray
    offset: int = 0


@dataclass
class _KeyRequest:
    pitch: int
    velocity: int
    program: int


class Player:
    """Plays scores and key sounds; see the module docstring. ``renderer`` is one of
    :mod:`studio.core.music.sound`'s (the default one when None)."""

    def __init__(self, renderer=None, *, sample_rate: int = 44100,
                 on_error: Optional[Callable[[str], Any]] = None):
        if renderer is None:
            from studio.core.music.sound import renderer as default_renderer

            renderer = default_renderer()
        self.renderer = renderer
        self.sample_rate = sample_rate
        self.on_error = on_error
        self._block = sample_rate // BLOCKS_PER_SECOND
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._playback: Optional[_Playback] = None
        self._keys: list[_KeyRequest] = []
        self._silence = threading.Event()  #: stop(): drop what the device still holds
        self._silenced = threading.Event()  #: the thread has done so
        self._closing = threading.Event()  #: close(): end the thread now rather than once idle

    # -- what the panel calls --------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playback is not None

    def play(self, score: Score, *, start_beat: float = 0.0, loop: Optional[tuple[float, float]] = None,
             on_position: Optional[Callable[[float], Any]] = None, on_finished: Optional[Callable[[], Any]] = None,
             on_error: Optional[Callable[[str], Any]] = None) -> None:
        """Play ``score`` from ``start_beat`` (with ``loop``, from there, or the loop's start when it lies
        outside, round the loop until :meth:`stop`). ``on_finished`` comes when the music has run out by
        itself (the last note and its release), not after :meth:`stop`. Raises :class:`AudioUnavailable`."""
        rate = self.sample_rate
        region = None
        if loop is not None:
            region = (frame_at(score, loop[0], rate), frame_at(score, loop[1], rate))
            if region[1] <= region[0]:
                raise ValueError(f"the loop region must end after it starts, not {loop}")
            if not loop[0] <= start_beat < loop[1]:
                start_beat = loop[0]
        playback = _Playback(score, frame_at(score, start_beat, rate), region, on_position, on_finished,
                             on_error or self.on_error)
        self.stop()
        with self._lock:
            self._ensure_thread()
            self._playback = playback

    def stop(self) -> None:
        """Stop the score at once (what the device still holds is dropped, so the next :meth:`play` is
        heard at once too); key sounds stop as well."""
        with self._lock:
            if self._thread is None:
                return
            self._playback = None
            self._keys.clear()
            thread = self._thread
            self._silenced.clear()
            self._silence.set()
        if thread is not None and thread is not threading.current_thread():
            self._silenced.wait(timeout=4.0 / BLOCKS_PER_SECOND + LATENCY_SECONDS)

    def play_pitch(self, pitch: int, velocity: int = 100, program: int = 0) -> None:
        """Sound one key briefly (the keyboard at the roll's left), over whatever plays."""
        with self._lock:
            self._ensure_thread()
            self._keys.append(_KeyRequest(pitch, velocity, program))

    def close(self) -> None:
        """Stop and end the thread (it also ends by itself once idle)."""
        self._closing.set()
        self.stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=IDLE_SECONDS + 1.0)

    # -- the thread ------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        """Open the output and start the thread unless it runs (called with the lock held)."""
        if self._thread is not None:
            return
        available, message = audio_status()
        if not available:
            raise AudioUnavailable(message)
        import sounddevice

        try:
            output = sounddevice.OutputStream(samplerate=self.sample_rate, channels=2, dtype="float32",
                                              latency=LATENCY_SECONDS)
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise AudioUnavailable(f"The audio output could not be opened ({exc}); everything else works.") from exc
        self._silence.clear()
        self._closing.clear()
        self._thread = threading.Thread(target=self._run, args=(output,), name="studio-player", daemon=True)
        self._thread.start()

    def _run(self, output) -> None:
        clock, shots, current = _Clock(self.sample_rate), [], None
        try:
            output.start()
            clock.restart(output.latency)
            idle_since = time.monotonic()
            while True:
                if self._silence.is_set():
                    output.abort()  # drops what the device holds: silent now
                    shots.clear()
                    self._silence.clear()
                    self._silenced.set()
                    output.start()
                    clock.restart(output.latency)
                with self._lock:
                    playback, keys = self._playback, self._keys[:]
                    self._keys.clear()
                    if playback is not None or keys or shots:
                        idle_since = time.monotonic()
                    elif self._closing.is_set() or time.monotonic() - idle_since > IDLE_SECONDS:
                        self._thread = None
                        break
                if playback is not current:
                    _close_stream(current)
                    current = playback
                shots.extend(self._key_sound(key) for key in keys)
                block = self._mix(playback, shots, clock)
                clock.wait_for_room(self._silence)
                output.write(block)
                clock.written += len(block)
                if playback is not None:
                    self._report(playback, clock)
            output.stop()  # what is written still plays out
        except Exception as exc:  # the device went away, a renderer failed: tell, never lose it
            self._fail(current, f"Playback stopped: {exc}", exc)
            with self._lock:
                self._thread, self._playback = None, None
        finally:
            _close_stream(current)
            output.close(ignore_errors=True)
            self._silenced.set()

    def _mix(self, playback: Optional[_Playback], shots: list[_Shot], clock: _Clock) -> np.ndarray:
        block = np.zeros((self._block, 2), dtype=np.float32)
        if playback is not None and not playback.done:
            music = self._next_music(playback, clock)
            block[:len(music)] += music
        for shot in shots:
            part = shot.samples[shot.offset:shot.offset + self._block]
            block[:len(part)] += part
            shot.offset += len(part)
        shots[:] = [shot for shot in shots if shot.offset < len(shot.samples)]
        return np.clip(block, -1.0, 1.0, out=block)

    def _next_music(self, playback: _Playback, clock: _Clock) -> np.ndarray:
        """The playback's next block (from the renderer's stream; round the loop when it has one)."""
        if playback.stream is None:
            playback.began = clock.written
            playback.stream = self._open_stream(playback.score, playback.start_frame, playback.loop)
        parts, wanted = [], self._block
        while wanted:
            part = playback.stream.read(wanted)
            parts.append(part)
            wanted -= len(part)
            if playback.stream.position >= playback.stream.end:
                playback.stream.close()
                if playback.loop is None:
                    playback.done = True
                    break
                playback.stream = self._open_stream(playback.score, playback.loop[0], playback.loop)
        music = np.concatenate(parts)
        playback.written += len(music)
        return music

    def _open_stream(self, score: Score, first: int, loop: Optional[tuple[int, int]]):
        rate = self.sample_rate
        end_beat = None if loop is None else score.beat_at(loop[1] / rate)
        return self.renderer.stream(score, rate, start_beat=score.beat_at(first / rate), end_beat=end_beat)

    def _report(self, playback: _Playback, clock: _Clock) -> None:
        """``on_position`` once a block, and ``on_finished`` when the last frame has been heard; neither
        once the playback has been stopped or replaced."""
        played = min(clock.heard() - playback.began, playback.written)
        if played < 0:
            return
        finished = playback.done and played >= playback.written
        with self._lock:
            if self._playback is not playback:
                return
            if finished:
                self._playback = None
        seconds = playback.timeline_frame(played) / self.sample_rate
        self._call(playback, playback.on_position, playback.score.beat_at(seconds))
        if finished:
            _close_stream(playback)
            self._call(playback, playback.on_finished)

    def _call(self, playback: _Playback, callback, *args) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:
            self._fail(playback, f"A playback callback failed: {exc}", exc)

    def _fail(self, playback: Optional[_Playback], message: str, exc: BaseException) -> None:
        report = (playback.on_error if playback is not None else None) or self.on_error
        if report is None:
            log.error("%s", message, exc_info=exc)
            return
        try:
            report(message)
        except Exception:
            log.exception("the on_error callback failed on %r", message)

    def _key_sound(self, key: _KeyRequest) -> _Shot:
        score = Score([Note(key.pitch, 0.0, KEY_SECONDS / 2, key.velocity)], [Track("key", program=key.program)],
                      [TempoChange(0.0, 60.0)])
        samples = self.renderer.render(score, self.sample_rate)[:round(KEY_SECONDS * self.sample_rate)]
        fade = np.linspace(1.0, 0.0, min(len(samples), self.sample_rate // 20), dtype=np.float32)
        samples[len(samples) - len(fade):] *= fade[:, None]
        return _Shot(samples)


@dataclass
class _Clock:
    """Frames written against time passed: what is heard now, and how far ahead writing may go."""

    sample_rate: int
    latency: float = 0.0
    started: float = field(default_factory=time.monotonic)
    written: int = 0

    def restart(self, latency: float) -> None:
        self.latency, self.started, self.written = float(latency), time.monotonic(), 0

    def heard(self) -> int:
        """Frames heard so far: as many as the time since the stream started holds, at most all written
        (a device plays from the first frame written; then writing stays ``latency`` ahead of it)."""
        return min(self.written, round((time.monotonic() - self.started) * self.sample_rate))

    def wait_for_room(self, interrupt: threading.Event) -> None:
        """Sleep while more than the latency and a block are written ahead of the clock (a device
        blocks the write by itself; a null sink would not)."""
        ahead = self.written / self.sample_rate - (time.monotonic() - self.started)
        lead = self.latency + 1.0 / BLOCKS_PER_SECOND
        if ahead > lead:
            interrupt.wait(ahead - lead)


def _close_stream(playback: Optional[_Playback]) -> None:
    if playback is not None and playback.stream is not None:
        playback.stream.close()
        playback.stream = None
