"""The canvas's Measure: how far a model's samples are from the real images it learned (Qt-free).

A measurement samples :data:`SAMPLES` images with the canvas's sampler, steps and guidance but no
class (a conditional model then draws every class: the diffusion model its unconditional images,
the conditional GAN each class in turn), and compares them with as many held-out images of the
data the model was trained on (the images its run did not train on; a starter's shipped sample),
on the judge's features: the Fréchet distance and KID of :mod:`studio.core.metrics`, each with a
bootstrap error. The catalogue keeps both, by the checkpoint's path and the SHA-256 of its weights,
with everything they were measured with, so the figure comes back beside the model's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from studio.core.capabilities import SampleOptions, sample_images
from studio.core.data import held_out_images
from studio.core.digests import checkpoint_digest
from studio.core.errors import UserError
from studio.core.metrics import Distances, compare_images
from studio.engine.run_folder import training_job

#: Images sampled and real images compared per measurement: a Fréchet distance's bias shrinks with
#: the count, and two models compare only when measured with the same.
SAMPLES = 1000
#: Images sampled per call: a progress tick and a chance to cancel between calls.
CHUNK = 50
#: Seeds the measurement's samples and the choice of real images: a measurement repeats exactly.
SEED = 0


@dataclass(frozen=True)
class Reading:
    """A model's latest measurement, as the canvas shows it beside the model's name."""

    fd: float
    fd_error: float
    kid: float
    kid_error: float
    samples: int
    judge: str  #: the judge's title

    def __str__(self) -> str:
        return f"FD {self.fd:.3g} ± {self.fd_error:.2g} · KID {self.kid:.3g} ± {self.kid_error:.2g}"


def reference_argument(checkpoint: str) -> str:
    """The ``--data`` argument of the real images a model is measured against: what its run trained
    on (a starter names the held-out sample it ships). Raises :class:`UserError` when it is unknown."""
    job = training_job(checkpoint)
    argument = job.get("map_data") or job.get("data")
    if not argument:
        raise UserError("The data this model was trained on is not known (its run folder has no job.json), so "
                        "there are no real images to measure its samples against.")
    return str(argument)


def sample_for_measure(model: Any, ctx: Any, *, count: int, options: Optional[SampleOptions]) -> np.ndarray:
    """``count`` samples, :data:`CHUNK` at a time (each a step of ``ctx``, which may cancel); image
    ``i`` from seed ``SEED + i`` for a model that seeds each image."""
    images = []
    for step, start in enumerate(range(0, count, CHUNK), 1):
        n = min(CHUNK, count - start)
        images.append(sample_images(model, n, seed=SEED + start, options=options))
        ctx.step(step, -(-count // CHUNK))
    return np.concatenate(images)


def load_reference(registry: Any, checkpoint: str, image_shape: tuple[int, int, int], count: int) -> Any:
    """At most ``count`` held-out images of the model's data, split as its run split them."""
    seed = int(training_job(checkpoint).get("seed", 0))
    return held_out_images(registry, reference_argument(checkpoint), image_shape, seed=seed, cap=count)


def compare(judge: Any, ctx: Any, images: np.ndarray, reference: np.ndarray) -> Distances:
    return compare_images(judge, images, reference, seed=SEED, on_step=ctx.step)


def record(store: Any, checkpoint: str, distances: Distances, settings: dict[str, Any]) -> None:
    """Keep both distances in the catalogue, by path and by the weights' SHA-256."""
    sha = checkpoint_digest(store, checkpoint)
    for metric, measured in (("fd", distances.fd), ("kid", distances.kid)):
        store.add_measurement(checkpoint, sha, metric, measured.value, measured.error, measured.n, settings)


def latest(store: Any, checkpoint: str, sha: Optional[str]) -> Optional[Reading]:
    """The checkpoint's newest Fréchet distance and the KID measured with it, or None."""
    rows = store.measurements(checkpoint, sha)
    fd = next((r for r in rows if r["metric"] == "fd"), None)
    if fd is None:
        return None
    kid = next((r for r in rows if r["metric"] == "kid"), None)  # recorded with it, so as new
    return Reading(fd["value"], fd["error"] or 0.0, kid["value"] if kid else float("nan"),
                   (kid["error"] or 0.0) if kid else 0.0, fd["samples"], str(fd["settings"].get("judge", "")))
