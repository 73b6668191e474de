"""The metrics of studio.core.metrics: Fréchet distance and KID with bootstrap error bars, on features
and through a judge (a small CNN classifier trained here on scikit-learn's digits)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import metrics
from studio.core.data.images import load_digits
from studio.core.metrics import (
    Measurement,
    MetricError,
    compare_images,
    frechet_distance,
    judge_features,
    kernel_inception_distance,
    measure_fd,
    measure_kid,
)


def gaussian(n, d=16, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).standard_normal((d, d)) / np.sqrt(d)  # one correlated distribution
    return rng.standard_normal((n, d)) @ mixing + shift


def reference_fd(a, b):
    """The Fréchet distance by another route: tr((A B)^(1/2)) as the sum of the square roots of the
    eigenvalues of the symmetric A^(1/2) B A^(1/2)."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    trace = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    diff = a.mean(0) - b.mean(0)
    return diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace


def reference_mmd2(x, y):
    """The unbiased squared MMD with k(x, y) = (x.y/d + 1)^3, written out directly."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


# -- Fréchet distance ---------------------------------------------------------------------------------
def test_the_frechet_distance_of_a_set_and_itself_is_zero():
    features = gaussian(500)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
    few = gaussian(20, d=64)  # fewer images than features: singular covariances
    assert frechet_distance(few, few) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(few, rowvar=False)))


def test_the_frechet_distance_is_symmetric_and_grows_as_the_squared_mean_shift():
    a = gaussian(400)
    direction = np.random.default_rng(5).standard_normal(a.shape[1])
    for scale in (0.1, 1.0, 3.0):
        shift = scale * direction
        b = a + shift  # the same covariance: the distance is the mean's alone, |shift|^2
        assert frechet_distance(a, b) == pytest.approx(shift @ shift, rel=1e-8)
        assert frechet_distance(b, a) == pytest.approx(frechet_distance(a, b), rel=1e-10)


def test_the_frechet_distance_agrees_with_the_formula_computed_another_way():
    a, b = gaussian(300, seed=1), 1.5 * gaussian(200, seed=2, shift=0.3)
    assert frechet_distance(a, b) == pytest.approx(reference_fd(a, b), rel=1e-8)


def test_a_singular_covariance_product_is_regularised_instead_of_failing():
    # rank-one features along two different lines: their covariances' product has no square root that
    # scipy's Schur method finds (it returns NaN), so a small multiple of the identity is added
    rng = np.random.default_rng(0)
    a = np.outer(rng.integers(-3, 4, 50), [0.0, 1.0, 2.0])
    b = np.outer(rng.integers(-3, 4, 50), [2.0, -2.0, -2.0])
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance == pytest.approx(reference_fd(a, b), rel=1e-5)


# -- KID ----------------------------------------------------------------------------------------------
def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    a, b = gaussian(150, seed=1), gaussian(150, seed=2, shift=0.2)
    assert kernel_inception_distance(a, b) == pytest.approx(reference_mmd2(a, b), rel=1e-9)  # sets under a subset
    bigger = gaussian(400, seed=3, shift=0.2)  # subsets of 150 of its 400 images
    assert kernel_inception_distance(a, bigger) == pytest.approx(reference_mmd2(a, bigger), rel=0.2)


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_two():
    same = measure_kid(gaussian(600, seed=1), gaussian(600, seed=2), subset_size=300, subsets=20)
    apart = measure_kid(gaussian(600, seed=1), gaussian(600, seed=3, shift=0.3), subset_size=300, subsets=20)
    assert abs(same.value) < 3 * same.error
    assert apart.value > 10 * apart.error and apart.value > 10 * abs(same.value)


def test_kid_over_subsets_follows_its_seed():
    a, b = gaussian(400, seed=1), gaussian(400, seed=2, shift=0.2)
    first = kernel_inception_distance(a, b, subsets=10, subset_size=100, seed=3)
    assert first == kernel_inception_distance(a, b, subsets=10, subset_size=100, seed=3)
    assert first != kernel_inception_distance(a, b, subsets=10, subset_size=100, seed=4)
    assert first == pytest.approx(reference_mmd2(a, b), abs=0.5 * abs(reference_mmd2(a, b)))  # estimates one thing


# -- error bars ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("measure", [measure_fd, measure_kid])
def test_bootstrap_errors_are_positive_and_repeat_with_the_seed(measure):
    a, b = gaussian(300, seed=1), gaussian(300, seed=2, shift=0.5)
    first = measure(a, b, bootstrap=10, seed=7)
    assert isinstance(first, Measurement) and first.error > 0 and first.n == 300
    assert measure(a, b, bootstrap=10, seed=7) == first
    other = measure(a, b, bootstrap=10, seed=8)
    assert other.value == first.value and other.error != first.error  # the seed draws only the resamples
    assert f"{first}" == f"{first.value:.4g} ± {first.error:.2g}"


def test_the_error_bar_shrinks_with_more_images():
    small = measure_fd(gaussian(100, seed=1), gaussian(100, seed=2), bootstrap=20)
    large = measure_fd(gaussian(1600, seed=1), gaussian(1600, seed=2), bootstrap=20)
    assert large.error < 0.5 * small.error


def test_what_cannot_be_measured_is_said_plainly():
    with pytest.raises(MetricError, match="16 and 8 features"):
        frechet_distance(gaussian(10), gaussian(10, d=8))
    with pytest.raises(MetricError, match="at least 2 images"):
        measure_kid(gaussian(10), gaussian(1))
    with pytest.raises(MetricError, match="at least 2 bootstrap"):
        measure_fd(gaussian(10), gaussian(10), bootstrap=1)
    with pytest.raises(MetricError, match="NaN"):
        frechet_distance(np.full((4, 16), np.nan), gaussian(10))


# -- with a judge -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def judge_and_digits():
    """A small CNN judge trained briefly on half the digits; the other half held out."""
    from studio_builtins.classifier.config import CNNClassifierConfig
    from studio_builtins.classifier.trainer import CNNClassifierTrainer

    data = load_digits(size=16, channels=1).split(seed=0, fraction=0.5)
    config = CNNClassifierConfig(image_size=16, filters=8, dense_units=32, batch_size=64, learning_rate=2e-3)
    trainer = CNNClassifierTrainer(config, data, seed=0)
    for _ in trainer.steps(0, 100):
        pass
    return trainer.model, data.validation


def test_the_judge_finds_real_digits_closer_to_real_digits_than_noise(judge_and_digits):
    judge, held_out = judge_and_digits
    order = np.random.default_rng(0).permutation(len(held_out))
    half = len(held_out) // 2
    real_a, real_b = held_out.images[order[:half]], held_out.images[order[half:2 * half]]  # uint8: taken as is
    noise = np.random.default_rng(1).random(real_a.shape, dtype=np.float32)
    real = compare_images(judge, real_a, real_b, bootstrap=10)
    fake = compare_images(judge, noise, real_b, bootstrap=10)
    assert real.fd.value + 3 * real.fd.error < fake.fd.value - 3 * fake.fd.error
    assert real.kid.value + 3 * real.kid.error < fake.kid.value - 3 * fake.kid.error


def test_the_judge_runs_in_batches_and_reports_them(judge_and_digits, monkeypatch):
    judge, held_out = judge_and_digits
    monkeypatch.setattr(metrics, "FEATURE_BATCH", 100)
    images = held_out.as_float()[:250]
    steps = []
    features = judge_features(judge, images, on_step=lambda step, total, _: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)] and features.shape == (250, judge.feature_dim)
    assert np.allclose(features, judge.features(images), atol=1e-5)
    steps.clear()
    compare_images(judge, images, images[:150], bootstrap=2, on_step=lambda step, total, _: steps.append(step))
    assert steps == [1, 2, 3, 4, 5]
