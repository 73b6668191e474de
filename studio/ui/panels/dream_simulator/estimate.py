"""How long a stage will take on this machine, said before it starts: measured, never guessed.

A stage's work is counted in units whose cost does not depend on its settings: an environment step for
Collect, a training step for V and M, a rollout step for C (generations x population x rollouts per
candidate x steps per rollout) and for Evaluate (tracks x steps per track), spread over its worker processes
("lanes": the workers, at most the cores). A :class:`Pace` is seconds per unit on one lane plus the start-up
before the first unit, measured

- from this workspace's past jobs of the stage (:func:`from_history`, their events' times), or else
- by a probe (:class:`Probe`): the stage's own command with a small amount of work, in a process of its own
  writing into a temporary folder, followed through its events and stopped once it has shown its pace.

Qt-free: the dialog runs the probe and shows the :class:`Estimate`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.engine import job_kinds
from studio.engine.events import EventReader, format_duration
from studio.engine.run_folder import EVENTS_NAME, LOG_NAME
from studio.ui.panels.dream_simulator import pipeline

CORES = os.cpu_count() or 1
#: the steps of a CarRacing track, at most (Evaluate drives each to its end)
TRACK_STEPS = 1000
#: a probe of V or M trains this long once its first step is reported, in seconds
PROBE_TRAINING_S = 4.0
#: a probe that has not shown its pace by then is stopped, in seconds
PROBE_TIMEOUT_S = 180.0
#: a probe's small amount of work: steps per collected episode, per scoring rollout of C (in the dream, in the
#: real CarRacing) and per evaluated track
PROBE_EPISODE_STEPS, PROBE_DREAM_STEPS, PROBE_REAL_STEPS, PROBE_TRACK_STEPS = 100, 20, 10, 50


@dataclass(frozen=True)
class Pace:
    """Seconds per unit of work on one lane, and seconds from the job's start to its first unit."""

    unit_s: float
    startup_s: float
    source: str  #: where it was measured, for people


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str

    def text(self) -> str:
        return f"About {format_duration(self.seconds)} on this machine ({self.basis})."


def units(key: str, settings: Mapping[str, Any]) -> float:
    """The units of work of a whole stage with these settings (an upper bound: episodes may end early)."""
    if key == pipeline.COLLECT:
        return settings["episodes"] * settings["steps"]
    if key == pipeline.CONTROLLER:
        return settings["steps"] * rollout_steps(settings)
    if key == pipeline.EVALUATE:
        return settings["episodes"] * settings.get("max_steps", TRACK_STEPS)
    return settings["steps"]


def rollout_steps(settings: Mapping[str, Any]) -> float:
    """C's rollout steps per generation."""
    return settings["population"] * settings["rollouts_per_candidate"] * settings["max_steps"]


def lanes(key: str, settings: Mapping[str, Any]) -> int:
    """How many units run side by side: the workers, at most the cores (and the episodes, candidates, tracks)."""
    if key in (pipeline.VISION, pipeline.MEMORY):
        return 1
    most = {pipeline.COLLECT: "episodes", pipeline.CONTROLLER: "population", pipeline.EVALUATE: "episodes"}[key]
    return max(1, min(settings["workers"], CORES, settings[most]))


def estimate(key: str, settings: Mapping[str, Any], pace: Pace) -> Estimate:
    """How long the stage takes with ``settings`` at ``pace``, and why."""
    seconds = pace.startup_s + units(key, settings) * pace.unit_s / lanes(key, settings)
    return Estimate(seconds, f"{pace.source}: {rate_text(key, pace.unit_s, settings)}")


def measure(key: str, events: Sequence[Mapping], settings: Mapping[str, Any], spawned: Optional[float],
            source: str) -> Optional[Pace]:
    """The pace a run showed (its events from its last start; ``spawned``: when its process started, if known),
    or None when it did not run long enough to tell."""
    starts = [i for i, e in enumerate(events) if e["event"] == "started"]
    if not starts:
        return None
    started = events[starts[-1]]
    progress = [e for e in events[starts[-1]:] if e["event"] == "progress"]
    if key == pipeline.EVALUATE:  # tracks end in rounds of one per lane: measure from the end of the first round
        progress = progress[min(lanes(key, settings), len(progress)) - 1:]
    points = [(e["time"], _units_done(key, e, started, settings)) for e in progress]
    if len(points) < 2 or points[-1][0] <= points[0][0] or points[-1][1] <= points[0][1]:
        return None
    (t0, u0), (t1, u1) = points[0], points[-1]
    unit_s = (t1 - t0) * lanes(key, settings) / (u1 - u0)
    begun = spawned if spawned is not None and spawned <= started["time"] else started["time"]
    startup = max(0.0, t0 - begun - u0 * unit_s / lanes(key, settings))
    return Pace(unit_s, startup, source)


def _units_done(key: str, event: Mapping, started: Mapping, settings: Mapping[str, Any]) -> float:
    """The units a run has done by ``event`` since its start."""
    if key == pipeline.COLLECT:
        return event["steps"]
    done = event["step"] - started["step"]
    if key == pipeline.CONTROLLER:
        return done * rollout_steps(settings)
    if key == pipeline.EVALUATE:
        return done * settings.get("max_steps", TRACK_STEPS)
    return done


def rate_text(key: str, unit_s: float, settings: Mapping[str, Any]) -> str:
    """A pace with ``settings`` as people count it: steps a second, time a generation or a track."""
    lane_count = lanes(key, settings)
    workers = f" with {lane_count} worker{'s' if lane_count > 1 else ''}" if key != pipeline.VISION and \
        key != pipeline.MEMORY else ""
    if key == pipeline.COLLECT:
        return f"{lane_count / unit_s:,.0f} environment steps/s{workers}"
    if key == pipeline.CONTROLLER:
        generation = rollout_steps(settings) * unit_s / lane_count
        return f"{format_duration(generation)} a generation of {settings['population']}{workers}"
    if key == pipeline.EVALUATE:
        return f"{format_duration(TRACK_STEPS * unit_s)} a track at most, {lane_count} at once"
    return f"{1 / unit_s:,.1f} training steps/s"


# -- past jobs ------------------------------------------------------------------------------------------------
def job_settings(key: str, job: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a past job of the stage ran with (its overrides on the model's ``defaults``)."""
    if key in (pipeline.COLLECT, pipeline.EVALUATE):
        return dict(job.args)
    settings: dict[str, Any] = dict(defaults)
    for name, value in job.args.get("overrides", {}).items():
        settings[name] = _number(value)
    settings["steps"] = job.args.get("steps")
    return settings


def comparable(key: str, settings: Mapping[str, Any], past: Mapping[str, Any]) -> bool:
    """Whether a past job's pace carries over to these settings: the same model for V and M (a pace scales with
    the units, not with a model's size), the same world (dream or real) for C."""
    if key in (pipeline.VISION, pipeline.MEMORY):
        return all(_number(past.get(name)) == _number(value) for name, value in settings.items() if name != "steps")
    if key == pipeline.CONTROLLER:
        return bool(_number(past.get("in_dream"))) == bool(_number(settings.get("in_dream")))
    return True


def from_history(key: str, settings: Mapping[str, Any], jobs: Sequence[Any],
                 history: Callable[[str], list[dict]], defaults: Mapping[str, Any], newest: int = 3) -> Optional[Pace]:
    """The pace of the newest of this workspace's past jobs of the stage that ran long enough to show one
    (looking at ``newest`` of them at most)."""
    tried = 0
    for job in sorted(jobs, key=lambda j: j.created, reverse=True):
        if _stage_key(job) != key:
            continue
        past = job_settings(key, job, defaults)
        if not comparable(key, settings, past):
            continue
        tried += 1
        pace = measure(key, history(job.id), past, job.started, f"as job {job.id} ran here")
        if pace is not None:
            return pace
        if tried >= newest:
            break
    return None


def _stage_key(job: Any) -> Optional[str]:
    kind = job_kinds.kind_of(job)
    if kind != job_kinds.TRAIN:
        return kind
    return job.spec if job.spec in pipeline.TRAINED else None


def _number(value: Any) -> Any:
    """A setting as compared and computed with: "16" -> 16, "true" -> True (overrides are strings)."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return value


# -- probes ---------------------------------------------------------------------------------------------------
def probe_command(key: str, settings: Mapping[str, Any], stage: Any, python: str, device: str,
                  out: Path) -> tuple[list[str], dict[str, Any]]:
    """The stage's own command with a small amount of work, and the settings it runs with (to measure by)."""
    base = [python, "-m", "studio", "--device", device, "dream"]
    if key == pipeline.COLLECT:
        probed = dict(settings, episodes=settings["workers"], steps=min(settings["steps"], PROBE_EPISODE_STEPS))
        return base + ["collect", "--episodes", str(probed["episodes"]), "--steps", str(probed["steps"]),
                       "--workers", str(settings["workers"]), "--out", str(out)], probed
    if key == pipeline.EVALUATE:
        probed = dict(settings, episodes=2 * lanes(key, settings), max_steps=PROBE_TRACK_STEPS)
        return base + ["evaluate", "--checkpoint", stage.run_upstream, "--episodes", str(probed["episodes"]),
                       "--workers", str(settings["workers"]), "--max-steps", str(PROBE_TRACK_STEPS), "--out",
                       str(out)], probed
    command = {pipeline.VISION: "train-vae", pipeline.MEMORY: "train-rnn", pipeline.CONTROLLER: "train-controller"}
    train = base + [command[key], "--data", f"{job_kinds.ROLLOUTS_SOURCE}:{stage.run_rollouts}", "--out", str(out),
                    "--no-catalogue", "--sample-every", "1000000"]
    if key != pipeline.VISION:
        before = pipeline.ORDER[pipeline.ORDER.index(key) - 1]
        train += ["--from", f"{before}={stage.run_upstream}"]
    if key != pipeline.CONTROLLER:
        return train + ["--steps", "1000000", "--checkpoint-every", "1000000"], dict(settings)
    steps = PROBE_DREAM_STEPS if _number(settings["in_dream"]) else PROBE_REAL_STEPS
    probed = dict(settings, steps=2, max_steps=min(settings["max_steps"], steps))
    sets = {"population": probed["population"], "workers": probed["workers"], "max_steps": probed["max_steps"],
            "in_dream": "true" if _number(probed["in_dream"]) else "false"}
    return train + ["--steps", "2", "--checkpoint-every", "1"] + [
        word for name, value in sets.items() for word in ("--set", f"{name}={value}")], probed


class Probe:
    """Runs a probe in a thread (its process in a temporary folder, removed afterwards) and hands
    ``on_done(pace, error)`` its pace, or why there is none, on that thread. :meth:`cancel` stops it."""

    def __init__(self, key: str, command: list[str], settings: Mapping[str, Any], out: Path,
                 on_done: Callable[[Optional[Pace], str], None]) -> None:
        self.key, self.command, self.settings, self.out, self.on_done = key, command, settings, out, on_done
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"studio-probe-{key}", daemon=True)

    @classmethod
    def of(cls, key: str, settings: Mapping[str, Any], stage: Any, python: str, device: str,
           on_done: Callable[[Optional[Pace], str], None]) -> Probe:
        out = Path(tempfile.mkdtemp(prefix=f"studio-probe-{key}-"))
        command, probed = probe_command(key, settings, stage, python, device, out)
        return cls(key, command, probed, out, on_done)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pace, error = None, ""
        try:
            pace, error = self._measure()
        except Exception as exc:  # the dialog says so; the stage can still be started
            error = f"{type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(self.out, ignore_errors=True)
        if not self._cancelled.is_set():
            self.on_done(pace, error)

    def _measure(self) -> tuple[Optional[Pace], str]:
        spawned = time.time()
        with open(self.out / LOG_NAME, "wb") as log:
            process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        reader, events = EventReader(self.out / EVENTS_NAME), []
        try:
            while not self._cancelled.is_set() and time.time() - spawned < PROBE_TIMEOUT_S:
                events += reader.read_new()
                if process.poll() is not None or self._enough(events):
                    break
                time.sleep(0.1)
        finally:
            _stop(process)
        events += reader.read_new()
        pace = measure(self.key, events, self.settings, spawned, "measured just now")
        if pace is not None or self._cancelled.is_set():
            return pace, ""
        failed = next((e["message"] for e in events if e["event"] == "error"), "")
        if failed:
            return None, failed
        if time.time() - spawned >= PROBE_TIMEOUT_S:
            return None, f"the trial run showed no pace in {format_duration(PROBE_TIMEOUT_S)}"
        tail = (self.out / LOG_NAME).read_text(errors="replace").strip().splitlines()[-1:]
        return None, "the trial run ended before it showed its pace" + (f": {tail[0]}" if tail else "")

    def _enough(self, events: list[dict]) -> bool:
        """A training probe stops once it has trained a few seconds; the others do their small work to the end
        (C's after its second generation)."""
        progress = [e for e in events if e["event"] == "progress"]
        if self.key in (pipeline.VISION, pipeline.MEMORY):
            return len(progress) >= 3 and progress[-1]["time"] - progress[0]["time"] >= PROBE_TRAINING_S
        return self.key == pipeline.CONTROLLER and len(progress) >= 2


def _stop(process: subprocess.Popen) -> None:
    """End a probe's process and what it started (its workers): it has its own process group."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
