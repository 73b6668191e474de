"""Sound without a sound card: the built-in synthesizer, FluidSynth, the renderer choice, WAV files and
what `studio doctor` says about sound."""

import os
import subprocess
import sys
import wave

import numpy as np
import pytest
from needs import needs

from studio.core.artifacts import MusicArtifact
from studio.core.capabilities import Note
from studio.core.music import fluid, sound, synth
from studio.core.music.score import Score, TempoChange, Track
from studio.core.music.wav import write_wav, write_wav_artifact

RATE = 22050


def chorale(bars: int = 8, bpm: float = 90.0, velocity: int = 90) -> Score:
    """Four voices of held chords, a chorale's texture: SATB, a chord a beat."""
    progression = [(72, 67, 64, 48), (74, 67, 62, 55), (76, 69, 60, 57), (74, 67, 59, 55)]
    notes = [Note(pitch, beat, 1.0, velocity, voice) for beat in range(bars * 4)
             for voice, pitch in enumerate(progression[beat % 4])]
    return Score(notes, [Track(name, program=0) for name in ("S", "A", "T", "B")], [TempoChange(0.0, bpm)])


def one_note(pitch=69, program=0, duration=1.0, velocity=100, bpm=60.0, channel=0) -> Score:
    return Score([Note(pitch, 0.0, duration, velocity)], [Track("t", channel, program)], [TempoChange(0.0, bpm)])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def test_a_render_lasts_the_piece_plus_the_release_tail_and_never_clips():
    score = chorale(velocity=127)
    audio = synth.render(score, RATE)
    expected = score.length_seconds + synth.RELEASE_TAIL_SECONDS
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    assert abs(len(audio) / RATE - expected) < 0.002
    assert np.abs(audio).max() < 1.0 and rms(audio) > 0.05  # four loud voices: loud, limited, not clipped
    assert rms(audio[-RATE // 10:]) < 1e-3  # the tail has died away by the end


def test_windows_rendered_one_after_another_join_without_a_seam():
    score = chorale(bars=2)
    whole = synth.render(score, RATE)
    edges = [0.0, 0.7, 2.0, 5.3]
    parts = [synth.render(score, RATE, start_beat=a, end_beat=b) for a, b in zip(edges, edges[1:], strict=False)]
    parts.append(synth.render(score, RATE, start_beat=edges[-1]))
    assert np.array_equal(np.concatenate(parts), whole)


def test_a_held_a_sounds_at_440_hz():
    audio = synth.render(one_note(program=19), RATE)[: RATE]  # an organ: steady
    spectrum = np.abs(np.fft.rfft(audio[:, 0] * np.hanning(len(audio))))
    assert abs(np.argmax(spectrum) * RATE / len(audio) - 440.0) < 2.0


def test_the_tempo_map_places_notes_in_time():
    score = Score([Note(60, 4.0, 1.0)], tempos=[TempoChange(0.0, 120.0), TempoChange(2.0, 60.0)])
    audio = synth.render(score, RATE)
    onset = np.flatnonzero(np.abs(audio[:, 0]) > 1e-4)[0] / RATE
    assert abs(onset - (1.0 + 2.0)) < 0.005  # two beats at 120, two at 60


def test_velocity_is_loudness_and_tracks_are_spread_across_the_stereo_field():
    assert rms(synth.render(one_note(velocity=120), RATE)) > 2 * rms(synth.render(one_note(velocity=40), RATE))
    score = chorale(bars=1)
    soprano = synth.render(score.with_notes(score.voice_notes(0)), RATE)
    bass = synth.render(score.with_notes(score.voice_notes(3)), RATE)
    assert rms(soprano[:, 0]) > 1.5 * rms(soprano[:, 1]) and rms(bass[:, 1]) > 1.5 * rms(bass[:, 0])


def test_a_piano_note_dies_away_while_an_organ_holds():
    def decay(program):
        audio = synth.render(one_note(program=program, duration=3.0), RATE)
        return rms(audio[int(2.5 * RATE):int(2.9 * RATE)]) / rms(audio[int(0.1 * RATE):int(0.5 * RATE)])

    assert decay(0) < 0.3 and decay(19) > 0.8


def test_drums_on_channel_nine_are_short_noise():
    audio = synth.render(one_note(pitch=38, channel=synth.DRUM_CHANNEL), RATE)
    assert rms(audio[:RATE // 20]) > 0.01 and rms(audio[RATE // 2:]) < 1e-4


def test_the_synth_renders_a_chorale_many_times_faster_than_it_plays():
    # the target is >= 100 (benchmarks/music.py measures it); a loose floor for a busy machine
    assert synth.synth_realtime_factor(chorale(bars=16), RATE) > 30


def test_find_soundfont_prefers_the_setting_then_the_environment(tmp_path, monkeypatch):
    mine, theirs = tmp_path / "mine.sf2", tmp_path / "theirs.sf2"
    mine.write_bytes(b"x")
    theirs.write_bytes(b"x")
    monkeypatch.setattr(fluid, "SYSTEM_SOUNDFONTS", ())
    monkeypatch.setenv(fluid.SOUNDFONT_VARIABLE, str(theirs))
    assert fluid.find_soundfont(mine) == mine
    assert fluid.find_soundfont(tmp_path / "moved.sf2") == theirs  # a setting naming no file is passed over
    monkeypatch.delenv(fluid.SOUNDFONT_VARIABLE)
    assert fluid.find_soundfont() is None


def test_without_a_soundfont_the_renderer_is_the_built_in_synth(monkeypatch):
    monkeypatch.setattr(fluid, "SYSTEM_SOUNDFONTS", ())
    monkeypatch.delenv(fluid.SOUNDFONT_VARIABLE, raising=False)
    chosen = sound.renderer()
    assert chosen.name == "built-in synthesizer"
    assert np.array_equal(chosen.render(chorale(bars=1), RATE), synth.render(chorale(bars=1), RATE))


@pytest.fixture
def soundfont():
    found = fluid.find_soundfont()
    usable, reason = fluid.fluidsynth_status()
    needs(usable, reason)
    needs(found, "no General MIDI SoundFont is installed (libfluidsynth3 brings one)")
    return found


def test_fluidsynth_renders_the_same_timeline_as_the_built_in_synth(soundfont):
    chosen = sound.renderer()
    assert chosen.name == f"FluidSynth ({soundfont.name})"
    score = chorale(bars=2)
    audio = chosen.render(score, RATE)
    assert audio.shape == synth.render(score, RATE).shape and audio.dtype == np.float32
    assert rms(audio) > 0.01 and np.abs(audio).max() < 1.0
    window = chosen.render(score, RATE, start_beat=2.0, end_beat=4.0)
    assert len(window) == round(score.seconds_at(4.0) * RATE) - round(score.seconds_at(2.0) * RATE)
    assert rms(window) > 0.01  # the chords sounding at beat 2 are there, struck at the window's start


def test_fluidsynth_streams_in_blocks_exactly_as_it_renders_whole(soundfont):
    chosen = fluid.FluidRenderer(soundfont)
    score = chorale(bars=1)
    stream = chosen.stream(score, RATE)
    blocks = np.concatenate([stream.read(735) for _ in range(stream.end // 735 + 2)])
    stream.close()
    assert np.array_equal(blocks, chosen.render(score, RATE))


def test_importing_pyfluidsynth_prints_nothing(soundfont):
    code = ("from studio.core.music import fluid; from studio.core.music.score import Score; "
            f"fluid.FluidRenderer({str(soundfont)!r}).render(Score(), 8000)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CI": "1"})
    assert done.returncode == 0 and done.stdout == ""


def test_a_wav_export_lasts_the_piece_plus_the_tail_and_reads_back(tmp_path):
    score = chorale(bars=2, bpm=75.0)
    path = tmp_path / "out" / "chorale.wav"
    write_wav_artifact(MusicArtifact(score, {}), path)
    with wave.open(str(path)) as read:
        assert (read.getnchannels(), read.getsampwidth(), read.getframerate()) == (2, 2, 44100)
        frames = np.frombuffer(read.readframes(read.getnframes()), dtype="<i2")
    seconds = len(frames) / 2 / 44100
    assert abs(seconds - (score.length_seconds + synth.RELEASE_TAIL_SECONDS)) < 0.005
    assert np.abs(frames).max() > 1000  # not silent
    assert [p.name for p in path.parent.iterdir()] == ["chorale.wav"]  # written atomically: no temp left


def test_a_wav_export_sounds_as_the_roll_played_it(tmp_path, soundfont):
    """The artifact's sound picks the renderer: the built-in synthesizer's samples, or FluidSynth's."""
    score = chorale(bars=1, bpm=90.0)
    made = (("builtin", synth.render(score)), (str(soundfont), fluid.FluidRenderer(soundfont).render(score)))
    for choice, expected in made:
        path = tmp_path / f"{len(choice)}.wav"
        write_wav_artifact(MusicArtifact(score, {}, sound=choice), path)
        with wave.open(str(path)) as read:
            frames = np.frombuffer(read.readframes(read.getnframes()), dtype="<i2").reshape(-1, 2)
        assert np.abs(frames / 32767.0 - expected).max() < 2e-4


def test_write_wav_refuses_samples_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\(frames, 2\)"):
        write_wav(np.zeros((10, 3)), tmp_path / "x.wav")
    write_wav(np.zeros(10), tmp_path / "mono.wav")
    with wave.open(str(tmp_path / "mono.wav")) as read:
        assert read.getnchannels() == 2 and read.getnframes() == 10


def test_a_dense_loud_piece_through_fluidsynth_is_limited_not_clipped(soundfont):
    notes = [Note(36 + 3 * i, 0.0, 2.0, 127, i % 8) for i in range(24)]
    score = Score(notes, [Track(f"t{i}", program=48) for i in range(8)], [TempoChange(0.0, 120.0)])
    audio = fluid.FluidRenderer(soundfont).render(score, RATE)
    assert np.abs(audio).max() < 1.0 and rms(audio) > 0.1
