"""Start-up: how fast the main window is painted, and how much memory it holds idle.

    .venv/bin/python benchmarks/startup.py

Launches `studio` as a user would (a fresh process, a fresh workspace) five
times, on Xvfb when available and offscreen otherwise, and reads the wall-clock
time of the first paint that the app writes to $STUDIO_STARTUP_REPORT. Idle RSS
is read from /proc once the window has been up for two seconds (the inference
thread has imported torch by then: that is the real idle cost).
Writes benchmarks/results/startup.json: window_shown_s, idle_rss_mb.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, report  # noqa: E402

RUNS = 5
STUDIO = Path(sys.executable).with_name("studio")


def start_display() -> tuple[dict, subprocess.Popen | None]:
    if shutil.which("Xvfb"):
        display = ":77"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        return {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}, xvfb
    return {"QT_QPA_PLATFORM": "offscreen"}, None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_start(display_env: dict) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report_file = Path(tmp) / "startup.json"
        env = {**os.environ, **display_env, "STUDIO_STARTUP_REPORT": str(report_file),
               "STUDIO_WORKSPACE": f"{tmp}/ws", "XDG_CONFIG_HOME": f"{tmp}/config"}
        launched = time.time()
        proc = subprocess.Popen([str(STUDIO)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = launched + 60
            while not report_file.exists():
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"studio did not show its window: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.01)
            time.sleep(0.05)
            painted = json.loads(report_file.read_text())["painted_at"]
            time.sleep(2.0)
            memory = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    return painted - launched, memory


def main() -> None:
    display_env, xvfb = start_display()
    try:
        runs = [one_start(display_env) for _ in range(RUNS)]
    finally:
        if xvfb:
            xvfb.terminate()
    shown = [r[0] for r in runs]
    metrics = {"window_shown_s": round(median(shown), 3), "idle_rss_mb": round(median(r[1] for r in runs), 1)}
    report("startup", metrics, {
        "window_shown_s": f"median of {RUNS} ({', '.join(f'{s:.2f}' for s in shown)}); target <= 1.5",
        "idle_rss_mb": "window open, no model loaded, torch imported by the inference thread",
    })


if __name__ == "__main__":
    main()
