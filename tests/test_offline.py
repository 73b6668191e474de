"""Start-up and plugin discovery stay off the network and away from torch: the guard the app installs
(tests/test_network_guard.py) has nothing to block, because nothing even tries."""

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import json, socket, sys
    attempts = []
    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"):
            if event == "socket.connect" and args[0].family == socket.AF_UNIX:
                return
            attempts.append([event, repr(args)[:200]])
    sys.addaudithook(audit)  # before the guard's: it sees what the guard would block too
    from studio.core import network_guard
    network_guard.install()  # as `studio` does first

    from studio.core.plugins import discover
    host = discover()
    torch_after_discovery = "torch" in sys.modules

    from PySide6.QtCore import QTimer
    from studio.core.workspace import choose_workspace
    from studio.ui.app import StudioApp, make_qapplication
    from studio.ui.settings import Settings
    app = make_qapplication()
    studio = StudioApp(host, Settings(), "cpu")
    studio.open(choose_workspace())
    shown = studio.window.isVisible()
    QTimer.singleShot(4000, app.quit)  # long enough for the inference thread to import torch
    app.exec()
    studio.close()
    print(json.dumps({"attempts": attempts, "torch_after_discovery": torch_after_discovery,
                      "shown": shown, "hf_offline": __import__("os").environ.get("HF_HUB_OFFLINE"),
                      "blocked": network_guard.blocked_attempts()}))
""")


def test_startup_opens_no_network_socket_and_discovery_imports_no_torch():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shown"]
    assert result["attempts"] == []
    assert result["blocked"] == 0
    assert result["torch_after_discovery"] is False
    assert result["hf_offline"] == "1"
