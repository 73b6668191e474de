"""Without a display the app says why and exits 1, instead of Qt's abort."""

import os
import subprocess
import sys

from studio.ui.display import qt_failure

QT_COMPLAINT = [
    "could not connect to display ",
    "Could not load the Qt platform plugin \"xcb\" in \"\" even though it was found.",
    "This application failed to start because no Qt platform plugin could be initialized. "
    "Reinstalling the application may fix this problem.",
    "",
    "Available platform plugins are: minimal, offscreen, xcb.",
]


def test_gui_without_a_display_exits_1_with_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", STUDIO_WORKSPACE=str(tmp_path / "ws"))
    done = subprocess.run([sys.executable, "-m", "studio"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # Qt's abort was 134
    assert done.stderr.startswith("studio: error: Qt cannot open a window: could not connect to display")
    assert "QT_QPA_PLATFORM=offscreen" in done.stderr
    assert "Reinstalling" not in done.stderr


def test_qt_failure_names_the_cause_and_what_to_do(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    text = qt_failure(QT_COMPLAINT)
    assert text.startswith("could not connect to display") and "no DISPLAY is set" in text
    monkeypatch.setenv("DISPLAY", ":0")
    text = qt_failure(QT_COMPLAINT[1:])
    assert text.startswith("Could not load the Qt platform plugin") and "xcb libraries" in text
