"""The main window: the panels contributed by plugins, the Jobs dock, menus, status bar."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.plugins import PluginHost
from studio.core.specs import PanelSpec, resolve
from studio.ui.kit.panel import EmptyState, Panel, PanelContext
from studio.ui.settings import Settings

#: the Jobs dock's height in the default layout, in pixels (room for the header and a few jobs)
JOBS_DOCK_HEIGHT = 200


class MainWindow(QMainWindow):
    #: emitted once, after the first paint (the start-up benchmark listens for it)
    first_painted = Signal()
    #: asked to switch workspace: the app reopens the window on the new folder
    workspace_requested = Signal(str)
    #: the user chose a compute device in the menu (auto, cuda, mps or cpu)
    device_chosen = Signal(str)

    def __init__(self, host: PluginHost, context: PanelContext, device: Optional[str] = None) -> None:
        super().__init__()
        self.host = host
        self.context = context
        context.send = self.send_to  # a panel hands a result to another through the window
        #: the device choice in use: --device when given, else the saved setting
        self.device: str = device or context.settings.get("device")
        self.settings: Settings = context.settings
        self._painted = False
        self.setWindowTitle(f"Generative Studio — {context.workspace.root.name}")
        self.resize(1280, 820)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("Panels")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panels: dict[str, QWidget] = {}
        #: every panel's undo stack; the active one is the shown panel's (Edit ▸ Undo follows it)
        self.undo_group = QUndoGroup(self)
        self._build_panels()
        self.tabs.currentChanged.connect(lambda _index: self._follow_panel())
        self._follow_panel()
        from studio.ui.jobs_dock import JobsDock

        self.jobs_dock = JobsDock(context, self)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.jobs_dock)
        # a short dock by default, so the panel has the room (a saved layout, restored below, wins)
        self.resizeDocks([self.jobs_dock], [JOBS_DOCK_HEIGHT], Qt.Vertical)

        failed = [p.name for p in host.failures]
        if failed:  # what those plugins provide is missing: say so where it is seen, not only in a dialog
            self.plugin_warning = QPushButton(f"⚠ {'Plugins' if len(failed) > 1 else 'Plugin'} "
                                              f"{', '.join(failed)} failed to load")
            self.plugin_warning.setObjectName("PluginWarning")
            self.plugin_warning.setFlat(True)
            self.plugin_warning.setStyleSheet("color: #b00020;")
            self.plugin_warning.setToolTip("What they provide is missing; Plugins ▸ Plugin Manager says why")
            self.plugin_warning.clicked.connect(self.show_plugins)
            self.statusBar().addPermanentWidget(self.plugin_warning)
        self.device_label = QLabel("Device: starting…")
        self.device_label.setObjectName("DeviceLabel")
        self.statusBar().addPermanentWidget(QLabel(f"Workspace: {context.workspace.root}"))
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menus()
        self._restore_layout()

    # -- panels ----------------------------------------------------------------
    def _build_panels(self) -> None:
        specs = self.host.registry.ordered_panels()
        for spec in specs:
            widget = self._make_panel(spec)
            self.panels[spec.name] = widget
            if isinstance(widget, Panel):
                self.undo_group.addStack(widget.undo_stack)
            self.tabs.addTab(widget, spec.title)
            if spec.description:
                self.tabs.setTabToolTip(self.tabs.count() - 1, spec.description)
        if not specs:
            empty = EmptyState("No panels")
            empty.show_message(
                "No plugin contributed a panel. If <code>STUDIO_PLUGINS</code> is set, it limits which "
                "plugins load: unset it, or add <code>panels</code> to it. Plugins ▸ Plugin manager "
                "lists every plugin and why any failed."
            )
            self.tabs.addTab(empty, "Welcome")

    def _make_panel(self, spec: PanelSpec) -> QWidget:
        """The panel's widget, or a page explaining why it could not be made."""
        try:
            cls = resolve(spec.widget)
            widget = cls(self.context, spec)
            if not isinstance(widget, Panel):
                raise TypeError(f"{spec.widget} is not a studio.ui.kit.panel.Panel")
            return widget
        except Exception:
            error = traceback.format_exc()
            page = QWidget()
            layout = QVBoxLayout(page)
            empty = EmptyState(f"{spec.title} could not be opened")
            empty.show_message(
                f"The plugin <b>{spec.plugin}</b> contributed this panel, but building it failed. "
                "The rest of the studio works; the error is below for the plugin's author."
            )
            text = QPlainTextEdit(error)
            text.setReadOnly(True)
            layout.addWidget(empty)
            layout.addWidget(text)
            return page

    def _follow_panel(self) -> None:
        panel = self.current_panel()
        self.undo_group.setActiveStack(panel.undo_stack if panel is not None else None)

    def current_panel(self) -> Optional[Panel]:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, Panel) else None

    def show_panel(self, name: str) -> None:
        if name in self.panels:
            self.tabs.setCurrentWidget(self.panels[name])

    def send_to(self, name: str, artifact) -> Optional[str]:
        """Hand ``artifact`` to the panel ``name`` and show that panel; why not, or None."""
        panel = self.panels.get(name)
        if not isinstance(panel, Panel):
            return f"There is no {name} panel (its plugin is disabled or failed to load)."
        reason = panel.receive(artifact)
        if reason is None:
            self.show_panel(name)
        return reason

    def refresh_panels(self) -> None:
        for widget in self.panels.values():
            if isinstance(widget, Panel):
                widget.refresh()

    # -- menus -------------------------------------------------------------------
    def _action(self, menu, text: str, slot: Callable, shortcut=None, name: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        action.setObjectName(name or text.strip(".…").replace(" ", ""))
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New Workspace…", self.new_workspace, QKeySequence.New, "NewWorkspace")
        self._action(file_menu, "&Open Workspace…", self.open_workspace, QKeySequence.Open, "OpenWorkspace")
        file_menu.addSeparator()
        self._action(file_menu, "&Import…", self.import_file, "Ctrl+I", "Import")
        self._action(file_menu, "&Export…", self.export, "Ctrl+E", "Export")
        file_menu.addSeparator()
        self._build_device_menu(file_menu.addMenu("Compute &Device"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit, "Quit")

        edit_menu = bar.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setObjectName("Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setObjectName("Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), *QKeySequence.keyBindings(QKeySequence.Redo)])
        edit_menu.addAction(undo)
        edit_menu.addAction(redo)

        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.jobs_dock.toggleViewAction())
        self.view_menu.addSeparator()
        for n, spec in enumerate(self.host.registry.ordered_panels()[:9], start=1):
            self._action(self.view_menu, spec.title, lambda _=False, s=spec.name: self.show_panel(s),
                         f"Ctrl+{n}", f"Show_{spec.name}")

        plugins_menu = bar.addMenu("&Plugins")
        self._action(plugins_menu, "Plugin &Manager…", self.show_plugins, None, "PluginManager")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+/", "Shortcuts")
        self._action(help_menu, "&About Generative Studio", self.show_about, None, "About")

    def _build_device_menu(self, menu) -> None:
        """Auto / CUDA / MPS / CPU: saved in the settings, applied to the inference thread and new jobs.

        The checked one is the choice in use (``--device`` wins over the settings)."""
        from PySide6.QtGui import QActionGroup

        from studio.core.device import CHOICES

        group = QActionGroup(self)
        current = self.device
        for choice in CHOICES:
            action = QAction("Automatic (CUDA, then MPS, then CPU)" if choice == "auto" else choice.upper(), self)
            action.setObjectName(f"Device_{choice}")
            action.setCheckable(True)
            action.setChecked(choice == current)
            action.triggered.connect(lambda _=False, c=choice: self.choose_device(c))
            group.addAction(action)
            menu.addAction(action)

    def choose_device(self, choice: str) -> None:
        self.device = choice
        self.settings.set("device", choice)
        self.device_chosen.emit(choice)
        if self.context.inference is not None:
            self.context.inference.worker.set_device(choice)
        if self.context.jobs is not None:
            self.context.jobs.manager.device = choice
        self.statusBar().showMessage(f"Compute device: {choice}; models reload there, new jobs train there", 8000)

    # -- actions ---------------------------------------------------------------------
    def new_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new workspace")
        if not folder:
            return
        if any(Path(folder).iterdir()):
            QMessageBox.warning(self, "New workspace", f"{folder} is not empty. Choose an empty folder, "
                                "or use Open Workspace for an existing one.")
            return
        self.workspace_requested.emit(folder)

    def open_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a workspace folder")
        if folder:
            self.workspace_requested.emit(folder)

    def import_file(self) -> None:
        panel = self.current_panel()
        if panel is None or not panel.import_filter:
            self._tell("Import", self.import_help())
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Import into the {panel.spec.title}", "", panel.import_filter)
        if path:
            panel.import_file(Path(path))

    def import_help(self) -> str:
        """Which panels import which files, from what each panel declares."""
        importers = [w for w in self.panels.values() if isinstance(w, Panel) and w.import_filter]
        if not importers:
            return "None of the installed panels imports files."
        listing = "\n".join(f"• {w.spec.title}: {w.import_filter}" for w in importers)
        return f"This panel does not import files. These panels do:\n{listing}\n\nSwitch to one and import again."

    def export(self) -> None:
        panel = self.current_panel()
        reason = panel.export() if panel else "Choose a panel first."
        if reason:
            self._tell("Export", reason)

    def show_plugins(self) -> None:
        from studio.ui.plugins_dialog import PluginsDialog

        PluginsDialog(self.host, self).exec()

    def show_shortcuts(self) -> None:
        from studio.ui.help import shortcuts_dialog

        shortcuts_dialog(self).exec()

    def show_about(self) -> None:
        from studio.ui.help import about_text

        QMessageBox.about(self, "About Generative Studio", about_text(self.context.workspace.root))

    def _tell(self, title: str, text: str) -> None:
        QMessageBox.information(self, title, text)

    def set_device_text(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

    # -- layout persistence --------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.settings.get("window/geometry")
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        state = self.settings.get("window/state")
        if state:
            self.restoreState(QByteArray(state))
        self.show_panel(self.settings.get("window/panel"))

    def save_layout(self) -> None:
        self.settings.set("window/geometry", bytes(self.saveGeometry().data()))
        self.settings.set("window/state", bytes(self.saveState().data()))
        panel = self.current_panel()
        if panel is not None:
            self.settings.set("window/panel", panel.spec.name)
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.save_layout()
        self.jobs_dock.detach()
        for widget in self.panels.values():
            if isinstance(widget, Panel):
                widget.shutdown()
        super().closeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()
