"""The real CarRacing as a world model's ``Environment`` (the contract's optional ``WorldModel.environment()``):
frames at 64x64 as V sees them, one action a step, the episode's end when CarRacing ends it.

Gymnasium is imported when an environment is made, not before; without it (or without Box2D) the
:class:`~studio.core.capabilities.ModelError` says what to install.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from studio.core.capabilities import ModelError
from studio_builtins.world_models.rollouts import ACTION_HIGH, ACTION_LOW, frame_64, make_env

INSTALL = 'pip install "gymnasium[box2d]"'


class CarRacing:
    """One CarRacing environment (``continuous=True``, no window); :meth:`close` frees its Box2D world."""

    def __init__(self) -> None:
        try:
            self._env: Optional[Any] = make_env()
        except ImportError as exc:
            raise ModelError(f"The real CarRacing needs Gymnasium with Box2D, which is not installed here "
                             f"({exc}). Install it with {INSTALL}, then restart the studio.") from exc
        except Exception as exc:  # gymnasium's DependencyNotInstalled is no ImportError
            if type(exc).__name__ == "DependencyNotInstalled":
                raise ModelError(f"The real CarRacing cannot start: {exc}") from exc
            raise
        self._low = np.asarray(ACTION_LOW, np.float32)
        self._high = np.asarray(ACTION_HIGH, np.float32)

    def reset(self, *, seed: int) -> np.ndarray:
        """A new track chosen by ``seed``; its first frame, uint8 (64, 64, 3)."""
        obs, _info = self._live().reset(seed=int(seed))
        return frame_64(obs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """One step with ``action`` (clipped to CarRacing's bounds): the next frame, the reward, and whether
        the episode ended (the track done, the car off the playfield, or the 1,000-step limit)."""
        action = np.clip(np.asarray(action, np.float32), self._low, self._high)
        obs, reward, terminated, truncated, _info = self._live().step(action)
        return frame_64(obs), float(reward), bool(terminated or truncated)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    def _live(self) -> Any:
        if self._env is None:
            raise ModelError("This CarRacing environment was closed; reset to a real track again.")
        return self._env
