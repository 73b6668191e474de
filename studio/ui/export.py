"""Export an artifact with one of the registered exporters, from any panel.

An exporter's writer comes from a plugin and may fail in any way; the artist
then gets a message naming the exporter, and nothing already saved is touched
(the writers write atomically; a file written but not catalogued is kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.core.errors import UserError
from studio.core.specs import resolve


class ExportError(UserError):
    """An export failed; the message names the exporter and says what happened to the file."""


def export_artifact(parent: QWidget, context, artifact: Any, suggested: str) -> Optional[Path]:
    """Ask where and in which format, write the file, record it; None if the user gave up or it failed."""
    chosen = ask_export_path(parent, context, artifact.kind, suggested)
    if chosen is None:
        return None
    exporter, path = chosen
    try:
        path = write_artifact(context, exporter, artifact, path)
    except ExportError as exc:
        QMessageBox.critical(parent, "Export failed", str(exc))
        return None
    context.show_status(f"Exported {path}")
    return path


def ask_export_path(parent: QWidget, context, kind: str, suggested: str) -> Optional[tuple[Any, Path]]:
    """Ask where, and in which of the formats the exporters of ``kind`` write, to export: (the exporter, the
    path), or None if the user gave up (or no exporter writes ``kind``). For a caller that writes later, or
    off the GUI thread, with :func:`write_artifact`."""
    exporters = context.registry.exporters_for(kind)
    if not exporters:
        QMessageBox.information(parent, "Export", f"No installed exporter writes {kind} files.")
        return None
    filters = [f"{e.title} ({' '.join('*' + x for x in e.extensions)})" for e in exporters]
    folder = context.workspace.folder("exports")
    # the file type shown first is the one the suggested name ends in (else the first one)
    initial = next((f for e, f in zip(exporters, filters, strict=True)
                    if Path(suggested).suffix.lower() in e.extensions), filters[0])
    path, chosen = QFileDialog.getSaveFileName(parent, "Export", str(folder / suggested), ";;".join(filters),
                                               initial)
    if not path:
        return None
    exporter = _exporter_for(exporters, Path(path)) or (exporters[filters.index(chosen)] if chosen in filters
                                                         else exporters[0])
    return exporter, Path(path)


def _exporter_for(exporters: list, path: Path) -> Optional[Any]:
    """The exporter for the ending the artist typed, if one writes it: the name wins over the type list."""
    return next((e for e in exporters if path.suffix.lower() in e.extensions), None)


def write_artifact(context, exporter, artifact: Any, path: Path) -> Path:
    """Write with ``exporter`` (adding its extension if missing) and record it in the catalogue.

    Raises :class:`ExportError` whatever went wrong, in the writer or in the catalogue.
    """
    if path.suffix.lower() not in exporter.extensions:
        path = path.with_name(path.name + exporter.extensions[0])
    who = f"The {exporter.title} exporter ({exporter.name}" + (f", plugin {exporter.plugin})" if exporter.plugin
                                                              else ")")
    try:
        resolve(exporter.writer)(artifact, path)
    except Exception as exc:  # a plugin's writer: any error is its own, not the studio's
        raise ExportError(f"{who} could not write {path}: {_reason(exc)}") from exc
    params = artifact.params
    try:
        context.workspace.store.add_artifact(artifact.kind, str(path), params, params.get("model"),
                                             params.get("checkpoint_sha256"))
    except Exception as exc:
        raise ExportError(f"{who} wrote {path}, and the file is kept, but the workspace catalogue could "
                          f"not record it: {_reason(exc)}") from exc
    return path


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (UserError, OSError)):  # messages written for the user
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
