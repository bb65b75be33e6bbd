"""Losses against hand-computed values, with asymmetric real/fake logits so swapped arguments fail."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfgan import losses

REAL = np.array([2.0, -1.0, 0.5], np.float32)
FAKE = np.array([-3.0, 0.0, 1.0], np.float32)


def softplus(x):
    return math.log1p(math.exp(x))


def test_bce_discriminator_golden():
    # -log sigmoid(r) - log(1 - sigmoid(f)) = softplus(-r) + softplus(f), example by example:
    # ex0: softplus(-2) + softplus(-3) = 0.126928 + 0.048587 = 0.175515
    expected = [softplus(-r) + softplus(f) for r, f in zip(REAL, FAKE)]
    np.testing.assert_allclose(losses.bce_discriminator_loss(REAL, FAKE), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.bce_discriminator_loss(REAL, FAKE)[0], 0.1755153, rtol=1e-5)
    # Swapping real and fake changes the value: the test would catch swapped arguments.
    assert not np.allclose(losses.bce_discriminator_loss(FAKE, REAL), expected)


def test_one_sided_label_smoothing_golden():
    # target t = 0.9 for real only: 0.9 softplus(-r) + 0.1 softplus(r) + softplus(f)
    expected = [0.9 * softplus(-r) + 0.1 * softplus(r) + softplus(f) for r, f in zip(REAL, FAKE)]
    np.testing.assert_allclose(losses.bce_discriminator_loss(REAL, FAKE, label_smoothing=0.1), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.bce_discriminator_loss(REAL, FAKE, label_smoothing=1.0)


def test_generator_losses_golden():
    # minimax: log(1 - sigmoid(f)) = -softplus(f); non-saturating: -log sigmoid(f) = softplus(-f)
    np.testing.assert_allclose(losses.minimax_generator_loss(FAKE), [-softplus(f) for f in FAKE], rtol=1e-6)
    np.testing.assert_allclose(losses.non_saturating_generator_loss(FAKE), [softplus(-f) for f in FAKE], rtol=1e-6)
    # f = 0: D = 1/2, both losses are -log 2 and +log 2.
    assert float(losses.minimax_generator_loss([0.0])[0]) == pytest.approx(-math.log(2))
    assert float(losses.non_saturating_generator_loss([0.0])[0]) == pytest.approx(math.log(2))


def test_stable_for_extreme_logits():
    big = np.array([1e4, -1e4], np.float32)
    for value in (losses.bce_discriminator_loss(big, -big), losses.non_saturating_generator_loss(big),
                  losses.minimax_generator_loss(big)):
        assert np.all(np.isfinite(value))
    # D(x) = sigmoid(1e4) = 1 exactly in float, yet the loss is the exact softplus(-1e4) ~ 0 and 2e4.
    np.testing.assert_allclose(losses.non_saturating_generator_loss(big), [0.0, 1e4], rtol=1e-6)


def test_saturating_vs_non_saturating_gradient_when_discriminator_wins():
    # D(G(z)) = sigmoid(-10) ~ 4.5e-5: the discriminator rejects the fakes confidently.
    logits = tf.constant([-10.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        saturating = losses.minimax_generator_loss(logits)
        non_saturating = losses.non_saturating_generator_loss(logits)
    g_sat = tape.gradient(saturating, logits).numpy()[0]
    g_ns = tape.gradient(non_saturating, logits).numpy()[0]
    # d/dl [-softplus(l)] = -sigmoid(l) ~ -4.54e-5 (vanishes); d/dl softplus(-l) = -(1 - sigmoid(l)) ~ -1.
    assert g_sat == pytest.approx(-1 / (1 + math.exp(10)), rel=1e-4)
    assert g_ns == pytest.approx(-1 + 1 / (1 + math.exp(10)), rel=1e-4)
    assert abs(g_ns) > 1e4 * abs(g_sat)


def test_wasserstein_hinge_least_squares_golden():
    r, f = REAL, FAKE
    np.testing.assert_allclose(losses.wasserstein_discriminator_loss(r, f), f - r)
    np.testing.assert_allclose(losses.wasserstein_generator_loss(f), -f)
    # hinge: max(0, 1 - r) + max(0, 1 + f): ex0 0 + 0, ex1 2 + 1, ex2 0.5 + 2
    np.testing.assert_allclose(losses.hinge_discriminator_loss(r, f), [0.0, 3.0, 2.5])
    np.testing.assert_allclose(losses.hinge_generator_loss(f), -f)
    # least squares: 0.5 (r - 1)^2 + 0.5 f^2: ex0 0.5 + 4.5, ex1 2 + 0, ex2 0.125 + 0.5
    np.testing.assert_allclose(losses.least_squares_discriminator_loss(r, f), [5.0, 2.0, 0.625])
    np.testing.assert_allclose(losses.least_squares_generator_loss(f), [8.0, 0.5, 0.0])


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_contract_every_registered_loss(name):
    pair = losses.get_loss_pair(name)
    real, fake = tf.constant(REAL[:, None]), tf.constant(FAKE[:, None])  # [batch, 1] as D outputs
    eager = pair.discriminator(real, fake), pair.generator(fake)
    graph = tf.function(lambda r, f: (pair.discriminator(r, f), pair.generator(f)))(real, fake)
    for e, g in zip(eager, graph):
        assert e.shape == (3,) and e.dtype == tf.float32
        assert np.all(np.isfinite(e))
        np.testing.assert_allclose(e, g, rtol=1e-6)


def test_unknown_loss_and_bad_smoothing_named():
    with pytest.raises(ValueError, match="loss must be one of .*non_saturating.*got 'nope'"):
        losses.get_loss_pair("nope")
    with pytest.raises(ValueError, match="label_smoothing.*wasserstein"):
        losses.get_loss_pair("wasserstein", label_smoothing=0.1)
