"""Import a model the artist keeps on disk into a panel: a model folder, or a single weights file.

The panels whose models have a loader that imports from disk (``ModelSpec.imports_from``: a
Hugging Face language model folder in the Text Composer, a Stable Diffusion folder or
``.safetensors`` file on the Image Canvas) share this: an Import button, the dialog that asks for
the folder or file (and, when several kinds of model could load it, which kind it is), and the
word in the status bar while it loads off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QPushButton

from studio.ui.widgets.fields import button


def kinds_of(specs: list[Any]) -> tuple[bool, tuple[str, ...]]:
    """Whether ``specs`` import folders, and the file suffixes they import."""
    folder = any("folder" in s.imports_from for s in specs)
    suffixes = sorted({i for s in specs for i in s.imports_from if i != "folder"})
    return folder, tuple(suffixes)


class ModelImport:
    """The Import button of ``panel`` (a :class:`~studio.ui.kit.model_panel.ModelPanel`) and what it does."""

    def __init__(self, panel: Any, tip: str = "") -> None:
        self.panel = panel
        self.button: QPushButton = button(self.title(), tip or self._tip(), lambda: self.run())

    def place(self, layout: Any) -> None:
        """Put the button in ``layout``, shown only where some model here imports from disk."""
        layout.addWidget(self.button)
        self.button.setVisible(bool(self.panel.state.importers()))

    def _tip(self) -> str:
        titles = ", ".join(m.title for m in self.panel.state.importers())
        return f"Use a model you keep on disk ({self.takes()}): {titles}"

    def takes(self) -> str:
        """What can be imported here, in words ("a model folder or a .safetensors file")."""
        folder, suffixes = kinds_of(self.panel.state.importers())
        return " or ".join((["a model folder"] if folder else []) + [f"a {s} file" for s in suffixes])

    def title(self) -> str:
        """"Import model folder…" where only folders are imported, else "Import model…"."""
        folder, suffixes = kinds_of(self.panel.state.importers())
        return "Import model folder…" if folder and not suffixes else "Import model…"

    def run(self, path: Optional[str] = None) -> None:
        """Import ``path`` (asked for when not given) and choose the model once it loads."""
        panel = self.panel
        importers = panel.state.importers()
        if not importers:
            QMessageBox.warning(panel, "Import model", f"No installed model of the {panel.spec.title} imports "
                                "models from disk (its plugin is disabled or failed: see Plugins ▸ Plugin Manager).")
            return
        path = path or self._ask(importers)
        if not path:
            return
        path = str(Path(path).expanduser().resolve())
        fitting = panel.state.importers(path)
        if not fitting:
            QMessageBox.warning(panel, "Import model", f"{Path(path).name} cannot be imported here: the "
                                f"{panel.spec.title} imports {self.takes()}.")
            return
        spec = fitting[0]
        if len(fitting) > 1:
            titles = [m.title for m in fitting]
            title, ok = QInputDialog.getItem(panel, "Import model", "Which kind of model is it?", titles, 0, False)
            if not ok:
                return
            spec = fitting[titles.index(title)]
        self.button.setEnabled(False)
        panel.context.show_status(f"Loading the model in {path}… (the first one takes a while)")
        panel.state.import_model(spec, path, self._done)

    def _ask(self, importers: list[Any]) -> str:
        """The folder or file to import, from a dialog ("" when the artist cancels)."""
        panel = self.panel
        folder, suffixes = kinds_of(importers)
        if folder and suffixes:
            box = QMessageBox(QMessageBox.Question, "Import model", "Is the model a folder (a diffusers or "
                              f"Hugging Face folder) or a single {' / '.join(suffixes)} file?",
                              QMessageBox.Cancel, panel)
            folder_button = box.addButton("A folder…", QMessageBox.AcceptRole)
            file_button = box.addButton("A file…", QMessageBox.AcceptRole)
            box.exec()
            if box.clickedButton() not in (folder_button, file_button):
                return ""
            folder = box.clickedButton() is folder_button
        if folder:
            return QFileDialog.getExistingDirectory(panel, "Import a model folder")
        patterns = " ".join(f"*{s}" for s in suffixes)
        return QFileDialog.getOpenFileName(panel, "Import a model file", "", f"Model weights ({patterns})")[0]

    def _done(self, ok: bool) -> None:
        self.button.setEnabled(True)
        self.panel.context.show_status("Imported the model" if ok else "The model could not be imported")
