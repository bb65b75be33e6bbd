"""Mode-coverage metrics for 2-D Gaussian mixtures and Stacked MNIST.

Conventions (shared with the synthetic data sets): the 8-mode ring has
centres at radius 2.0 (std 0.02) and the 25-mode grid has centres at
{-4, -2, 0, 2, 4}^2 (std 0.05); `std` is always an explicit argument.

A generated sample is *high quality* if its Euclidean distance to the nearest
mode centre is at most `threshold_std * std` (3 std by default); it is then
assigned to that mode. A mode is *captured* if at least `min_count`
high-quality samples are assigned to it; the default (min_count=1) is the
convention of the VEEGAN/PacGAN evaluation code (a mode is covered when its
high-quality count is non-zero). The reverse KL is KL(p_modes || uniform)
where p_modes is the histogram of high-quality samples over modes.

References:
  Metz et al., "Unrolled Generative Adversarial Networks", ICLR 2017
  (arXiv:1611.02163), Section 3.1 and 3.3 (Stacked MNIST).
  Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit
  Variational Learning", NeurIPS 2017 (arXiv:1705.07761), Section 5.1.
  Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative
  adversarial networks", NeurIPS 2018 (arXiv:1712.04086), Section 5.
"""

import collections
import math

import numpy as np
from scipy import special

from tfgan.metrics import _checks

_CHUNK = 65536

ModeCoverage = collections.namedtuple(
    "ModeCoverage", ["num_modes_captured", "num_modes", "high_quality_fraction", "reverse_kl", "counts"]
)
ModeCoverage.__doc__ = """Mode-coverage summary of generated 2-D samples.

Fields:
  num_modes_captured: int, modes with at least `min_count` high-quality
    samples.
  num_modes: int, total number of modes M.
  high_quality_fraction: float in [0, 1], fraction of samples within
    threshold_std * std of their nearest mode.
  reverse_kl: float, KL(p_modes || uniform over M) in nats, p_modes the
    normalised histogram `counts`; +inf if there is no high-quality sample.
  counts: np.ndarray of shape [M], int64, high-quality samples per mode.
"""

StackedMnistCoverage = collections.namedtuple("StackedMnistCoverage", ["num_modes_covered", "kl_to_uniform", "counts"])
StackedMnistCoverage.__doc__ = """Stacked-MNIST mode coverage.

Fields:
  num_modes_covered: int in [0, 1000], modes with at least `min_count`
    samples.
  kl_to_uniform: float, KL(p_modes || uniform over 1000) in nats.
  counts: np.ndarray of shape [1000], int64; mode 100*d0 + 10*d1 + d2.
"""


def ring_modes(n=8, radius=2.0):
    """Centres of `n` modes evenly spaced on a circle.

    c_i = radius * (cos(2 pi i / n), sin(2 pi i / n)), i = 0..n-1.

    Args:
      n: int >= 1, number of modes.
      radius: float > 0.

    Returns:
      np.ndarray of shape [n, 2], float64.

    Raises:
      ValueError: If `n` is not a positive integer or `radius` is not > 0.
    """
    n = _checks.check_int(n, "n", 1)
    radius = _checks.check_positive(radius, "radius")
    angles = 2.0 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes(n=25, spacing=2.0):
    """Centres of `n` modes on a square grid centred at the origin.

    With side s = sqrt(n), coordinates are spacing * (i - (s - 1) / 2),
    i = 0..s-1; n=25, spacing=2 gives {-4, -2, 0, 2, 4}^2. Rows are ordered
    with the x coordinate varying slowest.

    Args:
      n: int, a perfect square >= 1.
      spacing: float > 0, distance between neighbouring modes.

    Returns:
      np.ndarray of shape [n, 2], float64.

    Raises:
      ValueError: If `n` is not a positive perfect square or `spacing` <= 0.
    """
    n = _checks.check_int(n, "n", 1)
    spacing = _checks.check_positive(spacing, "spacing")
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError("`n` must be a perfect square (e.g. 25 for 5x5), got {}.".format(n))
    coords = spacing * (np.arange(side) - (side - 1) / 2.0)
    xx, yy = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def histogram_kl_to_uniform(counts):
    """KL(p || uniform) of a histogram, p = counts / sum(counts).

    KL = sum_i p_i log(M p_i) = log M - H(p), in [0, log M]; 0 for a uniform
    histogram and log M when all mass is on one bin.

    Args:
      counts: array_like of shape [M], non-negative.

    Returns:
      float in nats; +inf if all counts are zero (p is undefined).

    Raises:
      ValueError: If `counts` is not a non-empty 1-D non-negative array.
    """
    counts = _checks.as_float_array(counts, "counts", ndim=1, min_rows=1)
    if np.any(counts < 0):
        raise ValueError("`counts` must be non-negative, got minimum {}.".format(counts.min()))
    total = counts.sum()
    if total == 0:
        return float("inf")
    p = counts / total
    return float(np.sum(special.rel_entr(p, 1.0 / counts.shape[0])))


def _nearest_modes(samples, centers):
    """Indices of and distances to the nearest centre, chunked over samples."""
    idx = np.empty(samples.shape[0], dtype=np.int64)
    dist = np.empty(samples.shape[0])
    for start in range(0, samples.shape[0], _CHUNK):
        block = samples[start : start + _CHUNK]
        d2 = np.sum((block[:, None, :] - centers[None, :, :]) ** 2, axis=-1)
        j = np.argmin(d2, axis=1)
        idx[start : start + block.shape[0]] = j
        dist[start : start + block.shape[0]] = np.sqrt(d2[np.arange(block.shape[0]), j])
    return idx, dist


def mode_coverage(samples, centers, std, threshold_std=3.0, min_count=None):
    """Mode coverage of samples from a generator of a Gaussian mixture.

    Each sample x is assigned to its nearest centre c(x) (Euclidean); it is
    high quality if ||x - c(x)|| <= threshold_std * std. For an exact sampler
    of an isotropic 2-D mixture with well separated modes the expected
    high-quality fraction is P(chi_2 <= t) = 1 - exp(-t^2 / 2)
    (0.98889 for t = 3).

    Args:
      samples: array_like of shape [N, D] (D = 2 for the usual benchmarks).
      centers: array_like of shape [M, D], mode centres (e.g. `ring_modes()`).
      std: float > 0, per-coordinate standard deviation of each mode.
      threshold_std: float > 0, high-quality radius in units of `std`.
      min_count: int >= 1 or None. A mode is captured if it has at least
        `min_count` high-quality samples. None means 1 (VEEGAN/PacGAN
        convention: any high-quality sample captures its mode).

    Returns:
      ModeCoverage(num_modes_captured, num_modes, high_quality_fraction,
      reverse_kl, counts).

    Raises:
      ValueError: If shapes are inconsistent, inputs non-finite, or the scalar
        arguments are out of range.

    Reference:
      Srivastava et al. 2017, Section 5.1; Lin et al. 2018, Section 5.
    """
    samples = _checks.as_float_array(samples, "samples", ndim=2, min_rows=1)
    centers = _checks.as_float_array(centers, "centers", ndim=2, min_rows=1)
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(
            "`samples` and `centers` must have the same dimension, got shapes {} and {}.".format(
                samples.shape, centers.shape
            )
        )
    std = _checks.check_positive(std, "std")
    threshold_std = _checks.check_positive(threshold_std, "threshold_std")
    min_count = 1 if min_count is None else _checks.check_int(min_count, "min_count", 1)
    num_modes = centers.shape[0]
    idx, dist = _nearest_modes(samples, centers)
    good = dist <= threshold_std * std
    counts = np.bincount(idx[good], minlength=num_modes).astype(np.int64)
    return ModeCoverage(
        num_modes_captured=int(np.sum(counts >= min_count)),
        num_modes=int(num_modes),
        high_quality_fraction=float(good.mean()),
        reverse_kl=histogram_kl_to_uniform(counts),
        counts=counts,
    )


def stacked_mnist_coverage(predicted_digits, min_count=1):
    """Mode coverage on Stacked MNIST (1000 modes = 3 stacked digits).

    Mode of a sample = 100 * d0 + 10 * d1 + d2 for the classifier's predicted
    digits of its three channels. Reports the number of modes with at least
    `min_count` samples and KL(p_modes || uniform over 1000).

    Args:
      predicted_digits: array_like of integers in [0, 9], shape [N, 3].
      min_count: int >= 1, samples needed for a mode to count as covered
        (1 in Metz et al. 2017 and VEEGAN/PacGAN).

    Returns:
      StackedMnistCoverage(num_modes_covered, kl_to_uniform, counts).

    Raises:
      ValueError: If `predicted_digits` is not an [N, 3] array of integers in
        [0, 9] with N >= 1, or `min_count` < 1.

    Reference:
      Metz et al. 2017, Section 3.3; Lin et al. 2018, Section 5.
    """
    min_count = _checks.check_int(min_count, "min_count", 1)
    digits = _checks.as_float_array(predicted_digits, "predicted_digits", ndim=2, min_rows=1)
    if digits.shape[1] != 3:
        raise ValueError("`predicted_digits` must have shape [N, 3], got {}.".format(digits.shape))
    if np.any(digits != np.round(digits)) or np.any((digits < 0) | (digits > 9)):
        raise ValueError(
            "`predicted_digits` must hold integers in [0, 9], got values in [{}, {}].".format(
                digits.min(), digits.max()
            )
        )
    digits = digits.astype(np.int64)
    modes = 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]
    counts = np.bincount(modes, minlength=1000).astype(np.int64)
    return StackedMnistCoverage(
        num_modes_covered=int(np.sum(counts >= min_count)), kl_to_uniform=histogram_kl_to_uniform(counts), counts=counts
    )
