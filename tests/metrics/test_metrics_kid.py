"""Tests for tfgan.metrics.kid (unbiased MMD^2 with the cubic kernel)."""

import numpy as np
import pytest

from tfgan.metrics import kid


def _loop_mmd2(x, y):
    """Direct double loop over the definition (Gretton et al. 2012, eq. 3)."""
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def test_golden_one_dimensional():
    # d = 1, k(a, b) = (ab + 1)^3. x = {0, 1}, y = {0, 2}.
    # k_xx off-diagonal: k(0,1) = 1 -> mean 1; k_yy: k(0,2) = 1 -> mean 1.
    # k_xy: k(0,0)=1, k(0,2)=1, k(1,0)=1, k(1,2)=27 -> mean 7.5.
    # MMD^2_u = 1 + 1 - 2 * 7.5 = -13.
    assert kid.mmd2_unbiased([[0.0], [1.0]], [[0.0], [2.0]]) == pytest.approx(-13.0)


def test_against_loop_unequal_sizes():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)) + 0.5
    assert kid.mmd2_unbiased(x, y) == pytest.approx(_loop_mmd2(x, y), rel=1e-12)


def test_identical_sets_near_zero_shifted_positive():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(600, 32))
    same_mean, same_std = kid.kernel_inception_distance(a, a, num_subsets=20, subset_size=200, seed=0)
    shift_mean, shift_std = kid.kernel_inception_distance(a, a + 0.5, num_subsets=20, subset_size=200, seed=0)
    # Subsets of the same 600 rows share points: a shared point contributes
    # k(x, x) to the cross term only, a small negative offset of about
    # -2/600 * (E k(x, x) - E k(x, x')) = -2/600 * (8 - 1.1) ~ -0.02.
    assert abs(same_mean) < 0.05
    # A 0.5 shift in every one of 32 dims (||delta||^2 / d = 0.25) is large.
    assert shift_mean > 0.3
    assert shift_mean > 5 * shift_std
    assert shift_mean > 10 * abs(same_mean)


def test_unbiased_for_independent_samples_of_same_distribution():
    # Fresh independent draws: the mean of MMD^2_u is 0 within its standard
    # error (a biased V-statistic would be clearly positive here).
    rng = np.random.default_rng(2)
    vals = np.array([kid.mmd2_unbiased(rng.normal(size=(50, 8)), rng.normal(size=(50, 8))) for _ in range(200)])
    se = vals.std() / np.sqrt(len(vals))
    assert abs(vals.mean()) < 4 * se
    mean, std = kid.kernel_inception_distance(
        rng.normal(size=(500, 8)), rng.normal(size=(400, 8)), num_subsets=30, subset_size=100, seed=3
    )
    assert abs(mean) < 3 * std


def test_subset_size_clipped_and_seeded():
    rng = np.random.default_rng(4)
    a1, a2 = rng.normal(size=(30, 4)), rng.normal(size=(20, 4)) + 1.0
    r1 = kid.kernel_inception_distance(a1, a2, num_subsets=3, subset_size=1000, seed=7)
    r2 = kid.kernel_inception_distance(a1, a2, num_subsets=3, subset_size=1000, seed=7)
    assert r1 == r2
    # Subset of 20 from a2 (all rows) and 20 from a1.
    assert np.isfinite(r1[0]) and r1[0] > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`num_subsets`.*>= 1.*got 0"):
        kid.kernel_inception_distance(np.zeros((5, 2)), np.zeros((5, 2)), num_subsets=0)
    with pytest.raises(ValueError, match=r"feature dimension"):
        kid.kernel_inception_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"`a2`.*at least 2 rows"):
        kid.kernel_inception_distance(np.zeros((5, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"`subset_size`.*integer"):
        kid.kernel_inception_distance(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=2.5)
