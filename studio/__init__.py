"""Generative Studio: an offline desktop studio for generative models.

Importing the package is cheap (no torch, no Qt). It forces the Hugging Face
libraries offline before any of them can be imported: the studio never uses the
network, from the GUI, the CLI, a training process or a notebook. The GUI and
every command also install the network guard (:mod:`studio.core.network_guard`),
which the processes they start inherit.
"""

from studio.core.network_guard import guard_if_inherited
from studio.core.offline import force_offline
from studio.core.openmp import wait_passively

force_offline()
# A child of a guarded process (a job, a plugin's worker process) is guarded before its own code runs.
guard_if_inherited()
# Idle OpenMP threads sleep at once (training spins briefly instead): studio.core.openmp
# says why. Read when torch loads, which is always after this package.
wait_passively()

__version__ = "0.1.0"

from studio.hookspecs import hookimpl  # noqa: E402  (public API for plugin authors)

__all__ = ["__version__", "hookimpl"]
