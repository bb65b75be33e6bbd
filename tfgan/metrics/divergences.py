"""Closed-form and discrete divergences used to evaluate GANs.

All computations are done in float64 with NumPy/SciPy. Discrete distributions
are given as arrays of non-negative weights and are normalised inside each
function (the whole array is one distribution, whatever its shape).

References:
  Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014
  (arXiv:1406.2661), Proposition 1 and Theorem 1.
  Cover & Thomas, "Elements of Information Theory", 2nd ed., ch. 2.
  Villani, "Optimal Transport: Old and New", 2009 (1-D Wasserstein).
"""

import numpy as np
from scipy import special

from tfgan.metrics import _checks


def _xlogy_ratio(p, q):
    """Elementwise p * log(p / q) with 0 * log(0 / q) = 0 and +inf for q=0<p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = special.rel_entr(p, q)  # Exactly these conventions.
    return out


def kl_divergence(p, q, base=None):
    """Kullback-Leibler divergence KL(p || q) of two discrete distributions.

    KL(p || q) = sum_i p_i * log(p_i / q_i), with 0 * log(0 / q) = 0 and
    KL = +inf when some q_i = 0 < p_i.

    Args:
      p: array_like of non-negative weights, any shape; normalised to sum 1.
      q: array_like of non-negative weights, same shape as `p`; normalised.
      base: Logarithm base. None (default) gives nats (natural log); 2 gives
        bits.

    Returns:
      float >= 0, possibly +inf.

    Raises:
      ValueError: If `p` or `q` has negative/non-finite entries or a zero sum,
        if their shapes differ, or if `base` is not a positive number != 1.

    Reference:
      Cover & Thomas, "Elements of Information Theory", eq. (2.26).
    """
    log_base = _checks.check_log_base(base)
    p = _checks.as_probability_vector(p, "p")
    q = _checks.as_probability_vector(q, "q")
    _checks.check_same_shape(p, "p", q, "q")
    return float(np.sum(_xlogy_ratio(p, q)) / log_base)


def js_divergence(p, q, base=None):
    """Jensen-Shannon divergence of two discrete distributions.

    JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2.

    It is symmetric and bounded: 0 <= JSD <= log 2 (1 bit with base=2).

    Args:
      p: array_like of non-negative weights, any shape; normalised to sum 1.
      q: array_like of non-negative weights, same shape as `p`; normalised.
      base: Logarithm base. None (default) gives nats; 2 gives bits.

    Returns:
      float in [0, log(2) / log(base)].

    Raises:
      ValueError: As for `kl_divergence`.

    Reference:
      Lin, "Divergence measures based on the Shannon entropy", IEEE Trans.
      Inf. Theory 37(1), 1991; Goodfellow et al. 2014, Theorem 1.
    """
    log_base = _checks.check_log_base(base)
    p = _checks.as_probability_vector(p, "p")
    q = _checks.as_probability_vector(q, "q")
    _checks.check_same_shape(p, "p", q, "q")
    m = 0.5 * (p + q)
    value = 0.5 * np.sum(_xlogy_ratio(p, m)) + 0.5 * np.sum(_xlogy_ratio(q, m))
    return float(value / log_base)


def total_variation(p, q):
    """Total variation distance of two discrete distributions.

    TV(p, q) = 1/2 sum_i |p_i - q_i| = max_A |p(A) - q(A)|, in [0, 1].

    Args:
      p: array_like of non-negative weights, any shape; normalised to sum 1.
      q: array_like of non-negative weights, same shape as `p`; normalised.

    Returns:
      float in [0, 1].

    Raises:
      ValueError: As for `kl_divergence`.

    Reference:
      Levin, Peres & Wilmer, "Markov Chains and Mixing Times", Prop. 4.2.
    """
    p = _checks.as_probability_vector(p, "p")
    q = _checks.as_probability_vector(q, "q")
    _checks.check_same_shape(p, "p", q, "q")
    return float(0.5 * np.sum(np.abs(p - q)))


def _gaussian_params(mu1, sigma1, mu2, sigma2):
    """Validates and broadcasts 1-D Gaussian parameters."""
    mu1 = _checks.as_float_array(mu1, "mu1")
    mu2 = _checks.as_float_array(mu2, "mu2")
    sigma1 = _checks.as_float_array(sigma1, "sigma1")
    sigma2 = _checks.as_float_array(sigma2, "sigma2")
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if np.any(s <= 0):
            raise ValueError("`{}` (a standard deviation) must be > 0, got {}.".format(name, _checks._describe(s)))
    try:
        return np.broadcast_arrays(mu1, sigma1, mu2, sigma2)
    except ValueError:
        raise ValueError(
            "`mu1`, `sigma1`, `mu2`, `sigma2` must be broadcastable, got shapes {}, {}, {}, {}.".format(
                mu1.shape, sigma1.shape, mu2.shape, sigma2.shape
            )
        ) from None


def _maybe_scalar(x):
    return float(x) if np.ndim(x) == 0 else x


def gaussian_kl(mu1, sigma1, mu2, sigma2):
    """Closed-form KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) in 1-D.

    KL = log(sigma2 / sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2.

    Args:
      mu1: Mean of the first Gaussian; scalar or array (broadcast).
      sigma1: Standard deviation (> 0) of the first Gaussian.
      mu2: Mean of the second Gaussian.
      sigma2: Standard deviation (> 0) of the second Gaussian.

    Returns:
      float (or float64 array of the broadcast shape) in nats, >= 0.

    Raises:
      ValueError: If a sigma is <= 0, any input is non-finite, or the shapes
        do not broadcast.

    Reference:
      Kullback, "Information Theory and Statistics", 1959; e.g. Bishop,
      "Pattern Recognition and Machine Learning", exercise 1.30.
    """
    mu1, sigma1, mu2, sigma2 = _gaussian_params(mu1, sigma1, mu2, sigma2)
    value = np.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2.0 * sigma2**2) - 0.5
    return _maybe_scalar(value)


def gaussian_w1(mu1, sigma1, mu2, sigma2):
    """Closed-form Wasserstein-1 distance between two 1-D Gaussians.

    In 1-D the optimal coupling is the monotone (quantile) one,
    X = mu1 + sigma1 Z, Y = mu2 + sigma2 Z with the same Z ~ N(0, 1), so
    W1 = int_0^1 |F1^-1(u) - F2^-1(u)| du = E|d + s Z|, d = mu1 - mu2,
    s = sigma1 - sigma2, which is the mean of a folded normal:

      W1 = |s| sqrt(2/pi) exp(-d^2 / (2 s^2)) + d (1 - 2 Phi(-d / |s|)),

    and W1 = |d| when s = 0. Note W1 != |mu1 - mu2| in general when the
    standard deviations differ (it is >= |d| by Jensen's inequality).

    Args:
      mu1: Mean of the first Gaussian; scalar or array (broadcast).
      sigma1: Standard deviation (> 0) of the first Gaussian.
      mu2: Mean of the second Gaussian.
      sigma2: Standard deviation (> 0) of the second Gaussian.

    Returns:
      float (or float64 array of the broadcast shape) >= 0.

    Raises:
      ValueError: As for `gaussian_kl`.

    Reference:
      Villani, "Optimal Transport: Old and New", 2009, Remark 2.19 (1-D
      quantile coupling); Leone, Nelson & Nottingham, "The folded normal
      distribution", Technometrics 3(4), 1961.
    """
    mu1, sigma1, mu2, sigma2 = _gaussian_params(mu1, sigma1, mu2, sigma2)
    d = mu1 - mu2
    abs_s = np.abs(sigma1 - sigma2)
    safe_s = np.where(abs_s > 0, abs_s, 1.0)
    folded = abs_s * np.sqrt(2.0 / np.pi) * np.exp(-(d**2) / (2.0 * safe_s**2)) + d * (
        1.0 - 2.0 * special.ndtr(-d / safe_s)
    )
    value = np.where(abs_s > 0, folded, np.abs(d))
    return _maybe_scalar(value)


def gaussian_w2(mu1, sigma1, mu2, sigma2):
    """Closed-form Wasserstein-2 distance between two 1-D Gaussians.

    W2 = sqrt((mu1 - mu2)^2 + (sigma1 - sigma2)^2).

    Args:
      mu1: Mean of the first Gaussian; scalar or array (broadcast).
      sigma1: Standard deviation (> 0) of the first Gaussian.
      mu2: Mean of the second Gaussian.
      sigma2: Standard deviation (> 0) of the second Gaussian.

    Returns:
      float (or float64 array of the broadcast shape) >= 0.

    Raises:
      ValueError: As for `gaussian_kl`.

    Reference:
      Dowson & Landau, "The Frechet distance between multivariate normal
      distributions", J. Multivariate Anal. 12(3), 1982.
    """
    mu1, sigma1, mu2, sigma2 = _gaussian_params(mu1, sigma1, mu2, sigma2)
    return _maybe_scalar(np.hypot(mu1 - mu2, sigma1 - sigma2))


def empirical_w1(x, y):
    """Wasserstein-1 distance between the empirical distributions of samples.

    W1 = int |F_x(t) - F_y(t)| dt, which for equal sizes equals
    mean_i |x_(i) - y_(i)| over the sorted samples (quantile coupling).

    Args:
      x: array_like of shape [N], samples of the first distribution.
      y: array_like of shape [M], samples of the second; M may differ from N.

    Returns:
      float >= 0.

    Raises:
      ValueError: If `x` or `y` is not 1-D, is empty, or is non-finite.

    Reference:
      Ramdas, Garcia & Cuturi, "On Wasserstein two sample testing and related
      families of nonparametric tests", Entropy 19(2), 2017.
    """
    x = _checks.as_float_array(x, "x", ndim=1, min_rows=1)
    y = _checks.as_float_array(y, "y", ndim=1, min_rows=1)
    from scipy import stats  # imported here: scipy.stats takes about a second to import

    return float(stats.wasserstein_distance(x, y))


def assignment_w1(x, y):
    """Exact Wasserstein-1 distance between two empirical distributions of n points each in R^D.

    With equal weights 1/n on both sides an optimal coupling is a permutation (Birkhoff-von Neumann), so

        W1 = min over permutations s of 1/n sum_i ||x_i - y_s(i)||_2,

    an assignment problem, solved exactly by `scipy.optimize.linear_sum_assignment` in O(n^3) time and
    O(n^2) memory (about 1 s for n = 1,000 on a busy core). Unlike the mean of the marginals' 1-D distances it
    sees joint structure: points on the diagonal of a grid have the grid's marginals but W1 > 0.

    Args:
      x: array_like of shape [n, D].
      y: array_like of shape [n, D], the same n and D.

    Returns:
      float >= 0.

    Raises:
      ValueError: If `x` or `y` is not 2-D, is empty or non-finite, or their shapes differ.

    Reference:
      Peyre & Cuturi, "Computational Optimal Transport", Found. Trends Mach. Learn. 11(5-6), 2019,
      section 2.2 (Proposition 2.1).
    """
    x = _checks.as_float_array(x, "x", ndim=2, min_rows=1)
    y = _checks.as_float_array(y, "y", ndim=2, min_rows=1)
    if x.shape != y.shape:
        raise ValueError("`x` and `y` must have the same shape [n, D], got {} and {}.".format(x.shape, y.shape))
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    cost = cdist(x, y)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def _density_pair(p_data, p_g):
    p_data = _checks.as_float_array(p_data, "p_data")
    p_g = _checks.as_float_array(p_g, "p_g")
    for name, arr in (("p_data", p_data), ("p_g", p_g)):
        if np.any(arr < 0):
            raise ValueError(
                "`{}` must be non-negative, got {} (min {}).".format(name, _checks._describe(arr), arr.min())
            )
    _checks.check_same_shape(p_data, "p_data", p_g, "p_g")
    return p_data, p_g


def optimal_discriminator(p_data, p_g):
    """Optimal GAN discriminator for a fixed generator.

    D*(x) = p_data(x) / (p_data(x) + p_g(x)).

    Where both densities are 0 the discriminator is unconstrained (the point
    does not contribute to V(G, D)); this function returns 0.5 there, the value
    of D* when p_data = p_g.

    Args:
      p_data: array_like of non-negative data densities (or probabilities)
        evaluated at some points; any shape. Not normalised.
      p_g: array_like of non-negative generator densities at the same points;
        same shape as `p_data`.

    Returns:
      np.ndarray of float64 in [0, 1], same shape as the inputs.

    Raises:
      ValueError: If an input is negative or non-finite or the shapes differ.

    Reference:
      Goodfellow et al. 2014, Proposition 1.
    """
    p_data, p_g = _density_pair(p_data, p_g)
    total = p_data + p_g
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(total > 0, p_data / np.where(total > 0, total, 1.0), 0.5)
    return d


def virtual_training_criterion(p_data, p_g):
    """GAN virtual training criterion C(G) = max_D V(G, D), discrete case.

    C(G) = E_{x~p_data}[log D*(x)] + E_{x~p_g}[log(1 - D*(x))], computed
    directly from D* (see `optimal_discriminator`) with 0 * log 0 = 0.
    Theorem 1 of Goodfellow et al. shows C(G) = -log 4 + 2 JSD(p_data || p_g),
    minimal (-log 4) iff p_g = p_data; this function does not use that
    identity so that it can be checked against it.

    Args:
      p_data: array_like of non-negative weights, any shape; normalised.
      p_g: array_like of non-negative weights, same shape; normalised.

    Returns:
      float in [-log 4, 0], in nats.

    Raises:
      ValueError: As for `kl_divergence`.

    Reference:
      Goodfellow et al. 2014, eq. (4) and Theorem 1.
    """
    p_data = _checks.as_probability_vector(p_data, "p_data")
    p_g = _checks.as_probability_vector(p_g, "p_g")
    _checks.check_same_shape(p_data, "p_data", p_g, "p_g")
    d = optimal_discriminator(p_data, p_g)
    # xlogy(0, 0) = 0 implements the 0 * log 0 = 0 convention: where
    # p_data = 0 we have D* = 0 and where p_g = 0 we have 1 - D* = 0.
    return float(np.sum(special.xlogy(p_data, d)) + np.sum(special.xlogy(p_g, 1.0 - d)))
