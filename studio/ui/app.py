"""Starting the GUI: the window first, heavy work later and off the GUI thread."""

from __future__ import annotations

import json
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from studio.core.plugins import PluginHost, StudioContext, discover
from studio.core.workspace import Workspace, choose_workspace
from studio.engine.inference import InferenceWorker, ModelRef
from studio.engine.rebuild import open_workspace
from studio.ui.bridge import InferenceClient
from studio.ui.display import start_qt_or_exit
from studio.ui.jobs import JobsController
from studio.ui.kit.panel import PanelContext
from studio.ui.main_window import MainWindow
from studio.ui.settings import APPLICATION, ORGANIZATION, Settings

#: If set, the first paint's wall-clock time and the process's memory are written
#: to this JSON file (benchmarks/startup.py reads it).
STARTUP_REPORT_VARIABLE = "STUDIO_STARTUP_REPORT"


class StudioApp:
    """Owns the plugin host, the workspace, the inference thread and the window."""

    def __init__(self, host: PluginHost, settings: Settings, device: str) -> None:
        self.host = host
        self.settings = settings
        self.device = device
        self.window: Optional[MainWindow] = None
        self.workspace: Optional[Workspace] = None
        self.inference: Optional[InferenceClient] = None
        self.jobs: Optional[JobsController] = None

    def open(self, root: Path, remember: bool = False) -> bool:
        """Open the workspace at ``root`` in a new window; False if the user gave up.

        ``remember`` makes it the workspace the next start opens (when the user
        chose it in the app rather than with --workspace or the environment).
        """
        while True:
            try:
                workspace = open_workspace(root)  # a damaged catalogue: rebuilt from the files
                break
            except Exception as exc:
                QMessageBox.critical(None, "Cannot open workspace", f"{exc}\n\nChoose another folder.")
                chosen = QFileDialog.getExistingDirectory(None, "Choose a workspace folder")
                if not chosen:
                    return False
                root, remember = Path(chosen), True
        self.close()
        self.workspace = workspace
        if remember:
            self.settings.set("workspace", str(workspace.root))
        registry = self.host.registry
        worker = InferenceWorker(loader=lambda ref, dev: _load(registry, ref, dev), device=self.device)
        self.inference = InferenceClient(worker)
        self.jobs = JobsController(workspace, registry, device=self.device)
        context = PanelContext(
            registry=registry,
            workspace=workspace,
            settings=self.settings,
            show_status=lambda text: self.window.statusBar().showMessage(text, 8000) if self.window else None,
            inference=self.inference,
            jobs=self.jobs,
        )
        self.window = MainWindow(self.host, context, device=self.device)
        self.window.workspace_requested.connect(lambda folder: self.open(Path(folder), remember=True))
        self.window.device_chosen.connect(self._device_chosen)
        self.inference.device_changed.connect(self.window.set_device_text)
        self.jobs.checkpoints_changed.connect(self.window.refresh_panels)
        self.window.show()
        # after the first paint: the thread's torch import must not delay the window
        QTimer.singleShot(0, worker.start)
        if workspace.store.recovery_message:
            QTimer.singleShot(0, lambda: QMessageBox.warning(self.window, "Workspace catalogue",
                                                             workspace.store.recovery_message))
        self.host.app_ready(StudioContext(registry, workspace, self.window))
        return True

    def _device_chosen(self, choice: str) -> None:
        self.device = choice  # a window for another workspace keeps it

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None
        if self.inference is not None:
            self.inference.shutdown()
            self.inference = None
        if self.jobs is not None:
            self.jobs.shutdown()  # running jobs carry on; the next start follows them again
            self.jobs = None
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None


def _load(registry, ref: ModelRef, device: str):
    from studio.core.checkpoint import load_model

    return load_model(registry, ref.spec, ref.checkpoint, device)


#: The app icon, in the top-level resources/ folder, which installs with the wheel (packaging/linux
#: installs it for the desktop too).
ICON = resources.files("studio_resources") / "studio.svg"


def make_qapplication() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QSettings.setDefaultFormat(QSettings.IniFormat)
    app.setWindowIcon(QIcon(str(ICON)))
    app.setDesktopFileName("generative-studio")  # packaging/linux/generative-studio.desktop
    return app


def run_gui(args) -> int:
    started = time.time()
    app = start_qt_or_exit(make_qapplication)  # no display: a clear error, not Qt's abort
    settings = Settings()
    device = args.device or settings.get("device")
    studio = StudioApp(discover(), settings, device)
    if not studio.open(choose_workspace(args.workspace, settings.get("workspace"))):
        return 1
    report = os.environ.get(STARTUP_REPORT_VARIABLE)
    if report:
        studio.window.first_painted.connect(lambda: _write_startup_report(report, started))
    app.aboutToQuit.connect(studio.close)
    return app.exec()


def _write_startup_report(path: str, started: float) -> None:
    Path(path).write_text(json.dumps({"painted_at": time.time(), "main_started_at": started}))
