"""The parent's side of injected faults (tests/faults/sitecustomize.py says what a child can be given):
the environment that injects one into the processes started with it, and the FIFO a child tells its
moments on. Used by tests/test_faults_*.py and benchmarks/robustness.py."""

from __future__ import annotations

import json
import os
import select
import signal
import time
from pathlib import Path
from typing import Any, Optional

#: the folder whose sitecustomize.py injects the fault (first on a child's PYTHONPATH)
SITE = Path(__file__).resolve().parent / "faults"
VARIABLE = "STUDIO_INJECT_FAULTS"
#: a checkpoint save's moments, in order (see the sitecustomize)
MOMENTS = ("write", "written", "synced", "renamed")


def fault_environment(fault: dict[str, Any], base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """``base`` (the process's own environment by default) with ``fault`` injected into the children started
    with it."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), env.get("PYTHONPATH", "")) if p)
    env[VARIABLE] = json.dumps(fault)
    return env


class Moments:
    """A FIFO a child writes the moment it reached to; open for reading before the child starts."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / f"moments-{os.getpid()}-{time.monotonic_ns()}.fifo"
        os.mkfifo(self.path)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)  # never at its end between children
        self._buffer = b""

    def wait(self, timeout: float, alive=lambda: True) -> Optional[str]:
        """The next moment told, or None if none came within ``timeout`` seconds or ``alive()`` turned false
        (the child ended first)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not alive():
                return None
            ready, _, _ = select.select([self._fd], [], [], min(left, 0.2))
            if ready:
                self._buffer += os.read(self._fd, 256)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        os.close(self._keep)
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def kill(pid: int) -> None:
    """SIGKILL ``pid`` and its process group (a job leads its own), as the kernel's out-of-memory killer or
    a power cut would end it: no handler runs."""
    for send in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            send()
            return
        except (ProcessLookupError, PermissionError):
            continue
