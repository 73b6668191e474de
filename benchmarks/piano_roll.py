"""The piano roll as an artist uses it: how soon a continuation's first note is on screen.

    .venv/bin/python benchmarks/piano_roll.py [--continues N]

- ``continue_first_note_ms`` (and ``_melody`` for the book's model): the studio opened on a fresh
  workspace (offscreen), the Piano Roll showing the first four bars of a Bach chorale, the playhead
  after them and a starter model chosen; the median time from clicking **Continue** to the roll's
  grid painted with the first generated note (target at most 300), over ``--continues`` clicks after
  two that warm up (the first Continue also loads the model: ``*_first_ms``).
- ``continue_notes_per_s``: how fast the notes of a continuation then arrive (notes written over the
  whole continuation's time), for the event model.

It runs in about a minute on 2 CPU cores, with the model on the inference thread as in the app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: (metric suffix, starter folder)
MODELS = (("", "event-transformer-chorales"), ("_melody", "music-transformer-chorales"))


def primer_file(folder: Path) -> Path:
    """The first four bars of a chorale, as a MIDI file an artist would open."""
    from studio.core.data.music import bach_chorale
    from studio.core.music.midi import write_midi

    score = bach_chorale("bach/bwv166.6")
    bars = 4 * score.beats_per_bar
    opening = score.with_notes(replace(n, duration=min(n.duration, bars - n.start))
                               for n in score.notes if n.start < bars)
    path = folder / "opening.mid"
    write_midi(opening, path)
    return path


def first_notes(root: Path, continues: int) -> dict[str, float]:
    """Open the studio on ``root`` and time Continue for each starter."""
    from PySide6.QtCore import QEventLoop, QSettings, Qt
    from PySide6.QtTest import QTest

    os.environ["XDG_CONFIG_HOME"] = str(root / "config")  # leave the user's settings alone
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(root / "config"))
    from studio.core.plugins import discover
    from studio.core.starters import starters
    from studio.ui.app import StudioApp, make_qapplication
    from studio.ui.settings import Settings

    qt_app = make_qapplication()
    studio = StudioApp(discover(), Settings(), "cpu")
    studio.open(root / "workspace")
    studio.window.show_panel("piano-roll")
    panel = studio.window.panels["piano-roll"]
    panel.import_file(primer_file(root))
    grid = panel.editor.roll.viewport()
    button = panel.continue_bar.continue_button
    metrics: dict[str, float] = {}

    def wait_for(condition, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("the piano roll did not answer in time")
            qt_app.processEvents(QEventLoop.AllEvents, 5)

    for suffix, folder in MODELS:
        starter = next(s for s in starters() if s.checkpoint.parent.name == folder)
        assert panel.state.models.select(str(starter.checkpoint)), folder
        times, rates = [], []
        for n in range(continues + 2):
            if n:
                panel.undo_stack.undo()  # the roll as it was: the primer alone
            panel.state.set_playhead(16.0)
            before = len(panel.state.notes)
            started = time.perf_counter()
            QTest.mouseClick(button, Qt.LeftButton)
            wait_for(lambda before=before: len(panel.state.notes) > before, 120)
            grid.repaint()  # the grid painted with it
            times.append((time.perf_counter() - started) * 1000)
            wait_for(lambda: not panel.generation.writing, 300)
            assert min(n.start for n in panel.state.score().notes if n.voice == 4) >= 16.0
            rates.append((len(panel.state.notes) - before) / (time.perf_counter() - started))
        metrics[f"continue_first_note{suffix}_first_ms"] = round(times[0], 1)
        metrics[f"continue_first_note{suffix}_ms"] = round(statistics.median(times[2:]), 1)
        if not suffix:
            metrics["continue_notes_per_s"] = round(statistics.median(rates[2:]), 1)
    studio.close()
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--continues", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        metrics = first_notes(Path(folder), args.continues)
    report("piano_roll", metrics, {"continue_first_note_ms": "target <= 300 (Continue -> first note painted)"})


if __name__ == "__main__":
    main()
