"""Music datasets: pieces as :class:`~studio.core.music.score.Score` objects.

Sources: music21's bundled Bach chorales (a demo set installed with the studio), an artist's folder of
MIDI files or one file, and the JSB chorales JSON (the MuseGAN chapter's data, 16th-note steps).
A :class:`MusicSet` splits whole pieces into training and validation parts, never a piece in two
(except a set of one piece, which has nothing else to hold out).

Qt-free and torch-free: the CLI, a training process and a panel all use it.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from studio.core.atomic import atomic_write
from studio.core.capabilities import Note
from studio.core.data import DataError, DataSplit
from studio.core.music.midi import MidiError, read_midi
from studio.core.music.score import Score, TempoChange, TimeSignature, Track

#: file endings the MIDI folder source reads
MIDI_EXTENSIONS = (".mid", ".midi")
#: the four voices of a chorale, top to bottom
SATB = ("Soprano", "Alto", "Tenor", "Bass")
#: a chorale's tracks: one MIDI channel each, so a General MIDI synthesizer or a DAW keeps the voices apart
SATB_TRACKS = tuple(Track(voice, channel=i) for i, voice in enumerate(SATB))
#: tempo of a chorale that marks none
CHORALE_BPM = 100.0
#: a folder for the converted chorales instead of the user's cache folder
CACHE_VARIABLE = "STUDIO_CACHE_DIR"
#: the JSB chorales' time step, in beats (a 16th note)
JSB_STEP = 0.25


@dataclass
class MusicSet:
    """Whole pieces of music, with the files that could not be read."""

    name: str
    scores: list[Score]
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (file, reason) not read
    validation_fraction: float = 0.1
    #: the split the data comes with (the JSB chorales' train/valid), used whatever the seed
    own_split: Optional[DataSplit] = None
    #: held-out pieces the data comes with that no split uses (the JSB chorales' test part)
    test: list[Score] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def split(self, seed: int = 0) -> DataSplit:
        """Training and validation pieces: the set's own split when it has one, else a shuffle of whole
        pieces with ``seed`` and :attr:`validation_fraction` of them (at least one) held out. A set of
        one piece holds out its last bars instead (about the same fraction, cut at a bar line)."""
        if self.own_split is not None:
            return self.own_split
        if len(self.scores) == 1:
            train, validation = _cut_tail(self.scores[0], self.validation_fraction)
            return DataSplit(train=[train], validation=[validation] if validation.notes else [], name=self.name)
        order = list(range(len(self.scores)))
        random.Random(seed).shuffle(order)
        held = min(len(order) - 1, max(1, round(len(order) * self.validation_fraction))) if order else 0
        return DataSplit(train=[self.scores[i] for i in order[held:]],
                         validation=[self.scores[i] for i in order[:held]], name=self.name)


def _cut_tail(score: Score, fraction: float) -> tuple[Score, Score]:
    """The score before the bar line nearest ``1 - fraction`` of its length, and the rest from there (its
    times from 0, with the tempo and metre in force at the cut)."""
    bar = score.beats_per_bar
    cut = max(bar, round(score.length_beats * (1 - fraction) / bar) * bar)
    before = score.with_notes(n for n in score.notes if n.start < cut)
    after = score.with_notes(replace(n, start=n.start - cut) for n in score.notes if n.start >= cut)
    after.tempos = _from(score.tempos, cut)
    after.time_signatures = _from(score.time_signatures, cut)
    after.name = f"{score.name} (end)"
    return before, after


def _from(changes: list, cut: float) -> list:
    """A tempo or metre map from beat ``cut`` on, moved to start at 0."""
    in_force = [c for c in changes if c.beat <= cut][-1]
    return [replace(in_force, beat=0.0), *(replace(c, beat=c.beat - cut) for c in changes if c.beat > cut)]


# -- MIDI files -------------------------------------------------------------------------------


def load_midi_file(location: Optional[str]) -> MusicSet:
    """One MIDI file as a set of one piece."""
    path = _existing(location)
    if path.is_dir():
        raise DataError(f"{path} is a folder; use the midi-folder source to read every MIDI file in it.")
    if path.suffix.lower() == ".json":
        raise DataError(f"{path} is a JSON file, not a MIDI file; for the JSB chorales use --data jsb-chorales:{path}")
    try:
        score = read_midi(path)
    except MidiError as exc:
        raise DataError(str(exc)) from exc
    if not score.notes:
        raise DataError(f"{path} has no notes.")
    return MusicSet(name=path.stem, scores=[score])


def load_midi_folder(location: Optional[str]) -> MusicSet:
    """Every .mid and .midi file under a folder (hidden ones aside), in path order. Files that cannot be
    read, or hold no notes, are skipped and listed with the reason."""
    root = _existing(location)
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; use the midi-file source for a single file.")
    files = sorted(p for p in root.rglob("*")
                   if p.suffix.lower() in MIDI_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise DataError(f"{root} holds no MIDI files (looked for {', '.join(MIDI_EXTENSIONS)}, recursively).")
    scores, skipped = [], []
    for path in files:
        name = str(path.relative_to(root))
        try:
            score = read_midi(path)
        except MidiError as exc:
            skipped.append((name, str(exc)))
            continue
        if score.notes:
            scores.append(score)
        else:
            skipped.append((name, f"{path} has no notes."))
    if not scores:
        reasons = " ".join(why for _, why in skipped[:3])
        raise DataError(f"None of the {len(files)} MIDI files in {root} could be used. {reasons}")
    return MusicSet(name=root.name, scores=scores, skipped=skipped)


load_midi_folder.extensions = MIDI_EXTENSIONS  # checked before a job starts (studio.core.data)


def _existing(location: Optional[str]) -> Path:
    if not location:
        raise DataError("Say which music to read: a MIDI file or a folder of them.")
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    return path


# -- the JSB chorales -------------------------------------------------------------------------


def load_jsb_json(location: Optional[str]) -> MusicSet:
    """The JSB chorales JSON (``{"train", "valid", "test"}``, each a list of chorales, each a list of
    16th-note steps of four pitches, -1 silent): four tracks, soprano to bass, at 100 bpm in 4/4. A
    voice's equal pitches on consecutive steps are one held note (the format cannot tell a repeated
    note from a held one). The file's own train/valid split is the set's split; its test part is
    :attr:`MusicSet.test`."""
    path = _existing(location)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        parts = {key: [_jsb_score(steps, f"{key} {n + 1}") for n, steps in enumerate(data[key])]
                 for key in ("train", "valid", "test")}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DataError(f"{path} is not a JSB chorales file (a JSON object of train, valid and test "
                        f"chorales, each a list of four pitches a 16th-note step): {exc}") from exc
    if not parts["train"]:
        raise DataError(f"{path} has no training chorales.")
    own = DataSplit(train=parts["train"], validation=parts["valid"], name="JSB chorales")
    return MusicSet(name="JSB chorales", scores=parts["train"] + parts["valid"], own_split=own,
                    test=parts["test"])


def _jsb_score(steps: list[list[int]], name: str) -> Score:
    notes = []
    for voice in range(len(SATB)):
        pitch, start = -1, 0
        for step, chord in enumerate([*steps, [-1] * len(SATB)]):  # a silent step closes the last notes
            now = int(chord[voice])
            if now != pitch:
                if pitch >= 0:
                    notes.append(Note(pitch, start * JSB_STEP, (step - start) * JSB_STEP, 80, voice))
                pitch, start = now, step
    return Score(notes, list(SATB_TRACKS), [TempoChange(0.0, CHORALE_BPM)], [TimeSignature(0.0, 4, 4)],
                 name=name)


# -- music21's Bach chorales ------------------------------------------------------------------


def load_bach_chorales(location: Optional[str] = None) -> MusicSet:
    """The Bach chorales bundled with music21, as four tracks (soprano, alto, tenor, bass); chorales
    without four parts are skipped and listed. Parsing them all takes about a minute, so the first load
    keeps them, converted, in the user's cache folder (one JSON per music21 version); later loads read
    that in a fraction of a second."""
    if location:
        raise DataError("The bach-chorales source is bundled with music21 and takes no location.")
    from importlib.metadata import version  # music21's own import takes a third of a second

    cache = _cache_folder() / f"bach-chorales-music21-{version('music21')}.json"
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        scores = [_from_json(item) for item in stored["chorales"]]
        skipped = [tuple(pair) for pair in stored["skipped"]]
    except (OSError, ValueError, KeyError, TypeError):  # not made yet, or damaged: make it again
        scores, skipped = [], []
        for name in chorale_names():
            try:
                scores.append(bach_chorale(name))
            except DataError as exc:
                skipped.append((name, str(exc)))
        try:
            atomic_write(cache, json.dumps({"chorales": [_to_json(s) for s in scores], "skipped": skipped}))
        except OSError:
            pass  # a read-only cache folder only costs the next load the same minute
    return MusicSet(name="Bach chorales", scores=scores, skipped=skipped)


def chorale_names() -> list[str]:
    """music21's names of its bundled Bach chorales (``bach/bwv269``...), in Riemenschneider's order."""
    from music21 import corpus

    return list(corpus.chorales.Iterator(returnType="filename"))


def bach_chorale(name: str) -> Score:
    """One of music21's chorales as a Score of four tracks.

    A pickup (an anacrusis) keeps its place in the bar: the music is moved later by the part of the
    first bar the pickup leaves empty, so bar lines fall where the score has them (a 3/4 chorale that
    starts on beat 3 has its first note at beat 2, its first full bar at beat 3). Ties become one note;
    grace notes (no duration) are left out; the tempo is the first metronome mark, else 100 bpm.
    """
    from music21 import corpus, meter, tempo

    piece = corpus.parse(name)
    parts = _voices(list(piece.parts), name)
    first_bar = parts[0].getElementsByClass("Measure").first()
    shift = float(first_bar.paddingLeft) if first_bar is not None else 0.0
    notes = []
    for voice, part in enumerate(parts):
        for element in part.stripTies().flatten().notes:
            length = float(element.quarterLength)
            if length <= 0:
                continue
            for pitch in element.pitches:  # a chord in one part (rare, a divided voice) is several notes
                notes.append(Note(int(pitch.midi), float(element.offset) + shift, length, 80, voice))
    signatures = [TimeSignature(float(ts.offset) + shift if ts.offset else 0.0, ts.numerator, ts.denominator)
                  for ts in parts[0].flatten().getElementsByClass(meter.TimeSignature)]
    marks = list(piece.flatten().getElementsByClass(tempo.MetronomeMark))
    bpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else CHORALE_BPM
    return Score(notes, list(SATB_TRACKS), [TempoChange(0.0, bpm)], signatures or [TimeSignature(0.0)],
                 name=name.split("/")[-1])


def _voices(parts: list, name: str) -> list:
    """The four sung parts: those named Soprano, Alto, Tenor and Bass when the chorale has instruments
    too (trumpets, continuo), else its four parts in order, whatever they are called."""
    named = {p.partName: p for p in parts if p.partName in SATB}
    if len(named) == len(SATB) and sum(p.partName in SATB for p in parts) == len(SATB):
        return [named[v] for v in SATB]
    if len(parts) == len(SATB):
        return parts
    listed = ", ".join(str(p.partName or "unnamed") for p in parts)
    raise DataError(f"The chorale {name} has {len(parts)} parts ({listed}), not the four of soprano, alto, "
                    "tenor and bass.")


def _cache_folder() -> Path:
    override = os.environ.get(CACHE_VARIABLE)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("generative-studio"))


def _to_json(score: Score) -> dict[str, Any]:
    return {"name": score.name, "bpm": score.bpm,
            "time_signatures": [[s.beat, s.numerator, s.denominator] for s in score.time_signatures],
            "notes": [[n.pitch, n.start, n.duration, n.voice] for n in score.notes]}


def _from_json(item: dict[str, Any]) -> Score:
    return Score([Note(p, s, d, 80, v) for p, s, d, v in item["notes"]], list(SATB_TRACKS),
                 [TempoChange(0.0, item["bpm"])], [TimeSignature(*s) for s in item["time_signatures"]],
                 name=item["name"])
