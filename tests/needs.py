"""What a test needs from the machine, and what it does when that is missing.

Outside CI a test skips, with the reason, for what this machine lacks. Under ``CI=true`` what the set-up
provides (setup.sh: Debian's packages such as Fashion-MNIST, FluidSynth's SoundFont and PortAudio, and the
Python dependencies such as Box2D and music21) must be there: its absence fails the test with the same
reason, so a CI that lacks it is red instead of green while testing less. The shared data in
``../shared/data`` is not part of a clone: its tests skip where that folder is not there at all (a clean
clone, as `.ci/run` uses), and fail under ``CI=true`` only where the folder is there but lacks the file.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def in_ci() -> bool:
    """Whether the suite runs as CI (``CI=true``, as `.ci/run` and hosted CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def needs(condition: object, reason: str) -> None:
    """Go on if ``condition`` holds; otherwise skip with ``reason``, or under CI fail with it."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (under CI=true what the set-up provides must be there)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def needs_module(name: str, why: str = "") -> ModuleType:
    """The module ``name``, imported; missing, :func:`needs` decides (``why`` says what it is for)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        needs(False, f"{name} is not installed{f' ({why})' if why else ''}: {exc}")
        raise  # not reached: needs() skipped or failed


def needs_shared(path: Path) -> Path:
    """``path`` in the shared test data; skips where there is no ``../shared/data`` at all."""
    if not path.exists() and not SHARED_DATA.is_dir():
        pytest.skip(f"{path} is not here (the shared test data, {SHARED_DATA}, is not beside this checkout)")
    needs(path.exists(), f"{path} is not here, though the shared test data is ({SHARED_DATA})")
    return path


FASHION_MNIST_MISSING = ("Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist "
                         "(Debian's dataset-fashion-mnist, which setup.sh installs when run as root)")
BOX2D = "CarRacing's physics, from gymnasium[box2d]"
