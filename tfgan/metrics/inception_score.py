"""Inception Score from classifier class probabilities.

IS = exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x), evaluated on `splits`
disjoint chunks of the samples; the mean and standard deviation over chunks
are reported, as in the reference implementation
(github.com/openai/improved-gan, inception_score/model.py).

Reference:
  Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016
  (arXiv:1606.03498), Section 4.
"""

import numpy as np
from scipy import special

from tfgan.metrics import _checks


def _check_probs(probs, atol):
    probs = _checks.as_float_array(probs, "probs", ndim=2, min_rows=1)
    if probs.shape[1] < 1:
        raise ValueError("`probs` must have at least one class column, got shape {}.".format(probs.shape))
    if np.any(probs < 0):
        raise ValueError(
            "`probs` must be non-negative (rows are class distributions p(y|x)), got minimum {}.".format(probs.min())
        )
    row_sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > atol:
        raise ValueError(
            "`probs` rows must sum to 1 within {} (softmax outputs, not logits), got row {} summing to {}.".format(
                atol, worst, row_sums[worst]
            )
        )
    return probs


def inception_score(probs, splits=10, atol=1e-3):
    """Inception Score of a set of class-probability vectors.

    For each split X_j: IS_j = exp( mean_{x in X_j} sum_y p(y|x) (log p(y|x) -
    log p_j(y)) ), with p_j(y) = mean_{x in X_j} p(y|x) and 0 log 0 = 0.
    Split j holds rows [j N // splits, (j + 1) N // splits).

    IS lies in [1, K]: 1 for a predictor that outputs the same distribution for
    every x, K for confident predictions spread uniformly over K classes.

    Args:
      probs: array_like of shape [N, K]: p(y|x) for N samples, each row a
        probability distribution over K classes (softmax output).
      splits: int in [1, N], the number of disjoint chunks.
      atol: float > 0, tolerance on each row sum being 1.

    Returns:
      (mean, std): floats, the mean and (population, ddof=0) standard deviation
      of IS_j over the splits.

    Raises:
      ValueError: If `probs` is not [N, K], has negative entries or rows not
        summing to 1, or `splits` is not an integer in [1, N].

    Reference:
      Salimans et al. 2016, Section 4.
    """
    atol = _checks.check_positive(atol, "atol")
    probs = _check_probs(probs, atol)
    n = probs.shape[0]
    splits = _checks.check_int(splits, "splits", 1, n)
    scores = []
    for j in range(splits):
        part = probs[j * n // splits : (j + 1) * n // splits]
        p_y = part.mean(axis=0, keepdims=True)
        kl = special.rel_entr(part, p_y).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
