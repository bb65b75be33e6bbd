"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic kernel.

k(x, y) = (x . y / d + 1)^3, where d is the feature dimension, and

  MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
            - 2/(m n) sum_{i,j} k(x_i, y_j),

averaged over random subsets as in the reference implementation
(github.com/mbinkowski/MMD-GAN, gan/compute_scores.py).

Reference:
  Binkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018
  (arXiv:1801.01401), Section 4 and Appendix.
  Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012, Lemma 6.
"""

import numpy as np

from tfgan.metrics import _checks


def polynomial_kernel(x, y):
    """Cubic polynomial kernel matrix k(x, y) = (x . y / d + 1)^3.

    Args:
      x: array_like of shape [M, D].
      y: array_like of shape [N, D].

    Returns:
      np.ndarray of shape [M, N], float64.

    Raises:
      ValueError: If the inputs are not 2-D with the same D or are non-finite.
    """
    x = _checks.as_float_array(x, "x", ndim=2)
    y = _checks.as_float_array(y, "y", ndim=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            "`x` and `y` must have the same feature dimension, got shapes {} and {}.".format(x.shape, y.shape)
        )
    return (x.dot(y.T) / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased estimate of MMD^2 with the cubic polynomial kernel.

    MMD^2_u = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j)
              - 2 mean_{i,j} k(x_i, y_j).

    Args:
      x: array_like of shape [M, D], M >= 2.
      y: array_like of shape [N, D], N >= 2.

    Returns:
      float; can be negative (it is unbiased), 0 in expectation when x and y
      come from the same distribution.

    Raises:
      ValueError: If the inputs have fewer than 2 rows, differ in D, or are
        non-finite.

    Reference:
      Gretton et al. 2012, Lemma 6 (eq. 3).
    """
    x = _checks.as_float_array(x, "x", ndim=2, min_rows=2)
    y = _checks.as_float_array(y, "y", ndim=2, min_rows=2)
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    m, n = x.shape[0], y.shape[0]
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(a1, a2, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance between two sets of features.

    For each of `num_subsets` rounds, draws `subset_size` rows without
    replacement from each set (independently) and computes `mmd2_unbiased`;
    returns the mean and standard deviation over rounds.

    Args:
      a1: array_like of shape [N1, D], e.g. Inception features of real images.
      a2: array_like of shape [N2, D], features of generated images.
      num_subsets: int >= 1, number of random subsets.
      subset_size: int >= 2, rows per subset; clipped to min(N1, N2).
      seed: int or None, seed of numpy.random.default_rng for the subsets.

    Returns:
      (mean, std): floats, mean and (ddof=0) standard deviation of MMD^2_u
      over the subsets. KID is usually reported as mean (often x 1000).

    Raises:
      ValueError: If the sets have fewer than 2 rows or different D, or the
        integer arguments are out of range.

    Reference:
      Binkowski et al. 2018, Section 4.
    """
    a1 = _checks.as_float_array(a1, "a1", ndim=2, min_rows=2)
    a2 = _checks.as_float_array(a2, "a2", ndim=2, min_rows=2)
    if a1.shape[1] != a2.shape[1]:
        raise ValueError(
            "`a1` and `a2` must have the same feature dimension, got shapes {} and {}.".format(a1.shape, a2.shape)
        )
    num_subsets = _checks.check_int(num_subsets, "num_subsets", 1)
    subset_size = _checks.check_int(subset_size, "subset_size", 2)
    subset_size = min(subset_size, a1.shape[0], a2.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = a1[rng.choice(a1.shape[0], subset_size, replace=False)]
        y = a2[rng.choice(a2.shape[0], subset_size, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())
