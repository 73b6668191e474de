"""Live MIDI: play a score to a virtual MIDI output (a DAW or a hardware synth listens), and record a
primer from a MIDI input.

The ports come from a small backend (:class:`MidiBackend`): python-rtmidi's (:class:`RtMidiBackend`)
or, for tests, :class:`FakeMidiBackend`. Where there is no MIDI system (no ALSA sequencer, as on a
server), opening a port raises :class:`MidiUnavailable` with a sentence saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional, Protocol

from studio.core.capabilities import Note
from studio.core.errors import UserError
from studio.core.music.score import Score

log = logging.getLogger(__name__)

NO_MIDI = "No MIDI system was found (no ALSA sequencer): live MIDI is off; everything else works."
PORT_NAME = "Generative Studio"
NOTE_OFF, NOTE_ON, CONTROL, PROGRAM = 0x80, 0x90, 0xB0, 0xC0
ALL_NOTES_OFF = 123

#: what an input port calls: the message's bytes and the seconds since the previous message
InputCallback = Callable[[list[int], float], Any]


class MidiUnavailable(UserError):
    """No MIDI system, or the port cannot be opened; the message says so."""


class OutputPort(Protocol):
    def send(self, message: list[int]) -> None: ...

    def close(self) -> None: ...


class InputPort(Protocol):
    def close(self) -> None: ...


class MidiBackend(Protocol):
    def input_names(self) -> list[str]: ...

    def open_virtual_output(self, name: str) -> OutputPort: ...

    def open_input(self, name: Optional[str], callback: InputCallback) -> InputPort:
        """The input called ``name``, or a virtual input called :data:`PORT_NAME` when None."""


class RtMidiBackend:
    """Ports of the system's MIDI (ALSA sequencer, CoreMIDI, Windows MM) through python-rtmidi."""

    def input_names(self) -> list[str]:
        return self._client("MidiIn").get_ports()

    def open_virtual_output(self, name: str) -> OutputPort:
        port = self._client("MidiOut")
        try:
            port.open_virtual_port(name)
        except Exception as exc:  # rtmidi.RtMidiError and friends; e.g. Windows has no virtual ports
            port.delete()
            raise MidiUnavailable(f"The virtual MIDI output {name!r} could not be opened: {exc}") from exc
        return _RtOutput(port)

    def open_input(self, name: Optional[str], callback: InputCallback) -> InputPort:
        port = self._client("MidiIn")
        try:
            if name is None:
                port.open_virtual_port(PORT_NAME)
            else:
                names = port.get_ports()
                if name not in names:
                    raise MidiUnavailable(f"There is no MIDI input called {name!r} (there are: "
                                          f"{', '.join(names) or 'none'}).")
                port.open_port(names.index(name))
        except MidiUnavailable:
            port.delete()
            raise
        except Exception as exc:
            port.delete()
            raise MidiUnavailable(f"The MIDI input could not be opened: {exc}") from exc
        port.set_callback(lambda event, _data: callback(list(event[0]), float(event[1])))
        return _RtInput(port)

    @staticmethod
    def _client(kind: str):
        """An rtmidi client; ALSA's complaint about a missing sequencer goes nowhere (we say it better)."""
        try:
            import rtmidi

            with _quiet_stderr():
                return getattr(rtmidi, kind)()
        except ImportError as exc:
            raise MidiUnavailable(f"Live MIDI needs python-rtmidi ({exc}); everything else works.") from exc
        except Exception as exc:  # rtmidi.SystemError: no ALSA sequencer
            raise MidiUnavailable(NO_MIDI) from exc


class _RtOutput:
    def __init__(self, port):
        self._port = port

    def send(self, message: list[int]) -> None:
        self._port.send_message(message)

    def close(self) -> None:
        self._port.close_port()
        self._port.delete()


class _RtInput:
    def __init__(self, port):
        self._port = port

    def close(self) -> None:
        self._port.cancel_callback()
        self._port.close_port()
        self._port.delete()


def midi_status(backend: Optional[MidiBackend] = None) -> tuple[bool, str]:
    """Whether live MIDI works here, and a sentence for the user either way."""
    try:
        names = (backend or RtMidiBackend()).input_names()
    except MidiUnavailable as exc:
        return False, str(exc)
    return True, f"MIDI system found ({len(names)} input{'s' if len(names) != 1 else ''})"


class FakeMidiBackend:
    """Ports in memory: what an output sends is kept in ``sent`` (with the time it was sent), and
    :meth:`feed` plays a message into an open input. For tests, the panel's included."""

    def __init__(self, inputs: tuple[str, ...] = ("Fake keyboard",)):
        self.inputs = list(inputs)
        self.sent: list[tuple[float, list[int]]] = []
        self.opened: list[str] = []
        self._callbacks: list[InputCallback] = []

    def input_names(self) -> list[str]:
        return list(self.inputs)

    def open_virtual_output(self, name: str) -> OutputPort:
        self.opened.append(name)
        return _FakeOutput(self)

    def open_input(self, name: Optional[str], callback: InputCallback) -> InputPort:
        if name is not None and name not in self.inputs:
            raise MidiUnavailable(f"There is no MIDI input called {name!r}.")
        self._callbacks.append(callback)
        return _FakeInput(self, callback)

    def feed(self, message: list[int], delta: float = 0.0) -> None:
        """Deliver ``message`` to every open input, ``delta`` seconds after the previous one."""
        for callback in list(self._callbacks):
            callback(list(message), delta)


class _FakeOutput:
    def __init__(self, backend: FakeMidiBackend):
        self._backend = backend

    def send(self, message: list[int]) -> None:
        self._backend.sent.append((time.monotonic(), list(message)))

    def close(self) -> None:
        """In memory: nothing to close."""


class _FakeInput:
    def __init__(self, backend: FakeMidiBackend, callback: InputCallback):
        self._backend, self._callback = backend, callback

    def close(self) -> None:
        self._backend._callbacks.remove(self._callback)


class LiveOutput:
    """Sends scores, in time, to a virtual MIDI output, from a thread of its own."""

    def __init__(self, backend: Optional[MidiBackend] = None, port_name: str = PORT_NAME,
                 on_error: Optional[Callable[[str], Any]] = None):
        self._port = (backend or RtMidiBackend()).open_virtual_output(port_name)
        self.on_error = on_error
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def play(self, score: Score, *, start_beat: float = 0.0, on_finished: Optional[Callable[[], Any]] = None) -> None:
        """Send the program of each track's channel, then the notes from ``start_beat`` in time."""
        self.stop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(score, start_beat, on_finished),
                                        name="studio-midi-out", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; every channel the score used gets all-notes-off."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=1.0)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._port.close()

    def _run(self, score: Score, start_beat: float, on_finished) -> None:
        channels = sorted({track.channel for track in score.tracks})
        try:
            for track in score.tracks:
                self._port.send([PROGRAM | track.channel, track.program])
            began, offset = time.monotonic(), score.seconds_at(start_beat)
            for at, message in message_schedule(score, start_beat):
                if self._stop.wait(max(0.0, at - offset - (time.monotonic() - began))):
                    break
                self._port.send(message)
            else:
                if on_finished is not None:
                    on_finished()
        except Exception as exc:
            self._report(f"Live MIDI stopped: {exc}", exc)
        finally:
            for channel in channels:
                with contextlib.suppress(Exception):
                    self._port.send([CONTROL | channel, ALL_NOTES_OFF, 0])

    def _report(self, message: str, exc: BaseException) -> None:
        if self.on_error is None:
            log.error("%s", message, exc_info=exc)
        else:
            self.on_error(message)


def message_schedule(score: Score, start_beat: float = 0.0) -> list[tuple[float, list[int]]]:
    """(seconds from the start of the piece, message) of every note-on and note-off from
    ``start_beat``, in order, note-offs first at one time (a repeated key sounds again)."""
    events = []
    for note in score.notes:
        end = note.start + note.duration
        if end <= start_beat:
            continue
        channel = score.tracks[note.voice].channel if 0 <= note.voice < len(score.tracks) else 0
        on = score.seconds_at(max(note.start, start_beat))
        events.append((on, 1, [NOTE_ON | channel, note.pitch, min(127, max(1, note.velocity))]))
        events.append((score.seconds_at(end), 0, [NOTE_OFF | channel, note.pitch, 0]))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(at, message) for at, _order, message in events]


class PrimerRecorder:
    """Records what is played on a MIDI input as :class:`Note`\\ s in beats at ``bpm``, beat 0 being the
    first note-on. Timing comes from the port's own time stamps (the gaps between messages), not from
    when Python got round to the callback."""

    def __init__(self, backend: Optional[MidiBackend] = None, input_name: Optional[str] = None, bpm: float = 100.0):
        self.bpm = bpm
        self._lock = threading.Lock()
        self._clock: Optional[float] = None  #: seconds since the first note-on
        self._held: dict[tuple[int, int], tuple[float, int]] = {}  #: (channel, pitch) -> (start, velocity)
        self._notes: list[Note] = []
        self._port = (backend or RtMidiBackend()).open_input(input_name, self._receive)

    @property
    def notes(self) -> list[Note]:
        """What has been played so far (keys still down are left out until released)."""
        with self._lock:
            return sorted(self._notes, key=lambda n: (n.start, n.pitch))

    def stop(self) -> list[Note]:
        """Close the input; keys still down end at the last message. Returns the notes."""
        self._port.close()
        with self._lock:
            for (_channel, pitch), (start, velocity) in self._held.items():
                self._add(pitch, start, self._clock or start, velocity)
            self._held.clear()
        return self.notes

    def _receive(self, message: list[int], delta: float) -> None:
        if len(message) < 3:
            return
        status, pitch, velocity = message[0] & 0xF0, message[1], message[2]
        with self._lock:
            if self._clock is None:
                if status != NOTE_ON or velocity == 0:
                    return  # nothing before the first note counts
                self._clock = 0.0
            else:
                self._clock += max(0.0, delta)
            key = (message[0] & 0x0F, pitch)
            if status == NOTE_ON and velocity > 0:
                if key in self._held:  # struck again without a note-off: the first one ends here
                    start, old_velocity = self._held.pop(key)
                    self._add(pitch, start, self._clock, old_velocity)
                self._held[key] = (self._clock, velocity)
            elif status in (NOTE_ON, NOTE_OFF) and key in self._held:
                start, old_velocity = self._held.pop(key)
                self._add(pitch, start, self._clock, old_velocity)

    def _add(self, pitch: int, start: float, end: float, velocity: int) -> None:
        beats = self.bpm / 60.0
        self._notes.append(Note(pitch, start * beats, max(end - start, 0.01) * beats, velocity))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (ALSA's C library writes there directly)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
