"""Saving a recording: where (the export dialog of the image-sequence exporters: an animated GIF or a PNG sheet),
whether its frames go to a folder as numbered PNGs too, then the writing, off the GUI thread.

A recording at its cap is 1,800 frames, and a GIF takes tens of milliseconds a frame to write (each is
quantised to 256 colours): about a minute, during which the window must go on. So the files are written
on a thread of their own (not the inference thread, which other panels share), through the exporter
registry and the catalogue as every export is (:func:`studio.ui.export.write_artifact`); what happened
comes back on the GUI thread. The thread is not a daemon: closing the window lets a save in progress
finish, so no recording the artist asked to keep is lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.core.errors import UserError
from studio.ui.bridge import GuiRelay
from studio.ui.export import ask_export_path, write_artifact
from studio.ui.panels.dream_simulator.recording import Recording
from studio.ui.panels.dream_simulator.session import REAL


@dataclass
class Saved:
    """What a save wrote, or why it stopped."""

    path: Optional[Path] = None  #: the GIF (or PNG sheet)
    frames: list[Path] = field(default_factory=list)  #: the numbered PNGs, when asked for
    problem: str = ""


def suggested_name(recording: Recording) -> str:
    params = recording.params
    where = "real-track" if recording.layout == REAL else "dream"
    return f"{where}-seed{params.get('seed', 0)}-tau{params.get('temperature', 1.0):.2f}.gif"


class RecordingSaver:
    """Asks where to save recordings and writes them in the background; ``on_saved(saved)`` hears each end
    (on the GUI thread)."""

    def __init__(self, parent: QWidget, context: Any, on_saved: Callable[[Saved], None]) -> None:
        self.parent = parent
        self.context = context
        self.relay = GuiRelay(parent)
        self.on_saved = on_saved
        self.threads: list[threading.Thread] = []  #: the saves started (a test waits for them)

    def save(self, recording: Recording) -> bool:
        """Ask where to save ``recording`` (and whether its frames too), then write it in the background;
        False when the artist gave up (the recording stays for File ▸ Export)."""
        chosen = ask_export_path(self.parent, self.context, "image-sequence", suggested_name(recording))
        if chosen is None:
            return False
        exporter, path = chosen
        folder = None
        answer = QMessageBox.question(self.parent, "Save the frames too?",
                                      f"Also save the {len(recording):,} frames as numbered PNGs in a folder?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer == QMessageBox.Yes:
            picked = QFileDialog.getExistingDirectory(self.parent, "A folder for the frames", str(path.parent))
            folder = Path(picked) if picked else None
        done = self.relay.wrap(self.on_saved)
        context = self.context

        def write() -> None:
            saved = Saved()
            try:
                saved.path = write_artifact(context, exporter, recording.artifact(), path)
                if folder is not None:
                    saved.frames = recording.save_pngs(folder)
            except UserError as exc:  # the exporter's and the frames' messages are written for the artist
                saved.problem = str(exc)
            except Exception as exc:  # composing the frames: a bug, said as it is
                saved.problem = f"Unexpected error while saving: {type(exc).__name__}: {exc}"
            try:
                done(saved)
            except RuntimeError:  # the window closed while it saved: nobody to tell
                pass

        thread = threading.Thread(target=write, name="studio-save-recording", daemon=False)
        self.threads.append(thread)
        thread.start()
        return True
