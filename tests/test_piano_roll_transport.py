"""The piano roll's transport with a fake player: Play plays what is audible from the playhead (or
round the loop), the playhead follows and comes back on Stop, the keyboard sounds its keys, and with
no audio device Play says why; then the real player through an ALSA null sink."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.core.capabilities import Note
from studio.core.errors import UserError
from studio.core.music.live import NO_MIDI, FakeMidiBackend, MidiUnavailable
from studio.core.music.playback import NO_DEVICE
from studio.core.music.score import TimeSignature
from studio.ui.panels.piano_roll.state import PianoRollState
from studio.ui.panels.piano_roll.transport import SOUND_BUILTIN, Transport, check_sound, position_label

REPO = Path(__file__).resolve().parents[1]


class FakeRenderer:
    name = "fake synthesizer"


class FakePlayer:
    """Records what it is asked to play; the test calls the callbacks as the audio thread would."""

    def __init__(self, sound):
        self.sound = sound
        self.renderer = FakeRenderer()
        self.played, self.keys, self.stops, self.closed = [], [], 0, False
        self.playing = False

    def play(self, score, *, start_beat=0.0, loop=None, on_position=None, on_finished=None, on_error=None):
        self.played.append((score, start_beat, loop))
        self.on_position, self.on_finished, self.on_error = on_position, on_finished, on_error
        self.playing = True

    def stop(self):
        self.stops += 1
        self.playing = False

    def play_pitch(self, pitch, velocity=100, program=0):
        self.keys.append((pitch, velocity, program))

    def close(self):
        self.closed = True


@pytest.fixture
def roll(bench):
    state = PianoRollState(bench.executor, bench.registry, bench.store)
    state.add_track("Bass", program=33)
    state.add_notes([Note(60 + i, float(i), 1.0, voice=0) for i in range(8)]
                    + [Note(36, float(i), 2.0, voice=1) for i in range(0, 8, 2)])
    return state


@pytest.fixture
def transport(roll):
    made = Transport(roll, audio=(True, "Audio output: fake"), player_factory=FakePlayer)
    made.changes, made.messages = [], []
    made.events.playing.connect(made.changes.append)
    made.events.message.connect(made.messages.append)
    return made


def test_play_plays_the_audible_tracks_from_the_playhead(roll, transport):
    roll.set_muted(1, True)
    roll.set_playhead(2.0)
    assert transport.play() and transport.playing and transport.changes == [True]
    score, start, loop = transport.player.played[-1]
    assert start == 2.0 and loop is None
    assert [t.name for t in score.tracks] == ["Track 1"] and len(score.notes) == 8  # the muted bass is left out
    roll.set_solo(1, True)
    transport.play()
    assert [t.name for t in transport.player.played[-1][0].tracks] == ["Bass"]  # solo wins over mute


def test_the_playhead_follows_and_comes_back_when_the_music_ends(roll, transport):
    roll.set_playhead(1.0)
    transport.play()
    heard = []
    roll.events.playhead.connect(heard.append)
    for beat in (1.5, 2.25, 3.0):
        transport.player.on_position(beat)
    transport.player.on_finished()
    assert heard == [1.5, 2.25, 3.0, 1.0] and not transport.playing and transport.changes == [True, False]


def test_stop_comes_back_and_ignores_the_player_after(roll, transport):
    roll.set_playhead(4.0)
    transport.toggle()  # Space
    player = transport.player
    player.on_position(5.0)
    assert roll.playhead == 5.0
    transport.toggle()  # Space again
    assert not transport.playing and player.stops >= 1 and roll.playhead == 4.0
    player.on_position(6.0)  # late, from the audio thread
    player.on_finished()
    assert roll.playhead == 4.0 and transport.changes == [True, False]


def test_the_loop_region_is_passed_and_play_starts_inside_it(roll, transport):
    roll.set_loop(2.0, 6.0)
    roll.set_playhead(7.0)
    transport.play()
    _score, start, loop = transport.player.played[-1]
    assert loop == (2.0, 6.0) and start == 2.0
    roll.set_loop_enabled(False)
    transport.play()
    assert transport.player.played[-1][2] is None and transport.player.played[-1][1] == 7.0


def test_at_the_end_play_starts_from_the_top(roll, transport):
    roll.set_playhead(20.0)
    transport.play()
    assert transport.player.played[-1][1] == 0.0


def test_nothing_audible_says_so(roll, transport):
    roll.set_muted(0, True)
    roll.set_muted(1, True)
    assert not transport.play() and "every track is muted" in transport.messages[-1]


def test_callbacks_go_through_the_relay(roll, transport):
    waiting = []
    transport._wrap = lambda fn: lambda *args: waiting.append((fn, args))  # as the GUI relay queues them
    transport.play()
    transport.player.on_position(3.5)
    assert roll.playhead == 0.0  # not yet: on the GUI thread's next turn
    for fn, args in waiting:
        fn(*args)
    assert roll.playhead == 3.5


def test_a_playback_failure_is_told_and_stops(roll, transport):
    transport.play()
    transport.player.on_error("Playback stopped: the device went away")
    assert transport.messages == ["Playback stopped: the device went away"] and not transport.playing


def test_a_key_sounds_with_the_active_tracks_instrument(roll, transport):
    roll.set_active_track(1)
    transport.key_pressed(40)
    assert transport.player.keys == [(40, roll.velocity, 33)]


def test_without_an_audio_device_play_says_why_and_nothing_is_made(roll):
    made = []
    transport = Transport(roll, audio=(False, NO_DEVICE), player_factory=lambda sound: made.append(sound))
    messages = []
    transport.events.message.connect(messages.append)
    assert not transport.play()
    transport.key_pressed(60)
    transport.toggle()
    assert messages == [NO_DEVICE] * 3 and made == [] and not transport.playing
    assert "No audio output device was found" in NO_DEVICE and "everything else works" in NO_DEVICE


def test_the_sound_setting(roll, transport, tmp_path):
    assert transport.sound_name == "fake synthesizer"
    first = transport.player
    transport.set_sound(SOUND_BUILTIN)
    assert first.closed and transport.player.sound == SOUND_BUILTIN
    with pytest.raises(UserError, match="missing.sf2 is not there"):
        transport.set_sound(str(tmp_path / "missing.sf2"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not a SoundFont"):
        check_sound(str(tmp_path / "notes.txt"))
    assert transport.sound == SOUND_BUILTIN


def test_position_label_counts_bars_and_beats():
    four = [TimeSignature(0.0)]
    assert [position_label(four, b) for b in (0.0, 3.5, 4.0, 9.0)] == ["1:1", "1:4", "2:1", "3:2"]
    assert position_label([TimeSignature(0.0, 6, 8)], 4.0) == "2:3"  # eighths in 6/8
    assert position_label([TimeSignature(0.0), TimeSignature(8.0, 3, 4)], 11.0) == "4:1"


def test_the_real_player_plays_and_stops_through_a_null_sink(tmp_path):
    """In a process of its own: PortAudio reads the ALSA configuration once, when it starts."""
    config = tmp_path / "asound.conf"
    config.write_text("pcm.!default { type null }\n")
    script = textwrap.dedent("""
        import time
        from studio.core.capabilities import Note
        from studio.core.music.playback import audio_status
        from tests.panel_support import FakeExecutor
        from studio.core.plugins import PluginHost
        from studio.ui.panels.piano_roll.state import PianoRollState
        from studio.ui.panels.piano_roll.transport import SOUND_BUILTIN, Transport

        state = PianoRollState(FakeExecutor(), PluginHost().registry, None)
        state.set_bpm(240.0)
        state.add_notes([Note(60 + i, i * 0.5, 0.5) for i in range(4)])  # half a second
        ok, message = audio_status()
        assert ok, message
        transport = Transport(state, audio=(ok, message), sound=SOUND_BUILTIN)
        heard, ended = [], []
        state.events.playhead.connect(heard.append)
        transport.events.playing.connect(lambda on: None if on else ended.append(time.monotonic()))
        began = time.monotonic()
        assert transport.play()
        while transport.playing and time.monotonic() - began < 10:
            time.sleep(0.02)
        assert ended and 0.4 < ended[0] - began < 5, ended
        assert len(heard) > 5 and max(heard) > 1.5 and state.playhead == 0.0, heard
        assert transport.play()
        time.sleep(0.2)  # stopped while it plays
        transport.stop()
        assert not transport.player.playing and state.playhead == 0.0
        print("played")  # the player's idle thread is a daemon: it ends with the process
    """)
    env = {**os.environ, "ALSA_CONFIG_PATH": str(config), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "played" in done.stdout, done.stderr[-3000:]


def wait_for(condition, seconds=5.0):
    import time

    until = time.monotonic() + seconds
    while not condition() and time.monotonic() < until:
        time.sleep(0.01)
    return condition()


def test_live_midi_sends_the_passage_to_the_virtual_port(roll, transport):
    backend = FakeMidiBackend()
    transport._midi = backend
    roll.set_bpm(400.0)  # quick
    assert transport.set_live(True) and backend.opened == ["Generative Studio"]
    roll.set_playhead(6.0)
    transport.play()
    assert wait_for(lambda: sum(m[0] & 0xF0 == 0x90 for _t, m in backend.sent) == 3)  # notes from beat 6 on
    assert {m[1] for _t, m in backend.sent if m[0] & 0xF0 == 0x90} == {66, 67, 36}
    transport.stop()
    assert any(m[0] & 0xF0 == 0xB0 and m[1] == 123 for _t, m in backend.sent)  # all notes off
    assert transport.set_live(False) and transport.live is None


def test_live_midi_goes_round_the_loop_with_the_player(roll, transport):
    backend = FakeMidiBackend()
    transport._midi = backend
    roll.set_bpm(400.0)
    transport.set_live(True)
    roll.set_loop(0.0, 1.0)
    transport.play()
    assert wait_for(lambda: any(m[:2] == [0x80, 60] for _t, m in backend.sent))  # the loop's note ended
    assert not any(m[0] & 0xF0 == 0x90 and m[1] == 61 for _t, m in backend.sent)  # nothing after the loop
    transport.player.on_position(0.9)
    transport.player.on_position(0.05)  # round again
    assert wait_for(lambda: sum(m[:2] == [0x90, 60] for _t, m in backend.sent) == 2)
    transport.close()


def test_live_midi_plays_without_an_audio_device(roll):
    backend = FakeMidiBackend()
    transport = Transport(roll, audio=(False, NO_DEVICE), player_factory=FakePlayer, midi_backend=backend)
    roll.set_bpm(400.0)
    roll.set_playhead(7.0)
    transport.set_live(True)
    assert transport.play() and transport._player is None
    assert wait_for(lambda: not transport.playing) and roll.playhead == 7.0  # to the end, then back
    assert any(m[:2] == [0x90, 67] for _t, m in backend.sent)


def test_record_primer_puts_what_was_played_at_the_playhead(roll, transport):
    backend = FakeMidiBackend()
    transport._midi = backend
    roll.set_bpm(120.0)
    roll.set_playhead(8.0)
    assert transport.start_recording()
    backend.feed([0x90, 64, 100])
    backend.feed([0x80, 64, 0], 0.5)  # a beat at 120 bpm
    backend.feed([0x90, 67, 90], 0.0)
    backend.feed([0x80, 67, 0], 0.25)
    added = transport.stop_recording()
    assert added == [2] and roll.tracks[2].track.name == "Recorded 1"
    recorded = sorted((n.start, n.pitch, n.duration) for n in roll.notes.values() if n.voice == 2)
    assert recorded == [(8.0, 64, 1.0), (9.0, 67, 0.5)] and roll.playhead == 9.5
    assert roll.notes_before(roll.playhead)[-1].pitch == 67  # what Continue starts from


def test_without_a_midi_system_live_midi_says_so(roll, transport):
    class NoMidi(FakeMidiBackend):
        def input_names(self):
            raise MidiUnavailable(NO_MIDI)

        def open_virtual_output(self, name):
            raise MidiUnavailable(NO_MIDI)

    transport._midi = NoMidi()
    assert not transport.set_live(True) and not transport.start_recording()
    assert transport.messages == [NO_MIDI, NO_MIDI] and transport.live is None and transport.play()


def test_a_real_virtual_port_where_one_can_be_opened(roll):
    from studio.core.music.live import RtMidiBackend

    try:
        port = RtMidiBackend().open_virtual_output("Generative Studio test")
    except MidiUnavailable as exc:
        pytest.skip(str(exc))
    port.close()
    transport = Transport(roll, audio=(False, NO_DEVICE), player_factory=FakePlayer)
    assert transport.set_live(True)
    transport.close()


def test_the_transport_bar(roll, transport, qtbot, tmp_path):
    from studio.ui.panels.piano_roll.controls import SETTINGS, SOUND, TransportBar
    from studio.ui.panels.piano_roll.generation import RollGeneration
    from studio.ui.settings import Settings

    settings = Settings()
    settings.declare(SETTINGS)
    edits, status = [], []
    roll.recorder = lambda text, before, after, merge: edits.append((text, merge))
    bar = TransportBar(transport, RollGeneration(roll), settings, status.append)
    qtbot.addWidget(bar)
    bar.tempo.setValue(132.0)
    bar.tempo.setValue(133.0)
    assert roll.bpm == 133.0 and edits == [("Tempo 132 bpm", "tempo"), ("Tempo 133 bpm", "tempo")]  # one step
    roll.set_playhead(9.0)
    assert bar.position.text() == "3:2"
    assert not bar.loop_button.isEnabled()
    roll.set_loop(0.0, 4.0)
    assert bar.loop_button.isEnabled() and bar.loop_button.isChecked()
    bar.play_button.click()
    assert bar.play_button.text() == "Stop" and transport.player.played[-1][2] == (0.0, 4.0)
    bar.play_button.click()
    assert bar.play_button.text() == "Play"
    bar.choose_sound(SOUND_BUILTIN)
    assert settings.get(SOUND.key) == SOUND_BUILTIN and bar.sound.currentText() == "Built-in synthesizer"
    bar.choose_sound(str(tmp_path / "gone.sf2"))
    assert "gone.sf2 is not there" in status[-1] and settings.get(SOUND.key) == SOUND_BUILTIN
    bar.live.setChecked(True)  # no MIDI system here, or a fake one elsewhere: the box tells which
    assert bar.live.isChecked() == (transport.live is not None)
    transport.close()


def test_the_play_button_says_why_without_a_device(roll, qtbot):
    from studio.ui.panels.piano_roll.controls import SETTINGS, TransportBar
    from studio.ui.panels.piano_roll.generation import RollGeneration
    from studio.ui.settings import Settings

    settings = Settings()
    settings.declare(SETTINGS)
    transport = Transport(roll, audio=(False, NO_DEVICE), player_factory=FakePlayer)
    bar = TransportBar(transport, RollGeneration(roll), settings, lambda text: None)
    qtbot.addWidget(bar)
    assert bar.play_button.toolTip() == NO_DEVICE and not bar.sound.isEnabled()
