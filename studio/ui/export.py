"""Export an artifact with one of the registered exporters, from any panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.core.specs import resolve


def export_artifact(parent: QWidget, context, artifact: Any, suggested: str) -> Optional[Path]:
    """Ask where and in which format, write the file, record it; None if the user gave up or it failed."""
    exporters = context.registry.exporters_for(artifact.kind)
    if not exporters:
        QMessageBox.information(parent, "Export", f"No installed exporter writes {artifact.kind} files.")
        return None
    filters = [f"{e.title} ({' '.join('*' + x for x in e.extensions)})" for e in exporters]
    folder = context.workspace.folder("exports")
    path, chosen = QFileDialog.getSaveFileName(parent, "Export", str(folder / suggested), ";;".join(filters))
    if not path:
        return None
    exporter = exporters[filters.index(chosen)] if chosen in filters else exporters[0]
    try:
        path = write_artifact(context, exporter, artifact, Path(path))
    except OSError as exc:
        QMessageBox.critical(parent, "Export failed", str(exc))
        return None
    context.show_status(f"Exported {path}")
    return path


def write_artifact(context, exporter, artifact: Any, path: Path) -> Path:
    """Write with ``exporter`` (adding its extension if missing) and record it in the catalogue."""
    if path.suffix.lower() not in exporter.extensions:
        path = path.with_name(path.name + exporter.extensions[0])
    resolve(exporter.writer)(artifact, path)
    params = artifact.params
    context.workspace.store.add_artifact(artifact.kind, str(path), params, params.get("model"),
                                         params.get("checkpoint_sha256"))
    return path
