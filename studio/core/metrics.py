"""How far generated images are from real ones, on a judge's features: Fréchet distance and KID.

The judge is a trained :class:`~studio.core.capabilities.ImageClassifier` (the
chapter-2 CNN, say); its features, the layer before its class scores, stand in
for the Inception network of FID, so nothing is downloaded and the numbers
speak of the kind of images the judge was trained on. They compare models
measured by the *same* judge, not with published FIDs.

- :func:`frechet_distance`: the distance between Gaussians fitted to two sets
  of features (Heusel et al. 2017's FID, on these features).
- :func:`kernel_inception_distance`: the unbiased squared MMD with the cubic
  polynomial kernel, averaged over random subsets (Bińkowski et al. 2018).
  Unlike the Fréchet distance it has no bias: two samples of one distribution
  score about 0 at any sample size.
- :func:`measure_fd` and :func:`measure_kid` add an error bar: the bootstrap
  standard error over resamples of both sets (a :class:`Measurement`).
- :func:`compare_images` runs a judge over two image arrays in batches and
  returns both (:class:`Distances`): what the canvas's Measure action and the
  benchmarks call.

Qt-free and torch-free: numpy and scipy (and threadpoolctl, which scikit-learn
brings; see :func:`_few_blas_threads`). Every random draw comes from the ``seed``,
so a measurement repeats exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from studio.core.capabilities import StepCallback
from studio.core.errors import UserError

#: Bootstrap resamples behind an error bar: enough for a standard error good to about 15%.
BOOTSTRAP = 20
#: KID's subsets and their size, as Bińkowski et al. and torch-fidelity use them. A set smaller than
#: a subset is used whole (every subset is then the set itself).
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
#: Images the judge looks at in one call.
FEATURE_BATCH = 256
#: A square root of (cov_a cov_b) is trusted when squaring it gives the product back to this relative
#: accuracy (Frobenius norm) and its trace's imaginary part is this small beside the real part.
SQRTM_TOLERANCE = 1e-6
#: Added to both covariances' diagonals, as a fraction of their mean variance, when (cov_a cov_b) has no
#: trustworthy square root: a singular product (fewer images than features, features that never vary)
#: can have none, and the Schur method then returns NaN. It moves the distance by at most about its square
#: root (1e-4) times the features' total variance, far below any difference worth reading.
SINGULAR_EPS = 1e-8
#: Rows of one set's kernel evaluated at once: bounds KID's memory to a block of kernel values.
KERNEL_BLOCK = 1024


class MetricError(UserError, ValueError):
    """The features or images cannot be measured (too few, mismatched); the message says why."""


@dataclass(frozen=True)
class Measurement:
    """A distance with its error bar."""

    value: float  #: the statistic on the two sets as given
    error: float  #: its bootstrap standard error: the spread of the statistic over resamples of both sets
    n: int  #: the size of the smaller set (the bias of a Fréchet distance and every error shrink with it)

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.error:.2g}"


@dataclass(frozen=True)
class Distances:
    """Both distances between two image sets, on one judge's features."""

    fd: Measurement
    kid: Measurement


# -- the statistics ----------------------------------------------------------------------------------
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to features ``a`` ``(n, d)`` and ``b`` ``(m, d)``:
    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``. Symmetric; 0 for a set and itself.
    Biased upwards for small sets, so compare distances measured with equally many images."""
    a, b = _feature_pair(a, b, at_least=2)
    with _few_blas_threads():
        return _frechet(a, b)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> float:
    """KID: the unbiased estimate of the squared maximum mean discrepancy between features ``a`` and
    ``b`` with the kernel ``k(x, y) = (x . y / d + 1)^3``, averaged over ``subsets`` random subsets of
    ``min(subset_size, len)`` features of each set (drawn from ``seed``). About 0 for two samples of
    one distribution (it can come out a little below); larger the further apart they are."""
    a, b = _feature_pair(a, b, at_least=2)
    return float(_kid(a, b, subsets, subset_size, 0, np.random.default_rng(seed))[0])


def measure_fd(a: np.ndarray, b: np.ndarray, *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> Measurement:
    """:func:`frechet_distance` with the standard deviation of the distance over ``bootstrap``
    resamples of both sets (each drawn with replacement, from ``seed``) as its error."""
    a, b = _feature_pair(a, b, at_least=2)
    _check_bootstrap(bootstrap)
    rng = np.random.default_rng(seed)
    with _few_blas_threads():
        value = _frechet(a, b)
        resampled = [_frechet(a[_resample(rng, len(a))], b[_resample(rng, len(b))]) for _ in range(bootstrap)]
    return Measurement(value, float(np.std(resampled, ddof=1)), min(len(a), len(b)))


def measure_kid(a: np.ndarray, b: np.ndarray, *, bootstrap: int = BOOTSTRAP, subsets: int = KID_SUBSETS,
                subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> Measurement:
    """:func:`kernel_inception_distance` with the standard deviation of the same estimate (the same
    subsets scheme) over ``bootstrap`` resamples of both sets as its error. Within a resample, the
    copies of one image are not a pair of images: the kernel between them is left out, as the
    estimate leaves out an image's kernel with itself.

    The kernel between every two images is computed once: about ``(n_a + n_b)^2 x (d + (1 + bootstrap)
    x subsets)`` multiply-adds, and ``(n_a + n_b) x (1 + bootstrap) x subsets`` counts in memory. Sets no
    larger than a subset need one subset: 1,000 against 1,000 images of 128 features take a tenth of a
    second on a 2-core CPU, 2,000 against 2,000 (100 subsets of 1,000) about 2 s."""
    a, b = _feature_pair(a, b, at_least=2)
    _check_bootstrap(bootstrap)
    estimates = _kid(a, b, subsets, subset_size, bootstrap, np.random.default_rng(seed))
    return Measurement(float(estimates[0]), float(np.std(estimates[1:], ddof=1)), min(len(a), len(b)))


# -- with a judge ------------------------------------------------------------------------------------
def judge_features(judge: Any, images: np.ndarray, *, on_step: Optional[StepCallback] = None) -> np.ndarray:
    """The judge's features of ``images`` ``(n, H, W, C)`` (float in [0, 1], or uint8 0..255, turned to
    float a batch at a time so a large uint8 set is never copied whole), :data:`FEATURE_BATCH` images
    per call; ``on_step(step, total, None)`` after each (it raises ``Cancelled`` to stop)."""
    total = _batches(len(images))
    return _features(judge, images, lambda step: on_step(step, total, None) if on_step else None)


def compare_images(judge: Any, images: np.ndarray, reference: np.ndarray, *, bootstrap: int = BOOTSTRAP,
                   seed: int = 0, on_step: Optional[StepCallback] = None) -> Distances:
    """The Fréchet distance and KID between ``images`` (a model's samples, say) and ``reference``
    (real images) on ``judge``'s features, with bootstrap error bars. The judge (an
    ``ImageClassifier``) sees images of its own ``image_shape``; ``on_step`` counts the batches of
    both sets."""
    first = _batches(len(images))
    total = first + _batches(len(reference))
    a = _features(judge, images, lambda step: on_step(step, total, None) if on_step else None)
    b = _features(judge, reference, lambda step: on_step(first + step, total, None) if on_step else None)
    return Distances(measure_fd(a, b, bootstrap=bootstrap, seed=seed),
                     measure_kid(a, b, bootstrap=bootstrap, seed=seed))


# -- the work ----------------------------------------------------------------------------------------
def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    diff = a.mean(axis=0) - b.mean(axis=0)
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    return max(float(distance), 0.0)  # rounding can leave -1e-13 for a set and itself


def _few_blas_threads() -> threadpool_limits:
    """One BLAS thread for the Fréchet distance's small dense algebra (a d x d Schur decomposition).
    Threads gain nothing at d = 128, and on a busy machine (the studio's inference thread beside a
    training job) OpenBLAS's waiting threads make it a hundred times slower: a square root of 128 x 128
    took 1.5-3.4 s with two threads on a loaded 2-core machine, 14 ms with one."""
    return threadpool_limits(limits=1, user_api="blas")


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``tr((cov_a cov_b)^(1/2))``: scipy's (Schur) square root of the product, real part, when it
    squares back to the product; else again with :data:`SINGULAR_EPS` on both diagonals."""
    trace = _sqrtm_trace(cov_a @ cov_b)
    if trace is None:
        scale = (np.trace(cov_a) + np.trace(cov_b)) / (2 * len(cov_a)) or 1.0
        offset = SINGULAR_EPS * scale * np.eye(len(cov_a))
        trace = _sqrtm_trace((cov_a + offset) @ (cov_b + offset))
    if trace is None:
        raise MetricError("The Fréchet distance could not be computed: the features' covariances have no "
                          "usable square root, even regularised. Measure with more images.")
    return trace


def _sqrtm_trace(product: np.ndarray) -> Optional[float]:
    """The real trace of the square root of ``product``, or None when it cannot be trusted. The
    product of two covariances has real, non-negative eigenvalues, so a square root's imaginary
    parts are rounding (tiny ones are dropped); its off-diagonal imaginary parts need not be tiny
    for a singular product, but they do not touch the trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # singular: checked below instead
        root = scipy.linalg.sqrtm(product)
    if not np.all(np.isfinite(root)):
        return None
    trace = np.trace(root)
    if abs(trace.imag) > SQRTM_TOLERANCE * abs(trace.real):
        return None
    if np.linalg.norm(root @ root - product) > SQRTM_TOLERANCE * np.linalg.norm(product):
        return None
    return float(trace.real)


def _kid(a: np.ndarray, b: np.ndarray, subsets: int, subset_size: int, bootstrap: int,
         rng: np.random.Generator) -> np.ndarray:
    """KID on the sets as given, then on ``bootstrap`` resamples of both: ``1 + bootstrap`` estimates.

    Every subset (of the sets, or of a resample) is a vector of counts, how many times it holds
    each image, so all of them are measured with one pass over the kernel matrices: for counts
    ``c`` the kernel summed over pairs of different images is ``c' K c - sum_i c_i^2 K_ii`` over
    ``(sum c)^2 - sum c^2`` pairs, and between the sets ``c_a' K_ab c_b`` over ``sum c_a sum c_b``.
    With plain subsets (counts 0 or 1) this is the usual unbiased estimate.
    """
    if subsets < 1 or subset_size < 2:
        raise MetricError(f"KID needs at least one subset of at least 2 images, not {subsets} of {subset_size}.")
    size = min(subset_size, len(a), len(b))
    if size == len(a) == len(b):
        subsets = 1  # every subset would be the sets themselves
    counts_a = _subset_counts(rng, len(a), size, subsets, bootstrap)
    counts_b = _subset_counts(rng, len(b), size, subsets, bootstrap)
    d = a.shape[1]
    within_a = _kernel_sum(a, counts_a, a, counts_a, d) - _self_kernels(a, d) @ counts_a ** 2
    within_b = _kernel_sum(b, counts_b, b, counts_b, d) - _self_kernels(b, d) @ counts_b ** 2
    between = _kernel_sum(a, counts_a, b, counts_b, d)
    pairs_a = counts_a.sum(0) ** 2 - (counts_a ** 2).sum(0)
    pairs_b = counts_b.sum(0) ** 2 - (counts_b ** 2).sum(0)
    mmd = within_a / pairs_a + within_b / pairs_b - 2.0 * between / (counts_a.sum(0) * counts_b.sum(0))
    return mmd.reshape(1 + bootstrap, subsets).mean(axis=1)


def _subset_counts(rng: np.random.Generator, n: int, size: int, subsets: int, bootstrap: int) -> np.ndarray:
    """``(n, (1 + bootstrap) * subsets)`` counts: the subsets of the set, then those of each resample
    (drawn without replacement from the resample, as from the set)."""
    columns = []
    for resample in range(1 + bootstrap):
        images = np.arange(n) if resample == 0 else _resample(rng, n)
        for _ in range(subsets):
            picked = images if size == n else images[rng.choice(n, size, replace=False)]
            columns.append(np.bincount(picked, minlength=n))
    return np.stack(columns, axis=1).astype(np.float64)


def _kernel_sum(x: np.ndarray, cx: np.ndarray, y: np.ndarray, cy: np.ndarray, d: int) -> np.ndarray:
    """``cx[:, s]' K(x, y) cy[:, s]`` for every column ``s``, a block of kernel rows at a time."""
    total = np.zeros(cx.shape[1])
    for start in range(0, len(x), KERNEL_BLOCK):
        kernel = (x[start:start + KERNEL_BLOCK] @ y.T / d + 1.0) ** 3
        total += np.einsum("is,is->s", cx[start:start + KERNEL_BLOCK], kernel @ cy)
    return total


def _self_kernels(x: np.ndarray, d: int) -> np.ndarray:
    return (np.einsum("ij,ij->i", x, x) / d + 1.0) ** 3


def _resample(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, n, n)


def _feature_pair(a: np.ndarray, b: np.ndarray, *, at_least: int) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets as float64 ``(n, d)`` with the same ``d`` and at least ``at_least`` rows."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for name, features in (("first", a), ("second", b)):
        if features.ndim != 2:
            raise MetricError(f"Features are shaped (n, d); the {name} set is shaped {features.shape}.")
        if len(features) < at_least:
            raise MetricError(f"A distance needs at least {at_least} images in each set; the {name} has "
                              f"{len(features)}.")
        if not np.all(np.isfinite(features)):
            raise MetricError(f"The {name} set's features hold NaN or infinite values.")
    if a.shape[1] != b.shape[1]:
        raise MetricError(f"The two feature sets have {a.shape[1]} and {b.shape[1]} features; measure both "
                          "with the same judge.")
    return a, b


def _check_bootstrap(bootstrap: int) -> None:
    if bootstrap < 2:
        raise MetricError(f"An error bar needs at least 2 bootstrap resamples, not {bootstrap}.")


def _batches(n: int) -> int:
    return -(-n // FEATURE_BATCH)


def _features(judge: Any, images: np.ndarray, report: Callable[[int], None]) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise MetricError(f"Images are shaped (n, height, width, channels), not {images.shape}.")
    batches = []
    for step, start in enumerate(range(0, len(images), FEATURE_BATCH), 1):
        batch = images[start:start + FEATURE_BATCH]
        batch = batch.astype(np.float32) / 255.0 if batch.dtype == np.uint8 else batch.astype(np.float32)
        batches.append(np.asarray(judge.features(batch), np.float32))
        report(step)
    return np.concatenate(batches) if batches else np.zeros((0, judge.feature_dim), np.float32)
