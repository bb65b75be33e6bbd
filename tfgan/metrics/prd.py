"""Improved precision and recall of generative models (k-NN manifolds), metric `precision_recall`.

Not the PRD curves of Sajjadi et al. (2018), after which this module and the metric's former name `prd` are
named.

Each feature set defines a manifold estimate: the union of balls centred at
its samples with radius equal to the distance to their k-th nearest
neighbour (excluding the sample itself). Then

  precision = fraction of fake samples inside the real manifold,
  recall    = fraction of real samples inside the fake manifold.

The two sets must have the same size, as in the paper (50,000 each): a set's
k-NN radii shrink as it grows, so sets of different sizes would be judged by
manifolds of different tightness. Pairwise distances are computed in row
blocks of `batch_size` so memory is O(batch_size * N) rather than O(N^2).

Reference:
  Kynkaanniemi, Karras, Laine, Lehtinen & Aila, "Improved Precision and
  Recall Metric for Assessing Generative Models", NeurIPS 2019
  (arXiv:1904.06991), Section 2 and eq. (1)-(2).
"""

import collections

import numpy as np

from tfgan.metrics import _checks

PrecisionRecall = collections.namedtuple("PrecisionRecall", ["precision", "recall"])
PrecisionRecall.__doc__ = """Improved precision and recall, both in [0, 1]."""


def _squared_distances(a, b, b_sq_norms):
    """||a_i - b_j||^2 for a block `a` [B, D] against `b` [N, D]."""
    a_sq = np.sum(a * a, axis=1)[:, None]
    d2 = a_sq + b_sq_norms[None, :] - 2.0 * a.dot(b.T)
    return np.maximum(d2, 0.0)


def knn_radii(features, k=3, batch_size=1024):
    """Distance from each sample to its k-th nearest other sample.

    Args:
      features: array_like of shape [N, D] with N > k.
      k: int >= 1, the neighbour index (k=3 in Kynkaanniemi et al.).
      batch_size: int >= 1, rows per distance block.

    Returns:
      np.ndarray of shape [N], float64 radii (Euclidean).

    Raises:
      ValueError: If `features` is not [N, D] with N > k, or `k`/`batch_size`
        are not positive integers.

    Reference:
      Kynkaanniemi et al. 2019, eq. (1).
    """
    k = _checks.check_int(k, "k", 1)
    batch_size = _checks.check_int(batch_size, "batch_size", 1)
    x = _checks.as_float_array(features, "features", ndim=2, min_rows=k + 1)
    sq_norms = np.sum(x * x, axis=1)
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        block = x[start : start + batch_size]
        d2 = _squared_distances(block, x, sq_norms)
        # The sample itself sits at index 0 of the sorted row (distance ~0), so
        # the k-th neighbour is the (k + 1)-th smallest entry, index k.
        radii[start : start + block.shape[0]] = np.partition(d2, k, axis=1)[:, k]
    return np.sqrt(radii)


def manifold_membership(reference, radii, queries, batch_size=1024):
    """Whether each query lies within some reference sample's k-NN ball.

    member_j = any_i ||q_j - r_i|| <= radius_i.

    Args:
      reference: array_like of shape [N, D], samples defining the manifold.
      radii: array_like of shape [N], non-negative radii (see `knn_radii`).
      queries: array_like of shape [M, D].
      batch_size: int >= 1, query rows per distance block.

    Returns:
      np.ndarray of shape [M], bool.

    Raises:
      ValueError: If shapes are inconsistent, radii are negative, or inputs
        are non-finite.

    Reference:
      Kynkaanniemi et al. 2019, eq. (1).
    """
    batch_size = _checks.check_int(batch_size, "batch_size", 1)
    ref = _checks.as_float_array(reference, "reference", ndim=2, min_rows=1)
    radii = _checks.as_float_array(radii, "radii", ndim=1)
    q = _checks.as_float_array(queries, "queries", ndim=2)
    if radii.shape[0] != ref.shape[0]:
        raise ValueError("`radii` must have shape [{}] to match `reference`, got {}.".format(ref.shape[0], radii.shape))
    if np.any(radii < 0):
        raise ValueError("`radii` must be non-negative, got minimum {}.".format(radii.min()))
    if q.shape[1] != ref.shape[1]:
        raise ValueError(
            "`queries` must have feature dimension {} like `reference`, got shape {}.".format(ref.shape[1], q.shape)
        )
    ref_sq = np.sum(ref * ref, axis=1)
    radii_sq = radii**2
    member = np.empty(q.shape[0], dtype=bool)
    for start in range(0, q.shape[0], batch_size):
        block = q[start : start + batch_size]
        d2 = _squared_distances(block, ref, ref_sq)
        member[start : start + block.shape[0]] = np.any(d2 <= radii_sq[None, :], axis=1)
    return member


def precision_recall(real_features, fake_features, k=3, batch_size=1024):
    """Improved precision and recall of fake samples against real samples.

    precision = 1/M sum_j f(fake_j; real), recall = 1/N sum_i f(real_i; fake),
    where f(x; S) = 1 iff ||x - s|| <= NN_k(s; S) for some s in S.

    Args:
      real_features: array_like of shape [N, D], N > k.
      fake_features: array_like of shape [N, D], the same N (see the module docstring).
      k: int >= 1, neighbourhood size (3 in the paper).
      batch_size: int >= 1, rows per distance block (memory is about
        8 * batch_size * max(N, M) bytes per block).

    Returns:
      PrecisionRecall(precision, recall) of floats in [0, 1].

    Raises:
      ValueError: If the sets are not [N, D] with more than k rows each, differ in
        N or D, or `k`/`batch_size` are invalid.

    Reference:
      Kynkaanniemi et al. 2019, eq. (2).
    """
    real = _checks.as_float_array(real_features, "real_features", ndim=2)
    fake = _checks.as_float_array(fake_features, "fake_features", ndim=2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real_features` and `fake_features` must have the same feature dimension, got shapes {} and {}.".format(
                real.shape, fake.shape
            )
        )
    if real.shape[0] != fake.shape[0]:
        raise ValueError(
            "`real_features` and `fake_features` must have the same number of rows (sets of equal size), got "
            "shapes {} and {}.".format(real.shape, fake.shape)
        )
    k = _checks.check_int(k, "k", 1)
    for name, arr in (("real_features", real), ("fake_features", fake)):
        if arr.shape[0] <= k:
            raise ValueError("`{}` must have more than k={} rows, got shape {}.".format(name, k, arr.shape))
    real_radii = knn_radii(real, k, batch_size)
    fake_radii = knn_radii(fake, k, batch_size)
    precision = manifold_membership(real, real_radii, fake, batch_size).mean()
    recall = manifold_membership(fake, fake_radii, real, batch_size).mean()
    return PrecisionRecall(float(precision), float(recall))
