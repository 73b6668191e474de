"""`studio music inspect`: what the import reads, for people and as JSON, or the import's error with exit 1."""

import json
from pathlib import Path

import pytest
from needs import needs_shared

from studio.cli import main
from studio.core.capabilities import Note
from studio.core.music.midi import write_midi
from studio.core.music.score import Score, TempoChange, TimeSignature, Track

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "midi" / "pretty_midi_example.mid"


@pytest.fixture
def duet(tmp_path) -> Path:
    score = Score([Note(60, 0, 1, 90, 0), Note(67, 1, 1, 90, 0), Note(43, 0, 4, 70, 1)],
                  [Track("Flute", 0, 73), Track("Cello", 1, 42)],
                  [TempoChange(0.0, 120.0), TempoChange(2.0, 60.0)], [TimeSignature(0.0, 3, 4)],
                  name="duet", params={"model": "music-transformer", "seed": 7})
    write_midi(score, tmp_path / "duet.mid")
    return tmp_path / "duet.mid"


def test_inspect_prints_tracks_tempo_metre_and_length(duet, capsys):
    assert main(["music", "inspect", str(duet)]) == 0
    out = capsys.readouterr().out
    assert f"{duet}: MIDI type 1, 480 ticks per beat, 3 MIDI tracks" in out
    assert "3 notes, 4 beats, 0:03.0 (3 s)" in out  # 2 beats at 120 bpm and 2 at 60
    assert any(line.split() == ["Flute", "1", "73", "2", "C4-G4"] for line in out.splitlines())
    assert any(line.split() == ["Cello", "2", "42", "1", "G2-G2"] for line in out.splitlines())
    assert "Tempo: 120 bpm at beat 0, 60 bpm at beat 2" in out and "Time signature: 3/4 at beat 0" in out
    assert "Made by the studio with: model=music-transformer, seed=7" in out


def test_inspect_json_is_what_the_docs_describe(duet, capsys):
    assert main(["music", "inspect", str(duet), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"file", "format", "ticks_per_beat", "midi_tracks", "tracks", "tempos", "time_signatures",
                           "length_beats", "length_seconds", "notes", "params"}
    assert report["format"] == 1 and report["notes"] == 3 and report["length_seconds"] == 3.0
    assert report["tracks"][1] == {"name": "Cello", "channel": 1, "program": 42, "notes": 1, "lowest": 43,
                                   "highest": 43}
    assert report["tempos"] == [{"beat": 0.0, "bpm": 120.0}, {"beat": 2.0, "bpm": 60.0}]
    assert report["params"] == {"model": "music-transformer", "seed": 7}


def test_inspect_reads_a_real_file(capsys):
    assert main(["music", "inspect", str(needs_shared(EXAMPLE)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == 0 and len(report["tracks"]) == 13 and report["notes"] == 4956
    assert 350 < report["length_seconds"] < 353


@pytest.mark.parametrize("content, says", [(b"", "is empty"), (b"hello, not music", "is not a MIDI file"),
                                           (b"MThd\x00\x00\x00\x06\x00\x01", "is cut short")])
def test_a_file_the_import_refuses_exits_1_with_the_import_s_message(tmp_path, capsys, content, says):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    assert main(["music", "inspect", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"studio: error: {path} {says}")
    assert "Traceback" not in captured.err
    assert main(["music", "inspect", str(tmp_path / "gone.mid"), "--json"]) == 1
    assert "gone.mid does not exist" in capsys.readouterr().err
