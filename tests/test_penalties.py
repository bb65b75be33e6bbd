"""Penalties against closed forms on a linear critic, where ||grad_x D|| = ||a|| whatever the interpolation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from scipy import stats

from tfgan import distribute, penalties
from tfgan.random import StepRandom

A = np.array([[0.6], [-1.2], [0.9], [2.0]], np.float32)  # ||a|| = sqrt(0.36+1.44+0.81+4) = sqrt(6.61)
NORM_A = float(np.sqrt(6.61))


def _linear_critic(a):
    a = tf.Variable(a)

    def discriminate(x):
        return tf.reshape(x, [tf.shape(x)[0], -1]) @ a

    return a, discriminate


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, 2, 2, 1)).astype(np.float32)
    fake = rng.normal(3.0, 1.0, size=(n, 2, 2, 1)).astype(np.float32)
    return tf.constant(real), tf.constant(fake)


def _rng(step=0):
    return StepRandom(0, tf.constant(step, tf.int64))


def test_gradient_penalty_on_linear_critic_is_lambda_norm_minus_one_squared():
    _, discriminate = _linear_critic(A)
    real, fake = _batch()
    for step in range(3):  # any eps gives the same value
        value = penalties.GradientPenalty(10.0)(discriminate, real, fake, _rng(step)).numpy()
        np.testing.assert_allclose(value, np.full(6, 10.0 * (NORM_A - 1.0) ** 2), rtol=1e-5)
    # Target norm and one-sided variants: target 3 > ||a|| = 2.571, so the one-sided penalty is 0.
    np.testing.assert_allclose(penalties.GradientPenalty(2.0, target=3.0)(discriminate, real, fake, _rng()),
                               np.full(6, 2.0 * (NORM_A - 3.0) ** 2), rtol=1e-5)
    np.testing.assert_allclose(
        penalties.GradientPenalty(2.0, target=3.0, one_sided=True)(discriminate, real, fake, _rng()), np.zeros(6))


def test_interpolation_weight_is_uniform_per_example():
    real, fake = _batch(4096)
    x_hat, eps = penalties.interpolate(real, fake, _rng())
    assert eps.shape == (4096, 1, 1, 1)
    # Each x_hat lies on its own segment with its own eps, broadcast over all pixels.
    np.testing.assert_allclose(x_hat, eps * real + (1 - eps) * fake, rtol=1e-6)
    recovered = (x_hat - fake) / (real - fake)
    np.testing.assert_allclose(recovered, np.broadcast_to(eps, recovered.shape), rtol=1e-3, atol=1e-3)
    # U[0, 1] (not a normal, as in a well-known buggy example): Kolmogorov-Smirnov against the uniform CDF.
    assert stats.kstest(eps.numpy().ravel(), "uniform").pvalue > 1e-3
    assert len(np.unique(eps.numpy())) > 4000


def test_gradient_penalty_gradient_reaches_critic_weights():
    a, discriminate = _linear_critic(A)
    real, fake = _batch()
    with tf.GradientTape() as tape:  # the outer (critic) tape; the penalty nests its own
        value = tf.reduce_mean(penalties.GradientPenalty(10.0)(discriminate, real, fake, _rng()))
    grad = tape.gradient(value, a)
    assert grad is not None
    # d/da lambda (||a|| - 1)^2 = 2 lambda (||a|| - 1) a / ||a||
    np.testing.assert_allclose(grad.numpy(), 2 * 10.0 * (NORM_A - 1.0) * A / NORM_A, rtol=1e-4)


def test_r1_on_linear_critic():
    a, discriminate = _linear_critic(A)
    real, fake = _batch()
    with tf.GradientTape() as tape:
        value = penalties.R1Penalty(4.0)(discriminate, real, fake, _rng())
        mean = tf.reduce_mean(value)
    np.testing.assert_allclose(value, np.full(6, 0.5 * 4.0 * 6.61), rtol=1e-5)  # gamma/2 ||a||^2
    np.testing.assert_allclose(tape.gradient(mean, a), 4.0 * A, rtol=1e-5)       # d/da gamma/2 ||a||^2 = gamma a


def test_gradient_penalty_of_nonlinear_critic_matches_finite_differences():
    w = tf.constant(np.random.default_rng(1).normal(size=(4, 1)).astype(np.float32))

    def discriminate(x):
        return tf.reduce_sum(tf.tanh(tf.reshape(x, [-1, 4]) * tf.reshape(w, [1, 4])) ** 2, 1, keepdims=True)

    real, fake = _batch(3)
    x_hat, _ = penalties.interpolate(real, fake, _rng())
    norms = penalties.gradient_norm(discriminate, x_hat).numpy()
    x = tf.reshape(x_hat, [3, 4]).numpy().astype(np.float64)
    for i in range(3):
        g = []
        for j in range(4):
            e = np.zeros(4)
            e[j] = 1e-3
            f = lambda v: float(discriminate(tf.constant(v.reshape(1, 2, 2, 1), tf.float32))[0, 0])  # noqa: E731
            g.append((f(x[i] + e) - f(x[i] - e)) / 2e-3)
        assert norms[i] == pytest.approx(np.linalg.norm(g), rel=2e-2)


@pytest.mark.parametrize("name", penalties.PENALTY_NAMES)
def test_contract_every_registered_penalty(name):
    penalty = penalties.get_penalty(name)
    _, discriminate = _linear_critic(A)
    real, fake = _batch(8)
    eager = penalty(discriminate, real, fake, _rng())
    graph = tf.function(lambda r, f: penalty(discriminate, r, f, _rng()))(real, fake)
    assert eager.shape == (8,) and eager.dtype == tf.float32 and np.all(np.isfinite(eager))
    np.testing.assert_allclose(eager, graph, rtol=1e-6)


@pytest.mark.parametrize("name", penalties.PENALTY_NAMES)
def test_penalty_same_under_two_replicas(name):
    """Each replica gets its own half of the batch (different data, so different penalties and gradients) and
    its own rows of the interpolation weights; it differentiates its share of the global-batch mean. The
    values together, and the sum of the gradient shares (what the optimizer's all-reduce forms), equal one
    device's."""
    strategy = mirrored_two_cpus()
    penalty = penalties.get_penalty(name)
    w0 = np.random.default_rng(2).normal(size=(4, 1)).astype(np.float32)

    def values_and_gradient(w, real, fake):
        def discriminate(x):  # non-linear, so the data and the interpolation weights matter
            return tf.tanh(tf.reshape(x, [tf.shape(x)[0], -1]) @ w) ** 2

        with tf.GradientTape() as tape:
            values = penalty(discriminate, real, fake, _rng())
            share = distribute.global_mean(values)
        return values, tape.gradient(share, w)

    real, fake = _batch(8)
    single_values, single_gradient = values_and_gradient(tf.Variable(w0), real, fake)
    with strategy.scope():
        w = tf.Variable(w0)
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((real, fake)))

    @tf.function
    def run(batch):
        return strategy.run(lambda b: values_and_gradient(w, b[0], b[1]), args=(batch,))

    values, gradients = run(next(iter(ds)))
    values = [v.numpy() for v in strategy.experimental_local_results(values)]
    g0, g1 = (g.numpy() for g in strategy.experimental_local_results(gradients))
    np.testing.assert_allclose(np.concatenate(values), single_values, rtol=1e-5)
    assert not np.allclose(values[0], values[1]) and not np.allclose(g0, g1, rtol=0.1)
    np.testing.assert_allclose(g0 + g1, single_gradient, rtol=1e-5)


def test_penalties_under_mixed_float16_equal_float32_for_small_input_gradients():
    """A critic whose input gradients are ~1e-7 (its float32 output layer's kernel scaled by 1e-7): unscaled, the
    float16 backward pass through the hidden layer flushes them to float16's subnormal grid (step 6e-8) and R1
    came out 3x the float32 value. Loss-scaled by the optimizer's 2^15 and unscaled in float32, the penalties
    match float32 to a few 1e-4."""
    from helpers import image_batch, tiny_image_gan
    real = tf.constant(image_batch(8)[0])
    values = {}
    for policy in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        gan = tiny_image_gan(penalties=[penalties.R1Penalty(10.0),
                                        penalties.GradientPenalty(10.0, target=1e-7, epsilon=0.0)])
        score = gan.discriminator.get_layer("score")
        score.kernel.assign(score.kernel * 1e-7)
        gan.discriminator_step(real, None, _rng())
        values[policy] = {name: float(gan._trackers[f"penalty_{name}"].result()) for name in ("r1", "gp")}
    assert gan.discriminator.layers[2].compute_dtype == "float16"  # the premise: a float16 hidden layer
    assert 0.0 < values["float32"]["r1"] < 1e-12
    for name in ("r1", "gp"):
        want = pytest.approx(values["float32"][name], rel=1e-2, abs=0.0)
        assert values["mixed_float16"][name] == want, (name, values)


def test_bad_penalty_arguments_named():
    with pytest.raises(ValueError, match="penalty must be one of gp, r1; got 'l2'"):
        penalties.get_penalty("l2")
    with pytest.raises(ValueError, match="weight must be >= 0, got -1"):
        penalties.GradientPenalty(-1.0)
