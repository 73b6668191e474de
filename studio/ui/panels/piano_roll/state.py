"""What the Piano Roll works on (Qt-free): the notes by id, the tracks with their colours, mute and
solo, the tempo and metre, the selection, the snap, the playhead and the loop.

Every change of the document (notes, tracks, tempo, metre) goes through one path that takes a
:class:`Snapshot` before and after and hands both to :attr:`PianoRollState.recorder` (the panel
pushes them on its undo stack; undo and redo call :meth:`PianoRollState.restore`). Between
:meth:`~PianoRollState.begin_batch` and :meth:`~PianoRollState.end_batch` changes are shown at once
and recorded as one edit: a streamed continuation is one undo step. A note keeps its id through
every edit of it, so views update only what changed, undo included.

The selection, playhead, loop and snap are not part of the document: they are not undone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Optional

from studio.core.capabilities import Note
from studio.core.music.score import DEFAULT_TICKS_PER_BEAT, Score, TempoChange, TimeMaps, TimeSignature, Track
from studio.ui.kit.state import PanelState
from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.edits import moved, quantized, resized
from studio.ui.panels.piano_roll.grid import DEFAULT_SNAP, FREE_LENGTH, MIN_LENGTH, SNAPS

Recorder = Callable[[str, "Snapshot", "Snapshot", Optional[str]], None]


@dataclass(frozen=True)
class RollTrack:
    """A Score track plus how the roll shows and plays it."""

    track: Track
    colour: str  #: "#rrggbb", distinct per track
    muted: bool = False
    solo: bool = False


@dataclass(frozen=True)
class Snapshot(TimeMaps):
    """The whole document, for undo (value semantics)."""

    notes: Mapping[int, Note]  #: note id -> note
    tracks: tuple[RollTrack, ...]
    tempos: tuple[TempoChange, ...] = (TempoChange(0.0, 100.0),)
    time_signatures: tuple[TimeSignature, ...] = (TimeSignature(0.0),)


class PianoRollState(PanelState, TimeMaps):
    """Events (besides the base's): ``notes(ids)`` with the ids of the notes added, changed or removed;
    ``selection()``; ``tracks()`` (the list, a track's name, colour, mute or solo, or the active track);
    ``playhead(beat)``; ``loop()``; ``snap()``; ``tempo()`` (tempo or metre)."""

    panel = "piano-roll"
    title = "Piano Roll"
    capability = "MusicGenerator"
    EVENTS = ("notes", "selection", "tracks", "playhead", "loop", "snap", "tempo")

    def __init__(self, executor: Any, registry: Any, store: Any, capability: str = "") -> None:
        self.notes: dict[int, Note] = {}
        self.tracks: list[RollTrack] = [RollTrack(Track("Track 1"), grid.PALETTE[0])]
        self.tempos: list[TempoChange] = [TempoChange(0.0, 100.0)]
        self.time_signatures: list[TimeSignature] = [TimeSignature(0.0)]
        #: what the document was opened from (kept for export): its name, generation parameters, ticks
        self.name, self.params, self.ticks_per_beat = "", {}, DEFAULT_TICKS_PER_BEAT
        self.selection: set[int] = set()
        self.active_track = 0  #: where new notes are drawn
        self.velocity = 100  #: the velocity new notes are drawn with
        self.snap = DEFAULT_SNAP
        self.playhead = 0.0
        self.loop: Optional[tuple[float, float]] = None
        self.loop_enabled = False
        self.clipboard: list[Note] = []  #: copied notes, their starts from the earliest one's
        self.recorder: Optional[Recorder] = None
        self._next_id = 1
        self._batch_depth = 0
        self._batch_before: Optional[Snapshot] = None
        self._held: Optional[Snapshot] = None  #: the before of a change recorded with the next edit
        super().__init__(executor, registry, store, capability)

    # -- the document as a whole ----------------------------------------------------------------
    @property
    def length_beats(self) -> float:
        """Where the last note ends (0 when there are none)."""
        return max((n.start + n.duration for n in self.notes.values()), default=0.0)

    def snapshot(self) -> Snapshot:
        return Snapshot(MappingProxyType(dict(self.notes)), tuple(self.tracks), tuple(self.tempos),
                        tuple(self.time_signatures))

    def restore(self, snapshot: Any, *args: Any, **kwargs: Any) -> None:
        """Make the document ``snapshot`` (what undo and redo do); the selection keeps the notes still there.

        Given anything but a :class:`Snapshot`, this is :meth:`PanelState.restore`: restoring a result's
        model from its parameters (the two share the name)."""
        if not isinstance(snapshot, Snapshot):
            return super().restore(snapshot, *args, **kwargs)
        old = self.notes
        new = dict(snapshot.notes)
        changed = {i for i in old.keys() | new.keys() if old.get(i) != new.get(i)}
        tracks_changed = tuple(self.tracks) != snapshot.tracks
        tempo_changed = (tuple(self.tempos), tuple(self.time_signatures)) != (snapshot.tempos,
                                                                               snapshot.time_signatures)
        self.notes = new
        self.tracks = list(snapshot.tracks)
        self.tempos, self.time_signatures = list(snapshot.tempos), list(snapshot.time_signatures)
        self._next_id = max(self._next_id, max(new, default=0) + 1)
        self._held = None
        self.active_track = min(self.active_track, len(self.tracks) - 1)
        if tracks_changed:
            self.events.tracks.emit()
        if tempo_changed:
            self.events.tempo.emit()
        if changed:
            self.events.notes.emit(changed)
        self._keep_selection()
        return None

    def score(self, *, selected_only: bool = False, audible_only: bool = False) -> Score:
        """The document as a :class:`Score`. ``audible_only`` leaves out muted tracks (and, while any
        track is solo, every track that is not); ``selected_only`` keeps the selected notes and the
        tracks they are on. Tracks left out are taken out of the list (voices renumbered)."""
        notes = [self.notes[i] for i in self.selection if i in self.notes] if selected_only \
            else list(self.notes.values())
        keep = self.audible_tracks() if audible_only else set(range(len(self.tracks)))
        if selected_only:
            keep &= {n.voice for n in notes}
        index = {old: new for new, old in enumerate(sorted(keep))}
        return Score(notes=[replace(n, voice=index[n.voice]) for n in notes if n.voice in index],
                     tracks=[self.tracks[i].track for i in sorted(keep)], tempos=list(self.tempos),
                     time_signatures=list(self.time_signatures), ticks_per_beat=self.ticks_per_beat,
                     name=self.name, params=dict(self.params))

    def audible_tracks(self) -> set[int]:
        """The tracks that play: the solo ones while any is solo, else all that are not muted."""
        solo = {i for i, t in enumerate(self.tracks) if t.solo}
        return solo or {i for i, t in enumerate(self.tracks) if not t.muted}

    def load_score(self, score: Score, text: str = "Import") -> None:
        """Replace the document with ``score`` (tracks, notes, tempo and metre, its name and parameters)."""
        strays = [n for n in score.notes if not 0 <= n.voice < max(1, len(score.tracks))]
        if strays:
            raise ValueError(f"{score.name or 'The score'} has notes of track {strays[0].voice + 1}, which it lacks.")
        before = self._begin()
        tracks: list[RollTrack] = []
        for track in score.tracks or [Track("Track 1")]:
            tracks.append(RollTrack(track, grid.free_colour([t.colour for t in tracks])))
        removed = set(self.notes)
        self.notes = {}
        self.tracks = tracks
        self.tempos, self.time_signatures = list(score.tempos), list(score.time_signatures)
        self.name, self.params, self.ticks_per_beat = score.name, dict(score.params), score.ticks_per_beat
        self.active_track = 0
        added = self._put_all(score.notes)
        self.events.tracks.emit()
        self.events.tempo.emit()
        self.events.notes.emit(removed | set(added))
        self._keep_selection()
        self._record(text, before)

    def add_tracks_from(self, score: Score, text: str = "Import") -> list[int]:
        """Add ``score``'s tracks after the roll's, with their notes; returns the new tracks' indices."""
        before = self._begin()
        first = len(self.tracks)
        for track in score.tracks:
            self.tracks.append(RollTrack(track, grid.free_colour([t.colour for t in self.tracks])))
        added = self._put_all(replace(n, voice=n.voice + first) for n in score.notes if n.voice < len(score.tracks))
        self.events.tracks.emit()
        self.events.notes.emit(set(added))
        self._record(text, before)
        return list(range(first, len(self.tracks)))

    # -- recording -------------------------------------------------------------------------------
    def _begin(self) -> Snapshot:
        """The document before an edit (cheap: the notes dict is copied, the notes shared)."""
        return self.snapshot()

    def _record(self, text: str, before: Snapshot, merge: Optional[str] = None) -> None:
        if self._batch_depth:
            return
        if self._held is not None:
            before, self._held = self._held, None
        after = self.snapshot()
        if self.recorder is not None and after != before:  # cheap: the same note objects compare by identity
            self.recorder(text, before, after, merge)

    def begin_batch(self) -> None:
        """From now until :meth:`end_batch`, changes show at once and are recorded as one edit."""
        if self._batch_depth == 0:
            self._batch_before = self._held or self.snapshot()
            self._held = None
        self._batch_depth += 1

    def end_batch(self, text: str) -> None:
        """Record the changes since :meth:`begin_batch` as one edit called ``text`` (none if nothing changed)."""
        if self._batch_depth == 0:
            raise RuntimeError("end_batch without begin_batch")
        self._batch_depth -= 1
        if self._batch_depth == 0:
            before, self._batch_before = self._batch_before, None
            self._record(text, before)

    @property
    def in_batch(self) -> bool:
        return self._batch_depth > 0

    # -- notes -----------------------------------------------------------------------------------
    def _check(self, note: Note) -> Note:
        if not 0 <= note.pitch <= 127:
            raise ValueError(f"A MIDI pitch goes from 0 to 127, not {note.pitch}.")
        if note.duration <= 0 or note.start < 0:
            raise ValueError(f"A note starts at beat 0 or later and lasts a while, not {note}.")
        if not 0 <= note.voice < len(self.tracks):
            raise ValueError(f"There is no track {note.voice + 1} (the roll has {len(self.tracks)}).")
        return replace(note, velocity=min(127, max(1, int(note.velocity))))

    def _put_all(self, notes: Iterable[Note]) -> list[int]:
        checked = [self._check(n) for n in notes]  # all or nothing
        ids = list(range(self._next_id, self._next_id + len(checked)))
        self.notes.update(zip(ids, checked, strict=True))
        self._next_id += len(checked)
        return ids

    def add_notes(self, notes: Iterable[Note], *, text: str = "Draw note", select: bool = False) -> list[int]:
        """Add notes (their ``voice`` is their track); returns their ids. ``select``: they become the selection."""
        before = self._begin()
        ids = self._put_all(notes)
        if ids:
            self.events.notes.emit(set(ids))
            if select:
                self.select(ids)
            self._record(text, before)
        return ids

    def update_notes(self, changes: Mapping[int, Note], *, text: str, merge: Optional[str] = None) -> None:
        """Replace notes by id (a drag does this on every move, with one ``merge`` name: one undo step)."""
        before = self._begin()
        changes = {i: self._check(n) for i, n in changes.items() if i in self.notes and self.notes[i] != n}
        if not changes:
            return
        self.notes.update(changes)
        self.events.notes.emit(set(changes))
        self._record(text, before, merge)

    def delete_notes(self, ids: Optional[Iterable[int]] = None, *, text: str = "Delete notes") -> None:
        """Delete ``ids`` (default: the selection)."""
        ids = {i for i in (self.selection if ids is None else ids) if i in self.notes}
        if not ids:
            return
        before = self._begin()
        for i in ids:
            del self.notes[i]
        self.events.notes.emit(ids)
        self._keep_selection()
        self._record(text, before)

    def _targets(self, ids: Optional[Iterable[int]]) -> list[int]:
        return [i for i in (self.selection if ids is None else ids) if i in self.notes]

    def move_notes(self, ids: Optional[Iterable[int]], beats: float, semitones: int, *, text: str = "Move notes",
                   merge: Optional[str] = None) -> None:
        """Move notes (default: the selection) together; at beat 0 or the keyboard's ends they stop as one."""
        ids = self._targets(ids)
        self.update_notes(moved({i: self.notes[i] for i in ids}, beats, semitones), text=text, merge=merge)

    def resize_notes(self, ids: Optional[Iterable[int]], beats: float, *, edge: str = "end",
                     text: str = "Resize notes", merge: Optional[str] = None) -> None:
        """Move the ``edge`` ("end" or "start") of notes (default: the selection) by ``beats``."""
        ids = self._targets(ids)
        self.update_notes(resized({i: self.notes[i] for i in ids}, beats, edge), text=text, merge=merge)

    def transpose(self, semitones: int, ids: Optional[Iterable[int]] = None) -> None:
        """Transpose the selection (or ``ids``); ±12 is an octave."""
        if abs(semitones) == 12:
            text = f"Transpose an octave {'up' if semitones > 0 else 'down'}"
        else:
            text = f"Transpose {semitones:+d} semitone{'s' if abs(semitones) != 1 else ''}"
        self.move_notes(ids, 0.0, semitones, text=text)

    def quantize(self, ids: Optional[Iterable[int]] = None) -> None:
        """Starts and ends of the selection (or of every note, with none selected) onto the snap grid."""
        ids = self._targets(ids) or list(self.notes)
        self.update_notes(quantized({i: self.notes[i] for i in ids}, self.snap_beats or SNAPS[DEFAULT_SNAP]),
                          text="Quantize")

    def set_velocity(self, ids: Iterable[int], velocity: int, *, merge: Optional[str] = None) -> None:
        """Velocity 1-127 of ``ids``; the velocity of notes drawn next, too."""
        velocity = min(127, max(1, int(velocity)))
        self.velocity = velocity
        self.update_notes({i: replace(self.notes[i], velocity=velocity) for i in ids if i in self.notes},
                          text="Change velocity", merge=merge)

    # -- clipboard ----------------------------------------------------------------------------------
    def copy(self) -> int:
        """Copy the selection; returns how many notes were copied."""
        notes = [self.notes[i] for i in self.selection if i in self.notes]
        if notes:
            first = min(n.start for n in notes)
            self.clipboard = [replace(n, start=n.start - first) for n in notes]
        return len(notes)

    def cut(self) -> int:
        count = self.copy()
        self.delete_notes(text="Cut")
        return count

    def paste(self, at: Optional[float] = None) -> list[int]:
        """Paste the copied notes at beat ``at`` (default: the playhead), on their tracks where those
        still exist (else on the active track); they become the selection."""
        at = self.playhead if at is None else at
        notes = [replace(n, start=n.start + at, voice=n.voice if n.voice < len(self.tracks) else self.active_track)
                 for n in self.clipboard]
        return self.add_notes(notes, text="Paste", select=True)

    # -- selection ----------------------------------------------------------------------------------
    def select(self, ids: Iterable[int], *, add: bool = False) -> None:
        chosen = {i for i in ids if i in self.notes}
        new = (self.selection | chosen) if add else chosen
        if new != self.selection:
            self.selection = new
            self.events.selection.emit()

    def toggle_selected(self, note_id: int) -> None:
        """Ctrl-click: a note in the selection leaves it, another joins it."""
        self.select(self.selection ^ {note_id})

    def select_all(self) -> None:
        self.select(self.notes)

    def clear_selection(self) -> None:
        self.select(())

    def select_box(self, beat0: float, beat1: float, pitch0: int, pitch1: int, *, add: bool = False) -> None:
        """Select the notes that overlap beats ``beat0``-``beat1`` and lie within pitches ``pitch0``-``pitch1``."""
        (b0, b1), (p0, p1) = sorted((beat0, beat1)), sorted((pitch0, pitch1))
        self.select([i for i, n in self.notes.items() if p0 <= n.pitch <= p1 and n.start < b1
                     and n.start + n.duration > b0], add=add)

    def _keep_selection(self) -> None:
        self.select(self.selection)

    # -- tracks ----------------------------------------------------------------------------------------
    def _set_track(self, index: int, text: str, **changes: Any) -> None:
        before = self._begin()
        self.tracks[index] = replace(self.tracks[index], **changes)
        self.events.tracks.emit()
        self._record(text, before)

    def add_track(self, name: str, *, program: int = 0, record: bool = True) -> int:
        """A new empty track; returns its index. ``record=False``: no undo step of its own (it is
        recorded with the next edit: the notes a continuation writes into it, say)."""
        before = self._begin()
        channel = min(len(self.tracks), 15)
        channel = channel if channel != 9 else 10  # channel 10 (9 from 0) is General MIDI's drums
        self.tracks.append(RollTrack(Track(name, channel, program), grid.free_colour([t.colour for t in self.tracks])))
        self.events.tracks.emit()
        if record:
            self._record(f"Add track {name}", before)
        elif not self._batch_depth and self._held is None:
            self._held = before
        return len(self.tracks) - 1

    def rename_track(self, index: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("A track needs a name.")
        self._set_track(index, f"Rename track to {name}", track=replace(self.tracks[index].track, name=name))

    def set_program(self, index: int, program: int) -> None:
        if not 0 <= program <= 127:
            raise ValueError(f"A General MIDI program goes from 0 to 127, not {program}.")
        self._set_track(index, "Change instrument", track=replace(self.tracks[index].track, program=program))

    def set_muted(self, index: int, muted: bool) -> None:
        self._set_track(index, f"{'Mute' if muted else 'Unmute'} {self.tracks[index].track.name}", muted=muted)

    def set_solo(self, index: int, solo: bool) -> None:
        self._set_track(index, f"{'Solo' if solo else 'Unsolo'} {self.tracks[index].track.name}", solo=solo)

    def remove_track(self, index: int) -> None:
        """Remove a track and its notes (the last track stays: the roll always has one to draw in)."""
        if len(self.tracks) == 1:
            raise ValueError("The roll keeps at least one track.")
        before = self._begin()
        name = self.tracks[index].track.name
        del self.tracks[index]
        changed = set()
        for i, note in list(self.notes.items()):
            if note.voice == index:
                del self.notes[i]
                changed.add(i)
            elif note.voice > index:
                self.notes[i] = replace(note, voice=note.voice - 1)
                changed.add(i)
        if self.active_track > index:
            self.active_track -= 1
        self.active_track = min(self.active_track, len(self.tracks) - 1)
        self.events.tracks.emit()
        if changed:
            self.events.notes.emit(changed)
        self._keep_selection()
        self._record(f"Remove track {name}", before)

    def set_active_track(self, index: int) -> None:
        if not 0 <= index < len(self.tracks):
            raise ValueError(f"There is no track {index + 1}.")
        if index != self.active_track:
            self.active_track = index
            self.events.tracks.emit()

    # -- tempo and metre -----------------------------------------------------------------------------
    def set_bpm(self, bpm: float) -> None:
        """The tempo at the start (later tempo changes of an imported piece stay)."""
        if not 10 <= bpm <= 400:
            raise ValueError(f"The tempo goes from 10 to 400 beats per minute, not {bpm:g}.")
        before = self._begin()
        self.tempos[0] = TempoChange(0.0, float(bpm))
        self.events.tempo.emit()
        self._record(f"Tempo {bpm:g} bpm", before, merge="tempo")

    def set_time_signature(self, numerator: int, denominator: int) -> None:
        """The metre from the start (later changes of an imported piece stay)."""
        if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"{numerator}/{denominator} is not a time signature the roll can draw.")
        before = self._begin()
        self.time_signatures[0] = TimeSignature(0.0, numerator, denominator)
        self.events.tempo.emit()
        self._record(f"Time signature {numerator}/{denominator}", before)

    # -- snap, playhead and loop -----------------------------------------------------------------------
    def set_snap(self, name: str) -> None:
        if name not in SNAPS:
            raise ValueError(f"The snap is one of {', '.join(SNAPS)}, not {name!r}.")
        if name != self.snap:
            self.snap = name
            self.events.snap.emit()

    @property
    def snap_beats(self) -> Optional[float]:
        """The grid step in beats (None: the snap is off)."""
        return SNAPS[self.snap]

    @property
    def draw_length(self) -> float:
        """The length of a note drawn with a click: one grid step."""
        return self.snap_beats or FREE_LENGTH

    def set_playhead(self, beat: float) -> None:
        beat = max(0.0, float(beat))
        if beat != self.playhead:
            self.playhead = beat
            self.events.playhead.emit(beat)

    def set_loop(self, start: float, end: float) -> None:
        """Loop beats ``start``-``end`` (in either order); setting a loop turns looping on."""
        start, end = sorted((max(0.0, start), max(0.0, end)))
        if end - start < MIN_LENGTH:
            raise ValueError("A loop lasts longer than that.")
        self.loop, self.loop_enabled = (start, end), True
        self.events.loop.emit()

    def set_loop_enabled(self, on: bool) -> None:
        on = bool(on) and self.loop is not None
        if on != self.loop_enabled:
            self.loop_enabled = on
            self.events.loop.emit()

    # -- the primer ------------------------------------------------------------------------------
    def notes_before(self, beat: float) -> list[Note]:
        """What a continuation starts from: with a selection, the selected notes; else the notes that
        start before ``beat``, each cut to end there. In playing order."""
        if self.selection:
            chosen = [self.notes[i] for i in self.selection if i in self.notes]
        else:
            chosen = [replace(n, duration=min(n.duration, beat - n.start)) for n in self.notes.values()
                      if n.start < beat]
        return sorted(chosen, key=lambda n: (n.start, n.voice, n.pitch))

