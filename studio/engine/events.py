"""The events a training run writes, one JSON object per line, and their reader.

The file is the channel between a job process and the app: the app follows it
while the job runs and reads it back after a restart, so the job list keeps its
history. Every event has ``event`` (its kind) and ``time``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

#: Events after which a run is over.
TERMINAL = ("finished", "cancelled", "error")


class EventLog:
    """Appends events to a file (flushed per line) and echoes them for people.

    Nothing is written, not even the folder, until the first event.
    ``on_event(record)``, if given, sees each event after it is written; if it
    fails, the run goes on (it is told once on stderr).
    """

    def __init__(self, path: Path, echo: bool = True, enabled: bool = True,
                 on_event: Optional[Callable[[dict[str, Any]], None]] = None) -> None:
        self.path = Path(path)
        self.echo = echo
        self.enabled = enabled
        self.on_event = on_event
        self._folder_made = False

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        record = {"event": event, "time": time.time(), **fields}
        if not self._folder_made:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._folder_made = True
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.echo:
            if event == "error" and record.get("detail"):  # the traceback, for the job's log.txt
                print(record["detail"].rstrip(), file=sys.stderr, flush=True)
            print(describe(record), file=sys.stderr if event == "error" else sys.stdout, flush=True)
        if self.on_event is not None:
            try:
                self.on_event(record)
            except Exception as exc:
                print(f"studio: warning: {exc}", file=sys.stderr, flush=True)
                self.on_event = None


def describe(record: dict[str, Any]) -> str:
    """One readable line for an event."""
    kind = record["event"]
    unit = record.get("unit", "step")  #: what a step counts: a training step, a collected episode, a track
    if kind == "progress" and "losses" not in record:  # collecting, evaluating: no losses
        eta = record.get("eta_s")
        text = f"{unit} {record['step']}/{record['total']}"
        if record.get("score") is not None:
            text += f"  score {record['score']:.1f}  mean {record['mean']:.1f}"
        if record.get("items_per_s") is not None:
            text += f"  {record['items_per_s']:.0f} {record.get('items', 'items')}/s"
        return text + (f"  ETA {format_duration(eta)}" if eta is not None else "")
    if kind == "progress":
        losses = "  ".join(f"{k} {v:.4f}" for k, v in record["losses"].items())
        eta = record.get("eta_s")
        eta_text = f"  ETA {format_duration(eta)}" if eta is not None else ""
        return (f"step {record['step']}/{record['total']}  epoch {record['epoch']:.2f}  {losses}  "
                f"{record['items_per_s']:.0f} items/s{eta_text}")
    if kind == "validation":
        return f"validation at step {record['step']}: " + "  ".join(
            f"{k} {v:.4f}" for k, v in record["losses"].items())
    if kind == "started":
        how = f"resuming at {unit}" if record.get("resumed") else f"starting at {unit}"
        where = f" on {record['device']}" if record.get("device") else ""
        return f"{how} {record['step']} of {record['total']}{where}"
    if kind in ("checkpoint", "samples"):
        return f"{kind} at step {record['step']}: {record['path']}"
    if kind == "error":
        return f"studio: error: {record['message']}"
    if kind in ("finished", "cancelled"):
        if record.get("step") is None:
            return f"{kind} before the first {unit}"
        score = f": score {record['mean']:.1f} ± {record['std']:.1f}" if record.get("mean") is not None else ""
        return f"{kind} at {unit} {record['step']} of {record['total']}{score}"
    return record.get("message", kind)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class EventReader:
    """Follows an events file: each :meth:`read_new` returns the complete lines added since."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return list(_parse(lines))


def _parse(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill: skip it
        if isinstance(record, dict) and "event" in record:
            yield record
