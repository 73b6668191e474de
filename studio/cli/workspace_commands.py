"""`studio workspace rebuild`: list a workspace's runs, checkpoints and exports again from its files.

The studio does this by itself when it finds the catalogue damaged (the app at start-up, `studio train`,
`studio doctor`); the command is for a catalogue that opens but no longer matches the files: a workspace
copied or restored from elsewhere, rows lost to an old backup. The catalogue it replaces is kept beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli.output import print_json
from studio.core.errors import UserError

#: the name a replaced (healthy) catalogue is kept under: ``catalogue.sqlite.before-rebuild-<time>``
REPLACED = "before-rebuild"


def add_all(sub: argparse._SubParsersAction) -> None:
    workspace = sub.add_parser("workspace", help="look after the workspace's catalogue")
    workspace_sub = workspace.add_subparsers(dest="action", metavar="ACTION", required=True)
    rebuild = workspace_sub.add_parser(
        "rebuild", help="list the runs, checkpoints and exports again from the workspace's files",
        description="Move the workspace's catalogue aside (it is kept, renamed) and build a new one from the "
                    "workspace's files: every run with its history, its checkpoint, the exports with their "
                    "parameters. Say what came back and what could not. Close the studio's window first.")
    rebuild.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    rebuild.set_defaults(run=rebuild_run)


def rebuild_run(args: argparse.Namespace) -> int:
    from studio.core.store import move_aside
    from studio.core.workspace import CATALOGUE_NAME, Workspace, choose_workspace
    from studio.engine.rebuild import open_workspace, rebuild

    root = choose_workspace(args.workspace)
    if not (root / CATALOGUE_NAME).exists():
        raise UserError(f"{root} holds no workspace catalogue ({CATALOGUE_NAME}); choose the workspace with "
                        "--workspace.")
    workspace = open_workspace(root)
    if workspace.store.recovered_from is not None:  # it was damaged: already rebuilt on opening
        message, aside = workspace.store.recovery_message, workspace.store.recovered_from
        workspace.close()
        return _report(args, message, aside, None)
    _check_idle(workspace)
    workspace.close()
    catalogue = root / CATALOGUE_NAME
    if catalogue.with_name(CATALOGUE_NAME + "-wal").exists():  # removed when the last connection closes
        raise UserError(f"The catalogue {catalogue} is open in another program (the studio's window?). Close it "
                        "and run the command again; nothing was changed.")
    aside = move_aside(catalogue, REPLACED)
    workspace = Workspace.open(root)
    try:
        report = rebuild(workspace, aside)
    finally:
        workspace.close()
    return _report(args, f"The catalogue was moved to {aside.name} and a new one was rebuilt from the "
                         f"workspace's files. {report.summary()}", aside, report)


def _check_idle(workspace) -> None:
    """A job still running writes to the catalogue as it goes: refuse while one does."""
    from studio.engine.jobs import _alive as job_process_alive  # (private to jobs, for now)

    running = [job for job in workspace.store.jobs()
               if job.status in ("queued", "running") and job_process_alive(job.pid, Path(job.out_dir))]
    if running:
        names = ", ".join(job.args.get("title") or job.id for job in running)
        workspace.close()
        raise UserError(f"{len(running)} job{'s are' if len(running) > 1 else ' is'} still running ({names}); "
                        "let them finish or cancel them, then rebuild. Nothing was changed.")


def _report(args: argparse.Namespace, message: str, aside: Path, report) -> int:
    if args.json:
        print_json({"kept_as": str(aside), "message": message, **(report.as_json() if report else {})})
    else:
        print(message)
    return 0
