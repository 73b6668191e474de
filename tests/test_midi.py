"""MIDI files in and out of a Score (studio.core.music.midi): what a musician's files hold comes in, and
what the studio writes comes back the same, in ticks."""

import io
import random
from pathlib import Path

import mido
import pytest
from needs import needs_shared

from studio.core.artifacts import MusicArtifact
from studio.core.capabilities import Note
from studio.core.music.midi import MidiError, inspect_midi, midi_bytes, read_midi, write_midi, write_midi_artifact
from studio.core.music.score import Score, TempoChange, TimeSignature, Track, note_ticks

MIDI_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "midi"
EXAMPLE = MIDI_DATA / "pretty_midi_example.mid"


def shared_midi_files() -> list[Path]:
    return sorted(needs_shared(MIDI_DATA).glob("*.mid"))


def in_ticks(score: Score) -> list[tuple]:
    """(pitch, start tick, end tick, velocity, channel) of every note: what a round trip must keep."""
    return sorted((n.pitch, *note_ticks(n, score.ticks_per_beat), n.velocity, score.tracks[n.voice].channel)
                  for n in score.notes)


def save(tmp_path: Path, midi: mido.MidiFile, name: str = "song.mid") -> Path:
    path = tmp_path / name
    midi.save(path)
    return path


def track(*events: tuple[int, mido.Message]) -> mido.MidiTrack:
    """A MIDI track from (absolute tick, message)."""
    result, previous = mido.MidiTrack(), 0
    for tick, message in events:
        result.append(message.copy(time=tick - previous))
        previous = tick
    return result


def on(channel, note, velocity=90):
    return mido.Message("note_on", channel=channel, note=note, velocity=velocity)


def off(channel, note):
    return mido.Message("note_off", channel=channel, note=note)


def type0_with_everything() -> mido.MidiFile:
    """Two channels, a tempo and a metre change, note-ons of velocity 0 as offs, overlapping notes of one
    pitch, and a note still held when the track ends."""
    midi = mido.MidiFile(type=0, ticks_per_beat=96)
    midi.tracks.append(track(
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120))),
        (0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
        (0, mido.Message("program_change", channel=1, program=33)),
        (0, on(0, 60, 100)), (0, on(1, 36, 70)),
        (96, on(0, 60, 0)),  # velocity 0: the end of the first C
        (96, on(0, 64)), (144, on(0, 64, 50)),  # a second E starts while the first is held
        (192, off(0, 64)), (240, off(0, 64)),  # first in, first out
        (288, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90))),
        (288, mido.MetaMessage("time_signature", numerator=6, denominator=8)),
        (288, off(1, 36)),
        (288, on(1, 38)),  # never released: ends with the track
        (384, mido.MetaMessage("end_of_track")),
    ))
    return midi


def test_a_type0_file_reads_every_channel_tempo_metre_overlap_and_held_note(tmp_path):
    score = read_midi(save(tmp_path, type0_with_everything()))
    assert score.name == "song" and score.ticks_per_beat == 96
    assert score.tracks == [Track("Channel 1", 0, 0), Track("Channel 2", 1, 33)]
    assert [(n.pitch, n.start, n.duration, n.velocity, n.voice) for n in score.notes] == [
        (60, 0.0, 1.0, 100, 0), (36, 0.0, 3.0, 70, 1), (64, 1.0, 1.0, 90, 0), (64, 1.5, 1.0, 50, 0),
        (38, 3.0, 1.0, 90, 1)]
    assert score.tempos == [TempoChange(0.0, 120.0), TempoChange(3.0, 90.0)]
    assert score.time_signatures == [TimeSignature(0.0, 3, 4), TimeSignature(3.0, 6, 8)]
    assert score.length_beats == 4.0 and score.length_seconds == pytest.approx(1.5 + 60 / 90)


def test_running_status_is_read_from_raw_bytes(tmp_path):
    # one track: note-on C (status 0x90), then E, and both note-ons of velocity 0, all under running status
    events = bytes([0x00, 0x90, 60, 100, 0x00, 64, 90, 0x60, 60, 0, 0x00, 64, 0, 0x00, 0xFF, 0x2F, 0x00])
    data = (b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
            + (96).to_bytes(2, "big") + b"MTrk" + len(events).to_bytes(4, "big") + events)
    path = tmp_path / "running.mid"
    path.write_bytes(data)
    score = read_midi(path)
    assert [(n.pitch, n.start, n.duration, n.velocity) for n in score.notes] == [(60, 0.0, 1.0, 100),
                                                                                 (64, 0.0, 1.0, 90)]


def test_a_type1_file_gives_a_track_per_track_and_channel_with_names_and_programs(tmp_path):
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(track((0, mido.MetaMessage("track_name", name="Conductor")),
                             (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(80)))))
    midi.tracks.append(track((0, mido.MetaMessage("track_name", name="Strings")),
                             (0, mido.Message("program_change", channel=2, program=40)),
                             (0, on(2, 67)), (240, mido.Message("program_change", channel=2, program=41)),
                             (480, off(2, 67))))
    midi.tracks.append(track((0, mido.MetaMessage("track_name", name="Band")), (0, on(9, 36)), (0, on(3, 40)),
                             (960, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(160))),  # not track 0
                             (960, off(9, 36)), (960, off(3, 40))))
    score = read_midi(save(tmp_path, midi))
    assert score.tracks == [Track("Strings", 2, 40), Track("Band: Channel 4", 3, 0),
                            Track("Band: Channel 10 (drums)", 9, 0)]
    assert score.tempos == [TempoChange(0.0, 80.0), TempoChange(2.0, 160.0)]
    assert [(n.pitch, n.voice) for n in score.notes] == [(67, 0), (40, 1), (36, 2)]


@pytest.mark.parametrize("midi_type", [0, 1])
def test_import_export_import_keeps_every_note_in_ticks(tmp_path, midi_type):
    source = type0_with_everything()
    if midi_type == 1:  # the same music as a conductor and a track per channel
        midi = mido.MidiFile(type=1, ticks_per_beat=96)
        merged = list(mido.merge_tracks(source.tracks))
        ticks, tick = [], 0
        for message in merged:
            tick += message.time
            ticks.append((tick, message))
        midi.tracks.append(track(*[(t, m) for t, m in ticks if m.is_meta and m.type != "end_of_track"]))
        for channel in (0, 1):
            midi.tracks.append(track(*[(t, m) for t, m in ticks if not m.is_meta and m.channel == channel]))
        source = midi
    first = read_midi(save(tmp_path, source))
    write_midi(first, tmp_path / "again.mid")
    again = read_midi(tmp_path / "again.mid")
    assert mido.MidiFile(tmp_path / "again.mid").type == 1
    assert in_ticks(again) == in_ticks(first) and len(again.notes) == 5
    assert again.tracks == first.tracks
    assert again.tempos == first.tempos and again.time_signatures == first.time_signatures


def test_every_shared_midi_file_imports_and_survives_a_round_trip(tmp_path):
    for path in shared_midi_files():
        score = read_midi(path)
        assert score.notes and score.tracks, path
        write_midi(score, tmp_path / path.name)
        again = read_midi(tmp_path / path.name)
        assert in_ticks(again) == in_ticks(score), path
        assert again.tempos == score.tempos and again.time_signatures == score.time_signatures, path


def test_the_example_file_is_read_as_its_author_wrote_it():
    score = read_midi(needs_shared(EXAMPLE))
    assert len(score.tracks) == 13 and len(score.notes) == 4956
    assert score.tracks[9] == Track("Channel 10 (drums)", 9, 0) and score.tracks[1].program == 33
    assert TimeSignature(16.0, 5, 4) in score.time_signatures and score.bpm == pytest.approx(72.0)


@pytest.mark.parametrize("seed", range(6))
def test_random_scores_round_trip(tmp_path, seed):
    """Property: random notes on random tracks and channels, overlaps and repeats included, come back the
    same in ticks after one export and import, and then stay the same."""
    rng = random.Random(seed)
    tpb = rng.choice([96, 384, 480, 960])
    tracks = [Track(f"Voice {i}", rng.randrange(16), rng.randrange(128)) for i in range(rng.randint(1, 4))]
    voices = [*range(len(tracks)), *(rng.randrange(len(tracks)) for _ in range(rng.randint(0, 80)))]
    notes = [Note(rng.randrange(40, 50), rng.randrange(0, 200) / 8, rng.randrange(1, 16) / 8, rng.randint(1, 127),
                  voice) for voice in voices]  # every track has a note: a track with none is not a voice
    tempos = [TempoChange(0.0, rng.uniform(40, 200)), TempoChange(rng.randrange(1, 20), rng.uniform(40, 200))]
    score = Score(notes, tracks, tempos, [TimeSignature(0.0, 3, 4), TimeSignature(6.0, 7, 8)], tpb, "random")
    write_midi(score, tmp_path / "a.mid")
    first = read_midi(tmp_path / "a.mid")
    write_midi(first, tmp_path / "b.mid")
    assert in_ticks(read_midi(tmp_path / "b.mid")) == in_ticks(first)
    # notes of one pitch that do not overlap in a track come back exactly as written
    assert len(first.notes) == len(notes) and first.tracks == tracks and first.ticks_per_beat == tpb
    if not _overlaps(score):
        assert in_ticks(first) == in_ticks(score)
    assert first.tempos[1].beat == tempos[1].beat and first.tempos[1].bpm == pytest.approx(tempos[1].bpm, abs=1e-3)


def _overlaps(score: Score) -> bool:
    spans = sorted((n.voice, n.pitch, *note_ticks(n, score.ticks_per_beat)) for n in score.notes)
    return any(a[:2] == b[:2] and b[2] < a[3] for a, b in zip(spans, spans[1:], strict=False))


def test_a_repeated_note_is_not_cut_by_the_end_of_the_one_before(tmp_path):
    score = Score([Note(60, 0.0, 1.0), Note(60, 1.0, 1.0), Note(60, 2.0, 0.5)])
    write_midi(score, tmp_path / "repeat.mid")
    assert [(n.start, n.duration) for n in read_midi(tmp_path / "repeat.mid").notes] == [(0, 1), (1, 1), (2, 0.5)]
    # a synthesizer plays messages in order: an off after the next on at the same tick would silence it
    messages = [m.type for m in mido.MidiFile(tmp_path / "repeat.mid").tracks[1] if m.type.startswith("note")]
    assert messages == ["note_on", "note_off", "note_on", "note_off", "note_on", "note_off"]


def test_the_conductor_track_and_the_parameters_come_back(tmp_path):
    score = Score([Note(72, 0.5, 0.25, 0, 0)], [Track("Melody", 3, 73)], name="Chorale", params={"seed": 1})
    artifact = MusicArtifact(score, {"model": "music-transformer", "temperature": 0.9})
    write_midi_artifact(artifact, tmp_path / "out.mid")
    midi = mido.MidiFile(tmp_path / "out.mid")
    assert midi.type == 1 and len(midi.tracks) == 2 and midi.tracks[0].name == "Chorale"
    assert {m.type for m in midi.tracks[0]} >= {"set_tempo", "time_signature", "text", "track_name"}
    assert not any(m.type == "note_on" for m in midi.tracks[0])
    back = read_midi(tmp_path / "out.mid")
    assert back.params == {"seed": 1, "model": "music-transformer", "temperature": 0.9}
    assert back.tracks == [Track("Melody", 3, 73)] and back.notes[0].velocity == 1  # 0 would be a note-off
    assert not list(tmp_path.glob(".*.tmp")), "the atomic write leaves no temporary file"


def test_midi_bytes_are_what_write_midi_writes(tmp_path):
    score = Score([Note(60, 0, 1), Note(64, 1, 1, 100, 1)], [Track("A"), Track("B", 1, 5)], name="x",
                  params={"a": [1, 2]})
    write_midi(score, tmp_path / "x.mid")
    assert midi_bytes(score) == (tmp_path / "x.mid").read_bytes()


def test_inspect_says_what_the_import_read(tmp_path):
    path = save(tmp_path, type0_with_everything())
    report = inspect_midi(path)
    assert report["format"] == 0 and report["ticks_per_beat"] == 96 and report["notes"] == 5
    assert report["tracks"][0] == {"name": "Channel 1", "channel": 0, "program": 0, "notes": 3, "lowest": 60,
                                   "highest": 64}
    assert report["tempos"] == [{"beat": 0.0, "bpm": 120.0}, {"beat": 3.0, "bpm": 90.0}]
    assert report["time_signatures"][1] == {"beat": 3.0, "numerator": 6, "denominator": 8}
    assert report["length_beats"] == 4.0 and report["length_seconds"] == pytest.approx(2.167, abs=1e-3)


def broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a file that is not a readable MIDI file, what the message must say)."""
    good = midi_bytes(Score([Note(60 + i % 12, i / 2, 0.5) for i in range(40)]))
    files = {
        "random.mid": (bytes(random.Random(0).randrange(256) for _ in range(500)), "not a MIDI file"),
        "truncated.mid": (good[: len(good) // 2], "cut short"),
        "notes.mid": (b"Some notes I wrote down\n", "not a MIDI file"),
        "empty.mid": (b"", "empty"),
        "damaged.mid": (good[:30] + bytes([0xF4]) + good[31:], "damaged"),
    }
    type2 = mido.MidiFile(type=2)
    type2.tracks.append(track((0, on(0, 60)), (10, off(0, 60))))
    buffer = io.BytesIO()
    type2.save(file=buffer)
    files["pattern.mid"] = (buffer.getvalue(), "type 2")
    if EXAMPLE.exists():  # a real file written by other software, cut off in the middle of its one track
        files["real-truncated.mid"] = (EXAMPLE.read_bytes()[:20_000], "cut short")
    result = {}
    for name, (data, says) in files.items():
        (tmp_path / name).write_bytes(data)
        result[name] = (tmp_path / name, says)
    return result


def test_a_corrupt_truncated_empty_or_foreign_file_says_what_is_wrong_and_names_it(tmp_path):
    for name, (path, says) in broken_files(tmp_path).items():
        with pytest.raises(MidiError, match=says) as caught:
            read_midi(path)
        assert str(path) in str(caught.value) and "Traceback" not in str(caught.value), name
        with pytest.raises(MidiError):
            inspect_midi(path)
    with pytest.raises(MidiError, match="missing.mid does not exist"):
        read_midi(tmp_path / "missing.mid")
