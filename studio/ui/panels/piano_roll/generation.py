"""Continue and Variations, the panel's side (Qt-free): :class:`RollGeneration` streams a
continuation (written on the inference thread by :mod:`.writing`) into a new track inside one batch
of the state (however many notes, one undo step, kept when stopped), keeps the variations to audition
and pick, and the provenance of every generated track for the MIDI export.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.capabilities import Note
from studio.core.music.score import Score, Track
from studio.ui.kit.evented import Events
from studio.ui.panels.piano_roll.writing import (
    MAX_SEED,
    ContinueSettings,
    ModelVoices,
    Primer,
    VariationNote,
    continuation,
    variations,
)


@dataclass
class Variation:
    """One of a round of variations: its seed, its notes so far (in the roll's time), what made it."""

    seed: int
    params: dict[str, Any]
    notes: list[Note] = field(default_factory=list)


@dataclass
class Run:
    """One request writing: a continuation into the roll, or a round of variations."""

    kind: str  #: "continue" or "variations"
    settings: ContinueSettings
    primer: Primer
    params: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    first_note_s: Optional[float] = None  #: from the button press to the first note in the state
    written: int = 0
    voices: tuple[str, ...] = ()
    tracks: dict[int, int] = field(default_factory=dict)  #: the model's voice -> the roll's new track
    names: list[str] = field(default_factory=list)  #: the tracks it made
    base: str = ""  #: their name, before a voice's

    def summary(self, done: bool) -> str:
        """The status line at its end."""
        what = "variations" if self.kind == "variations" else "a continuation"
        notes_ = f"{self.written} note{'s' if self.written != 1 else ''}"
        if not done:
            return f"Stopped {what} after {notes_}; what was written is kept"
        first = f", the first after {self.first_note_s * 1000:.0f} ms" if self.first_note_s is not None else ""
        return f"Wrote {what}: {notes_} in {time.monotonic() - self.started:.1f} s{first}"


def track_name(base: str, voices: Sequence[str], voice: int) -> str:
    """The track of a model's ``voice``: ``base`` for a one-voice model, else ``base (voice name)``."""
    if len(voices) <= 1:
        return base
    return f"{base} ({voices[voice] if voice < len(voices) else voice + 1})"


class RollGeneration:
    """Continue and Variations on a :class:`~.state.PianoRollState`. Events: ``settings()``,
    ``started(run)``, ``variation(index, note)``, ``finished(run, done)``, ``picked(index)``."""

    def __init__(self, state: Any, new_seed_each_time: bool = True) -> None:
        self.state = state
        self.settings = ContinueSettings()
        #: after each Continue, a new seed: the seed shown is always the one the next Continue uses
        self.new_seed_each_time = new_seed_each_time
        self.events = Events("settings", "started", "variation", "finished", "picked")
        self.run_now: Optional[Run] = None
        self.choices: list[Variation] = []  #: the latest round of variations
        self.choices_run: Optional[Run] = None
        #: provenance of each generated track still to be exported, by track name
        self.records: dict[str, dict[str, Any]] = {}
        state.events.model.connect(lambda _choice: self._model_changed())

    # -- settings ------------------------------------------------------------------------------
    def set_settings(self, settings: ContinueSettings) -> None:
        """The settings of the next Continue, checked: raises :class:`ValueError`."""
        self.settings = settings.check()
        self.events.settings.emit()

    def _used(self) -> None:
        if self.new_seed_each_time:
            self.set_settings(dataclasses.replace(self.settings, seed=random.randrange(MAX_SEED)))

    # -- writing -------------------------------------------------------------------------------
    @property
    def writing(self) -> bool:
        return self.run_now is not None

    def primer(self, bars: int) -> Primer:
        state = self.state
        return Primer.of(state.notes_before(state.playhead), at=state.playhead, bars=bars,
                         beats_per_bar=state.beats_per_bar, bpm=state.bpm)

    def continue_(self) -> None:
        """Continue the notes before the playhead (or the selection) into a new track, streaming."""
        if self.state.choice is None:
            return
        settings = self.settings
        primer = self.primer(settings.bars)
        run = Run("continue", settings, primer, self._params(primer, settings, settings.seed))
        self._start(run, lambda model, ctx: continuation(model, ctx, primer, settings), "Continuing")

    def write_variations(self) -> None:
        """Write ``settings.count`` continuations side by side to audition and pick from."""
        if self.state.choice is None:
            return
        settings = self.settings
        primer = self.primer(settings.bars)
        run = Run("variations", settings, primer, self._params(primer, settings, settings.seed))
        self.choices = [Variation(settings.seed + i, self._params(primer, settings, settings.seed + i))
                        for i in range(settings.count)]
        self.choices_run = run
        self._start(run, lambda model, ctx: variations(model, ctx, primer, settings), "Writing variations")

    def _params(self, primer: Primer, settings: ContinueSettings, seed: int) -> dict[str, Any]:
        return self.state.result_params(seed=seed, bars=settings.bars, temperature=settings.temperature,
                                        primer_notes=len(primer.notes), start_beat=primer.offset + primer.start)

    def _start(self, run: Run, work: Any, label: str) -> None:
        self.cancel()
        self.run_now = run
        if run.kind == "continue":
            self.state.begin_batch()
        self.events.started.emit(run)
        self.state.run("write", work, on_step=lambda _step, _total, payload: self._stepped(run, payload),
                       on_result=lambda _count: self._finish(run, True), on_cancelled=lambda: self._finish(run, False),
                       on_error=lambda message, detail: self._failed(run, message, detail), label=label)
        self._used()

    def cancel(self) -> None:
        """Stop writing (Stop, Esc): what was written stays, later notes are dropped."""
        self.state.work.cancel("write")

    def _stepped(self, run: Run, payload: Any) -> None:
        if isinstance(payload, ModelVoices):
            run.voices = payload.names
            return
        if payload is None:  # progress of the inference thread's own (loading the model)
            return
        run.written += 1
        if isinstance(payload, VariationNote):
            self.choices[payload.index].notes.append(payload.note)
            self.events.variation.emit(payload.index, payload.note)
        else:
            self._add(run, payload)
        if run.first_note_s is None:  # in the roll (or the list), shown by the time the event is handled
            run.first_note_s = time.monotonic() - run.started

    def _add(self, run: Run, payload: Note) -> None:
        track = run.tracks.get(payload.voice)
        if track is None:  # the first note of this voice: its track
            run.base = run.base or self._free_name(run.params)
            name = track_name(run.base, run.voices, payload.voice)
            self.records[name] = {**run.params, "track": name}
            run.names.append(name)
            track = run.tracks[payload.voice] = self.state.add_track(name, program=self._primer_program(run.primer))
        self.state.add_notes([dataclasses.replace(payload, voice=track)], text="Continue")

    def _free_name(self, params: dict[str, Any]) -> str:
        """"<model> <n>" with the first number no track has: the model's short name in words ("Event
        Transformer 2"), its title being a sentence. (A generated track undone can come back only until
        the next edit is recorded, and this name's is: its record may be replaced.)"""
        model = str(params.get("model") or "")
        title = " ".join(word[:1].upper() + word[1:] for word in re.split(r"[-_\s]+", model) if word) or "Continuation"
        taken = [t.track.name for t in self.state.tracks]
        return next(base for base in (f"{title} {n}" for n in range(1, len(taken) + 2))
                    if not any(name == base or name.startswith(f"{base} (") for name in taken))

    def _primer_program(self, primer: Primer) -> int:
        """The program of the track the primer's last note is on, so the continuation sounds like it."""
        if not primer.notes:
            return 0
        last = max(primer.notes, key=lambda n: n.start + n.duration)
        tracks = self.state.tracks
        return tracks[last.voice].track.program if last.voice < len(tracks) else 0

    def _finish(self, run: Run, done: bool) -> None:
        self.run_now = None
        digest = self.state.digest  # asked for when the model was chosen: known by now
        records = [run.params, *[self.records[n] for n in run.names]]
        if run is self.choices_run:
            records += [v.params for v in self.choices]
        for params in records:
            params["checkpoint_sha256"] = params.get("checkpoint_sha256") or digest
        if run.kind == "continue":
            self.state.end_batch(f"Continue ({run.written} notes)")
        self.events.finished.emit(run, done)

    def _failed(self, run: Run, message: str, detail: str) -> None:
        self._finish(run, False)
        self.state.work.events.failed.emit("Continue failed", message, detail)

    def _model_changed(self) -> None:
        """Another model was chosen: its request is dropped without a word, so end the run here."""
        if self.run_now is not None:
            self._finish(self.run_now, False)

    # -- variations --------------------------------------------------------------------------------
    def variation_tracks(self, index: int, base: str, first_track: int) -> tuple[list[Track], list[Note]]:
        """The ``index``-th variation as tracks named after ``base`` (one per voice of the model), and its
        notes on them, numbered from ``first_track``."""
        run = self.choices_run
        notes_ = self.choices[index].notes
        used = sorted({n.voice for n in notes_}) or [0]
        program = self._primer_program(run.primer)
        tracks = [Track(track_name(base, run.voices, v), channel=min(first_track + i, 15), program=program)
                  for i, v in enumerate(used)]
        where = {v: first_track + i for i, v in enumerate(used)}
        return tracks, [dataclasses.replace(n, voice=where[n.voice]) for n in notes_]

    def variation_score(self, index: int) -> Score:
        """The document as it sounds with the ``index``-th variation added: what auditioning it plays."""
        score = self.state.score(audible_only=True)
        tracks, notes_ = self.variation_tracks(index, f"Variation {index + 1}", len(score.tracks))
        return dataclasses.replace(score, notes=[*score.notes, *notes_], tracks=[*score.tracks, *tracks])

    def audition_start(self) -> float:
        """Where to play a variation from: a bar before it begins, to hear it come out of the primer."""
        run = self.choices_run
        if run is None:
            return 0.0
        bar = run.primer.beats_per_bar
        return max(0.0, math.floor((run.primer.offset + run.primer.start) / bar) * bar - bar)

    def pick(self, index: int) -> list[int]:
        """Keep the ``index``-th variation as a new track (one undo step); returns the new tracks' indices."""
        self.cancel()
        variation = self.choices[index]
        tracks, notes_ = self.variation_tracks(index, self._free_name(variation.params), 0)
        for track in tracks:
            self.records[track.name] = {**variation.params, "track": track.name}
        added = self.state.add_tracks_from(Score(notes=notes_, tracks=tracks),
                                           text=f"Use variation {index + 1} (seed {variation.seed})")
        self.events.picked.emit(index)
        return added

    # -- provenance --------------------------------------------------------------------------------
    def export_params(self, score: Score) -> dict[str, Any]:
        """What an exported ``score`` carries: the latest generation still in it (model, checkpoint,
        seed, bars, temperature: what a restore reads) and ``generations``, the record of every
        generated track in it."""
        names = {t.name for t in score.tracks}
        kept = [r for name, r in self.records.items() if name in names]
        if not kept:
            return {}
        return {**kept[-1], "generations": kept}

    def opened(self, params: dict[str, Any], keep: bool = False) -> None:
        """A file with these generation records was opened (``keep``: added to the document, whose own
        records stay): keep them for the next export."""
        if not keep:
            self.records = {}
        records = params.get("generations")
        for record in records if isinstance(records, list) else ():  # a damaged file's may be anything
            if isinstance(record, dict) and isinstance(record.get("track"), str):
                self.records[record["track"]] = dict(record)
