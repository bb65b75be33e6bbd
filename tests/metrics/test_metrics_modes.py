"""Tests for tfgan.metrics.modes (2-D mixture and Stacked MNIST coverage)."""

import itertools
import math

import numpy as np
import pytest

from tfgan.metrics import modes

# Fraction of an isotropic 2-D Gaussian within 3 std: the radius^2 / std^2 is
# chi-square with 2 dof, P(R <= 3) = 1 - exp(-9/2).
HQ_3STD = 1.0 - math.exp(-4.5)  # 0.98889...


def _exact_sampler(rng, n, centers, std):
    idx = rng.integers(len(centers), size=n)
    return centers[idx] + std * rng.standard_normal((n, 2))


def test_ring_modes():
    c = modes.ring_modes(8, 2.0)
    assert c.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    np.testing.assert_allclose(c[0], [2.0, 0.0])
    np.testing.assert_allclose(c[2], [0.0, 2.0], atol=1e-15)
    # Neighbours are 2 * 2 * sin(pi / 8) apart.
    np.testing.assert_allclose(np.linalg.norm(c[1] - c[0]), 4 * math.sin(math.pi / 8))


def test_grid_modes():
    c = modes.grid_modes(25, 2.0)
    assert c.shape == (25, 2)
    want = {(x, y) for x, y in itertools.product([-4, -2, 0, 2, 4], repeat=2)}
    assert {tuple(row) for row in c.tolist()} == want
    with pytest.raises(ValueError, match=r"`n`.*perfect square.*24"):
        modes.grid_modes(24)


@pytest.mark.parametrize("centers,std", [(modes.ring_modes(8, 2.0), 0.02), (modes.grid_modes(25, 2.0), 0.05)])
def test_exact_sampler_captures_all_modes(centers, std):
    n = 40_000
    rng = np.random.default_rng(0)
    cov = modes.mode_coverage(_exact_sampler(rng, n, centers, std), centers, std)
    assert cov.num_modes_captured == len(centers) == cov.num_modes
    # Binomial standard error sqrt(p (1 - p) / n) = 5.2e-4; allow 5 SE.
    se = math.sqrt(HQ_3STD * (1 - HQ_3STD) / n)
    assert cov.high_quality_fraction == pytest.approx(HQ_3STD, abs=5 * se)
    # Per-mode counts against a plain loop over the samples (nearest centre, then the 3-std test).
    samples = _exact_sampler(np.random.default_rng(0), n, centers, std)
    want = np.zeros(len(centers), np.int64)
    for x in samples[:2000]:
        d = [math.dist(x, c) for c in centers]
        if min(d) <= 3 * std:
            want[int(np.argmin(d))] += 1
    sub = modes.mode_coverage(samples[:2000], centers, std)
    np.testing.assert_array_equal(sub.counts, want)
    assert sub.high_quality_fraction == want.sum() / 2000
    # Multinomial noise: E KL ~ (M - 1) / (2 N) < 1e-3.
    assert 0 <= cov.reverse_kl < 3e-3


def test_overlapping_modes_hand_worked():
    """Modes A (0, 0) and B (0.5, 0) overlap at std 0.125 (radius 0.375, exact in binary); C (4, 4) is far.
    By hand: (0.3, 0): 0.3 from A but 0.2 from B -> B, high quality.   (0.24, 0): 0.24 vs 0.26 -> A.
    (0, 0.375) -> A, exactly on the radius: counted.   (0, -0.4) -> A at 0.4 > 0.375: low quality.
    (4.25, 4.25) -> C (0.354).   (3.5, 4) -> C at 0.5: low quality.
    counts [2, 1, 1], high quality 4/6, KL([1/2, 1/4, 1/4] || 1/3) = 1/2 ln 1.5 + 1/2 ln 0.75;
    min_count 2 captures A only."""
    centers = np.array([[0.0, 0.0], [0.5, 0.0], [4.0, 4.0]])
    samples = np.array([[0.3, 0.0], [0.24, 0.0], [0.0, 0.375], [0.0, -0.4], [4.25, 4.25], [3.5, 4.0]])
    cov = modes.mode_coverage(samples, centers, std=0.125)
    assert cov.counts.tolist() == [2, 1, 1]
    assert cov.num_modes_captured == 3
    assert cov.high_quality_fraction == pytest.approx(4 / 6, abs=1e-15)
    assert cov.reverse_kl == pytest.approx(0.5 * math.log(1.5) + 0.5 * math.log(0.75), abs=1e-12)
    assert modes.mode_coverage(samples, centers, std=0.125, min_count=2).num_modes_captured == 1


def test_collapsed_sampler_captures_one_mode():
    centers = modes.ring_modes(8, 2.0)
    rng = np.random.default_rng(1)
    samples = centers[3] + 0.02 * rng.standard_normal((5000, 2))
    cov = modes.mode_coverage(samples, centers, 0.02)
    assert cov.num_modes_captured == 1
    assert np.flatnonzero(cov.counts).tolist() == [3]
    assert cov.reverse_kl == pytest.approx(math.log(8), abs=1e-12)


def test_threshold_and_min_count():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = np.array(
        [
            [0.0, 0.0],
            [0.29, 0.0],
            [0.0, -0.31],  # Mode 0: 2 within 0.3.
            [10.1, 0.0],  # Mode 1: 1.
            [5.0, 5.0],  # Far from all modes: low quality.
        ]
    )
    cov = modes.mode_coverage(samples, centers, std=0.1)
    assert cov.counts.tolist() == [2, 1, 0]
    assert cov.num_modes_captured == 2
    assert cov.high_quality_fraction == pytest.approx(3 / 5)
    # KL([2/3, 1/3, 0] || uniform) = 2/3 ln 2 + 1/3 ln 1 = (2/3) ln 2.
    assert cov.reverse_kl == pytest.approx(2 / 3 * math.log(2), abs=1e-12)
    assert modes.mode_coverage(samples, centers, 0.1, min_count=2).num_modes_captured == 1
    wide = modes.mode_coverage(samples, centers, 0.1, threshold_std=4.0)
    assert wide.counts.tolist() == [3, 1, 0]


def test_no_high_quality_samples():
    cov = modes.mode_coverage([[100.0, 100.0]], modes.ring_modes(), 0.02)
    assert cov.num_modes_captured == 0
    assert cov.high_quality_fraction == 0.0
    assert cov.reverse_kl == math.inf


def test_histogram_kl_to_uniform():
    assert modes.histogram_kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0)
    assert modes.histogram_kl_to_uniform([0, 7, 0, 0, 0]) == pytest.approx(math.log(5))
    # p = [0.75, 0.25]: 0.75 ln 1.5 + 0.25 ln 0.5.
    assert modes.histogram_kl_to_uniform([3, 1]) == pytest.approx(0.13081203594113697, abs=1e-12)


def test_stacked_mnist_all_modes_once():
    digits = np.array(list(itertools.product(range(10), repeat=3)))
    cov = modes.stacked_mnist_coverage(digits)
    assert cov.num_modes_covered == 1000
    assert cov.kl_to_uniform == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(cov.counts, np.ones(1000))


def test_stacked_mnist_counts_golden():
    # Three samples of mode 123 and one of mode 0: p = [0.75 at 123, 0.25 at 0].
    # KL = 0.75 ln(0.75 * 1000) + 0.25 ln(0.25 * 1000).
    digits = [[1, 2, 3], [1, 2, 3], [1, 2, 3], [0, 0, 0]]
    cov = modes.stacked_mnist_coverage(digits)
    assert cov.num_modes_covered == 2
    assert cov.counts[123] == 3 and cov.counts[0] == 1 and cov.counts.sum() == 4
    assert cov.kl_to_uniform == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250), abs=1e-12)
    assert modes.stacked_mnist_coverage(digits, min_count=2).num_modes_covered == 1


def test_stacked_mnist_ten_equal_modes():
    digits = np.repeat(np.array([[d, d, d] for d in range(10)]), 7, axis=0)
    cov = modes.stacked_mnist_coverage(digits)
    assert cov.num_modes_covered == 10
    assert cov.kl_to_uniform == pytest.approx(math.log(100), abs=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`predicted_digits`.*\[0, 9\]"):
        modes.stacked_mnist_coverage([[1, 2, 10]])
    with pytest.raises(ValueError, match=r"`predicted_digits`.*\[N, 3\]"):
        modes.stacked_mnist_coverage([[1, 2]])
    with pytest.raises(ValueError, match=r"`std`.*> 0"):
        modes.mode_coverage([[0.0, 0.0]], modes.ring_modes(), std=0.0)
    with pytest.raises(ValueError, match=r"`samples` and `centers`"):
        modes.mode_coverage([[0.0, 0.0, 0.0]], modes.ring_modes(), std=0.1)
    with pytest.raises(ValueError, match=r"`min_count`.*>= 1"):
        modes.mode_coverage([[0.0, 0.0]], modes.ring_modes(), 0.1, min_count=0)
