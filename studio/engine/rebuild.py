"""Rebuilding a workspace catalogue from the workspace's files, after a damaged one was moved aside.

Everything the catalogue lists also lives on disk, so a new catalogue can be filled again:

- **runs**: every folder under ``jobs/`` (the app's jobs), every folder named in the catalogue's files
  list (:mod:`studio.core.store`; runs trained from the command line, which may write anywhere), every run folder that
  the damaged file still names where SQLite can read it, and every run folder that a found run or an
  export names (the checkpoint it was trained further from, the stages it builds on, the controller an
  evaluation drove). A run's kind, settings, history and end come from its files (:mod:`run_folder`,
  :mod:`job_kinds`): ``job.json`` for a training run, ``rollouts.json`` for a collect job,
  ``evaluation.json`` for an evaluation, and ``events.jsonl`` for all of them. A run whose process is
  still going is listed running (the app follows it again); one that stopped without an end is
  interrupted, as the app marks a job that died while it was closed. A job removed from the list (its
  folder stays on disk) stays out.
- **checkpoints**: each run's ``checkpoint.safetensors``, read from its header (a damaged one is named
  as not recovered).
- **exports**: the files under ``exports/``, those the files list names (saved anywhere through the export
  dialog) and those the damaged file names, that carry the studio's
  parameters: PNG text chunks, a GIF's comment, a MIDI file's ``studio:`` text event, a text's
  ``.studio.json`` sidecar. A WAV render carries none and is not listed.

Where the damaged file still gives up a job's row, its settings and the title it was given come back with
it. Otherwise what the files do not hold cannot come back: the titles given to jobs in the app (a rebuilt job
is named after its model and data), which datasets were used (they are remembered again the next time one is
chosen), checkpoint hashes (computed again when needed) and sample measurements. A run trained from the
command line outside the workspace, or an export saved outside it, before the files list existed is found
only when something above still names it; the message says so.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from studio.core.checkpoint import read_header
from studio.core.errors import UserError
from studio.core.store import NotedFiles
from studio.core.workspace import Workspace
from studio.engine import job_kinds
from studio.engine.catalogue import JobOptions, RunCatalogue
from studio.engine.evaluation import EVALUATION_FILE
from studio.engine.events import TERMINAL, EventReader
from studio.engine.jobs import _alive as job_process_alive  # is a job still running (private to jobs, for now)
from studio.engine.rebuild_exports import export_files, read_export
from studio.engine.run_folder import CHECKPOINT_NAME, EVENTS_NAME, JOB_FILE, training_job

#: what a collect job leaves in its folder beside the episodes (the world-models plugin's rollouts.json)
ROLLOUTS_INFO = "rollouts.json"
#: how many lost folders the message names before it only counts the rest
SHOWN = 5
_KIND_NAMES = {job_kinds.TRAIN: ("training run", "training runs"), job_kinds.COLLECT: ("collect job", "collect jobs"),
               job_kinds.EVALUATE: ("evaluation", "evaluations")}


@dataclass
class Rebuilt:
    """What a rebuild put back, and what it could not."""

    runs: Counter = field(default_factory=Counter)  #: kind → runs listed again
    interrupted: int = 0  #: of those, runs that had stopped without an end
    checkpoints: int = 0
    exports: int = 0
    missed: list[str] = field(default_factory=list)  #: one sentence each: what could not be recovered

    def as_json(self) -> dict[str, Any]:
        return {"runs": dict(self.runs), "interrupted": self.interrupted, "checkpoints": self.checkpoints,
                "exports": self.exports, "not_recovered": list(self.missed)}

    def summary(self) -> str:
        """What was recovered and what could not be, in sentences for the artist."""
        total = sum(self.runs.values())
        kinds = ", ".join(f"{self.runs[k]} {names[self.runs[k] != 1]}" for k, names in _KIND_NAMES.items()
                          if self.runs[k])
        text = (f"Recovered {_count(total, 'run')}" + (f" ({kinds})" if kinds else "")
                + f", {_count(self.checkpoints, 'checkpoint')} and {_count(self.exports, 'export')}.")
        if self.interrupted:
            text += f" {_count(self.interrupted, 'run')} had stopped without finishing and can be resumed."
        if self.missed:
            text += " Could not be recovered:\n" + "\n".join(f"- {line}" for line in self.missed)
        return text


def open_workspace(root: Path) -> Workspace:
    """:meth:`Workspace.open`, and when its catalogue was damaged and moved aside, the new one rebuilt from
    the workspace's files; ``workspace.store.recovery_message`` then says what came back."""
    workspace = Workspace.open(root)
    store = workspace.store
    if store.recovered_from is not None:
        try:
            report = rebuild(workspace, store.recovered_from)
            done = f"rebuilt from the workspace's files. {report.summary()}"
        except Exception as exc:  # what was rebuilt stays; the app must still open
            done = f"only partly rebuilt from the workspace's files: the rebuild stopped ({_reason(exc)})."
        store.recovery_message = (f"The workspace catalogue could not be read ({store.damage}). It was moved to "
                                  f"{store.recovered_from.name} and a new one was {done}")
    return workspace


def rebuild(workspace: Workspace, damaged: Optional[Path] = None) -> Rebuilt:
    """Fill ``workspace``'s (new, empty) catalogue from its files; ``damaged``: the old catalogue, read for
    the paths it still gives up."""
    report = Rebuilt()
    had_files_list = workspace.store.files_list.exists()  # before the rebuild adds to it
    noted = workspace.store.noted_files()
    salvaged = _salvage(damaged) if damaged is not None else {"jobs": {}, "checkpoints": [], "artifacts": []}
    exports = export_files(workspace.folder("exports"))
    for path in (Path(p).expanduser().resolve() for p in [*noted.exports, *salvaged["artifacts"]]):
        if path.is_file() and path not in exports:
            exports.append(path)
    params_of = {}
    for path in exports:
        try:
            params_of[path] = read_export(path)
        except (UserError, OSError, ValueError) as exc:
            report.missed.append(f"the export {path} cannot be read ({_reason(exc)})")
    folders = _run_folders(workspace, noted, salvaged, params_of.values(), report)
    catalogue = RunCatalogue(workspace.store)
    for folder in folders:
        try:
            with workspace.store.transaction():  # a run that cannot be read leaves no half of it listed
                _restore_run(catalogue, workspace, folder, _old_settings(salvaged["jobs"], folder), report)
        except (UserError, OSError, ValueError, KeyError, TypeError) as exc:
            report.missed.append(f"the run in {folder} ({_reason(exc)})")
    for folder in (Path(p) for p in noted.forgotten):  # removed from the job list; its model stays offered
        try:
            with workspace.store.transaction():
                _restore_model_of(workspace.store, folder, report)
        except (UserError, OSError, ValueError, KeyError, TypeError) as exc:
            report.missed.append(f"the checkpoint in {folder} ({_reason(exc)})")
    bare = 0
    with workspace.store.transaction():
        for path, found in params_of.items():
            if found is None:
                bare += 1
                continue
            kind, params = found
            workspace.store.add_artifact(kind, str(path), params, params.get("model"),
                                         params.get("checkpoint_sha256"), created=path.stat().st_mtime)
            report.exports += 1
    if bare:
        report.missed.append(f"{_count(bare, 'file')} in {workspace.folder('exports')} "
                             f"{'carries' if bare == 1 else 'carry'} no studio parameters (a WAV render never does), "
                             "so not listed as exports")
    if not had_files_list and (folders or params_of or any(salvaged.values())):  # a workspace in use, from before
        report.missed.append("runs trained from the command line into folders outside the workspace, and exports "
                             "saved outside it, unless something in the workspace names them: this workspace kept "
                             "no list of its files yet")
    return report


# -- finding the run folders --------------------------------------------------------------------


def _run_folders(workspace: Workspace, noted: NotedFiles, salvaged: dict, export_params,
                 report: Rebuilt) -> list[Path]:
    """Every run folder the workspace's files (and the damaged catalogue) lead to, each once, oldest first;
    not those removed from the job list."""
    hints = [p for p in sorted(workspace.folder("jobs").iterdir()) if p.is_dir()]
    hints += [Path(p) for p in noted.runs]
    hints += [Path(p) for p in salvaged["jobs"]]
    hints += [Path(p).parent for p in salvaged["checkpoints"]]
    hints += [Path(params["checkpoint"]).parent for _, params in filter(None, export_params)
              if isinstance(params.get("checkpoint"), str)]
    found: dict[Path, None] = dict.fromkeys(Path(p) for p in noted.forgotten)  # seen: never listed again
    while hints:
        folder = hints.pop(0).expanduser().resolve()
        if folder in found or not _is_run(folder):
            continue
        found[folder] = None
        try:
            hints += [Path(p).parent for p in _named_checkpoints(folder)]
        except UserError:
            pass  # a damaged job.json: the run itself says so when it is read
    names = {f.name for f in found}  # a folder found under another path: the workspace was moved, not lost
    lost = sorted(p for p in salvaged["jobs"] if not Path(p).exists() and Path(p).name not in names)
    if lost:
        shown = ", ".join(lost[:SHOWN]) + (f" and {len(lost) - SHOWN} more" if len(lost) > SHOWN else "")
        report.missed.append(f"{_count(len(lost), 'run folder')} the old catalogue listed no longer exist"
                             f"{'s' if len(lost) == 1 else ''}: {shown}")
    forgotten = {Path(p) for p in noted.forgotten}
    return sorted((f for f in found if f not in forgotten), key=_first_event_time)


def _is_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in (EVENTS_NAME, JOB_FILE, EVALUATION_FILE))


def _named_checkpoints(folder: Path) -> list[str]:
    """The checkpoints of other runs a run's files name: the one it was trained further from, the stages it
    builds on, the controller an evaluation drove."""
    job = _json(folder / JOB_FILE) or {}
    named = [job.get("start_from"), *(job.get("upstream") or {}).values(), (_json(folder / EVALUATION_FILE) or {})
             .get("checkpoint")]
    return [p for p in named if isinstance(p, str) and p]


def _salvage(damaged: Path) -> dict[str, Any]:
    """What the damaged catalogue still says, as far as SQLite can read it (nothing, for a file that is not a
    database at all): the paths of its "checkpoints" and "artifacts", and its "jobs" as {folder: settings}."""
    found: dict[str, Any] = {"jobs": {}, "checkpoints": [], "artifacts": []}
    # reading a WAL database makes its -wal and -shm files; those it makes here are removed after
    scratch = [side for side in (damaged.with_name(damaged.name + suffix) for suffix in ("-wal", "-shm"))
               if not side.exists()]
    try:
        conn = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error:
        return found
    try:
        for out_dir, args_json in _rows(conn, "SELECT out_dir, args_json FROM jobs"):
            if isinstance(out_dir, str):
                try:
                    args = json.loads(args_json)
                except (TypeError, ValueError):
                    args = {}
                found["jobs"][str(Path(out_dir).expanduser().resolve())] = args if isinstance(args, dict) else {}
        for table in ("checkpoints", "artifacts"):
            found[table] = [path for (path,) in _rows(conn, f"SELECT path FROM {table}") if isinstance(path, str)]
    finally:
        conn.close()
        for side in scratch:
            side.unlink(missing_ok=True)
    return found


def _old_settings(jobs: dict[str, dict], folder: Path) -> Optional[dict]:
    """The settings the damaged catalogue kept for the run in ``folder``: by its path, else (a workspace moved
    since) by the name of a listed folder that is no longer there."""
    if str(folder) in jobs:
        return jobs[str(folder)]
    return next((args for path, args in jobs.items() if Path(path).name == folder.name and not Path(path).exists()),
                None)


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    """The rows of ``sql`` read before a damaged page stopped it."""
    rows = []
    try:
        for row in conn.execute(sql):
            rows.append(row)
    except sqlite3.Error:
        pass
    return rows


# -- one run --------------------------------------------------------------------------------------


def _restore_run(catalogue: RunCatalogue, workspace: Workspace, folder: Path, old_args: Optional[dict],
                 report: Rebuilt) -> None:
    """List the run in ``folder`` with its history (``old_args``: its settings in the damaged catalogue, when
    they could be read there: its title, its cadences)."""
    store = catalogue.store
    events = EventReader(folder / EVENTS_NAME).read_new()
    kind, spec, args, total = _describe(folder, events)
    if isinstance(old_args, dict) and old_args.get("kind", job_kinds.TRAIN) == kind:
        args = {**args, **old_args}
    created = events[0]["time"] if events else folder.stat().st_mtime
    job_id = _job_id(store, workspace, folder, created)
    model_id = store.add_model(args["title"], spec, {}, created=created) if kind == job_kinds.TRAIN else None
    store.add_job(job_id, spec, str(folder), args, total, model_id, created=created)
    if kind == job_kinds.COLLECT:
        store.add_dataset(job_kinds.ROLLOUTS_SOURCE, str(folder), "rollouts")
    last_start = max((i for i, e in enumerate(events) if e["event"] == "started"), default=0)
    since = events[last_start:]
    step = next((e["step"] for e in reversed(since) if isinstance(e.get("step"), int)), 0)
    total = next((e["total"] for e in reversed(since) if isinstance(e.get("total"), int)), total)
    started = since[0]["time"] if since and since[0]["event"] == "started" else None
    store.update_job(job_id, step=step, total_steps=total, started=started)
    ended = next((e for e in reversed(since) if e["event"] in TERMINAL), None)
    pid = since[0].get("pid") if since and since[0]["event"] == "started" else None
    if ended is None and job_process_alive(pid, folder):
        store.update_job(job_id, status="running", pid=pid)
    else:
        status = catalogue.finish(job_id, folder, ended, exit_code=None)
        store.update_job(job_id, finished=ended["time"] if ended else (since[-1]["time"] if since else created))
        report.interrupted += status == "interrupted"
    report.runs[kind] += 1
    if kind == job_kinds.TRAIN:
        _restore_checkpoint(store, folder, spec, model_id, report)


def _restore_model_of(store, folder: Path, report: Rebuilt) -> None:
    """The model and checkpoint of a training run whose job was removed from the list (the app keeps offering
    them: removing a job forgets the job only)."""
    job = _json(folder / JOB_FILE)
    if job is None or not (folder / CHECKPOINT_NAME).exists():
        return
    _, spec, args, _ = _training(folder, job)
    created = _first_event_time(folder)
    _restore_checkpoint(store, folder, spec, store.add_model(args["title"], spec, {}, created=created), report)


def _restore_checkpoint(store, folder: Path, spec: str, model_id: Optional[int], report: Rebuilt) -> None:
    path = folder / CHECKPOINT_NAME
    if not path.exists():
        return
    try:
        header = read_header(path)
    except UserError as exc:
        report.missed.append(f"the checkpoint {path} ({exc})")
        return
    if header.spec != spec:
        report.missed.append(f"the checkpoint {path} holds a {header.spec!r} model, not the run's {spec!r}")
        return
    store.add_checkpoint(spec, str(path), header.step, model_id, created=path.stat().st_mtime)
    report.checkpoints += 1


def _describe(folder: Path, events: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any], int]:
    """(kind, spec column, store args, total steps) of the run in ``folder``, from its files; a
    :class:`UserError` when they do not say enough to list it."""
    unit = next((e.get("unit") for e in events if e.get("unit")), "step")
    job = _json(folder / JOB_FILE)
    if job is not None:
        return _training(folder, job)
    evaluation = _json(folder / EVALUATION_FILE)
    if evaluation is not None or unit == "track":
        if evaluation is None:
            raise UserError(f"an evaluation without its {EVALUATION_FILE}, so its controller is unknown")
        return _evaluation(evaluation)
    if (folder / ROLLOUTS_INFO).exists() or unit == "episode":
        info = _json(folder / ROLLOUTS_INFO) or {}
        episodes = info.get("requested") or next((e["total"] for e in events if "total" in e), 0)
        args = {"kind": job_kinds.COLLECT, "title": f"collect {episodes} episodes", "episodes": episodes,
                "steps": info.get("steps", job_kinds.CollectOptions.steps),
                "workers": job_kinds.CollectOptions.workers, "seed": info.get("seed", 0)}
        return job_kinds.COLLECT, job_kinds.ROLLOUTS_SOURCE, args, episodes
    raise UserError(f"a run that stopped before it wrote its {JOB_FILE}, so what it trained is unknown")


def _training(folder: Path, job: dict[str, Any]) -> tuple[str, str, dict[str, Any], int]:
    defaults = JobOptions(model=job["model"], data=job["data"], steps=job["steps"])
    in_workspace = folder.parent.name == "jobs"
    title = f"{job['model']} on {job['data']}" + ("" if in_workspace else f" ({folder.name})")
    args = {"model": job["model"], "data": job["data"], "steps": job["steps"], "seed": job.get("seed", 0),
            "checkpoint_every": defaults.checkpoint_every, "sample_every": defaults.sample_every,
            "overrides": {}, "title": title, "upstream": job.get("upstream") or {},
            "first_checkpoint_s": defaults.first_checkpoint_s if in_workspace else None,
            "start_from": job.get("start_from")}
    return job_kinds.TRAIN, job["model"], args, int(job["steps"])


def _evaluation(evaluation: dict[str, Any]) -> tuple[str, str, dict[str, Any], int]:
    checkpoint = str(evaluation["checkpoint"])
    try:
        spec = read_header(checkpoint).spec
    except UserError:
        spec = training_job(checkpoint).get("model") or job_kinds.ROLLOUTS_SOURCE
    episodes = int(evaluation["episodes"])
    args = {"kind": job_kinds.EVALUATE, "title": f"evaluate {Path(checkpoint).parent.name} on {episodes} tracks",
            "checkpoint": checkpoint, "episodes": episodes, "workers": job_kinds.EvaluateOptions.workers,
            "seed": evaluation.get("seed", job_kinds.EVALUATE_SEED), "max_steps": evaluation.get("max_steps")}
    return job_kinds.EVALUATE, spec, args, episodes


def _job_id(store, workspace: Workspace, folder: Path, created: float) -> str:
    """An app job keeps its folder's name as its id; a command-line run gets one of the same shape."""
    if folder.parent == workspace.folder("jobs").resolve() and store.job(folder.name) is None:
        return folder.name
    base = time.strftime("%Y%m%d-%H%M%S-", time.localtime(created)) + hashlib.sha1(str(folder).encode()).hexdigest()[:6]
    job_id, n = base, 1
    while store.job(job_id) is not None:
        job_id, n = f"{base}-{n}", n + 1
    return job_id


def _first_event_time(folder: Path) -> float:
    events = EventReader(folder / EVENTS_NAME).read_new()
    return events[0]["time"] if events else folder.stat().st_mtime


def _json(path: Path) -> Optional[dict[str, Any]]:
    """A JSON object file, or None when there is none; a damaged one is a :class:`UserError`."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path.name} cannot be read: {exc}") from exc
    if not isinstance(value, dict):
        raise UserError(f"{path.name} is not a JSON object")
    return value


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (UserError, OSError)) else f"{type(exc).__name__}: {exc}"
