"""What every tool panel is given and must offer.

A panel is a ``Panel`` subclass named by a :class:`~studio.core.specs.PanelSpec`.
It reaches models only through the registry (specs and capabilities), the
inference client and the job controller in its :class:`PanelContext`. Each
panel has its own undo stack (Edit ▸ Undo follows the panel shown) and
declares the settings it keeps (:attr:`Panel.declared_settings`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedLayout, QVBoxLayout, QWidget

from studio.core.registry import Registry
from studio.core.specs import PanelSpec
from studio.ui.settings import Setting


@dataclass
class PanelContext:
    registry: Registry
    workspace: Any  #: studio.core.workspace.Workspace
    settings: Any  #: studio.ui.settings.Settings
    show_status: Callable[[str], None]  #: a short message in the status bar
    inference: Any = None  #: studio.ui.bridge.InferenceClient
    jobs: Any = None  #: studio.ui.jobs.JobsController
    #: ``send(panel_name, artifact)`` hands a result to another panel and shows it there; returns why
    #: not (None when it took it). Set by the window; None without one.
    send: Optional[Callable[[str, Any], Optional[str]]] = None


def dropped_paths(mime: QMimeData, kinds: Sequence[str]) -> list[Path]:
    """The local files (by suffix, e.g. ".png") and folders ("/" in ``kinds``) that a drag carries."""
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if (p.suffix.lower() in kinds) or ("/" in kinds and p.is_dir())]


class Panel(QWidget):
    """Base class of a tool panel."""

    #: file-dialog filter of what File ▸ Import accepts here; "" when nothing.
    import_filter = ""
    #: what may be dropped on the panel: file suffixes (".png"), and "/" for folders; none = nothing.
    dropped_kinds: tuple[str, ...] = ()
    #: the settings this panel keeps (key, type, default, doc); keys start with the panel's name
    declared_settings: tuple[Setting, ...] = ()

    def __init__(self, context: PanelContext, spec: PanelSpec, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.context = context
        self.spec = spec
        context.settings.declare(self.declared_settings)
        #: the panel's edits; the window's Edit ▸ Undo and Redo follow the panel shown
        self.undo_stack = QUndoStack(self)
        self.setAcceptDrops(bool(self.dropped_kinds))

    def import_file(self, path: Path) -> None:
        """Open ``path`` (a file matching :attr:`import_filter`) in this panel."""
        raise NotImplementedError

    def open_dropped(self, path: Path) -> None:
        """Open a file or folder dropped on the panel (one of :attr:`dropped_kinds`): as File ▸ Import."""
        self.import_file(path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if dropped_paths(event.mimeData(), self.dropped_kinds):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = dropped_paths(event.mimeData(), self.dropped_kinds)
        if paths:
            event.acceptProposedAction()
            self.open_dropped(paths[0])

    def export(self) -> Optional[str]:
        """Run File ▸ Export for this panel; return why not, if there is nothing to export."""
        return f"The {self.spec.title} has nothing to export yet."

    def receive(self, artifact: Any) -> Optional[str]:
        """Take a result another panel sends (an :class:`~studio.core.artifacts.ImageArtifact` with its
        parameters, say); return why not, or None when it was taken."""
        return f"The {self.spec.title} cannot take this."

    def refresh(self) -> None:
        """The models, checkpoints or workspace changed: update what is offered."""

    def shutdown(self) -> None:
        """The window is closing: stop what runs for this panel; nothing asked for may arrive later."""

    def add_shortcut(self, keys: Any, slot: Callable[[], Any], description: str,
                     parent: Optional[QWidget] = None) -> QShortcut:
        """A key that works in this panel (or in ``parent``, a part of it), listed with
        ``description`` in Help ▸ Keyboard Shortcuts."""
        shortcut = QShortcut(QKeySequence(keys), parent or self, slot)
        shortcut.setWhatsThis(description)
        return shortcut


class EmptyState(QWidget):
    """What a panel shows when it has nothing yet: what this is and what to do next."""

    def __init__(self, title: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("EmptyState")
        self._title = QLabel(title)
        self._title.setObjectName("EmptyStateTitle")
        self._title.setStyleSheet("font-size: 20px; font-weight: 600;")
        self._title.setAlignment(Qt.AlignCenter)
        self._body = QLabel()
        self._body.setWordWrap(True)
        self._body.setTextFormat(Qt.RichText)
        self._body.setStyleSheet("font-size: 14px; color: #4a4a4a;")
        self._buttons = QHBoxLayout()
        # a word-wrapped label only gets its full height without alignment flags,
        # so the column is centred by stretches around a width-limited widget
        column_widget = QWidget()
        column_widget.setMaximumWidth(620)
        column = QVBoxLayout(column_widget)
        column.addWidget(self._title)
        column.addWidget(self._body)
        column.addSpacing(12)
        column.addLayout(self._buttons)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(column_widget, 4)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def show_message(self, body: str, actions: Sequence[tuple[str, Callable[[], Any]]] = ()) -> None:
        self._body.setText(body)
        while self._buttons.count():
            item = self._buttons.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self._buttons.addStretch(1)
        for label, slot in actions:
            button = QPushButton(label)
            button.clicked.connect(slot)
            self._buttons.addWidget(button)
        self._buttons.addStretch(1)

    @property
    def body_text(self) -> str:
        return self._body.text()


class EmptyOrContent(QStackedLayout):
    """Shows an :class:`EmptyState` until the panel has content, then the content."""

    def __init__(self, empty: EmptyState, content: QWidget) -> None:
        super().__init__()
        self.empty = empty
        self.content = content
        self.addWidget(empty)
        self.addWidget(content)

    def show_empty(self, body: str, actions: Sequence[tuple[str, Callable[[], Any]]] = ()) -> None:
        self.empty.show_message(body, actions)
        self.setCurrentWidget(self.empty)

    def show_content(self) -> None:
        self.setCurrentWidget(self.content)
