"""The noise schedules, on the discrete timesteps diffusers' schedulers count in.

The book's schedules are functions of a continuous diffusion time in [0, 1]. Here
the model trains on ``T`` discrete timesteps ``t = 0 .. T-1`` (diffusion time
``t / (T - 1)``), because every diffusers scheduler describes a schedule by
``alphas_cumprod[t]`` (the signal variance at ``t``) and accepts one as
``trained_betas``: handing it the betas below makes each scheduler sample
exactly the noise levels the model was trained on.

A noisy image at ``t`` is ``signal_rate * image + noise_rate * noise`` with
``signal_rate ** 2 + noise_rate ** 2 = 1``, so ``alphas_cumprod = signal_rate ** 2``
and the noise variance the model is told is ``1 - alphas_cumprod``.
"""

from __future__ import annotations

import numpy as np

#: The book's offset-cosine schedule: the signal rate falls from this to ...
MAX_SIGNAL_RATE = 0.95
#: ... this, along a quarter circle (its angle grows linearly with time).
MIN_SIGNAL_RATE = 0.02
#: The book's linear schedule (DDPM's): betas from this to ...
LINEAR_BETA_START = 1e-4
#: ... this.
LINEAR_BETA_END = 0.02


def signal_rates(schedule: str, timesteps: int) -> np.ndarray:
    """``(timesteps,)`` float64: how much of the image is left at each timestep."""
    if timesteps < 2:
        raise ValueError(f"A schedule needs at least 2 timesteps, not {timesteps}.")
    if schedule == "offset-cosine":
        start, end = np.arccos(MAX_SIGNAL_RATE), np.arccos(MIN_SIGNAL_RATE)
        angles = start + np.linspace(0.0, 1.0, timesteps) * (end - start)
        return np.cos(angles)
    if schedule == "linear":
        betas = np.linspace(LINEAR_BETA_START, LINEAR_BETA_END, timesteps)
        return np.sqrt(np.cumprod(1.0 - betas))
    raise ValueError(f"Unknown schedule {schedule!r}; use 'offset-cosine' or 'linear'.")


def alphas_cumprod(schedule: str, timesteps: int) -> np.ndarray:
    """``(timesteps,)`` float64: the signal variance at each timestep."""
    return signal_rates(schedule, timesteps) ** 2


def betas_for(cumulative: np.ndarray) -> np.ndarray:
    """The betas whose ``cumprod(1 - betas)`` is ``cumulative``: diffusers' ``trained_betas``."""
    previous = np.concatenate([[1.0], cumulative[:-1]])
    return 1.0 - cumulative / previous
