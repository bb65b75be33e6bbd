"""Tests for tfgan.metrics.inception_score."""

import math

import numpy as np
import pytest

# Import the function from its module: the package attribute
# `tfgan.metrics.inception_score` is the function, not the module.
from tfgan.metrics.inception_score import inception_score


def test_uniform_predictor_scores_one():
    probs = np.full((200, 10), 0.1)
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_uniformly_spread_scores_k():
    k = 10
    labels = np.arange(1000) % k  # Every split of 100 holds 10 of each class.
    probs = np.eye(k)[labels]
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(k, abs=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_golden_two_samples():
    # p(y|x1) = [1, 0], p(y|x2) = [0.5, 0.5]; p(y) = [0.75, 0.25].
    # KL1 = ln(1 / 0.75) = ln(4/3); KL2 = 0.5 ln(2/3) + 0.5 ln 2 = 0.5 ln(4/3).
    # IS = exp((KL1 + KL2) / 2) = exp(0.75 ln(4/3)) = (4/3)^0.75.
    mean, std = inception_score([[1.0, 0.0], [0.5, 0.5]], splits=1)
    assert mean == pytest.approx((4 / 3) ** 0.75, abs=1e-12)
    assert mean == pytest.approx(1.2408064788027995, abs=1e-12)
    assert std == 0.0


def test_against_reference_loop():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(7, 0.3), size=503)
    splits = 5
    scores = []
    n = probs.shape[0]
    for j in range(splits):
        part = probs[j * n // splits : (j + 1) * n // splits]
        py = part.mean(axis=0)
        kls = [sum(p_i * math.log(p_i / q_i) for p_i, q_i in zip(row, py) if p_i > 0) for row in part]
        scores.append(math.exp(sum(kls) / len(kls)))
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)
    assert std > 0
    assert 1.0 < mean < 7.0


def test_float32_softmax_rows_accepted():
    logits = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    e = np.exp(logits)
    probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    mean, _ = inception_score(probs, splits=2)
    assert 1.0 <= mean <= 4.0


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`probs` rows must sum to 1.*row 1"):
        inception_score([[0.5, 0.5], [0.5, 0.6]], splits=1)
    with pytest.raises(ValueError, match=r"`probs`.*non-negative"):
        inception_score([[1.5, -0.5]], splits=1)
    with pytest.raises(ValueError, match=r"`splits`.*<= 2.*got 3"):
        inception_score([[1.0, 0.0], [0.0, 1.0]], splits=3)
    with pytest.raises(ValueError, match=r"`probs`.*2-D"):
        inception_score([0.5, 0.5])
