"""The latent-space maths behind the Latent Explorer (studio.core.latent), headless."""

import numpy as np
import pytest

from studio.core.latent import (
    class_vectors,
    difference_vector,
    fit_projection,
    interpolate,
    lerp,
    nearest,
    principal_directions,
    slerp,
    subsample,
    walk,
)


def test_slerp_ends_exactly_on_its_ends_and_keeps_the_norm_between_them():
    a, b = np.array([1.0, 0.0, 0.0], np.float32), np.array([0.0, 1.0, 0.0], np.float32)
    assert np.array_equal(slerp(a, b, 0.0), a) and np.array_equal(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert np.linalg.norm(middle) == pytest.approx(1.0)  # on the circle
    assert np.linalg.norm(lerp(a, b, 0.5)) == pytest.approx(np.sqrt(0.5))  # a straight line cuts inside
    np.testing.assert_allclose(middle, [np.sqrt(0.5), np.sqrt(0.5), 0.0], atol=1e-6)
    assert slerp(a, b, 0.5).dtype == np.float32


def test_slerp_falls_back_to_a_straight_line_when_there_is_no_angle():
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(slerp(a, 3 * a, 0.5), 2 * a)  # parallel
    np.testing.assert_allclose(slerp(np.zeros(2), a, 0.25), 0.25 * a)  # from the origin


def test_interpolate_gives_the_frames_from_a_to_b():
    a, b = np.zeros(4), np.ones(4)
    frames = interpolate(a, b, 5, "linear")
    assert frames.shape == (5, 4)
    np.testing.assert_allclose(frames[:, 0], [0, 0.25, 0.5, 0.75, 1.0])
    spherical = interpolate(np.array([2.0, 0.0]), np.array([0.0, 2.0]), 3, "slerp")
    np.testing.assert_allclose(np.linalg.norm(spherical, axis=1), 2.0)
    with pytest.raises(ValueError, match="at least 2 steps"):
        interpolate(a, b, 1)
    with pytest.raises(ValueError, match="Unknown interpolation"):
        interpolate(a, b, 3, "cubic")


def test_a_walk_is_centred_on_its_point():
    frames = walk(np.array([1.0, 1.0]), np.array([0.0, 0.5]), 2.0, 5)
    np.testing.assert_allclose(frames, [[1, 0], [1, 0.5], [1, 1], [1, 1.5], [1, 2]])


def test_principal_directions_follow_the_spread_of_the_latents():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0, 0.0]) / 5
    latents = rng.standard_normal((2000, 1)) * 5 * direction + rng.standard_normal((2000, 4)) * 0.1 + 7
    principal = principal_directions(latents)
    assert abs(np.dot(principal.directions[0], direction)) == pytest.approx(1.0, abs=1e-3)
    assert principal.explained.sum() == pytest.approx(1.0) and principal.explained[0] > 0.99
    assert principal.std[0] == pytest.approx(5.0, rel=0.05)
    np.testing.assert_allclose(principal.mean, 7, atol=0.3)


def test_a_2d_latent_is_its_own_map():
    projection = fit_projection(np.random.default_rng(0).standard_normal((50, 2)))
    point = np.array([0.3, -1.2], np.float32)
    np.testing.assert_allclose(projection.to_latent(point), point)
    np.testing.assert_allclose(projection.to_map(point), point)
    assert projection.labels == ("z₁", "z₂") and not projection.is_pca


def test_a_pca_map_maps_points_back_as_mean_plus_principal_directions():
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((500, 6)) * np.array([3.0, 2.0, 0.5, 0.1, 0.1, 0.1])
    projection = fit_projection(latents)
    principal = principal_directions(latents)
    assert projection.is_pca and projection.labels[0].startswith("PC1 (") and projection.labels[0].endswith(
        "% of variance)")
    assert projection.labels[0] == f"PC1 ({principal.explained[0]:.0%} of variance)"
    x, y = 1.5, -0.5
    expected = principal.mean + x * principal.directions[0] + y * principal.directions[1]
    np.testing.assert_allclose(projection.to_latent(np.array([x, y])), expected, atol=1e-5)
    np.testing.assert_allclose(projection.to_map(projection.to_latent(np.array([x, y]))), [x, y], atol=1e-5)
    points = projection.to_map(latents)
    assert points.shape == (500, 2) and points[:, 0].var() > points[:, 1].var() > latents[:, 2].var()


def test_class_vectors_are_the_class_mean_minus_the_overall_mean():
    latents = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 6.0], [6.0, 6.0]])
    labels = np.array([0, 0, 1, 1])
    vectors = class_vectors(latents, labels)
    np.testing.assert_allclose(vectors[0], [1 - 3, 0 - 3])
    np.testing.assert_allclose(vectors[1], [5 - 3, 6 - 3])
    np.testing.assert_allclose(difference_vector(latents[:2], latents[2:]), [4.0, 6.0])
    with pytest.raises(ValueError, match="at least one image"):
        difference_vector(latents[:0], latents)


def test_nearest_measures_in_screen_pixels():
    points = np.array([[0.0, 0.0], [10.0, 1.0]])
    # one pixel is 1 map unit across and 0.1 up: the second point is 10 px right and 10 px up
    assert nearest(points, (9.0, 0.5), (1.0, 0.1), radius=6) == 1
    assert nearest(points, (5.0, 0.5), (1.0, 0.1), radius=6) is None  # 7 px from both
    assert nearest(points, (5.0, 0.0), (1.0, 0.1), radius=6) == 0
    assert nearest(np.zeros((0, 2)), (0.0, 0.0), (1.0, 1.0), 6) is None


def test_subsample_is_capped_sorted_and_repeatable():
    assert np.array_equal(subsample(5, 10), np.arange(5))
    chosen = subsample(10_000, 500, seed=3)
    assert len(chosen) == 500 and len(set(chosen)) == 500 and np.all(np.diff(chosen) > 0)
    assert np.array_equal(chosen, subsample(10_000, 500, seed=3))
    assert not np.array_equal(chosen, subsample(10_000, 500, seed=4))
