"""Standard MIDI Files in and out of a :class:`~studio.core.music.score.Score`, with mido.

Reading takes type 0 and type 1 files (type 2, a set of independent patterns, is refused). Each
(MIDI track, channel) that has notes becomes one Score track, in the order of the file's tracks and,
within a track of several channels (every type 0 file), by channel number. Tempo and time-signature
changes are gathered from every track. Times become beats as ``tick / ticks_per_beat``.

Writing makes a type 1 file: track 0 is the conductor (the score's name, every tempo and time
signature, and the studio's parameters as a text meta event ``studio:{json}``), then one track per
Score track with its name, program and channel. Reading a file the studio wrote gives back the same
notes in ticks, and the parameters in :attr:`Score.params`.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import mido

from studio.core.atomic import atomic_open
from studio.core.capabilities import Note
from studio.core.errors import UserError
from studio.core.music.score import Score, TempoChange, TimeSignature, Track, note_ticks

PathLike = Union[str, Path]

#: the text meta event that carries the studio's generation parameters starts with this
PARAMS_PREFIX = "studio:"
DRUM_CHANNEL = 9
#: a time signature's lowest note value that a file may give (a 1/128 note); beyond is damage
MAX_DENOMINATOR = 128


class MidiError(UserError):
    """A MIDI file cannot be read; the message names the file and says what is wrong."""


# -- reading ----------------------------------------------------------------------------------


def read_midi(path: PathLike) -> Score:
    """The notes, tracks, tempo and metre of a MIDI file; its name is the file's stem.

    Note-ons with velocity 0 are note-offs. Overlapping notes of one pitch on one channel are closed
    first-in-first-out (the first note-off ends the earliest held note), as most DAWs do; a note still
    held when its track ends ends there, and a note whose on and off share a tick lasts one tick.
    """
    path = Path(path)
    return _score(_load(path), path)


def inspect_midi(path: PathLike) -> dict[str, Any]:
    """What :func:`read_midi` reads from a file, as plain data (``studio music inspect --json``)."""
    path = Path(path)
    midi = _load(path)
    score = _score(midi, path)
    tracks = []
    for voice, track in enumerate(score.tracks):
        notes = score.voice_notes(voice)
        tracks.append({"name": track.name, "channel": track.channel, "program": track.program,
                       "notes": len(notes),
                       "lowest": min((n.pitch for n in notes), default=None),
                       "highest": max((n.pitch for n in notes), default=None)})
    return {
        "file": str(path),
        "format": midi.type,
        "ticks_per_beat": midi.ticks_per_beat,
        "midi_tracks": len(midi.tracks),
        "tracks": tracks,
        "tempos": [{"beat": t.beat, "bpm": t.bpm} for t in score.tempos],
        "time_signatures": [{"beat": s.beat, "numerator": s.numerator, "denominator": s.denominator}
                            for s in score.time_signatures],
        "length_beats": score.length_beats,
        "length_seconds": round(score.length_seconds, 3),
        "notes": len(score.notes),
        "params": score.params,
    }


def _load(path: Path) -> mido.MidiFile:
    """The parsed file, or a :class:`MidiError` in plain words."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MidiError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise MidiError(f"{path} is a folder, not a MIDI file.") from None
    except OSError as exc:
        raise MidiError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if not data:
        raise MidiError(f"{path} is empty, so it is not a MIDI file.")
    if not data.startswith(b"MThd"):
        raise MidiError(f"{path} is not a MIDI file: it does not start with a MIDI header (MThd).")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except EOFError:
        raise MidiError(f"{path} is cut short: the file ends in the middle of its data (truncated?).") from None
    except Exception as exc:  # mido raises OSError, ValueError, KeyError... for bytes it cannot parse
        raise MidiError(f"{path} is a damaged MIDI file: {_plain(exc)}.") from None
    if midi.type not in (0, 1):
        raise MidiError(f"{path} is a type {midi.type} MIDI file (independent patterns); "
                        "the studio reads type 0 and type 1 files.")
    if midi.ticks_per_beat <= 0:
        raise MidiError(f"{path} counts time in SMPTE frames rather than beats; the studio reads only "
                        "files timed in ticks per beat, as DAWs write them.")
    return midi


def _plain(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[0].lower() + text[1:]


@dataclass
class _Voice:
    """The notes of one (MIDI track, channel) being read."""

    track: int
    channel: int
    first_tick: int
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)  #: (pitch, start, end, velocity)


def _score(midi: mido.MidiFile, path: Path) -> Score:
    tempos: list[tuple[int, float]] = []
    signatures: list[tuple[int, int, int]] = []
    programs: list[tuple[int, int, int, int]] = []  #: (tick, track, channel, program)
    params: dict[str, Any] = {}
    voices: dict[tuple[int, int], _Voice] = {}
    names: dict[int, str] = {}
    for index, track in enumerate(midi.tracks):
        held: dict[tuple[int, int], deque[tuple[int, int]]] = defaultdict(deque)
        tick = 0
        for message in track:
            tick += message.time
            kind = message.type
            if kind == "note_on" and message.velocity > 0:
                key = (index, message.channel)
                if key not in voices:
                    voices[key] = _Voice(index, message.channel, tick)
                held[(message.channel, message.note)].append((tick, message.velocity))
            elif kind in ("note_off", "note_on"):
                started = held.get((message.channel, message.note))
                if started:
                    start, velocity = started.popleft()
                    voices[(index, message.channel)].notes.append((message.note, start, tick, velocity))
            elif kind == "program_change":
                programs.append((tick, index, message.channel, message.program))
            elif kind == "set_tempo":
                if message.tempo < 1:
                    raise MidiError(f"{path} is a damaged MIDI file: its tempo change at tick {tick} gives a beat "
                                    "0 microseconds.")
                tempos.append((tick, _bpm(message.tempo)))
            elif kind == "time_signature":
                if message.numerator < 1 or message.denominator > MAX_DENOMINATOR:
                    raise MidiError(f"{path} is a damaged MIDI file: its time signature at tick {tick} is "
                                    f"{message.numerator}/{message.denominator}.")
                signatures.append((tick, message.numerator, message.denominator))
            elif kind == "track_name" and index not in names and message.name.strip():
                names[index] = message.name.strip()
            elif kind == "text" and message.text.startswith(PARAMS_PREFIX):
                params = _params(message.text) or params
        for (channel, pitch), still in held.items():  # held to the end of the track
            for start, velocity in still:
                voices[(index, channel)].notes.append((pitch, start, tick, velocity))
    ordered = sorted(voices.values(), key=lambda v: (v.track, v.channel))
    tracks, notes = [], []
    tpb = midi.ticks_per_beat
    for number, voice in enumerate(ordered):
        tracks.append(Track(_track_name(voice, names, ordered, midi.type), voice.channel,
                            _program(voice, programs)))
        notes.extend(Note(pitch, start / tpb, max(end - start, 1) / tpb, velocity, number)
                     for pitch, start, end, velocity in voice.notes)
    return Score(
        notes=notes,
        tracks=tracks or [Track("Track 1")],
        tempos=[TempoChange(t / tpb, bpm) for t, bpm in _changes(tempos)],
        time_signatures=[TimeSignature(t / tpb, n, d) for t, (n, d) in _changes(
            (t, (n, d)) for t, n, d in signatures)],
        ticks_per_beat=tpb,
        name=path.stem,
        params=params,
    )


def _changes(events: Iterable[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Changes in tick order, the last of several at one tick winning, repeats of the value before dropped."""
    at: dict[int, Any] = {}
    for tick, value in sorted(events, key=lambda e: e[0]):
        at[tick] = value
    changes: list[tuple[int, Any]] = []
    for tick, value in sorted(at.items()):
        if not changes or changes[-1][1] != value:
            changes.append((tick, value))
    return changes


def _bpm(tempo: int) -> float:
    """The tempo (microseconds a beat) in beats a minute, with as few decimals as still give back exactly
    that tempo: a file's 666667 reads 90, not 89.99995."""
    bpm = mido.tempo2bpm(tempo)
    for decimals in range(7):
        if mido.bpm2tempo(round(bpm, decimals)) == tempo:
            return round(bpm, decimals)
    return bpm


def _params(text: str) -> dict[str, Any]:
    """The parameters in a ``studio:{json}`` text; a text that is not such JSON carries none."""
    try:
        value = json.loads(text[len(PARAMS_PREFIX):])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _program(voice: _Voice, programs: list[tuple[int, int, int, int]]) -> int:
    """The last program change of the voice's channel at or before its first note: its own track's if
    that has one, else any track's (a channel's program is shared by the whole file)."""
    before = [p for p in programs if p[2] == voice.channel and p[0] <= voice.first_tick]
    own = [p for p in before if p[1] == voice.track]
    chosen = own or sorted(before, key=lambda p: p[0])
    return chosen[-1][3] if chosen else 0


def _track_name(voice: _Voice, names: dict[int, str], voices: list[_Voice], file_type: int) -> str:
    """The MIDI track's name (with the channel when the track has several), else "Channel N"."""
    shared = sum(v.track == voice.track for v in voices) > 1
    channel = f"Channel {voice.channel + 1}" + (" (drums)" if voice.channel == DRUM_CHANNEL else "")
    name = names.get(voice.track) if file_type == 1 else None  # a type 0 file's one name is the song's
    if name:
        return f"{name}: {channel}" if shared else name
    return channel


# -- writing ----------------------------------------------------------------------------------


def midi_file(score: Score) -> mido.MidiFile:
    """The score as a type 1 :class:`mido.MidiFile`: the conductor track, then a track per Score track."""
    tpb = score.ticks_per_beat
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = [(0, mido.MetaMessage("track_name", name=score.name))] if score.name else []
    conductor += [(round(s.beat * tpb), mido.MetaMessage("time_signature", numerator=s.numerator,
                                                         denominator=s.denominator))
                  for s in score.time_signatures]
    conductor += [(round(t.beat * tpb), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(t.bpm)))
                  for t in score.tempos]
    if score.params:
        text = PARAMS_PREFIX + json.dumps(score.params, sort_keys=True, default=str)
        conductor.append((0, mido.MetaMessage("text", text=text)))
    midi.tracks.append(_track(sorted(conductor, key=lambda e: e[0])))
    by_voice: dict[int, list[Note]] = defaultdict(list)
    for note in score.notes:
        if not 0 <= note.voice < len(score.tracks):
            raise ValueError(f"A note's voice {note.voice} is not one of the score's {len(score.tracks)} tracks.")
        by_voice[note.voice].append(note)
    for voice, track in enumerate(score.tracks):
        events = [(0, 0, mido.MetaMessage("track_name", name=track.name)),
                  (0, 0, mido.Message("program_change", channel=track.channel, program=track.program))]
        for note in by_voice[voice]:
            start, end = note_ticks(note, tpb)
            velocity = min(127, max(1, int(note.velocity)))  # a note-on of velocity 0 would be a note-off
            events.append((start, 2, mido.Message("note_on", channel=track.channel, note=note.pitch,
                                                  velocity=velocity)))
            events.append((end, 1, mido.Message("note_off", channel=track.channel, note=note.pitch)))
        # at one tick, offs (1) before ons (2), so a repeated note is not cut by the end of the one before
        midi.tracks.append(_track((tick, message) for tick, _, message in sorted(events, key=lambda e: e[:2])))
    return midi


def _track(events: Iterable[tuple[int, mido.Message]]) -> mido.MidiTrack:
    """A track from (absolute tick, message) in order."""
    track, previous = mido.MidiTrack(), 0
    for tick, message in events:
        track.append(message.copy(time=tick - previous))
        previous = tick
    return track


def midi_bytes(score: Score) -> bytes:
    """The bytes :func:`write_midi` would write (for dragging a selection out as a .mid)."""
    buffer = io.BytesIO()
    midi_file(score).save(file=buffer)
    return buffer.getvalue()


def write_midi(score: Score, path: PathLike) -> None:
    """Save the score as a type 1 MIDI file; atomic, so a failed save leaves the old file as it was."""
    data = midi_bytes(score)
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_midi_artifact(artifact: Any, path: PathLike) -> None:
    """The exporter "midi": a :class:`~studio.core.artifacts.MusicArtifact`'s score with its params."""
    score = artifact.score
    if artifact.params:
        score = score.with_notes(score.notes)
        score.params = {**score.params, **artifact.params}
    write_midi(score, path)
