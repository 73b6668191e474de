"""Why Qt cannot open a window, in words a user can act on.

Qt reports a platform it cannot start with a page of messages and then aborts
the process ("Reinstalling the application may fix this problem"). The desktop
app and ``studio doctor`` both turn those messages into one line with what to
do. The doctor imports no Qt: it runs this module as a child process
(``python -m studio.ui.display``, :func:`probe`), so a Qt that aborts cannot
take it down.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable


def qt_failure(messages: Iterable[str]) -> str:
    """The telling line of Qt's start-up complaint, and what to do about it.

    ``messages`` are Qt's lines (its last ones list the plugins it has, not the cause).
    """
    lines = [line.strip() for line in messages if line.strip()]
    cause = next((line for line in lines if "could not connect" in line.lower()), None)
    cause = cause or next((line for line in lines if "could not load" in line.lower()), None)
    cause = cause or (lines[0] if lines else "unknown error")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        hint = ("no DISPLAY is set: run on a desktop (or under Xvfb), or set QT_QPA_PLATFORM=offscreen "
                "to run without a window, as the tests do")
    else:
        hint = ("if the display is there, Qt's xcb libraries may be missing: run ./setup.sh as root, or "
                "install libxcb-cursor0 libxkbcommon-x11-0 libegl1 and the other xcb libraries it lists")
    return f"{cause} ({hint})"


def start_qt_or_exit(make):
    """Call ``make()`` (which builds the QApplication); if Qt cannot start its platform, exit cleanly.

    Instead of Qt's abort (exit status 134) the user gets ``studio: error: ...``
    on stderr with a hint, and exit status 1. Qt's other start-up messages are
    passed on to stderr as usual.
    """
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    seen: list[str] = []

    def handler(kind, _context, message) -> None:
        seen.append(message)
        if kind == QtMsgType.QtFatalMsg:  # Qt aborts as soon as this returns
            sys.stderr.write(f"studio: error: Qt cannot open a window: {qt_failure(seen)}\n")
            sys.stderr.flush()
            os._exit(1)

    previous = qInstallMessageHandler(handler)
    try:
        app = make()
    finally:
        qInstallMessageHandler(previous)
    for message in seen:  # harmless warnings: say them as Qt would have
        sys.stderr.write(message + "\n")
    return app


def probe() -> int:
    """Print one JSON line: whether Qt can open its platform here (``usable``, ``platform`` or
    ``error``), and the workspace the app last opened (``saved_workspace``, read before Qt starts)."""
    import json

    from studio.ui.settings import stored_settings

    saved = stored_settings().get("workspace") or None

    def report(usable: bool, platform: str | None, error: str | None) -> None:
        print(json.dumps({"usable": usable, "platform": platform, "error": error, "saved_workspace": saved}),
              flush=True)

    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtGui import QGuiApplication

    seen: list[str] = []

    def handler(kind, _context, message) -> None:
        seen.append(message)
        if kind == QtMsgType.QtFatalMsg:  # Qt aborts as soon as this returns
            report(False, None, qt_failure(seen))
            os._exit(1)

    qInstallMessageHandler(handler)
    app = QGuiApplication(sys.argv[:1])
    report(True, app.platformName(), None)
    return 0


if __name__ == "__main__":
    sys.exit(probe())
