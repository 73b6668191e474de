"""Collecting CarRacing rollouts with a smooth random policy, episodes in parallel worker processes.

Episode ``i`` is driven on the track of seed ``seed + i`` by a policy seeded the same way, so a seed gives
the same rollouts whatever the number of workers. Each worker keeps only the episode it is driving and saves
it (atomically) as soon as it is done; a folder's existing episodes are kept, so collecting again resumes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from studio.core.errors import UserError

from .rollouts import (
    ACTION_HIGH,
    ACTION_LOW,
    ENV_ID,
    INFO_FILE,
    Episode,
    episode_name,
    episode_steps,
    frame_64,
    make_env,
    save_episode,
)

#: how often (in steps) a worker reports its progress
REPORT_EVERY = 25


class CollectError(UserError):
    """Collecting cannot start or a worker failed; the message says why."""


@dataclass(frozen=True)
class SmoothRandomPolicy:
    """Actions that drift (the "brownian" policy of ctallec's World Models reimplementation), so the car
    explores the track instead of shaking on the spot.

    Each of steering, gas and brake follows an Ornstein-Uhlenbeck walk: it moves by ``sigma * sqrt(dt)``
    times a standard normal a step and is pulled back towards ``rest`` at rate ``pull``; the action is the
    walk clipped to CarRacing's bounds. At rest the car steers straight with 0.4 gas, and a rest below 0
    keeps the brake off most of the time (it is on when the walk wanders above 0). These values keep the car
    on the road about twice as long as wilder steering (1.0) with more gas (0.5) did, over eight 400-step
    tracks (17 tiles reached against 7), so V sees the road, not only grass.
    """

    dt: float = 1 / 50  #: CarRacing runs at 50 frames a second
    pull: float = 2.0  #: a drift lasts about 1/pull seconds (25 steps)
    rest: tuple[float, float, float] = (0.0, 0.4, -0.3)
    sigma: tuple[float, float, float] = (0.5, 0.5, 0.5)  #: the walk's spread is sigma / sqrt(2 pull)

    def actions(self, seed: int):
        """An endless stream of float32 (3,) actions, the same for the same ``seed``."""
        rng = np.random.default_rng(seed)
        rest, sigma = np.asarray(self.rest), np.asarray(self.sigma)
        spread = sigma / math.sqrt(2 * self.pull)
        walk = rest + spread * rng.standard_normal(3)  # start anywhere the walk goes
        low, high = np.asarray(ACTION_LOW), np.asarray(ACTION_HIGH)
        while True:
            yield np.clip(walk, low, high).astype(np.float32)
            walk = walk + self.pull * (rest - walk) * self.dt + sigma * math.sqrt(self.dt) * rng.standard_normal(3)

    def describe(self) -> dict:
        return {"name": "smooth-random", **asdict(self)}


def drive_episode(env, policy: SmoothRandomPolicy, seed: int, steps: int,
                  stop: Callable[[], bool] = lambda: False,
                  on_steps: Callable[[int], None] = lambda n: None) -> Optional[Episode]:
    """One episode of at most ``steps`` steps on the track of ``seed``; None when ``stop()`` said so first.
    ``on_steps(n)`` hears every :data:`REPORT_EVERY` steps (and the last few) how many were driven."""
    obs, _info = env.reset(seed=seed)
    limit = env.spec.max_episode_steps if env.spec is not None else None
    steps = min(steps, limit) if limit else steps  # the environment ends it there anyway: no frames beyond
    frames = np.empty((steps, 64, 64, 3), np.uint8)
    actions = np.empty((steps, 3), np.float32)
    rewards = np.empty(steps, np.float32)
    dones = np.zeros(steps, np.bool_)
    stream = policy.actions(seed)
    t, reported = 0, 0
    while t < steps:
        if stop():
            return None
        frames[t], actions[t] = frame_64(obs), next(stream)
        obs, reward, terminated, truncated, _info = env.step(actions[t])
        rewards[t], dones[t] = reward, terminated or truncated
        t += 1
        if t - reported >= REPORT_EVERY:
            on_steps(t - reported)
            reported = t
        if dones[t - 1]:
            break
    if t > reported:
        on_steps(t - reported)
    return Episode(frames[:t].copy(), actions[:t].copy(), rewards[:t].copy(), dones[:t].copy())


@dataclass(frozen=True)
class CollectProgress:
    """Where a collection stands, as the callback hears it."""

    episodes_done: int  #: episodes in the folder, those kept from before included
    episodes_total: int
    steps_done: int  #: steps driven by this run
    steps_left: int  #: at most this many still to drive (episodes may end before --steps)
    elapsed_s: float  #: since this run started

    @property
    def eta_s(self) -> Optional[float]:
        """Seconds left at the pace so far (an upper bound: episodes may end early); None before any step."""
        if not self.steps_done or self.elapsed_s <= 0:
            return None
        return self.steps_left * self.elapsed_s / self.steps_done


@dataclass(frozen=True)
class CollectResult:
    folder: Path
    kept: int  #: episodes that were already in the folder
    collected: int  #: episodes this run added
    steps: int  #: steps this run drove, in the episodes it saved
    elapsed_s: float
    stopped: bool  #: cancelled (Ctrl+C or ``should_stop``) before every episode was done

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.elapsed_s if self.elapsed_s > 0 else 0.0


def collect(out, episodes: int, steps: int, *, workers: int = 1, seed: int = 0,
            policy: SmoothRandomPolicy = SmoothRandomPolicy(),
            on_progress: Optional[Callable[[CollectProgress], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> CollectResult:
    """Fill the folder ``out`` with episodes ``0 .. episodes-1`` of at most ``steps`` steps, driving the
    missing ones in ``workers`` processes. ``should_stop()`` (polled a few times a second) or Ctrl+C stops the
    workers within a step; the episodes finished by then are kept and a later call resumes."""
    if episodes < 1 or steps < 1 or workers < 1:
        raise CollectError("episodes, steps and workers must each be at least 1.")
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CollectError(f"{folder} is a file; rollouts are collected into a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    # as rollouts.json holds them (lists, not tuples), to compare with a folder's
    settings = json.loads(json.dumps({"env": ENV_ID, "seed": seed, "steps": steps, "policy": policy.describe()}))
    _check_settings(folder, settings)
    lengths = _existing_lengths(folder, episodes)
    missing = [i for i in range(episodes) if i not in lengths]
    kept = len(lengths)
    _write_info(folder, settings, episodes, lengths)
    started = time.monotonic()
    if not missing:
        return CollectResult(folder, kept, 0, 0, 0.0, stopped=False)
    pool = _Workers(folder, missing, min(workers, len(missing)), steps, seed, policy)
    longest = min(steps, _episode_limit() or steps)
    driven = saved_steps = 0
    stopped = False
    try:
        for message in pool.messages(should_stop or (lambda: False)):
            if message[0] == "steps":
                driven += message[1]
            else:  # "episode", index, steps
                _, index, length = message
                lengths[index] = length
                saved_steps += length
                _write_info(folder, settings, episodes, lengths)
            if on_progress is not None:
                left = sum(longest for i in missing if i not in lengths) - (driven - saved_steps)
                on_progress(CollectProgress(len(lengths), episodes, driven, max(0, left),
                                            time.monotonic() - started))
        stopped = pool.stopped
    except KeyboardInterrupt:
        pool.stop()
        stopped = True
    finally:
        pool.close()
    return CollectResult(folder, kept, len(lengths) - kept, saved_steps, time.monotonic() - started, stopped)


def _episode_limit() -> Optional[int]:
    """The steps after which the environment itself ends an episode (CarRacing: 1,000)."""
    import gymnasium

    return gymnasium.spec(ENV_ID).max_episode_steps


def _check_settings(folder: Path, settings: dict) -> None:
    """Refuse to add episodes to a folder collected with another seed, length or policy: episode ``i`` must
    stay the one of seed ``seed + i``."""
    path = folder / INFO_FILE
    if not path.exists():
        return
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CollectError(f"{path} cannot be read ({exc}); move it away to collect into {folder}.") from exc
    changed = [key for key in settings if before.get(key) != settings[key]]
    if changed:
        was = ", ".join(f"{key} {before.get(key)!r}" for key in changed)
        raise CollectError(f"{folder} was collected with {was}; to resume, collect with the same settings, "
                           "or collect into another folder.")


def _existing_lengths(folder: Path, episodes: int) -> dict[int, int]:
    """The steps of each readable episode ``0 .. episodes-1`` already in the folder; a damaged one is
    collected again."""
    from studio.core.data import DataError

    lengths = {}
    for index in range(episodes):
        path = folder / episode_name(index)
        if path.exists():
            try:
                lengths[index] = episode_steps(path)
            except DataError:
                path.unlink()
    return lengths


def _write_info(folder: Path, settings: dict, requested: int, lengths: dict[int, int]) -> None:
    from studio.core.atomic import atomic_open

    info = {**settings, "episodes": len(lengths), "requested": requested, "total_steps": sum(lengths.values()),
            "frame_shape": [64, 64, 3], "action_low": list(ACTION_LOW), "action_high": list(ACTION_HIGH)}
    with atomic_open(folder / INFO_FILE, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


class _Workers:
    """Processes (the "spawn" context: no forked copy of the caller's threads or torch) driving the episodes
    of a task queue and reporting on a result queue."""

    def __init__(self, folder: Path, indices: list[int], count: int, steps: int, seed: int,
                 policy: SmoothRandomPolicy):
        context = multiprocessing.get_context("spawn")
        self._tasks, self._results, self._stop = context.Queue(), context.Queue(), context.Event()
        for index in indices:
            self._tasks.put(index)
        for _ in range(count):
            self._tasks.put(None)
        self._processes = [context.Process(target=_work, daemon=True, name=f"rollouts-{n}",
                                           args=(str(folder), self._tasks, self._results, self._stop, steps, seed,
                                                 policy))
                           for n in range(count)]
        for process in self._processes:
            process.start()
        self.stopped = False

    def messages(self, should_stop: Callable[[], bool]):
        """The workers' reports until every worker has exited; a worker's failure raises."""
        running = len(self._processes)
        while running:
            if not self.stopped and should_stop():
                self.stop()
            try:
                message = self._results.get(timeout=0.2)
            except queue.Empty:
                if not any(p.is_alive() for p in self._processes):
                    raise CollectError("a rollout worker ended without a word (out of memory?); "
                                       "the finished episodes are kept.") from None
                continue
            if message[0] == "exit":
                running -= 1
            elif message[0] == "error":
                self.stop()
                raise CollectError(f"a rollout worker failed:\n{message[1]}")
            else:
                yield message

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
        self._tasks.close()
        self._results.close()


def _work(folder: str, tasks, results, stop, steps: int, seed: int, policy: SmoothRandomPolicy) -> None:
    """A worker: drive and save episodes until the queue's end, a stop, or its parent's death (a collect killed
    with SIGKILL while nobody watched: its workers must not drive on unseen). Ctrl+C reaches the whole process
    group; the parent alone handles it and sets ``stop``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def stopped() -> bool:
        return stop.is_set() or os.getppid() != parent

    env = None
    try:
        env = make_env()
        while not stopped():
            index = tasks.get()
            if index is None:
                break
            episode = drive_episode(env, policy, seed + index, steps, stop=stopped,
                                    on_steps=lambda n: results.put(("steps", n)))
            if episode is None:
                break
            save_episode(Path(folder) / episode_name(index), episode)
            results.put(("episode", index, len(episode)))
    except Exception:
        results.put(("error", traceback.format_exc(limit=4)))
    finally:
        if env is not None:
            env.close()
        results.put(("exit",))
