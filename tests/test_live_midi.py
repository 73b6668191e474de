"""Live MIDI with the in-memory port backend, a real virtual port where the system has MIDI, and what
`studio doctor` says about sound and MIDI."""

import json
import threading
import time

import pytest
from waiting import wait_for

from studio.core.capabilities import Note
from studio.core.music import live
from studio.core.music.score import Score, TempoChange, Track


def two_tracks() -> Score:
    notes = [Note(60, 0.0, 0.5, 90, 0), Note(60, 0.5, 0.5, 70, 0), Note(40, 0.0, 1.0, 100, 1)]
    return Score(notes, [Track("melody", 0, 73), Track("bass", 2, 33)], [TempoChange(0.0, 240.0)])


def test_live_output_sends_programs_then_notes_in_time_then_all_notes_off():
    backend = live.FakeMidiBackend()
    output = live.LiveOutput(backend, on_error=pytest.fail)
    finished = threading.Event()
    output.play(two_tracks(), on_finished=finished.set)
    assert finished.wait(30)
    output.close()
    messages = [m for _t, m in backend.sent]
    assert backend.opened == [live.PORT_NAME]
    assert messages[:2] == [[0xC0, 73], [0xC2, 33]]
    assert messages[2:4] == [[0x90, 60, 90], [0x92, 40, 100]]
    assert messages[4:6] == [[0x80, 60, 0], [0x90, 60, 70]]  # a repeated key: off, then on again
    assert sorted(messages[-2:]) == [[0xB0, 123, 0], [0xB2, 123, 0]]
    programs_sent = backend.sent[1][0]  # the clock starts after the programs
    second_strike = next(t for t, m in backend.sent if m == [0x90, 60, 70])
    # half a beat at 240 bpm: 0.125 s, never early; late by 3 ms at most here, so a loaded machine has 0.25 s of room
    assert 0.124 < second_strike - programs_sent < 0.375


def test_stopping_live_output_silences_every_channel_at_once():
    backend = live.FakeMidiBackend()
    output = live.LiveOutput(backend)
    long = Score([Note(60, 0.0, 1.0), Note(62, 8.0, 1.0)], tempos=[TempoChange(0.0, 60.0)])
    output.play(long)
    wait_for(lambda: [0x90, 60, 80] in [m for _t, m in backend.sent], what="the first note")
    asked = time.monotonic()
    output.stop()
    # 0.2 ms here; the next note is 7 s away, and a stop that missed it would wait a second for the thread
    assert time.monotonic() - asked < 0.9 and not output.playing
    assert [m for _t, m in backend.sent] == [[0xC0, 0], [0x90, 60, 80], [0xB0, 123, 0]]


def test_a_primer_is_recorded_in_beats_from_the_first_note():
    backend = live.FakeMidiBackend()
    recorder = live.PrimerRecorder(backend, "Fake keyboard", bpm=120.0)
    backend.feed([0xB0, 64, 127], 0.0)  # the sustain pedal before the first note counts for nothing
    backend.feed([0x90, 60, 100], 3.0)
    backend.feed([0x90, 64, 80], 0.5)
    backend.feed([0x80, 60, 0], 0.25)
    backend.feed([0x90, 64, 0], 0.25)  # note-on with velocity 0 is a note-off
    backend.feed([0x90, 67, 90], 0.5)  # still held when recording stops
    assert recorder.stop() == [Note(60, 0.0, 1.5, 100), Note(64, 1.0, 1.0, 80), Note(67, 3.0, 0.02, 90)]


def test_an_input_that_is_not_there_is_named():
    with pytest.raises(live.MidiUnavailable, match="no MIDI input called 'Piano'"):
        live.PrimerRecorder(live.FakeMidiBackend(), "Piano")


def test_a_real_virtual_port_opens_where_the_system_has_midi():
    try:
        output = live.LiveOutput(live.RtMidiBackend())
    except live.MidiUnavailable as exc:
        assert str(exc) == live.NO_MIDI or "python-rtmidi" in str(exc) or "could not be opened" in str(exc)
        pytest.skip(str(exc))
    output.play(Score([Note(60, 0.0, 0.1)], tempos=[TempoChange(0.0, 600.0)]))
    output.close()


def test_midi_status_says_whether_live_midi_works():
    available, message = live.midi_status()
    assert message == live.NO_MIDI if not available else message.startswith("MIDI system found")
    assert live.midi_status(live.FakeMidiBackend()) == (True, "MIDI system found (1 input)")


def test_doctor_reports_the_synthesizer_the_soundfont_and_midi(capsys):
    from studio.cli import main

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sound = report["sound"]
    assert set(sound) == {"renderer", "fluidsynth", "soundfont", "midi"}
    fluid_usable = sound["fluidsynth"]["available"] and bool(sound["soundfont"])
    assert sound["renderer"].startswith("FluidSynth (") == fluid_usable
    if not sound["midi"]["available"]:
        assert sound["midi"]["message"] == live.NO_MIDI and live.NO_MIDI in report["warnings"]
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"Sound:     {sound['renderer']}" in out and f"MIDI:      {sound['midi']['message']}" in out
