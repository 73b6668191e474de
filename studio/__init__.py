"""Generative Studio: an offline desktop studio for generative models.

Importing the package is cheap (no torch, no Qt) and forces the Hugging Face
libraries offline before any of them can be imported: the studio never uses the
network, from the GUI, the CLI, a training process or a notebook.
"""

from studio.core.offline import force_offline

force_offline()

__version__ = "0.1.0"

from studio.hookspecs import hookimpl  # noqa: E402  (public API for plugin authors)

__all__ = ["__version__", "hookimpl"]
