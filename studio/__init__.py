"""Generative Studio: an offline desktop studio for generative models.

Importing the package is cheap (no torch, no Qt). It forces the Hugging Face
libraries offline before any of them can be imported: the studio never uses the
network, from the GUI, the CLI, a training process or a notebook. The GUI and
every command also install the network guard (:mod:`studio.core.network_guard`),
which the processes they start inherit.
"""

import os

from studio.core.network_guard import guard_if_inherited
from studio.core.offline import force_offline

force_offline()
# A child of a guarded process (a job, a plugin's worker process) is guarded before its own code runs.
guard_if_inherited()
# Torch's OpenMP threads spin while they wait. Beside the GUI, the inference
# thread and other jobs on a few cores, spinning wastes most of the time (a
# small GPT step: 385 ms spinning, 12 ms passive, on a busy 2-core machine).
# Training processes keep it too. Measured there: a lone job trains faster
# spinning (VAE about 1.3x, a small GPT about 2x), but two jobs at once train
# slower each (VAE: 1.6x slower with OMP_WAIT_POLICY=ACTIVE, 2.5x with torch's
# default). Read when torch loads, which is always after this package.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from studio.hookspecs import hookimpl  # noqa: E402  (public API for plugin authors)

__all__ = ["__version__", "hookimpl"]
