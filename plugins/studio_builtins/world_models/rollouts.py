"""Rollouts of CarRacing as the World Models stages read them: the environment, the frames at 64x64, one
episode per ``.npz`` file, and the folder of episodes as a dataset source.

An episode file ``episode-00042.npz`` holds ``frames`` uint8 (T, 64, 64, 3), ``actions`` float32 (T, 3),
``rewards`` float32 (T,) and ``dones`` bool (T,): ``frames[t]`` is what the car saw before it took
``actions[t]``, which earned ``rewards[t]``; ``dones[t]`` says the environment ended the episode there (the
track finished, the car off the playfield, or CarRacing's 1,000-step limit), not a shorter ``--steps``.
Gymnasium is imported only by :func:`make_env`, so reading rollouts needs none.
"""

from __future__ import annotations

import os
import random
import re
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from studio.core.data import DataError, DataSplit

ENV_ID = "CarRacing-v3"
FRAME_SIZE = 64
#: CarRacing's dashboard (speed, ABS, steering and gyro bars) is the bottom 12 rows of its 96x96 frame
DASHBOARD_ROWS = 12
ACTION_LOW = (-1.0, 0.0, 0.0)  #: steering, gas, brake
ACTION_HIGH = (1.0, 1.0, 1.0)
INFO_FILE = "rollouts.json"
EPISODE_PATTERN = re.compile(r"^episode-(\d{5,})\.npz$")

#: each array of an episode file: its dtype and its shape after the first axis (the steps)
ARRAYS = {
    "frames": (np.dtype(np.uint8), (FRAME_SIZE, FRAME_SIZE, 3)),
    "actions": (np.dtype(np.float32), (3,)),
    "rewards": (np.dtype(np.float32), ()),
    "dones": (np.dtype(np.bool_), ()),
}


#: what reading a damaged episode file raises: numpy's and zipfile's errors, zlib's for a damaged compressed
#: array, SyntaxError and TokenError for a damaged array header (numpy parses it as a Python literal)
_DAMAGE = (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError, zlib.error, zipfile.BadZipFile,
           zipfile.LargeZipFile)


def episode_name(index: int) -> str:
    return f"episode-{index:05d}.npz"


def make_env(seed: Optional[int] = None):
    """CarRacing with continuous actions and no window (its observations are the frames). With ``seed`` the
    environment is reset once with it, so its later ``reset()`` calls draw a reproducible series of tracks;
    ``reset(seed=...)`` picks one track."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame's greeting, printed on import
    import gymnasium as gym

    env = gym.make(ENV_ID, continuous=True, render_mode=None)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def frame_64(obs: np.ndarray) -> np.ndarray:
    """A 96x96x3 CarRacing observation as the models see it: the dashboard cropped, resized to 64x64 with
    PIL's bilinear filter, uint8 (64, 64, 3)."""
    from PIL import Image

    if obs.ndim != 3 or obs.shape[2] != 3:
        raise ValueError(f"a CarRacing frame is (96, 96, 3) RGB, got shape {obs.shape}")
    road = np.ascontiguousarray(obs[: obs.shape[0] - DASHBOARD_ROWS], dtype=np.uint8)
    return np.asarray(Image.fromarray(road).resize((FRAME_SIZE, FRAME_SIZE), Image.BILINEAR), dtype=np.uint8)


@dataclass
class Episode:
    """One episode's arrays, step by step (see the module's docstring)."""

    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def save_episode(path: Path, episode: Episode) -> None:
    """Write ``episode`` compressed, atomically: a crash leaves no half-written episode behind."""
    from studio.core.atomic import atomic_path

    check_arrays(path, {name: getattr(episode, name) for name in ARRAYS})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: savez would add ".npz" to a name
        np.savez_compressed(f, frames=episode.frames, actions=episode.actions, rewards=episode.rewards,
                            dones=episode.dones)


def read_episode(path) -> Episode:
    """The arrays of one episode file; a :class:`DataError` naming the file when it is damaged or not an
    episode."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise DataError(f"{path} is not a rollout episode: it has no {', '.join(missing)} array.")
            arrays = {name: npz[name] for name in ARRAYS}
    except DataError:
        raise
    except _DAMAGE as exc:
        raise DataError(f"{path} cannot be read as a rollout episode ({exc}).") from exc
    check_arrays(path, arrays)
    return Episode(**arrays)


def check_arrays(path: Path, arrays: dict) -> int:
    """The number of steps in ``arrays`` (shapes or arrays, by name), or a :class:`DataError` naming the
    file when a dtype or shape is not the agreed one or the arrays disagree on the steps."""
    steps = None
    for name, (dtype, tail) in ARRAYS.items():
        value = arrays[name]
        shape, got = tuple(value.shape), np.dtype(value.dtype)
        if got != dtype or len(shape) != 1 + len(tail) or shape[1:] != tail:
            expected = ", ".join(("T", *map(str, tail))) if tail else "T,"
            raise DataError(f"{path}: {name} is {got} {shape}; a rollout episode's {name} is {dtype} ({expected}).")
        if steps is None:
            steps = shape[0]
        elif shape[0] != steps:
            raise DataError(f"{path}: {name} has {shape[0]} steps but frames has {steps}.")
    if not steps:
        raise DataError(f"{path} holds an empty episode (no steps).")
    return steps


def episode_steps(path: Path) -> int:
    """The steps of an episode file from its arrays' headers, without decompressing the frames: cheap
    enough to check every file of a large folder. A :class:`DataError` when it is damaged."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            shapes = {}
            for name in ARRAYS:
                if f"{name}.npy" not in names:
                    raise DataError(f"{path} is not a rollout episode: it has no {name} array.")
                with archive.open(f"{name}.npy") as member:
                    shapes[name] = _header(member)
    except DataError:
        raise
    except _DAMAGE as exc:
        raise DataError(f"{path} cannot be read as a rollout episode ({exc}).") from exc
    return check_arrays(path, shapes)


@dataclass(frozen=True)
class _Shape:
    """An array's shape and dtype as its ``.npy`` header says, for :func:`check_arrays`."""

    shape: tuple
    dtype: np.dtype


def _header(member) -> _Shape:
    fmt = np.lib.format
    major, _minor = fmt.read_magic(member)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, _fortran_order, dtype = read(member)
    return _Shape(tuple(shape), np.dtype(dtype))


@dataclass
class Rollouts:
    """A folder's episodes (their files, in order), with the files that could not be read.

    It iterates and indexes like its list of episode paths; :meth:`split` holds out whole episodes.
    """

    name: str
    episodes: list[Path]
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (file, reason) not read
    lengths: list[int] = field(default_factory=list)  #: steps of each episode, as in ``episodes``
    validation_fraction: float = 0.1

    def __len__(self) -> int:
        return len(self.episodes)

    def __iter__(self):
        return iter(self.episodes)

    def __getitem__(self, index):
        return self.episodes[index]

    @property
    def steps(self) -> int:
        return sum(self.lengths)

    def split(self, seed: int = 0) -> DataSplit:
        """Training and validation episodes: a shuffle with ``seed``, :attr:`validation_fraction` of them (at
        least one) held out. A folder of one episode trains on it and validates on nothing."""
        order = list(range(len(self.episodes)))
        random.Random(seed).shuffle(order)
        held = min(len(order) - 1, max(1, round(len(order) * self.validation_fraction)))
        return DataSplit(train=self._subset(sorted(order[held:])), validation=self._subset(sorted(order[:held])),
                         name=self.name)

    def _subset(self, indices: list[int]) -> Rollouts:
        return Rollouts(self.name, [self.episodes[i] for i in indices], list(self.skipped),
                        [self.lengths[i] for i in indices], self.validation_fraction)


def episode_files(folder: Path) -> list[Path]:
    """The episode files of a folder, by index (temporary files of an unfinished write are not listed)."""
    return sorted((p for p in folder.iterdir() if EPISODE_PATTERN.match(p.name)), key=lambda p: p.name)


def load_rollouts(location: Optional[str]) -> Rollouts:
    """The episodes of a rollouts folder (``studio dream collect --out``); damaged ones are skipped and
    listed in ``skipped``."""
    if not location:
        raise DataError("The CarRacing rollouts source needs a folder: --data carracing-rollouts:FOLDER "
                        "(make one with `studio dream collect`).")
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of rollouts" + ("" if folder.exists() else " (it does not exist)")
                        + "; make one with `studio dream collect --out FOLDER`.")
    episodes, lengths, skipped = [], [], []
    for path in episode_files(folder):
        try:
            lengths.append(episode_steps(path))
            episodes.append(path)
        except DataError as exc:
            skipped.append((path.name, str(exc)))
    if not episodes:
        found = f" ({len(skipped)} damaged: {skipped[0][1]})" if skipped else ""
        raise DataError(f"The folder {folder} holds no readable rollout episodes{found}; collect some with "
                        f"`studio dream collect --out {folder}`.")
    return Rollouts(folder.name, episodes, skipped, lengths)


#: the files the loader reads, so a folder with none is refused before a job starts
load_rollouts.extensions = (".npz",)
#: what else the source offers for the environment it records, as references resolved when used: the studio
#: (the dream commands, the panel) reaches the plugin only through its specs, never by importing it.
#: ``collect(out, episodes, steps, *, workers, seed, on_progress, should_stop) -> CollectResult`` fills a
#: rollouts folder; ``evaluate(controller, episodes, seed, workers, on_episode) -> list[float]`` scores a
#: trained controller on real tracks.
load_rollouts.tools = {
    "collect": "studio_builtins.world_models.collect:collect",
    "evaluate": "studio_builtins.world_models.control:evaluate",
}
