"""The ``studio`` command: the GUI with no sub-command, tools for the shell otherwise.

Errors a user can act on are printed to stderr as ``studio: error: ...`` with
exit status 1; usage mistakes exit with status 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from studio import __version__
from studio.cli import commands
from studio.cli.errors import USER_ERRORS, fail
from studio.core import network_guard


def _device_choice(value: str) -> str:
    from studio.core.device import validate_choice

    try:
        return validate_choice(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description="Generative Studio: train, play with and export generative models, offline.",
    )
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("--workspace", metavar="DIR",
                        help="workspace folder (default: $STUDIO_WORKSPACE, then settings)")
    parser.add_argument("--device", metavar="DEVICE", type=_device_choice,
                        help="compute device: auto, cuda, mps or cpu (default: settings, then auto)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_all(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    network_guard.install()  # every command and the GUI: loopback and Unix sockets only (docs/offline.md)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from studio.ui.app import run_gui

            return run_gui(args)
        return args.run(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except USER_ERRORS as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
