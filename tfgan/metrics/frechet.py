"""Frechet distance between Gaussians fitted to features (FID).

FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

computed in float64 with `scipy.linalg.sqrtm`, following the reference TTUR
implementation (github.com/bioinf-jku/TTUR, `fid.calculate_frechet_distance`).

References:
  Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a
  Local Nash Equilibrium", NeurIPS 2017 (arXiv:1706.08500).
  Dowson & Landau, "The Frechet distance between multivariate normal
  distributions", J. Multivariate Anal. 12(3), 1982.
"""

import warnings

import numpy as np
from scipy import linalg

from tfgan.metrics import _checks


def _check_moments(mu, sigma, mu_name, sigma_name):
    mu = _checks.as_float_array(mu, mu_name, ndim=1, min_rows=1)
    sigma = _checks.as_float_array(sigma, sigma_name, ndim=2)
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(
            "`{}` must have shape [D, D] = {} to match `{}`, got {}.".format(sigma_name, (d, d), mu_name, sigma.shape)
        )
    return mu, sigma


def _sqrtm(matrix):
    with warnings.catch_warnings():
        # Singular products trigger accuracy warnings; finiteness is checked
        # explicitly by the caller instead.
        warnings.simplefilter("ignore")
        return linalg.sqrtm(matrix)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6, imag_atol=1e-3):
    """Frechet (Wasserstein-2 squared) distance of two multivariate Gaussians.

    d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^{1/2}).

    Near-singular covariances are handled as in the TTUR reference code: if the
    matrix square root of sigma1 @ sigma2 is not finite, it is recomputed for
    (sigma1 + eps I) @ (sigma2 + eps I). A small imaginary part of the square
    root (numerical noise) is dropped.

    Args:
      mu1: array_like of shape [D], mean of the first Gaussian.
      sigma1: array_like of shape [D, D], covariance of the first Gaussian.
      mu2: array_like of shape [D], mean of the second Gaussian.
      sigma2: array_like of shape [D, D], covariance of the second Gaussian.
      eps: float > 0, diagonal offset used when the square root is not finite.
      imag_atol: float > 0, largest tolerated |imaginary part| on the diagonal
        of the matrix square root.

    Returns:
      float, the squared Frechet distance (may be very slightly negative, of
      the order of round-off, for identical inputs).

    Raises:
      ValueError: If the shapes are inconsistent, inputs are non-finite, or
        the matrix square root has an imaginary diagonal component larger than
        `imag_atol` (a sign of non-PSD inputs).

    Reference:
      Heusel et al. 2017, eq. (6); Dowson & Landau 1982.
    """
    mu1, sigma1 = _check_moments(mu1, sigma1, "mu1", "sigma1")
    mu2, sigma2 = _check_moments(mu2, sigma2, "mu2", "sigma2")
    if mu1.shape != mu2.shape:
        raise ValueError("`mu1` and `mu2` must have the same shape, got {} and {}.".format(mu1.shape, mu2.shape))
    eps = _checks.check_positive(eps, "eps")
    imag_atol = _checks.check_positive(imag_atol, "imag_atol")

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
        if not np.all(np.isfinite(covmean)):
            raise ValueError(
                "The matrix square root of sigma1 @ sigma2 is not "
                "finite even with `eps`={} added to the diagonal; "
                "check `sigma1` and `sigma2`.".format(eps)
            )
    if np.iscomplexobj(covmean):
        max_imag = np.max(np.abs(np.diagonal(covmean).imag))
        if max_imag > imag_atol:
            raise ValueError(
                "The matrix square root of sigma1 @ sigma2 has an imaginary "
                "diagonal component of {} > `imag_atol`={}; `sigma1` and `sigma2` "
                "must be symmetric positive semi-definite.".format(max_imag, imag_atol)
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _moments(activations, name):
    a = _checks.as_float_array(activations, name, ndim=2, min_rows=2)
    return a.mean(axis=0), np.cov(a, rowvar=False)


def frechet_distance_from_activations(a1, a2, eps=1e-6):
    """Frechet distance between Gaussians fitted to two sets of features.

    Fits mean and unbiased covariance (numpy.cov, N-1) to each set and calls
    `frechet_distance`.

    Args:
      a1: array_like of shape [N1, D], N1 >= 2, e.g. Inception pool3 features
        of real images.
      a2: array_like of shape [N2, D], N2 >= 2, features of generated images.
      eps: float > 0, see `frechet_distance`.

    Returns:
      float, the FID.

    Raises:
      ValueError: If an input is not 2-D with at least 2 rows, is non-finite,
        or the feature dimensions differ.

    Reference:
      Heusel et al. 2017.
    """
    mu1, sigma1 = _moments(a1, "a1")
    mu2, sigma2 = _moments(a2, "a2")
    if mu1.shape != mu2.shape:
        raise ValueError(
            "`a1` and `a2` must have the same feature dimension, got {} and {}.".format(mu1.shape[0], mu2.shape[0])
        )
    return frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)


class StreamingMoments(object):
    """Accumulates mean and covariance of features over batches in float64.

    Keeps the count, the sum and the sum of outer products of the rows (about a
    shift vector, the mean of the first batch, to avoid cancellation when the
    mean is large compared with the spread), so that e.g. 50k feature vectors
    need not be held in memory:

      mean = shift + S1 / N,
      cov  = (S2 - S1 S1^T / N) / (N - 1),

    with S1 = sum_i (x_i - shift), S2 = sum_i (x_i - shift)(x_i - shift)^T.
    The covariance is unbiased and equals numpy.cov(x, rowvar=False).

    Example:
      moments = StreamingMoments()
      for batch in batches:
        moments.update(features(batch))
      mu, sigma = moments.result()
    """

    def __init__(self, dim=None):
        """Creates an empty accumulator.

        Args:
          dim: Optional int >= 1, the feature dimension D. If None it is taken
            from the first batch.

        Raises:
          ValueError: If `dim` is not None or a positive integer.
        """
        self._dim = None if dim is None else _checks.check_int(dim, "dim", 1)
        self.reset()

    def reset(self):
        """Forgets all accumulated batches (keeps `dim` if it was given)."""
        self._count = 0
        self._shift = None
        self._sum = None
        self._outer = None

    @property
    def count(self):
        """Number of rows accumulated so far."""
        return self._count

    @property
    def dim(self):
        """Feature dimension D, or None before the first batch if not given."""
        return self._dim

    def update(self, batch):
        """Adds a batch of feature rows.

        Args:
          batch: array_like of shape [B, D] (B >= 0), or [D] for a single row.
            Anything convertible with numpy.asarray (including eager tf.Tensor).

        Raises:
          ValueError: If `batch` is not 1-D/2-D, is non-finite, or its feature
            dimension differs from `dim`.
        """
        x = _checks.as_float_array(batch, "batch")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError("`batch` must have shape [B, D] or [D], got {}.".format(x.shape))
        if self._dim is None:
            self._dim = x.shape[1]
        if x.shape[1] != self._dim:
            raise ValueError("`batch` must have feature dimension {}, got shape {}.".format(self._dim, x.shape))
        if x.shape[0] == 0:
            return
        if self._shift is None:
            self._shift = x.mean(axis=0)
            self._sum = np.zeros(self._dim)
            self._outer = np.zeros((self._dim, self._dim))
        centred = x - self._shift
        self._sum += centred.sum(axis=0)
        self._outer += centred.T.dot(centred)
        self._count += x.shape[0]

    def mean(self):
        """Returns the mean, shape [D].

        Raises:
          ValueError: If no rows have been accumulated.
        """
        if self._count < 1:
            raise ValueError("StreamingMoments.mean() needs at least 1 row, got count=0.")
        return self._shift + self._sum / self._count

    def covariance(self):
        """Returns the unbiased (N - 1) covariance, shape [D, D].

        Raises:
          ValueError: If fewer than 2 rows have been accumulated.
        """
        if self._count < 2:
            raise ValueError("StreamingMoments.covariance() needs at least 2 rows, got count={}.".format(self._count))
        n = self._count
        cov = (self._outer - np.outer(self._sum, self._sum) / n) / (n - 1)
        return 0.5 * (cov + cov.T)

    def result(self):
        """Returns (mean [D], covariance [D, D]) as float64 arrays.

        Raises:
          ValueError: If fewer than 2 rows have been accumulated.
        """
        return self.mean(), self.covariance()
