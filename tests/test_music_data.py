"""Music datasets (studio.core.data.music): the Bach chorales music21 bundles, an artist's MIDI folder or
file, the JSB chorales JSON, and how each splits into training and validation pieces."""

import json
import random
from pathlib import Path

import pytest
from needs import needs_shared

from studio.core.capabilities import Note
from studio.core.data import DataError, load_data, resolve_data_argument
from studio.core.data.music import (
    SATB,
    MusicSet,
    bach_chorale,
    chorale_names,
    load_bach_chorales,
    load_jsb_json,
    load_midi_file,
    load_midi_folder,
)
from studio.core.music.midi import midi_bytes, write_midi
from studio.core.music.score import Score, TempoChange, TimeSignature, Track

JSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "music" / "Jsb16thSeparated.json"


def a_score(seed: int, name: str = "") -> Score:
    rng = random.Random(seed)
    return Score([Note(rng.randrange(48, 84), i / 2, 0.5) for i in range(32)], name=name or f"piece {seed}")


def test_twenty_bach_chorales_import_as_four_voices_with_their_metre():
    names = chorale_names()
    assert len(names) > 300
    imported, refused = [], []
    for name in names:
        try:
            imported.append((name, bach_chorale(name)))
        except DataError as exc:  # bwv41.6: its sung parts are named with the instruments doubling them
            refused.append(str(exc))
        if len(imported) == 20:
            break
    assert len(refused) <= 1, refused
    for name, score in imported:
        assert [t.name for t in score.tracks] == list(SATB), name
        assert all(score.voice_notes(v) for v in range(4)), name
        assert score.time_signatures[0].numerator in (3, 4) and score.bpm == 100.0, name
        assert all(36 <= n.pitch <= 84 and n.duration > 0 for n in score.notes), name
        bass = score.voice_notes(3)
        assert bass[-1].start + bass[-1].duration == pytest.approx(score.length_beats), name


def test_a_pickup_keeps_its_place_in_the_bar():
    score = bach_chorale("bach/bwv269")  # 3/4 with a one-beat pickup
    soprano = score.voice_notes(0)
    assert score.beats_per_bar == 3.0
    assert soprano[0].start == 2.0 and soprano[1].start == 3.0  # the downbeat of the first full bar


def test_a_chorale_with_instruments_keeps_its_four_sung_parts_and_others_are_skipped_with_why():
    score = bach_chorale("bach/bwv8.6")  # Soprano, Alto, Tenor, Bass and a Continuo
    assert [t.name for t in score.tracks] == list(SATB) and len(score.notes) > 100
    with pytest.raises(DataError, match="bwv27.6 has 5 parts \\(Soprano 1, Soprano 2, Alto, Tenor, Bass\\)"):
        bach_chorale("bach/bwv27.6")


def test_the_chorales_are_converted_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("studio.core.data.music.chorale_names",
                        lambda: ["bach/bwv269", "bach/bwv347", "bach/bwv27.6"])
    first = load_bach_chorales()
    assert [s.name for s in first.scores] == ["bwv269", "bwv347"]
    assert first.skipped[0][0] == "bach/bwv27.6" and "5 parts" in first.skipped[0][1]
    cached = list((tmp_path / "cache").glob("bach-chorales-music21-*.json"))
    assert len(cached) == 1, "one cache file, named by music21's version"

    def no_parsing(name):
        raise AssertionError("the cached chorales are parsed again")

    monkeypatch.setattr("studio.core.data.music.bach_chorale", no_parsing)
    again = load_bach_chorales()  # not parsed again: that is what makes it fast, not a bound on seconds
    assert again.scores == first.scores and again.skipped == first.skipped
    cached[0].write_text("{damaged")
    monkeypatch.undo()
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("studio.core.data.music.chorale_names", lambda: ["bach/bwv269"])
    assert [s.name for s in load_bach_chorales().scores] == ["bwv269"], "a damaged cache is made again"
    with pytest.raises(DataError, match="takes no location"):
        load_bach_chorales("/somewhere")


def test_a_midi_folder_loads_the_good_files_and_reports_the_bad(tmp_path):
    (tmp_path / "set" / "deeper").mkdir(parents=True)
    write_midi(a_score(1), tmp_path / "set" / "one.mid")
    write_midi(a_score(2), tmp_path / "set" / "deeper" / "two.MIDI")
    write_midi(a_score(3), tmp_path / "set" / ".hidden.mid")
    (tmp_path / "set" / "cut.mid").write_bytes(midi_bytes(a_score(4))[:60])
    (tmp_path / "set" / "words.mid").write_text("not music")
    write_midi(Score([]), tmp_path / "set" / "silent.mid")
    (tmp_path / "set" / "notes.txt").write_text("ignored: not a MIDI file ending")
    music = load_midi_folder(str(tmp_path / "set"))
    assert music.name == "set" and len(music) == 2
    assert sorted(s.name for s in music.scores) == ["one", "two"]
    reasons = dict(music.skipped)
    assert sorted(reasons) == ["cut.mid", "silent.mid", "words.mid"]
    assert "cut short" in reasons["cut.mid"] and "not a MIDI file" in reasons["words.mid"]
    assert "has no notes" in reasons["silent.mid"] and str(tmp_path / "set" / "words.mid") in reasons["words.mid"]
    assert load_midi_folder.extensions == (".mid", ".midi")


def test_a_folder_with_no_readable_midi_file_says_why(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"\x00" * 40)
    with pytest.raises(DataError, match="None of the 1 MIDI files .* could be used. .*/bad.mid is not a MIDI file"):
        load_midi_folder(str(tmp_path))
    (tmp_path / "bad.mid").unlink()
    with pytest.raises(DataError, match="holds no MIDI files"):
        load_midi_folder(str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load_midi_folder(str(tmp_path / "nowhere"))


def test_one_midi_file_is_a_set_of_one_that_holds_out_its_last_bars(tmp_path):
    score = Score([Note(60 + i % 12, float(i), 1.0) for i in range(40)], [Track("Piano", 0, 0)],
                  [TempoChange(0.0, 90.0), TempoChange(36.5, 120.0)], [TimeSignature(0.0, 4, 4)])
    write_midi(score, tmp_path / "tune.mid")
    music = load_midi_file(str(tmp_path / "tune.mid"))
    assert len(music) == 1 and music.name == "tune"
    split = music.split(seed=0)
    train, validation = split.train[0], split.validation[0]
    assert train.length_beats == 36.0 and len(train.notes) == 36, "cut at the bar line nearest 90%"
    assert [n.start for n in validation.notes] == [0.0, 1.0, 2.0, 3.0] and validation.notes[0].pitch == 60
    assert validation.tempos == [TempoChange(0.0, 90.0), TempoChange(0.5, 120.0)]
    (tmp_path / "chorales.json").write_text("{}")  # no shared data needed: the ending says it all
    with pytest.raises(DataError, match="is a JSON file, not a MIDI file; for the JSB chorales use"):
        load_midi_file(str(tmp_path / "chorales.json"))
    (tmp_path / "broken.mid").write_bytes(b"MThd")
    with pytest.raises(DataError, match="broken.mid"):
        load_midi_file(str(tmp_path / "broken.mid"))


def test_pieces_split_whole_with_the_seed():
    music = MusicSet("mine", [a_score(i) for i in range(25)])
    split = music.split(seed=0)
    assert len(split.validation) == 2 and len(split.train) == 23 and split.name == "mine"
    assert {s.name for s in split.train} | {s.name for s in split.validation} == {s.name for s in music.scores}
    assert [s.name for s in music.split(seed=0).validation] == [s.name for s in split.validation]
    assert any([s.name for s in music.split(seed=k).validation] != [s.name for s in split.validation]
               for k in range(1, 5))
    two = MusicSet("two", [a_score(1), a_score(2)]).split(seed=3)
    assert len(two.train) == 1 and len(two.validation) == 1


def test_the_jsb_chorales_come_with_their_own_split():
    music = load_jsb_json(str(needs_shared(JSB)))
    for seed in (0, 1):
        split = music.split(seed=seed)
        assert len(split.train) == 229 and len(split.validation) == 76
    assert len(music.test) == 77 and len(music) == 229 + 76
    first = music.scores[0]
    assert [t.name for t in first.tracks] == list(SATB) and first.bpm == 100.0 and first.beats_per_bar == 4.0
    assert first.length_beats == 192 * 0.25
    assert first.voice_notes(0)[0] == Note(74, 0.0, 1.0, 80, 0)  # four equal 16th steps are one quarter note


def test_a_jsb_file_holds_held_notes_and_rests(tmp_path):
    steps = [[60, 55, 52, 48], [60, 55, 52, -1], [62, 55, -1, 43], [62, -1, -1, 43]]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"train": [steps], "valid": [], "test": []}))
    score = load_jsb_json(str(path)).scores[0]
    assert [(n.pitch, n.start, n.duration, n.voice) for n in score.notes] == [
        (60, 0.0, 0.5, 0), (55, 0.0, 0.75, 1), (52, 0.0, 0.5, 2), (48, 0.0, 0.25, 3),
        (62, 0.5, 0.5, 0), (43, 0.5, 0.5, 3)]
    path.write_text(json.dumps({"train": [[[60]]]}))
    with pytest.raises(DataError, match=f"{path} is not a JSB chorales file"):
        load_jsb_json(str(path))


def test_music_sources_are_registered_and_a_bare_path_finds_its_source(tmp_path):
    from studio.core.plugins import discover

    registry = discover().registry
    for name in ("bach-chorales", "midi-folder", "midi-file", "jsb-chorales"):
        assert registry.dataset_source(name).kind == "music"
    write_midi(a_score(1), tmp_path / "one.mid")
    assert resolve_data_argument(registry, "music", str(tmp_path))[0].name == "midi-folder"
    assert resolve_data_argument(registry, "music", str(tmp_path / "one.mid"))[0].name == "midi-file"
    assert len(load_data(registry, "music", str(tmp_path), None)) == 1
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "one.mid").unlink()
    with pytest.raises(DataError, match="reads .mid, .midi files"):
        resolve_data_argument(registry, "music", f"midi-folder:{tmp_path}")
