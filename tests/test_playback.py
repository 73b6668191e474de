"""Playback through ALSA's null sink (a temporary ALSA_CONFIG_PATH, never the user's own config), in a
child process: PortAudio reads the ALSA configuration once, when sounddevice is imported."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from needs import needs

from studio.core.music import playback
from studio.core.music.score import Score

NULL_SINK = "pcm.!default { type null }\nctl.!default { type null }\n"

PLAYS = textwrap.dedent("""
    import json, threading, time
    from studio.core.capabilities import Note
    from studio.core.music.playback import Player
    from studio.core.music.score import Score, TempoChange
    from studio.core.music.sound import BuiltinRenderer, renderer
    from studio.core.music.synth import RELEASE_TAIL_SECONDS

    # two notes, a beat at 120 bpm: half a second of music
    score = Score([Note(60 + i, i * 0.5, 0.5) for i in range(2)], tempos=[TempoChange(0.0, 120.0)])
    results = {}

    def wait_for(condition, seconds=30.0):
        until = time.monotonic() + seconds
        while not condition() and time.monotonic() < until:
            time.sleep(0.01)

    for chosen in (BuiltinRenderer(), renderer()):
        errors = []
        player = Player(chosen, on_error=errors.append)
        positions, finished = [], threading.Event()
        began = time.monotonic()
        player.play(score, on_position=positions.append, on_finished=finished.set)
        finished.wait(30)
        took = time.monotonic() - began
        playing_after = player.playing

        looped = []
        player.play(score, start_beat=0.25, loop=(0.0, 0.5), on_position=looped.append)
        wait_for(lambda: any(later < earlier for earlier, later in zip(looped, looped[1:])))  # it wrapped
        asked = time.monotonic()
        player.stop()
        stop_took = time.monotonic() - asked
        count = len(looped)
        time.sleep(0.3)  # nothing comes after the stop (waiting is the only way to see nothing happen)

        def broken(beat):
            raise RuntimeError("the panel went away")
        player.play(score, on_position=broken)
        wait_for(lambda: errors)
        player.stop()
        player.play_pitch(64)
        time.sleep(0.2)  # closed while the key still sounds
        asked = time.monotonic()
        player.close()
        close_took = time.monotonic() - asked
        results[chosen.name] = dict(
            finished=finished.is_set(), took=took, positions=positions, playing_after=playing_after,
            looped=looped, stop_took=stop_took, after_stop=len(looped) - count, playing_stopped=player.playing,
            errors=errors, close_took=close_took, expected=score.length_seconds + RELEASE_TAIL_SECONDS,
            end_beat=score.beat_at(score.length_seconds + RELEASE_TAIL_SECONDS))
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def null_sink_run(tmp_path_factory):
    config = tmp_path_factory.mktemp("alsa") / "asound.conf"
    config.write_text(NULL_SINK)
    done = subprocess.run([sys.executable, "-c", PLAYS], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ALSA_CONFIG_PATH": str(config)})
    no_portaudio = done.returncode != 0 and "PortAudio" in done.stderr and "OSError" in done.stderr
    needs(not no_portaudio, f"PortAudio is not installed: {(done.stderr.strip().splitlines() or [''])[-1]}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def renderers(run):
    assert run  # the built-in synthesizer, and FluidSynth where it is installed
    return run.values()


def test_playback_plays_in_real_time_and_says_when_it_has_finished(null_sink_run):
    for run in renderers(null_sink_run):
        assert run["finished"] and not run["playing_after"]
        # the music and its tail, never early; late by 0.03 s here (the latency), so a loaded machine has room
        assert run["expected"] - 0.05 < run["took"] < run["expected"] + 0.4
        positions = run["positions"]
        assert positions == sorted(positions) and positions[0] < 0.1
        assert abs(positions[-1] - run["end_beat"]) < 0.01
        assert len(positions) > 20 * run["expected"]  # about 30 a second


def test_a_loop_wraps_and_stop_silences_at_once(null_sink_run):
    for run in renderers(null_sink_run):
        looped = run["looped"]
        assert looped[0] >= 0.2  # started where it was asked to, inside the loop
        assert all(0.0 <= beat < 0.5 for beat in looped)
        assert any(later < earlier for earlier, later in zip(looped, looped[1:], strict=False))  # it wrapped
        # a stop and a close take 1 ms and 4 ms here: the bounds leave a loaded machine a hundred times that
        assert run["stop_took"] < 0.3 and run["after_stop"] == 0 and not run["playing_stopped"]
        assert run["close_took"] < 0.5


def test_a_failing_callback_is_reported_not_lost(null_sink_run):
    for run in renderers(null_sink_run):
        assert run["errors"] and all(e == "A playback callback failed: the panel went away" for e in run["errors"])


def test_with_no_output_device_play_says_so_and_nothing_else_breaks(monkeypatch):
    monkeypatch.setattr(playback, "audio_status", lambda: (False, playback.NO_DEVICE))
    player = playback.Player()
    with pytest.raises(playback.AudioUnavailable, match="No audio output device was found"):
        player.play(Score())
    with pytest.raises(playback.AudioUnavailable):
        player.play_pitch(60)
    assert not player.playing
    player.stop()
    player.close()


def test_audio_status_is_a_sentence_either_way():
    available, message = playback.audio_status()
    assert message == playback.NO_DEVICE if not available else message.startswith("Audio output: ")
