"""Shared fixtures. Every test gets its own workspace and settings; Qt runs offscreen."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from needs import SHARED_DATA, needs_shared  # noqa: E402

import studio  # noqa: E402,F401  (sets the environment torch must see: offline, passive threads)
from studio.core import network_guard  # noqa: E402

# Every test runs guarded, as every studio process does (and as a test calling the CLI's main() in-process
# would leave the rest of the session): a test that reaches past loopback fails with the guard's message.
network_guard.install()

#: fixtures: a trained VAE and the Latent Explorer showing its map; fake models for panel states
pytest_plugins = ["latent_support", "panel_support"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_studio(tmp_path_factory, monkeypatch, request):
    """A fresh workspace, settings folder and plugin allow-list state for each test; the starter models
    the studio ships are listed only in tests marked ``starters`` (the others train their own)."""
    root = tmp_path_factory.mktemp("studio")
    if request.node.get_closest_marker("starters") is None:
        monkeypatch.setattr("studio.core.starters.starters_folder", lambda: root / "no-starters")
    monkeypatch.setenv("STUDIO_WORKSPACE", str(root / "workspace"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.delenv("STUDIO_PLUGINS", raising=False)
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(root / "config"))
    yield root


#: how long a qtbot wait waits unless a test says: pytest-qt's 5 s is little for a loaded machine, and a wait
#: ends as soon as what it awaits has happened, so only a test that fails pays for the patience
PATIENT_WAIT_MS = 30_000


@pytest.fixture
def qtbot(qtbot):
    """pytest-qt's qtbot, whose waits (waitUntil, waitSignal, ...) default to :data:`PATIENT_WAIT_MS`."""
    def patient(wait):
        @functools.wraps(wait)
        def patiently(*args, timeout=PATIENT_WAIT_MS, **kwargs):
            return wait(*args, timeout=timeout, **kwargs)
        return patiently

    for name in ("waitUntil", "waitSignal", "waitSignals", "waitCallback", "waitExposed", "waitActive"):
        setattr(qtbot, name, patient(getattr(qtbot, name)))
    return qtbot


@pytest.fixture
def make_plugin_dist(tmp_path, monkeypatch):
    """Install a one-module plugin as a distribution on sys.path, found through its entry point."""
    import importlib

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(name: str, source: str, version: str = "0.1") -> Path:
        (site / f"{name}.py").write_text(textwrap.dedent(source))
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[studio.plugins]\n{name} = {name}\n")
        importlib.invalidate_caches()
        return site

    yield make
    for module in [m for m in sys.modules if m.startswith("test_plugin_")]:
        del sys.modules[module]


def kill_jobs(manager) -> None:
    """Jobs outlive the app by design; not a test's: end every job process ``manager`` started."""
    for job in manager.jobs():
        if job.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGKILL)


@pytest.fixture
def job_manager(tmp_path):
    """A JobManager on a new workspace, training on the CPU; its jobs are killed afterwards."""
    from studio.core.plugins import discover
    from studio.core.workspace import Workspace
    from studio.engine.jobs import JobManager

    workspace = Workspace.open(tmp_path / "ws")
    manager = JobManager(workspace, discover().registry, device="cpu")
    yield manager
    kill_jobs(manager)
    manager.close()
    workspace.close()


@pytest.fixture
def studio_app(qtbot):
    """Open the studio's main window the way `studio` does; closes it afterwards."""
    from studio.core.plugins import discover
    from studio.core.workspace import choose_workspace
    from studio.ui.app import StudioApp, make_qapplication
    from studio.ui.settings import Settings

    make_qapplication()
    apps = []

    def open_app(host=None, device="cpu"):
        app = StudioApp(host or discover(), Settings(), device)
        assert app.open(choose_workspace())
        qtbot.addWidget(app.window)
        apps.append(app)
        return app

    yield open_app
    for app in apps:
        if app.jobs is not None:
            kill_jobs(app.jobs.manager)
        app.close()


def shakespeare_text() -> str:
    return needs_shared(SHARED_DATA / "text" / "tinyshakespeare.txt").read_text()
