"""Tests for tfgan.metrics.divergences against hand-derived closed forms."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from tfgan.metrics import divergences as dv

P = [0.5, 0.5]
Q = [0.9, 0.1]

# KL(P||Q) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.5 ln(25/9) = ln(5/3).
KL_PQ = math.log(5.0 / 3.0)  # 0.5108256237659907
# KL(Q||P) = 0.9 ln(0.9/0.5) + 0.1 ln(0.1/0.5) = 0.9 ln 1.8 - 0.1 ln 5.
KL_QP = 0.9 * math.log(1.8) - 0.1 * math.log(5.0)  # 0.3680642071684971
# M = (P+Q)/2 = [0.7, 0.3].
# KL(P||M) = 0.5 ln(5/7) + 0.5 ln(5/3) = 0.5 ln(25/21).
# KL(Q||M) = 0.9 ln(9/7) + 0.1 ln(1/3).
# JSD = 0.5 KL(P||M) + 0.5 KL(Q||M) = 0.25 ln(25/21) + 0.45 ln(9/7) - 0.05 ln 3.
JSD_PQ = 0.25 * math.log(25.0 / 21.0) + 0.45 * math.log(9.0 / 7.0) - 0.05 * math.log(3.0)  # 0.10174922507919673


def _rand_dist(rng, k, zeros=0):
    p = rng.random(k)
    p[:zeros] = 0.0
    rng.shuffle(p)
    return p / p.sum()


class TestDiscrete:
    def test_kl_golden_values_are_asymmetric(self):
        assert dv.kl_divergence(P, Q) == pytest.approx(KL_PQ, abs=1e-12)
        assert dv.kl_divergence(Q, P) == pytest.approx(KL_QP, abs=1e-12)
        assert abs(KL_PQ - KL_QP) > 0.1

    def test_kl_normalises_unnormalised_weights(self):
        assert dv.kl_divergence([1, 1], [9, 1]) == pytest.approx(KL_PQ, abs=1e-12)

    def test_jsd_golden_value(self):
        assert dv.js_divergence(P, Q) == pytest.approx(JSD_PQ, abs=1e-12)
        assert JSD_PQ == pytest.approx(0.10174922507919673, abs=1e-15)

    def test_jsd_bits_is_nats_over_log2(self):
        assert dv.js_divergence(P, Q, base=2) == pytest.approx(JSD_PQ / math.log(2.0), abs=1e-12)
        assert dv.kl_divergence(P, Q, base=2) == pytest.approx(math.log2(5.0 / 3.0), abs=1e-12)

    def test_jsd_symmetric_and_bounded(self):
        rng = np.random.default_rng(1)
        for _ in range(20):
            p = _rand_dist(rng, 7, zeros=2)
            q = _rand_dist(rng, 7, zeros=2)
            jpq = dv.js_divergence(p, q)
            assert jpq == pytest.approx(dv.js_divergence(q, p), abs=1e-15)
            assert 0.0 <= jpq <= math.log(2.0) + 1e-15

    def test_jsd_disjoint_supports_equals_log2(self):
        assert dv.js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2.0), abs=1e-15)
        assert dv.js_divergence([1, 0], [0, 1], base=2) == pytest.approx(1.0)

    def test_jsd_against_independent_entropy_formula(self):
        # JSD = H(M) - (H(P) + H(Q)) / 2, via scipy.stats.entropy.
        rng = np.random.default_rng(2)
        p, q = _rand_dist(rng, 5), _rand_dist(rng, 5)
        want = stats.entropy((p + q) / 2) - 0.5 * (stats.entropy(p) + stats.entropy(q))
        assert dv.js_divergence(p, q) == pytest.approx(want, abs=1e-12)

    def test_kl_infinite_when_q_zero_where_p_positive(self):
        assert dv.kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
        # ...but 0 log 0 = 0: p = 0 where q = 0 is fine.
        assert dv.kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2.0), abs=1e-15)

    def test_identical_distributions(self):
        assert dv.kl_divergence(Q, Q) == 0.0
        assert dv.js_divergence(Q, Q) == 0.0
        assert dv.total_variation(Q, Q) == 0.0

    def test_total_variation_golden(self):
        # 0.5 (|0.5-0.9| + |0.5-0.1|) = 0.4.
        assert dv.total_variation(P, Q) == pytest.approx(0.4, abs=1e-15)
        assert dv.total_variation([1, 0], [0, 1]) == pytest.approx(1.0)

    def test_pinsker_inequality(self):
        # TV <= sqrt(KL / 2).
        assert 0.4 <= math.sqrt(KL_PQ / 2.0)

    @pytest.mark.parametrize("fn", [dv.kl_divergence, dv.js_divergence, dv.total_variation])
    def test_bad_inputs_raise_naming_argument(self, fn):
        with pytest.raises(ValueError, match=r"`q`.*non-negative.*-0\.1"):
            fn([0.5, 0.5], [1.1, -0.1])
        with pytest.raises(ValueError, match=r"`p`.*positive sum"):
            fn([0.0, 0.0], [0.5, 0.5])
        with pytest.raises(ValueError, match=r"`p` and `q`.*same shape.*\(3,\)"):
            fn([0.2, 0.3, 0.5], [0.5, 0.5])
        with pytest.raises(ValueError, match=r"`p`.*finite"):
            fn([np.nan, 1.0], [0.5, 0.5])

    def test_bad_base_raises(self):
        with pytest.raises(ValueError, match=r"`base`.*got 1\.0"):
            dv.js_divergence(P, Q, base=1)
        with pytest.raises(ValueError, match=r"`base`"):
            dv.kl_divergence(P, Q, base=-2)


class TestGaussianClosedForms:
    N = 400_000

    def test_gaussian_kl_against_monte_carlo(self):
        mu1, s1, mu2, s2 = 0.3, 1.2, -0.5, 0.7
        rng = np.random.default_rng(0)
        x = rng.normal(mu1, s1, self.N)
        log_ratio = stats.norm.logpdf(x, mu1, s1) - stats.norm.logpdf(x, mu2, s2)
        se = log_ratio.std() / math.sqrt(self.N)
        # 5 standard errors: a false failure has probability < 1e-6.
        assert dv.gaussian_kl(mu1, s1, mu2, s2) == pytest.approx(log_ratio.mean(), abs=5 * se)
        # Hand value: ln(0.7/1.2) + (1.44 + 0.64) / 0.98 - 0.5.
        assert dv.gaussian_kl(mu1, s1, mu2, s2) == pytest.approx(math.log(0.7 / 1.2) + 2.08 / 0.98 - 0.5, abs=1e-12)
        assert dv.gaussian_kl(mu2, s2, mu1, s1) != pytest.approx(dv.gaussian_kl(mu1, s1, mu2, s2), abs=0.1)

    def test_gaussian_kl_zero_for_equal(self):
        assert dv.gaussian_kl(1.0, 2.0, 1.0, 2.0) == 0.0

    def test_gaussian_w1_golden(self):
        # d = 0.3, s = 0.5: 0.5 sqrt(2/pi) exp(-0.09/0.5) + 0.3 (1 - 2 Phi(-0.6)).
        assert dv.gaussian_w1(0.3, 1.5, 0.0, 1.0) == pytest.approx(0.46867273224175554, abs=1e-12)
        # d = 0, s = 1: E|Z| = sqrt(2/pi).
        assert dv.gaussian_w1(0.0, 2.0, 0.0, 1.0) == pytest.approx(math.sqrt(2.0 / math.pi), abs=1e-15)

    def test_gaussian_w1_against_quantile_integral(self):
        # Independent check: W1 = int_0^1 |F1^-1(u) - F2^-1(u)| du by quadrature.
        for mu1, s1, mu2, s2 in [(0.3, 1.5, 0.0, 1.0), (-1.0, 0.2, 0.5, 2.0), (2.0, 1.0, -1.0, 3.0)]:
            # Split the integral at the crossing of the quantile functions.
            z_cross = (mu2 - mu1) / (s1 - s2)
            u_cross = stats.norm.cdf(z_cross)
            f = lambda u: abs((mu1 - mu2) + (s1 - s2) * stats.norm.ppf(u))
            want = integrate.quad(f, 0, u_cross, epsabs=1e-12)[0] + integrate.quad(f, u_cross, 1, epsabs=1e-12)[0]
            assert dv.gaussian_w1(mu1, s1, mu2, s2) == pytest.approx(want, abs=1e-7)

    def test_gaussian_w1_against_sorted_sample_coupling(self):
        mu1, s1, mu2, s2 = 0.3, 1.5, 0.0, 1.0
        rng = np.random.default_rng(1)
        z = rng.standard_normal(self.N)
        x = np.sort(mu1 + s1 * z)
        y = np.sort(mu2 + s2 * z)
        gaps = np.abs(x - y)  # Monotone coupling of sorted samples: |d + s z|.
        se = gaps.std() / math.sqrt(self.N)
        w1 = dv.gaussian_w1(mu1, s1, mu2, s2)
        assert w1 == pytest.approx(gaps.mean(), abs=5 * se)
        assert dv.empirical_w1(x, y) == pytest.approx(gaps.mean(), rel=1e-9)
        # Not |mu1 - mu2| when the standard deviations differ.
        assert w1 > abs(mu1 - mu2) + 0.1

    def test_empirical_w1_independent_samples_unequal_sizes(self):
        mu1, s1, mu2, s2 = 0.3, 1.5, 0.0, 1.0
        rng = np.random.default_rng(2)
        x = rng.normal(mu1, s1, 300_000)
        y = rng.normal(mu2, s2, 200_000)
        # Sampling error of the empirical W1 is O(sigma / sqrt(N)) ~ 3e-3.
        assert dv.empirical_w1(x, y) == pytest.approx(dv.gaussian_w1(mu1, s1, mu2, s2), abs=0.015)

    def test_empirical_w1_golden(self):
        # Sorted pairs (0,1), (1,3), (5,5): mean |gap| = (1 + 2 + 0) / 3 = 1.
        assert dv.empirical_w1([5.0, 0.0, 1.0], [3.0, 5.0, 1.0]) == pytest.approx(1.0)
        # A point mass at 0 vs {1, 3}: W1 = mean distance = 2.
        assert dv.empirical_w1([0.0], [1.0, 3.0]) == pytest.approx(2.0)

    def test_gaussian_w1_equal_sigmas(self):
        assert dv.gaussian_w1(1.0, 0.7, -2.5, 0.7) == pytest.approx(3.5, abs=1e-15)
        assert dv.gaussian_w1(-2.5, 0.7, 1.0, 0.7) == pytest.approx(3.5)

    def test_gaussian_w1_symmetric_and_broadcasts(self):
        mu = np.array([0.0, 1.0, -2.0])
        got = dv.gaussian_w1(mu, 1.3, 0.5, np.array([0.4, 1.3, 2.0]))
        back = dv.gaussian_w1(0.5, np.array([0.4, 1.3, 2.0]), mu, 1.3)
        np.testing.assert_allclose(got, back, rtol=1e-12)
        assert got.shape == (3,)
        assert got[1] == pytest.approx(0.5)

    def test_gaussian_w2_against_monte_carlo(self):
        mu1, s1, mu2, s2 = 0.3, 1.5, -0.2, 0.6
        rng = np.random.default_rng(3)
        z = rng.standard_normal(self.N)
        sq = ((mu1 + s1 * z) - (mu2 + s2 * z)) ** 2
        se = sq.std() / math.sqrt(self.N)
        w2 = dv.gaussian_w2(mu1, s1, mu2, s2)
        assert w2**2 == pytest.approx(sq.mean(), abs=5 * se)
        assert w2 == pytest.approx(math.sqrt(0.25 + 0.81), abs=1e-15)
        # W1 <= W2 always.
        assert dv.gaussian_w1(mu1, s1, mu2, s2) <= w2

    def test_gaussian_bad_sigma_raises(self):
        with pytest.raises(ValueError, match=r"`sigma2`.*> 0.*-1"):
            dv.gaussian_kl(0.0, 1.0, 0.0, -1.0)
        with pytest.raises(ValueError, match=r"`sigma1`"):
            dv.gaussian_w1(0.0, 0.0, 0.0, 1.0)
        with pytest.raises(ValueError, match=r"`mu1`.*finite"):
            dv.gaussian_w2(np.inf, 1.0, 0.0, 1.0)

    def test_empirical_w1_bad_input(self):
        with pytest.raises(ValueError, match=r"`x`.*1-D"):
            dv.empirical_w1(np.zeros((3, 2)), [1.0])
        with pytest.raises(ValueError, match=r"`y`.*at least 1"):
            dv.empirical_w1([1.0], [])


class TestOptimalDiscriminator:
    def test_golden_and_theorem1(self):
        # D* = [0.5/1.4, 0.5/0.6] = [5/14, 5/6].
        np.testing.assert_allclose(dv.optimal_discriminator(P, Q), [5 / 14, 5 / 6], rtol=1e-15)
        # C(G) = 0.5 ln(5/14) + 0.5 ln(5/6) + 0.9 ln(9/14) + 0.1 ln(1/6).
        c = dv.virtual_training_criterion(P, Q)
        hand = 0.5 * math.log(5 / 14) + 0.5 * math.log(5 / 6) + 0.9 * math.log(9 / 14) + 0.1 * math.log(1 / 6)
        assert c == pytest.approx(hand, abs=1e-12)
        assert c == pytest.approx(2 * JSD_PQ - math.log(4.0), abs=1e-12)

    def test_theorem1_random_distributions_with_zeros(self):
        rng = np.random.default_rng(4)
        for _ in range(20):
            p_data = _rand_dist(rng, 9, zeros=3)
            p_g = _rand_dist(rng, 9, zeros=3)
            assert dv.virtual_training_criterion(p_data, p_g) == pytest.approx(
                2 * dv.js_divergence(p_data, p_g) - math.log(4.0), abs=1e-12
            )

    def test_minimum_at_p_g_equals_p_data(self):
        p = _rand_dist(np.random.default_rng(5), 6, zeros=2)
        assert dv.virtual_training_criterion(p, p) == pytest.approx(-math.log(4.0), abs=1e-14)
        np.testing.assert_array_equal(dv.optimal_discriminator(p, p), 0.5)

    def test_disjoint_supports_give_zero(self):
        # D* = 1 on data support, 0 on generator support: C(G) = 0 = 2 ln2 - ln4.
        assert dv.virtual_training_criterion([1, 0], [0, 1]) == pytest.approx(0.0, abs=1e-15)

    def test_both_zero_gives_half(self):
        np.testing.assert_array_equal(dv.optimal_discriminator([0.0, 2.0, 0.0], [0.0, 0.0, 3.0]), [0.5, 1.0, 0.0])

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match=r"`p_g`.*non-negative"):
            dv.optimal_discriminator([0.5], [-1.0])
        with pytest.raises(ValueError, match=r"`p_data` and `p_g`.*same shape"):
            dv.virtual_training_criterion([0.5, 0.5], [1.0])
