"""MIDI files in and out of the piano roll: a real multi-track file imports as one undo step, a
corrupt one changes nothing, an export reads back to the same notes, a WAV export lasts as long as
the music, and a selection dragged out carries a .mid file any DAW can read."""

import wave
from pathlib import Path

import pytest
from needs import needs_shared

from studio.core.capabilities import Note
from studio.core.errors import UserError
from studio.core.music.midi import MidiError, read_midi, write_midi, write_midi_artifact
from studio.core.music.score import Score, TempoChange, Track, note_ticks
from studio.core.music.wav import write_wav_artifact
from studio.ui.panels.piano_roll.files import export_artifact, import_midi, suggested_name, write_drag_file
from studio.ui.panels.piano_roll.generation import RollGeneration
from studio.ui.panels.piano_roll.state import PianoRollState
from studio.ui.panels.piano_roll.writing import ContinueSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "midi" / "pretty_midi_example.mid"


@pytest.fixture
def roll(bench):
    state = PianoRollState(bench.executor, bench.registry, bench.store)
    state.edits = []
    state.recorder = lambda text, before, after, merge: state.edits.append(text)
    state.generation = RollGeneration(state, new_seed_each_time=False)
    return state


def example() -> Path:
    return needs_shared(EXAMPLE)


def ticks(score: Score) -> list[tuple]:
    return sorted((*note_ticks(n, score.ticks_per_beat), n.pitch, n.velocity, score.tracks[n.voice].name)
                  for n in score.notes)


def tune(name="tune") -> Score:
    return Score(notes=[Note(60 + i, i * 0.5, 0.5, 70 + i, voice=i % 2) for i in range(12)],
                 tracks=[Track("Lead", 0, 81), Track("Bass", 1, 33)], tempos=[TempoChange(0.0, 120.0)], name=name)


def test_a_real_multitrack_file_imports_as_one_undo_step(roll):
    path = example()
    status = import_midi(roll, roll.generation, path)
    expected = read_midi(path)
    assert ticks(roll.score()) == ticks(expected) and len(roll.tracks) == len(expected.tracks) > 1
    assert roll.edits == [f"Import {path.name}"]
    assert status.startswith(f"Opened {path.name}: {len(expected.notes)} notes on {len(expected.tracks)} tracks")


def test_a_corrupt_file_is_named_and_changes_nothing(roll, tmp_path):
    roll.add_notes([Note(60, 0.0, 1.0)])
    roll.edits.clear()
    before = roll.snapshot()
    bad = tmp_path / "broken.mid"
    bad.write_bytes(EXAMPLE.read_bytes()[:200] if EXAMPLE.is_file() else b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(MidiError, match="broken.mid"):
        import_midi(roll, roll.generation, bad)
    text = tmp_path / "notes.mid"
    text.write_text("not music")
    with pytest.raises(MidiError, match="notes.mid is not a MIDI file"):
        import_midi(roll, roll.generation, text)
    assert roll.snapshot() == before and roll.edits == []


def test_a_file_without_notes_changes_nothing(roll, tmp_path):
    path = tmp_path / "empty.mid"
    write_midi(Score(notes=[]), path)
    roll.add_notes([Note(60, 0.0, 1.0)])
    with pytest.raises(UserError, match="empty.mid is a MIDI file without notes"):
        import_midi(roll, roll.generation, path)
    assert len(roll.notes) == 1


def test_adding_a_file_keeps_the_document(roll, tmp_path):
    path = tmp_path / "tune.mid"
    write_midi(tune(), path)
    roll.add_notes([Note(50, 0.0, 1.0)])
    import_midi(roll, roll.generation, path, add=True)
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Lead", "Bass"] and len(roll.notes) == 13


def test_an_export_reads_back_to_the_same_notes(roll, tmp_path):
    path = tmp_path / "tune.mid"
    write_midi(tune(), path)
    import_midi(roll, roll.generation, path)
    roll.move_notes(list(roll.notes)[:1], 0.25, 2)  # an edit, so the export is the roll's, not the file
    artifact = export_artifact(roll, roll.generation)
    assert artifact.kind == "notes" and suggested_name(artifact) == "tune.mid"
    out = tmp_path / "out.mid"
    write_midi_artifact(artifact, out)
    again = read_midi(out)
    assert ticks(again) == ticks(roll.score()) and again.bpm == 120.0
    assert [(t.name, t.program) for t in again.tracks] == [("Lead", 81), ("Bass", 33)]


def test_a_wav_export_lasts_as_long_as_the_music(roll, tmp_path):
    roll.load_score(tune())
    out = tmp_path / "tune.wav"
    write_wav_artifact(export_artifact(roll, roll.generation), out)
    with wave.open(str(out)) as wav:
        channels, duration = wav.getnchannels(), wav.getnframes() / wav.getframerate()
    seconds = roll.score().length_seconds  # 6 beats at 120 bpm: 3 s, and the last note's release after it
    assert seconds == 3.0 and channels == 2 and seconds <= duration <= seconds + 3.0


def test_a_generated_file_brings_back_its_settings_and_records(roll, tmp_path):
    params = {"panel": "piano-roll", "model": "gone-model", "checkpoint": str(tmp_path / "gone.safetensors"),
              "seed": 41, "bars": 6, "temperature": 0.8, "track": "Lead",
              "generations": [{"track": "Lead", "model": "gone-model", "seed": 41}]}
    score = tune()
    score.params = params
    path = tmp_path / "made.mid"
    write_midi(score, path)
    missing = []
    status = import_midi(roll, roll.generation, path, on_model_missing=missing.append)
    assert "the settings that generated it are restored" in status
    settings = roll.generation.settings
    assert (settings.bars, settings.temperature, settings.seed) == (6, 0.8, 41)
    roll.work.executor.run()  # looking for the model, on the inference thread
    assert missing and "gone" in missing[0]
    assert roll.generation.export_params(roll.score())["generations"] == params["generations"]
    assert ContinueSettings().bars == 4  # the defaults are untouched


def test_the_drag_file_holds_the_selection(roll, tmp_path):
    roll.load_score(tune("My tune"))
    roll.select([i for i, n in roll.notes.items() if n.voice == 1])
    path = write_drag_file(roll, roll.generation, tmp_path)
    assert path.name == "My tune-selection.mid"
    dragged = read_midi(path)
    assert [t.name for t in dragged.tracks] == ["Bass"] and len(dragged.notes) == 6
    roll.clear_selection()
    assert len(read_midi(write_drag_file(roll, roll.generation, tmp_path)).notes) == 12


def test_the_drag_carries_a_readable_mid_file(roll, tmp_path, qapp):
    from studio.ui.panels.piano_roll.controls import MIDI_MIME, midi_mime_data

    roll.load_score(tune())
    mime = midi_mime_data(write_drag_file(roll, roll.generation, tmp_path))
    urls = mime.urls()
    assert len(urls) == 1 and urls[0].isLocalFile() and urls[0].toLocalFile().endswith(".mid")
    assert len(read_midi(urls[0].toLocalFile()).notes) == 12
    assert bytes(mime.data(MIDI_MIME)) == Path(urls[0].toLocalFile()).read_bytes()


def test_nothing_to_drag_says_so(roll, tmp_path):
    with pytest.raises(UserError, match="no notes to drag"):
        write_drag_file(roll, roll.generation, tmp_path)
