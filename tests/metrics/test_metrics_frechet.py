"""Tests for tfgan.metrics.frechet (FID and streaming moments)."""

import numpy as np
import pytest

from tfgan.metrics import frechet


def _reference_fid(mu1, s1, mu2, s2):
    """Independent FID via symmetric eigendecompositions.

    Tr((S1 S2)^{1/2}) = sum sqrt(eig(S1^{1/2} S2 S1^{1/2})) because S1 S2 is
    similar to the PSD matrix S1^{1/2} S2 S1^{1/2}.
    """
    w, v = np.linalg.eigh(s1)
    s1_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(s1_half @ s2 @ s1_half)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(eig, 0, None)))


def test_identical_features_give_zero():
    a = np.random.default_rng(0).normal(size=(500, 16))
    assert abs(frechet.frechet_distance_from_activations(a, a)) < 1e-6


def test_against_independent_eigendecomposition():
    rng = np.random.default_rng(1)
    a1 = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
    a2 = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) + 0.7
    want = _reference_fid(a1.mean(0), np.cov(a1, rowvar=False), a2.mean(0), np.cov(a2, rowvar=False))
    got = frechet.frechet_distance_from_activations(a1, a2)
    assert got == pytest.approx(want, rel=1e-8)
    assert got > 1.0


def test_known_diagonal_gaussians_closed_form():
    mu1 = np.array([0.0, 1.0, -2.0, 0.5])
    mu2 = np.array([1.0, 1.0, 0.0, -0.5])
    s1 = np.array([1.0, 4.0, 0.25, 2.0])
    s2 = np.array([4.0, 1.0, 0.25, 0.5])
    # ||mu1-mu2||^2 = 1 + 0 + 4 + 1 = 6;
    # sum (s1 + s2 - 2 sqrt(s1 s2)) = (5-4) + (5-4) + (0.5-0.5) + (2.5-2) = 2.5.
    got = frechet.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(8.5, abs=1e-10)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert got == pytest.approx(closed, abs=1e-10)


def test_non_diagonal_asymmetric_means():
    rng = np.random.default_rng(2)
    b1, b2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = b1 @ b1.T + 0.1 * np.eye(6), b2 @ b2.T
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    got = frechet.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(_reference_fid(mu1, s1, mu2, s2), rel=1e-9)
    assert got == pytest.approx(frechet.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_fewer_samples_than_dims_is_finite():
    rng = np.random.default_rng(3)
    a1 = rng.normal(size=(10, 64))
    a2 = rng.normal(size=(12, 64)) + 0.1
    got = frechet.frechet_distance_from_activations(a1, a2)
    assert np.isfinite(got)
    assert got > 0


def test_non_finite_sqrtm_uses_eps_offset(monkeypatch):
    calls = []
    real_sqrtm = frechet._sqrtm

    def fake_sqrtm(m):
        calls.append(m.copy())
        if len(calls) == 1:
            return np.full_like(m, np.nan)
        return real_sqrtm(m)

    monkeypatch.setattr(frechet, "_sqrtm", fake_sqrtm)
    s = np.diag([1.0, 0.0])
    got = frechet.frechet_distance(np.zeros(2), s, np.zeros(2), s, eps=1e-6)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], np.diag([(1 + 1e-6) ** 2, 1e-12]))
    # sqrt of the offset product has trace 1 + 2e-6 (to first order).
    assert got == pytest.approx(-2 * (1e-6 + 1e-6), abs=1e-9)


def test_large_imaginary_component_raises():
    # S1 S2 = diag(1, -1): sqrt has diagonal (1, i).
    with pytest.raises(ValueError, match="imaginary"):
        frechet.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"`sigma2`.*\[D, D\]"):
        frechet.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match=r"`mu1` and `mu2`"):
        frechet.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"`a2`.*at least 2 rows"):
        frechet.frechet_distance_from_activations(np.zeros((5, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"feature dimension"):
        frechet.frechet_distance_from_activations(np.zeros((5, 2)), np.zeros((5, 3)))


class TestStreamingMoments:
    def test_matches_numpy_over_uneven_batches(self):
        rng = np.random.default_rng(4)
        x = rng.normal(size=(1037, 9)) @ rng.normal(size=(9, 9)) + 3.0
        m = frechet.StreamingMoments()
        for start, stop in [(0, 1), (1, 1), (1, 100), (100, 613), (613, 1037)]:
            m.update(x[start:stop])
        mu, cov = m.result()
        assert m.count == 1037 and m.dim == 9
        np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)

    def test_large_offset_is_stable(self):
        rng = np.random.default_rng(5)
        x = rng.normal(size=(2000, 4)) + 1e6
        m = frechet.StreamingMoments(dim=4)
        for batch in np.array_split(x, 7):
            m.update(batch.astype(np.float32).astype(np.float64))
        xs = x.astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(m.covariance(), np.cov(xs, rowvar=False), rtol=1e-8, atol=1e-8)

    def test_fid_from_streaming_equals_direct(self):
        rng = np.random.default_rng(6)
        a1, a2 = rng.normal(size=(300, 5)), rng.normal(size=(200, 5)) + 0.3
        m1, m2 = frechet.StreamingMoments(), frechet.StreamingMoments()
        for b in np.array_split(a1, 4):
            m1.update(b)
        for b in np.array_split(a2, 3):
            m2.update(b)
        got = frechet.frechet_distance(*m1.result(), *m2.result())
        want = frechet.frechet_distance_from_activations(a1, a2)
        assert got == pytest.approx(want, rel=1e-9)

    def test_errors(self):
        m = frechet.StreamingMoments(dim=3)
        with pytest.raises(ValueError, match=r"`batch`.*dimension 3"):
            m.update(np.zeros((2, 4)))
        m.update(np.zeros(3))
        with pytest.raises(ValueError, match=r"at least 2 rows.*count=1"):
            m.result()
        with pytest.raises(ValueError, match=r"`dim`"):
            frechet.StreamingMoments(dim=0)
        m.reset()
        assert m.count == 0
