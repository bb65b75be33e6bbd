"""Tests for tfgan.metrics.prd (improved precision and recall)."""

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


def test_identical_sets_give_one():
    x = np.random.default_rng(1).normal(size=(300, 8))
    got = prd.precision_recall(x, x, k=3, batch_size=64)
    assert got == (1.0, 1.0)


def test_half_of_modes_gives_half_recall_full_precision():
    rng = np.random.default_rng(2)
    centers = modes.ring_modes(8, 2.0)
    real, real_idx = _mixture(rng, 1000, centers, 0.05)
    fake, _ = _mixture(rng, 600, centers[:4], 0.05)
    got = prd.precision_recall(real, fake, k=3, batch_size=256)
    covered = np.mean(real_idx < 4)  # ~0.5: real samples of the fake's modes.
    # Real samples of the other 4 modes are > 1.4 away from any fake sample,
    # so recall <= covered; k-NN balls cover most (> 90%) of the rest.
    assert 0.9 * covered <= got.recall <= covered
    assert got.recall == pytest.approx(0.5, abs=0.07)
    assert got.precision > 0.9


def test_batch_size_does_not_change_result():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(120, 3)), rng.normal(size=(90, 3)) + 0.5
    assert prd.precision_recall(a, b, batch_size=7) == prd.precision_recall(a, b, batch_size=10000)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`fake_features`.*more than k=3"):
        prd.precision_recall(np.zeros((10, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"same feature dimension"):
        prd.precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"`k`.*>= 1.*got 0"):
        prd.knn_radii(np.zeros((10, 2)), k=0)
    with pytest.raises(ValueError, match=r"`radii`.*non-negative"):
        prd.manifold_membership(np.zeros((2, 2)), [1.0, -1.0], np.zeros((1, 2)))
