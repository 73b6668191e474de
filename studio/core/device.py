"""Which compute device to run models on: CUDA, then Apple's MPS, then the CPU.

Asking needs torch, which takes seconds to import: call :func:`pick_device`
from the inference thread or a job process, never on the way to the window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEVICE_VARIABLE = "STUDIO_DEVICE"
CHOICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    name: str  #: "cuda", "mps" or "cpu": what torch.device() takes
    description: str  #: for the status bar, e.g. "CUDA: NVIDIA H200"
    warning: str = ""  #: set when the requested device was not available


def validate_choice(requested: str) -> str:
    requested = (requested or "auto").lower()
    if requested not in CHOICES:
        raise ValueError(f"Unknown device {requested!r}; choose one of {', '.join(CHOICES)}.")
    return requested


def pick_device(requested: str | None = None) -> DeviceChoice:
    """The device to use. ``requested`` (or ``STUDIO_DEVICE``) may force one; if it
    is not available the best available device is used and ``warning`` says so."""
    import torch

    requested = validate_choice(requested or os.environ.get(DEVICE_VARIABLE) or "auto")
    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    available["mps"] = bool(mps and mps.is_available())
    warning = ""
    if requested != "auto" and not available[requested]:
        warning = f"{requested.upper()} was asked for but is not available here; using the best available device."
        requested = "auto"
    name = requested if requested != "auto" else next(d for d in ("cuda", "mps", "cpu") if available[d])
    return DeviceChoice(name, describe(name), warning)


def describe(name: str) -> str:
    import torch

    if name == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    if name == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
