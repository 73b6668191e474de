"""MIDI files in and out of the piano roll (Qt-free): File ▸ Import and a dropped .mid, the export
(a :class:`~studio.core.artifacts.MusicArtifact` for the studio's MIDI and WAV exporters), and the
.mid file a selection dragged out of the panel carries.

A file the roll exported carries the parameters of what generated it (see
:meth:`.generation.RollGeneration.export_params`): opening it again keeps those records for the
next export and restores the Continue settings and, where it is on this machine, the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.artifacts import MusicArtifact
from studio.core.errors import UserError
from studio.core.music.midi import read_midi, write_midi
from studio.core.provenance import RestoreError
from studio.ui.panels.piano_roll.generation import RollGeneration
from studio.ui.panels.piano_roll.writing import ContinueSettings

PANEL = "piano-roll"
#: what File ▸ Import and a drop take
MIDI_SUFFIXES = (".mid", ".midi")
IMPORT_FILTER = "MIDI files (*.mid *.midi)"


def import_midi(state: Any, generation: RollGeneration, path: Path, *, add: bool = False,
                on_model_missing: Optional[Callable[[str], None]] = None) -> str:
    """Open the MIDI file ``path`` in the roll (one undo step): it replaces the document, or with ``add``
    its tracks are added to it. Returns the status line. A file that cannot be read raises
    :class:`~studio.core.music.midi.MidiError` (naming it) and changes nothing."""
    path = Path(path)
    score = read_midi(path)
    if not score.notes:
        raise UserError(f"{path} is a MIDI file without notes, so there is nothing to open; nothing was changed.")
    text = f"Import {path.name}"
    if add:
        generation.opened(score.params, keep=True)
        state.add_tracks_from(score, text=text)
    else:
        generation.opened(score.params)
        state.load_score(score, text=text)
    status = (f"Opened {path.name}: {len(score.notes)} notes on {len(score.tracks)} "
              f"track{'s' if len(score.tracks) != 1 else ''} at {score.bpm:g} bpm")
    if score.params.get("panel") == PANEL and score.params.get("model"):
        status += "; " + _restore(state, generation, score.params, path.name, on_model_missing)
    return status


def _restore(state: Any, generation: RollGeneration, params: dict[str, Any], name: str,
             on_model_missing: Optional[Callable[[str], None]]) -> str:
    """Restore the Continue settings recorded in ``params``, and find the model (on the inference
    thread): what the status line says of it."""
    generation.set_settings(ContinueSettings.from_params(params, generation.settings))
    try:
        state.restore(params, name, lambda _params, _name: None, on_failed=on_model_missing)
    except RestoreError as exc:
        if on_model_missing is not None:
            on_model_missing(str(exc))
        return "it was generated here, but its model cannot be restored"
    return "the settings that generated it are restored"


def export_artifact(state: Any, generation: RollGeneration, *, selected_only: bool = False,
                    sound: str = "") -> MusicArtifact:
    """The document (or its selection) for the exporters, with the records of what generated it; a WAV
    export renders it with ``sound`` (the roll's, so the file sounds as the roll plays)."""
    score = state.score(selected_only=selected_only)
    return MusicArtifact(score, generation.export_params(score), sound=sound)


def suggested_name(artifact: MusicArtifact, suffix: str = ".mid") -> str:
    """A file name for an export: the piece's name, with the model and seed when it was generated."""
    params = artifact.params
    stem = safe_stem(artifact.score.name) or "piano-roll"
    if params.get("model"):
        stem += f"-{params['model']}-seed{params.get('seed', 0)}"
    return stem + suffix


def safe_stem(name: str) -> str:
    """``name`` as a file name on every system (no slashes, colons or the like)."""
    return re.sub(r"[^\w\- .]+", "_", name).strip(" .")[:80]


def write_drag_file(state: Any, generation: RollGeneration, folder: Path) -> Path:
    """Write what a drag out of the panel carries into ``folder``: the selection (the whole document
    when nothing is selected) as a type 1 MIDI file, named after the piece. Returns its path."""
    artifact = export_artifact(state, generation, selected_only=bool(state.selection))
    score = artifact.score
    if not score.notes:
        raise UserError("There are no notes to drag out: draw or import some first.")
    score = score.with_notes(score.notes)
    score.params = {**score.params, **artifact.params}
    stem = safe_stem(score.name) or "piano-roll"
    path = Path(folder) / f"{stem}{'-selection' if state.selection else ''}.mid"
    write_midi(score, path)
    return path
