"""Tests for tfgan.metrics.prd (Kynkaanniemi et al. 2019 improved precision and recall, metric `precision_recall`)."""

import numpy as np
import pytest
from scipy.spatial import distance

from tfgan.metrics import modes, prd


def _mixture(rng, n, centers, std):
    idx = rng.integers(len(centers), size=n)
    return centers[idx] + std * rng.standard_normal((n, centers.shape[1])), idx


def test_knn_radii_against_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(57, 5))
    d = distance.cdist(x, x)
    np.fill_diagonal(d, np.inf)  # Exclude the sample itself.
    want = np.sort(d, axis=1)[:, 2]  # 3rd nearest other sample.
    np.testing.assert_allclose(prd.knn_radii(x, k=3, batch_size=8), want, rtol=1e-9)


def test_golden_one_dimensional():
    # Real {0, 1, 3}: k=1 radii = [1, 1, 2]; balls [-1,1], [0,2], [1,5].
    # Fake {0.5, 4.5, 6}: radii = [4, 1.5, 1.5]; balls [-3.5,4.5], [3,6], [4.5,7.5].
    # Precision: 0.5 in, 4.5 in (ball [1,5]), 6 out -> 2/3.
    # Recall: 0, 1, 3 all within [-3.5, 4.5] -> 1.
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[0.5], [4.5], [6.0]])
    np.testing.assert_allclose(prd.knn_radii(real, k=1), [1, 1, 2])
    got = prd.precision_recall(real, fake, k=1)
    assert got.precision == pytest.approx(2 / 3)
    assert got.recall == pytest.approx(1.0)


def test_golden_one_dimensional_k2_the_radii_grow_and_precision_with_them():
    # k=2. Real {0, 1, 3}: 2nd-nearest distances [3, 2, 3]; balls [-3,3], [-1,3], [0,6].
    # Fake {0.5, 4.5, 6}: [5.5, 4, 5.5]; balls [-5,6], [0.5,8.5], [0.5,11.5].
    # Precision: 0.5 in [-3,3], 4.5 and 6 in [0,6] -> 1 (k=1 gave 2/3). Recall: all in [-5,6] -> 1.
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[0.5], [4.5], [6.0]])
    np.testing.assert_allclose(prd.knn_radii(real, k=2), [3, 2, 3])
    np.testing.assert_allclose(prd.knn_radii(fake, k=2), [5.5, 4, 5.5])
    assert prd.precision_recall(real, fake, k=2) == (1.0, 1.0)


def _brute_force_precision_recall(real, fake, k):
    """An independent computation: full distance matrices, sorted rows, ball membership with <= ."""
    def radii(x):
        d = distance.cdist(x, x)
        return np.sort(d, axis=1)[:, k]  # index 0 is the sample itself

    def inside(reference, queries):
        return np.any(distance.cdist(queries, reference) <= radii(reference)[None, :], axis=1)

    return inside(real, fake).mean(), inside(fake, real).mean()


@pytest.mark.parametrize("k", [1, 3, 10])
def test_shifted_sets_against_brute_force_for_each_k(k):
    """Two overlapping Gaussians (fake shifted by 1.5 std along one axis, and narrower): neither 0 nor 1, and
    growing with k as the balls grow."""
    rng = np.random.default_rng(k)
    real = rng.normal(size=(400, 4))
    fake = 0.7 * rng.normal(size=(400, 4)) + np.array([1.5, 0, 0, 0])
    got = prd.precision_recall(real, fake, k=k, batch_size=64)
    want = _brute_force_precision_recall(real, fake, k)
    assert got.precision == pytest.approx(want[0], abs=1e-12) and got.recall == pytest.approx(want[1], abs=1e-12)
    assert 0.05 < got.precision < 0.99 and 0.05 < got.recall < 0.99


def test_k_changes_the_result():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(400, 4))
    fake = 0.7 * rng.normal(size=(400, 4)) + np.array([1.5, 0, 0, 0])
    small, large = prd.precision_recall(real, fake, k=1), prd.precision_recall(real, fake, k=10)
    assert large.precision > small.precision + 0.1 and large.recall > small.recall + 0.1


def test_identical_sets_give_one():
    x = np.random.default_rng(1).normal(size=(300, 8))
    got = prd.precision_recall(x, x, k=3, batch_size=64)
    assert got == (1.0, 1.0)


def test_half_of_modes_gives_half_recall_full_precision():
    rng = np.random.default_rng(2)
    centers = modes.ring_modes(8, 2.0)
    real, real_idx = _mixture(rng, 1000, centers, 0.05)
    fake, _ = _mixture(rng, 1000, centers[:4], 0.05)
    got = prd.precision_recall(real, fake, k=3, batch_size=256)
    covered = np.mean(real_idx < 4)  # ~0.5: real samples of the fake's modes.
    # Real samples of the other 4 modes are > 1.4 away from any fake sample,
    # so recall <= covered; k-NN balls cover most (> 90%) of the rest.
    assert 0.9 * covered <= got.recall <= covered
    assert got.recall == pytest.approx(0.5, abs=0.07)
    assert got.precision > 0.9


def test_batch_size_does_not_change_result():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(120, 3)), rng.normal(size=(120, 3)) + 0.5
    assert prd.precision_recall(a, b, batch_size=7) == prd.precision_recall(a, b, batch_size=10000)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`real_features`.*more than k=3"):
        prd.precision_recall(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"same number of rows \(sets of equal size\), got shapes \(10, 2\) and \(9"):
        prd.precision_recall(np.zeros((10, 2)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match=r"same feature dimension"):
        prd.precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"`k`.*>= 1.*got 0"):
        prd.knn_radii(np.zeros((10, 2)), k=0)
    with pytest.raises(ValueError, match=r"`radii`.*non-negative"):
        prd.manifold_membership(np.zeros((2, 2)), [1.0, -1.0], np.zeros((1, 2)))
