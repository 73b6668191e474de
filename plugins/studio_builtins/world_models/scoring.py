"""Scoring controllers: rollouts of the linear policy in M's dream or in the real CarRacing, run in worker
processes.

A worker gets what it needs once, when its pool starts (:class:`WorldPayload`: M's factory and config as
references and JSON, its weights as numpy arrays, the start frames), builds its own M and reuses it, and
then scores tasks: a candidate's parameters and the seeds of its rollouts. A rollout's result depends only
on its seed and the parameters, never on which worker ran it or how many there are: each worker runs
torch on one thread, and the seeds come from (generation, candidate, rollout), not from a worker's stream.
The pool uses the "spawn" start method (forking a process that holds torch threads is unsafe) and lives as
long as its :class:`Scorer`, across generations.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from studio.core.specs import resolve

#: CarRacing's action bounds: steering in [-1, 1], gas and brake in [0, 1]
ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)
#: CarRacing ends an episode by itself after this many steps
ENV_EPISODE_STEPS = 1000


def policy_action(weight: np.ndarray, bias: np.ndarray, z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The linear controller's action for one observation: tanh(W [z, h] + b), with gas and brake moved
    from [-1, 1] to CarRacing's [0, 1]. A controller on z alone has a narrower W: it reads [z, h]'s first
    part only."""
    features = np.concatenate([z, h]).astype(np.float64)[: weight.shape[1]]
    raw = np.tanh(weight @ features + bias)
    return ((raw + 1.0) / 2.0 * (ACTION_HIGH - ACTION_LOW) + ACTION_LOW).astype(np.float32)


def unflatten(params: np.ndarray, inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """A CMA-ES candidate (the weight matrix row by row, then the bias) as (W (3, inputs), b (3,))."""
    params = np.asarray(params, dtype=np.float64)
    if params.shape != (3 * inputs + 3,):
        raise ValueError(f"a controller on {inputs} inputs has {3 * inputs + 3} parameters, got {params.shape}")
    return params[: 3 * inputs].reshape(3, inputs), params[3 * inputs:]


def rollout_seed(*parts: int) -> int:
    """A rollout's seed (below 2**31) from its coordinates, e.g. (trainer seed, generation, candidate, rollout)."""
    return int(np.random.SeedSequence([int(p) % 2**32 for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class WorldPayload:
    """Everything a worker needs to build the world a controller is scored in, as plain data."""

    factory: str  #: M's class, as a "module:attribute" reference
    config_class: str  #: M's config dataclass, as a reference
    config_json: str  #: M's config
    weights: dict[str, np.ndarray]  #: M's state dict as arrays
    inputs: int  #: len(z) + len(h), or len(z) for a controller on z alone
    in_dream: bool
    max_steps: int
    temperature: float


def payload_for(memory: Any, inputs: int, *, in_dream: bool, max_steps: int, temperature: float) -> WorldPayload:
    """The payload that rebuilds ``memory`` (M, or any model with its interface) in a worker."""
    from studio.core.config import config_dict

    weights = {name: tensor.detach().cpu().numpy() for name, tensor in memory.state_dict().items()}
    return WorldPayload(_ref(type(memory)), _ref(type(memory.config)), json.dumps(config_dict(memory.config)),
                        weights, inputs, in_dream, max_steps, temperature)


def _ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class World:
    """A worker's own M (and CarRacing, for real rollouts), built from a :class:`WorldPayload`."""

    def __init__(self, payload: WorldPayload) -> None:
        import torch

        from studio.core.config import config_from_dict

        self.payload = payload
        config = config_from_dict(resolve(payload.config_class), json.loads(payload.config_json))
        self.memory = resolve(payload.factory)(config)
        self.memory.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in payload.weights.items()})
        self.memory.eval()
        self._env = None

    def score(self, params: np.ndarray, seeds: Sequence[int]) -> list[float]:
        """The candidate's score (summed reward) in each rollout, in the order of ``seeds``."""
        import torch

        weight, bias = unflatten(params, self.payload.inputs)
        rollout = self.dream_rollout if self.payload.in_dream else self.real_rollout
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same arithmetic in every worker and in a caller's process, which keeps its own
        try:
            return [rollout(weight, bias, seed) for seed in seeds]
        finally:
            torch.set_num_threads(threads)

    def dream_rollout(self, weight: np.ndarray, bias: np.ndarray, seed: int) -> float:
        """Summed predicted reward until M predicts the end or ``max_steps``; M starts the dream (from the start
        of one of its training episodes, chosen by the seed)."""
        import torch

        total = 0.0
        with torch.no_grad():
            dream = self.memory.dream()
            dream.reset(seed=seed)
            for _ in range(self.payload.max_steps):
                reward, done = dream.advance(policy_action(weight, bias, dream.z, dream.h),
                                             temperature=self.payload.temperature)
                total += reward
                if done:
                    break
        return total

    def real_rollout(self, weight: np.ndarray, bias: np.ndarray, seed: int) -> float:
        """Summed CarRacing reward on the track of ``seed``: M's VAE encodes each frame into z, M's LSTM
        carries h forward with the action taken."""
        import torch

        from studio_builtins.world_models.rollouts import frame_64, make_env

        if self._env is None:
            self._env = make_env()
        obs, _ = self._env.reset(seed=int(seed))
        total = 0.0
        with torch.no_grad():
            dream = self.memory.dream()  # M observing: a step carries h forward, then z is the real frame's
            dream.reset(seed=seed, frame=frame_64(obs))
            for _ in range(min(self.payload.max_steps, ENV_EPISODE_STEPS)):
                action = policy_action(weight, bias, dream.z, dream.h)
                obs, reward, terminated, truncated, _ = self._env.step(action)
                total += float(reward)
                if terminated or truncated:
                    break
                dream.advance(action, temperature=self.payload.temperature)
                dream.see(frame_64(obs))
        return total

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


# -- the worker processes ---------------------------------------------------------------------------------------
_WORLD: Optional[World] = None


def _start_worker(payload: dict) -> None:
    """A new worker's world, from the payload's plain data (numpy arrays, strings, numbers). Ctrl+C reaches the
    whole process group: the trainer's process stops after the generation, so its workers must finish it."""
    global _WORLD
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORLD = World(WorldPayload(**payload))


def _score_task(task: tuple[int, np.ndarray, list[int]]) -> tuple[int, list[float]]:
    index, params, seeds = task
    assert _WORLD is not None, "the worker was started without its world"
    return index, _WORLD.score(params, seeds)


class Scorer:
    """Scores candidates in ``workers`` processes (or in this process for one worker), reusing them."""

    def __init__(self, payload: WorldPayload, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"Scoring needs at least one worker, not {workers}.")
        self.payload = payload
        self.workers = workers
        self._pool = None
        self._world: Optional[World] = None

    def scores(self, candidates: Sequence[np.ndarray], seeds: Sequence[Sequence[int]],
               on_result: Optional[Callable[[int, list[float]], None]] = None) -> list[list[float]]:
        """Each candidate's rollout scores (``seeds[i]`` for candidate ``i``), in candidate order;
        ``on_result(i, scores)`` hears each as it finishes."""
        if len(seeds) != len(candidates):
            raise ValueError(f"{len(candidates)} candidates need as many lists of seeds, not {len(seeds)}")
        tasks = [(i, np.asarray(c), list(s)) for i, (c, s) in enumerate(zip(candidates, seeds, strict=True))]
        results: list[Optional[list[float]]] = [None] * len(candidates)
        for index, scores in self._run(tasks):
            results[index] = scores
            if on_result is not None:
                on_result(index, scores)
        return [r for r in results if r is not None]

    def _run(self, tasks: list) -> Iterator[tuple[int, list[float]]]:
        if self.workers == 1:
            if self._world is None:
                self._world = World(self.payload)
            for index, params, seeds in tasks:
                yield index, self._world.score(params, seeds)
            return
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(self.workers, initializer=_start_worker, initargs=(asdict(self.payload),))
        yield from self._pool.imap_unordered(_score_task, tasks)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        if self._world is not None:
            self._world.close()
            self._world = None
