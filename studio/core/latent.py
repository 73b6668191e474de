"""Latent-space maths for the Latent Explorer: interpolation, a 2-D map of the space, attribute vectors.

numpy only (no Qt, no torch), so it is tested headless and usable from a notebook.
Latents are ``float`` arrays ``(n, latent_dim)``; one latent is ``(latent_dim,)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

INTERPOLATIONS = ("linear", "slerp")


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (White, "Sampling Generative Networks", 2016).

    Follows the great circle between the directions of ``a`` and ``b`` while
    blending their lengths: halfway between two typical Gaussian latents it
    stays at a typical distance from the origin, where a straight line passes
    through the unlikely middle. Ends are exactly ``a`` and ``b``; (anti)parallel
    or zero vectors fall back to :func:`lerp`.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if norms == 0.0:
        return lerp(a, b, t)
    omega = np.arccos(np.clip(np.dot(a64, b64) / norms, -1.0, 1.0))
    sin_omega = np.sin(omega)
    if sin_omega < 1e-6:
        return lerp(a, b, t)
    mixed = (np.sin((1.0 - t) * omega) / sin_omega) * a64 + (np.sin(t * omega) / sin_omega) * b64
    return mixed.astype(np.result_type(a, b))


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, mode: str = "linear") -> np.ndarray:
    """``steps`` latents from ``a`` to ``b`` (both included), ``(steps, latent_dim)``."""
    if mode not in INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation {mode!r}; use one of {INTERPOLATIONS}.")
    if steps < 2:
        raise ValueError(f"A morph needs at least 2 steps, not {steps}.")
    blend = slerp if mode == "slerp" else lerp
    return np.stack([blend(np.asarray(a), np.asarray(b), t) for t in np.linspace(0.0, 1.0, steps)])


def walk(centre: np.ndarray, direction: np.ndarray, extent: float, steps: int) -> np.ndarray:
    """``steps`` latents ``centre + t * direction`` for ``t`` evenly from ``-extent`` to ``+extent``."""
    if steps < 2:
        raise ValueError(f"A walk needs at least 2 steps, not {steps}.")
    ts = np.linspace(-extent, extent, steps)[:, None]
    return (np.asarray(centre)[None, :] + ts * np.asarray(direction)[None, :]).astype(np.float32)


@dataclass(frozen=True)
class Principal:
    """Principal directions of a set of latents, largest variance first."""

    mean: np.ndarray  #: (latent_dim,)
    directions: np.ndarray  #: (k, latent_dim), orthonormal rows
    std: np.ndarray  #: (k,) the spread of the latents along each direction
    explained: np.ndarray  #: (k,) fraction of the total variance along each direction


def principal_directions(latents: np.ndarray) -> Principal:
    """PCA by SVD of the centred latents."""
    latents = np.asarray(latents, np.float64)
    if latents.ndim != 2 or len(latents) < 2:
        raise ValueError(f"PCA needs at least two latents shaped (n, latent_dim), got {latents.shape}.")
    mean = latents.mean(axis=0)
    _, singular, vt = np.linalg.svd(latents - mean, full_matrices=False)
    variance = singular**2 / (len(latents) - 1)
    total = variance.sum()
    explained = variance / total if total > 0 else np.zeros_like(variance)
    return Principal(mean, vt, np.sqrt(variance), explained)


@dataclass(frozen=True)
class Projection:
    """A 2-D map of the latent space: the latent itself when it has two dimensions,
    else its first two principal components.

    ``to_latent`` maps a point of the map back: ``mean + x * axes[0] + y * axes[1]``.
    """

    mean: np.ndarray  #: (latent_dim,)
    axes: np.ndarray  #: (2, latent_dim); a zero second row for a 1-D latent
    labels: tuple[str, str]  #: axis titles, e.g. ("PC1 (34% of variance)", ...)

    @property
    def is_pca(self) -> bool:
        return self.labels[0].startswith("PC")

    def to_map(self, latents: np.ndarray) -> np.ndarray:
        """``(n, latent_dim)`` -> ``(n, 2)`` (or one latent -> one point)."""
        return ((np.asarray(latents, np.float64) - self.mean) @ self.axes.T).astype(np.float32)

    def to_latent(self, points: np.ndarray) -> np.ndarray:
        """``(n, 2)`` -> ``(n, latent_dim)`` (or one point -> one latent)."""
        return (self.mean + np.asarray(points, np.float64) @ self.axes).astype(np.float32)


def fit_projection(latents: np.ndarray, principal: Optional[Principal] = None) -> Projection:
    """The map of ``latents``: themselves in 2-D, else PCA (``principal`` if already computed).
    With fewer than two latents there is no variance to follow: the first two dimensions."""
    latents = np.asarray(latents)
    dim = latents.shape[1]
    if dim == 1:
        return Projection(np.zeros(1), np.array([[1.0], [0.0]]), ("z₁", ""))
    if dim == 2 or (principal is None and len(latents) < 2):
        return Projection(np.zeros(dim), np.eye(2, dim), ("z₁", "z₂"))
    principal = principal or principal_directions(latents)
    labels = tuple(f"PC{i + 1} ({principal.explained[i]:.0%} of variance)" for i in range(2))
    return Projection(principal.mean, principal.directions[:2], labels)


def class_vectors(latents: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """For each label present: ``mean(z | label) - mean(z)``, the book's attribute vector."""
    latents = np.asarray(latents, np.float64)
    overall = latents.mean(axis=0)
    return {int(c): (latents[labels == c].mean(axis=0) - overall).astype(np.float32)
            for c in np.unique(labels)}


def difference_vector(from_latents: np.ndarray, to_latents: np.ndarray) -> np.ndarray:
    """``mean(to) - mean(from)``: adding it moves an image from the first group towards the second."""
    if len(from_latents) == 0 or len(to_latents) == 0:
        raise ValueError("Both groups need at least one image.")
    return (np.asarray(to_latents, np.float64).mean(axis=0)
            - np.asarray(from_latents, np.float64).mean(axis=0)).astype(np.float32)


def nearest(points: np.ndarray, target: tuple[float, float], scale: tuple[float, float],
            radius: float) -> Optional[int]:
    """Index of the point of ``points`` ``(n, 2)`` nearest ``target``, or None if none lies within
    ``radius`` pixels; ``scale`` is the size of one screen pixel in map units, per axis."""
    if len(points) == 0:
        return None
    dx = (points[:, 0] - target[0]) / scale[0]
    dy = (points[:, 1] - target[1]) / scale[1]
    distance = dx * dx + dy * dy
    index = int(np.argmin(distance))
    return index if distance[index] <= radius * radius else None


def subsample(n: int, cap: int, seed: int = 0) -> np.ndarray:
    """At most ``cap`` sorted indices of ``range(n)``, the same for the same seed."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))
