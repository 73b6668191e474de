"""Play, Stop and the keyboard's sound for the piano roll (Qt-free).

:class:`Transport` plays what is audible in the roll (:meth:`PianoRollState.score` with
``audible_only``: mute and solo respected) from the playhead, or round the loop region while looping
is on, through a :class:`~studio.core.music.playback.Player`, which plays in its own thread. The
player's position callbacks come from that thread: ``wrap`` (the panel's
:class:`~studio.ui.bridge.GuiRelay`) brings them to the GUI thread, where they move the playhead.
Stop, or the end of the music, puts the playhead back where Play started, as DAWs do, so Space,
Space plays the same passage again.

Where no audio device exists, Play says why (:func:`~studio.core.music.playback.audio_status`) and
everything else works.

Live MIDI (:mod:`studio.core.music.live`): with it on, Play also sends the passage, in time, to a
virtual MIDI output a DAW or a hardware synth listens to (round the loop too, restarted each time
the player comes round; with no audio device, it plays to the port alone), and Record primer takes
what is played on a MIDI input as a new track at the playhead, the playhead after it, ready for
Continue. With no MIDI system they say so. The sound is a setting: the automatic choice (FluidSynth with a General MIDI
SoundFont when both are there, else the built-in synthesizer), the built-in synthesizer, or a
SoundFont file of the artist's.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from studio.core.errors import UserError
from studio.core.music.live import LiveOutput, MidiBackend, MidiUnavailable, PrimerRecorder, RtMidiBackend
from studio.core.music.score import Score, TimeSignature, Track
from studio.core.music.sound import SOUND_AUTOMATIC, SOUND_BUILTIN
from studio.ui.kit.evented import Events
from studio.ui.panels.piano_roll import grid


def make_player(sound: str) -> Any:
    """The studio's player with the renderer ``sound`` names (see :func:`check_sound`)."""
    from studio.core.music.playback import Player
    from studio.core.music.sound import for_sound

    return Player(for_sound(sound))


def check_sound(sound: str) -> str:
    """``sound`` itself, or a :class:`UserError` when it names a SoundFont that is not there."""
    if sound in (SOUND_AUTOMATIC, SOUND_BUILTIN):
        return sound
    path = Path(sound).expanduser()
    if not path.is_file():
        raise UserError(f"{path} is not there, so it cannot be the SoundFont the roll plays with.")
    if path.suffix.lower() not in (".sf2", ".sf3"):
        raise UserError(f"{path} is not a SoundFont (.sf2 or .sf3 file).")
    return str(path)


class Transport:
    """Events: ``playing(on)`` when playback starts or stops; ``message(text)`` for the status bar
    (why Play cannot play, say); ``live(on)`` and ``recording(on)`` for Live MIDI."""

    def __init__(self, state: Any, *, audio: tuple[bool, str], sound: str = SOUND_AUTOMATIC,
                 player_factory: Callable[[str], Any] = make_player,
                 wrap: Callable[[Callable], Callable] = lambda fn: fn,
                 midi_backend: Optional[MidiBackend] = None) -> None:
        """``audio``: :func:`~studio.core.music.playback.audio_status`'s answer; ``player_factory(sound)``
        makes the player (the studio's :func:`make_player`; a fake in tests); ``wrap(fn)`` makes ``fn``
        safe to call from the audio thread (it then runs on the GUI thread); ``midi_backend``: the
        system's MIDI (python-rtmidi) unless given (a fake in tests)."""
        self.state = state
        self.available, self.reason = audio
        self.events = Events("playing", "message", "live", "recording")
        self._midi = midi_backend
        self.live: Optional[LiveOutput] = None
        self.recorder: Optional[PrimerRecorder] = None
        self._live_loop: Optional[tuple[Score, float]] = None  #: what the port gets each time round
        self._last_beat = 0.0
        self._factory = player_factory
        self._wrap = wrap
        self.sound = check_sound(sound)
        self._player: Optional[Any] = None
        self._run = 0  #: which Play the callbacks arriving belong to
        self.playing = False
        self.started_at = 0.0  #: where the playhead was when Play started

    @property
    def player(self) -> Any:
        """The player, made when first needed (a SoundFont loads in its renderer)."""
        if self._player is None:
            self._player = self._factory(self.sound)
        return self._player

    def set_sound(self, sound: str) -> None:
        """Play with another sound from now on; raises :class:`UserError` for a missing SoundFont."""
        sound = check_sound(sound)
        if sound == self.sound:
            return
        self.stop()
        if self._player is not None:
            self._player.close()
        self.sound, self._player = sound, None

    @property
    def sound_name(self) -> str:
        """What the roll sounds with, in words ("FluidSynth (TimGM6mb.sf2)", "built-in synthesizer")."""
        return self.player.renderer.name

    # -- playing ---------------------------------------------------------------------------------
    def toggle(self) -> None:
        """Space: play, or stop if playing."""
        if self.playing:
            self.stop()
        else:
            self.play()

    def play(self) -> bool:
        """Play the audible tracks from the playhead (round the loop when looping is on); False, with a
        ``message``, when nothing can be played."""
        if not self.available and self.live is None:
            self.events.message.emit(self.reason)
            return False
        self.stop()  # playing already: again from where it started
        state = self.state
        score = state.score(audible_only=True)
        loop = state.loop if state.loop_enabled and state.loop is not None else None
        start = state.playhead
        if loop is not None and not loop[0] <= start < loop[1]:
            start = loop[0]
        elif loop is None and start >= score.length_beats:
            start = 0.0  # at or past the end: from the top, rather than silence
        if not score.notes:
            self.events.message.emit("Nothing to play: every track is muted or empty." if state.notes
                                     else "Nothing to play yet: draw or import some notes.")
            return False
        return self._play(score, start, loop, back_to=state.playhead)

    def play_score(self, score: Score, start: float = 0.0) -> bool:
        """Play ``score`` (a variation to audition, say) from ``start``, showing it on the playhead."""
        return self._play(score, start, None, back_to=self.state.playhead)

    def _play(self, score: Score, start: float, loop: Optional[tuple[float, float]], back_to: float) -> bool:
        if not self.available and self.live is None:
            self.events.message.emit(self.reason)
            return False
        self.stop()
        self._run += 1
        run = self._run
        self.started_at = back_to
        if self.available:
            try:
                self.player.play(score, start_beat=start, loop=loop,
                                 on_position=self._wrap(lambda beat: self._moved(run, beat)),
                                 on_finished=self._wrap(lambda: self._ended(run)),
                                 on_error=self._wrap(lambda message: self._failed(run, message)))
            except UserError as exc:  # the device went away, a SoundFont would not load...
                self.events.message.emit(str(exc))
                return False
        if self.live is not None:
            self._send_live(run, score, start, loop)
        self.playing = True
        self._last_beat = start
        self.state.set_playhead(start)
        self.events.playing.emit(True)
        return True

    def _send_live(self, run: int, score: Score, start: float, loop: Optional[tuple[float, float]]) -> None:
        """The passage to the MIDI port as well (alone, when there is no audio device to follow)."""
        if loop is not None:
            score = score.with_notes(dataclasses.replace(n, duration=min(n.duration, loop[1] - n.start))
                                     for n in score.notes if n.start < loop[1])
            self._live_loop = (score, loop[0])
        else:
            self._live_loop = None
        ended = None if self.available else self._wrap(lambda: self._ended(run))
        self.live.play(score, start_beat=start, on_finished=ended)

    def stop(self) -> None:
        """Stop playing; the playhead goes back to where Play started."""
        if not self.playing:
            return
        self._run += 1  # whatever the player still sends is for a Play that is over
        if self.available:
            self.player.stop()
        if self.live is not None:
            self.live.stop()
        self._stopped()

    def _moved(self, run: int, beat: float) -> None:
        if run != self._run or not self.playing:
            return
        if self._live_loop is not None and self.live is not None and beat < self._last_beat:
            score, loop_start = self._live_loop  # the player came round the loop: so does the port
            self.live.play(score, start_beat=loop_start)
        self._last_beat = beat
        self.state.set_playhead(beat)

    def _ended(self, run: int) -> None:
        if run == self._run and self.playing:
            self._stopped()

    def _failed(self, run: int, message: str) -> None:
        if run == self._run:
            self.events.message.emit(message)
            self._ended(run)

    def _stopped(self) -> None:
        self.playing = False
        self.state.set_playhead(self.started_at)
        self.events.playing.emit(False)

    def key_pressed(self, pitch: int) -> None:
        """A key of the keyboard was clicked: sound it with the active track's instrument."""
        if not self.available:
            self.events.message.emit(self.reason)
            return
        state = self.state
        program = state.tracks[state.active_track].track.program if state.tracks else 0
        try:
            self.player.play_pitch(pitch, velocity=state.velocity, program=program)
        except UserError as exc:
            self.events.message.emit(str(exc))

    # -- live MIDI -----------------------------------------------------------------------------------
    def set_live(self, on: bool) -> bool:
        """Play to the virtual MIDI output too (on) or no more; False, with a ``message``, when there is
        no MIDI system to open it in."""
        if on == (self.live is not None):
            return True
        if not on:
            self.stop()
            self.live.close()
            self.live = None
            self.events.live.emit(False)
            return True
        try:
            self.live = LiveOutput(self._midi or RtMidiBackend(), on_error=self._wrap(self.events.message.emit))
        except MidiUnavailable as exc:
            self.events.message.emit(str(exc))
            self.events.live.emit(False)
            return False
        self.events.live.emit(True)
        self.events.message.emit("Live MIDI: playing to the virtual MIDI output \"Generative Studio\" as well")
        return True

    def start_recording(self, input_name: Optional[str] = None) -> bool:
        """Record a primer from the MIDI input ``input_name`` (default: the first there is, else a virtual
        input a DAW can send to); False, with a ``message``, when there is no MIDI system."""
        if self.recorder is not None:
            return True
        try:
            backend = self._midi or RtMidiBackend()
            names = backend.input_names() if input_name is None else [input_name]
            self.recorder = PrimerRecorder(backend, names[0] if names else None, bpm=self.state.bpm)
        except MidiUnavailable as exc:
            self.events.message.emit(str(exc))
            self.events.recording.emit(False)
            return False
        self.events.recording.emit(True)
        self.events.message.emit(f"Recording a primer from {names[0] if names else 'the virtual MIDI input'}: "
                                 "play, then press Record primer again")
        return True

    def stop_recording(self) -> list[int]:
        """Stop recording: what was played becomes a new track at the playhead (one undo step), and the
        playhead moves to its end, where Continue goes on. Returns the new tracks' indices."""
        if self.recorder is None:
            return []
        notes, self.recorder = self.recorder.stop(), None
        self.events.recording.emit(False)
        if not notes:
            self.events.message.emit("Nothing was played, so nothing was recorded")
            return []
        state = self.state
        at = state.playhead
        placed = [dataclasses.replace(n, start=n.start + at, voice=0) for n in notes]
        taken = {t.track.name for t in state.tracks}
        name = next(f"Recorded {n}" for n in range(1, len(taken) + 2) if f"Recorded {n}" not in taken)
        added = state.add_tracks_from(Score(notes=placed, tracks=[Track(name)]), text="Record primer")
        state.clear_selection()
        state.set_playhead(max(n.start + n.duration for n in placed))
        self.events.message.emit(f"Recorded {len(notes)} notes into {name}; Continue goes on from them")
        return added

    def close(self) -> None:
        """The panel is going away: stop, take no more callbacks, close the ports, let the player's
        thread end."""
        self.stop()
        self._run += 1
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None
        if self.live is not None:
            self.live.close()
            self.live = None
        if self._player is not None:
            self._player.close()


def position_label(time_signatures: Sequence[TimeSignature], beat: float) -> str:
    """Where ``beat`` is as a musician counts it, "bar:beat" from 1:1 (beats in the metre's unit:
    eighths in 6/8)."""
    # the last bar starting at or before ``beat`` (no bar is longer than 32/1: 128 beats)
    bar_start, number, _length = collections.deque(
        grid.bars(time_signatures, max(0.0, beat - 128.0), beat + 1e-6), maxlen=1).pop()
    signature = max((s for s in time_signatures if s.beat <= bar_start + 1e-9), key=lambda s: s.beat,
                    default=TimeSignature(0.0))
    unit = 4.0 / signature.denominator
    return f"{number}:{int((beat - bar_start) / unit + 1e-9) + 1}"
