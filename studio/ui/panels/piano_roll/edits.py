"""Edits of notes as pure functions, Qt-free: what the state applies and what a drag previews.

Each takes notes by id and gives them back changed; the state records the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from studio.core.capabilities import Note
from studio.ui.panels.piano_roll.grid import MIN_LENGTH, nearest


def moved(notes: Mapping[int, Note], beats: float, semitones: int) -> dict[int, Note]:
    """``notes`` moved together: the move is shortened so none goes before beat 0 or off the keyboard."""
    if not notes:
        return {}
    beats = max(beats, -min(n.start for n in notes.values()))
    semitones = min(max(semitones, -min(n.pitch for n in notes.values())), 127 - max(n.pitch for n in notes.values()))
    return {i: replace(n, start=n.start + beats, pitch=n.pitch + semitones) for i, n in notes.items()}


def resized(notes: Mapping[int, Note], beats: float, edge: str) -> dict[int, Note]:
    """``notes`` with their ``edge`` ("end" or "start") moved by ``beats``, none shorter than
    :data:`~.grid.MIN_LENGTH` nor starting before beat 0."""
    if edge == "end":
        return {i: replace(n, duration=max(MIN_LENGTH, n.duration + beats)) for i, n in notes.items()}
    if edge != "start":
        raise ValueError(f"A note's edge is 'start' or 'end', not {edge!r}.")
    changed = {}
    for i, n in notes.items():
        start = min(max(0.0, n.start + beats), n.start + n.duration - MIN_LENGTH)
        changed[i] = replace(n, start=start, duration=n.start + n.duration - start)
    return changed


def quantized(notes: Mapping[int, Note], step: float) -> dict[int, Note]:
    """``notes`` with starts and ends on the nearest grid lines ``step`` beats apart, each at least a step long."""
    changed = {}
    for i, n in notes.items():
        start = nearest(n.start, step)
        end = max(start + step, nearest(n.start + n.duration, step))
        changed[i] = replace(n, start=start, duration=end - start)
    return changed
