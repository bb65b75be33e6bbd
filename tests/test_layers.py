"""The networks' own layers against their papers: layer norm of conv critics, replica-aware dropout, spectral
normalisation as a differentiable reparameterisation with one power iteration per update."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from helpers import image_batch, tiny_image_gan

from tfgan import layers as tfgan_layers
from tfgan import networks
from tfgan.penalties import GradientPenalty
from tfgan.random import StepRandom

# --- layer normalisation -------------------------------------------------------------------------------------


def _layer_norms(model):
    return [layer for layer in model.layers
            if isinstance(layer, (keras.layers.LayerNormalization, keras.layers.GroupNormalization))]


def test_layer_norm_of_a_conv_critic_normalises_each_example_over_h_w_c():
    keras.utils.set_random_seed(0)
    d = networks.dcgan_discriminator(28, 1, base_filters=4, norm="layer")
    norm = _layer_norms(d)[0]
    channels = norm.input.shape[-1]
    # Per-channel scale and offset, as in the WGAN-GP reference code; random so that they are tested too.
    gamma = np.random.default_rng(1).uniform(0.5, 2.0, channels).astype(np.float32)
    beta = np.random.default_rng(2).normal(size=channels).astype(np.float32)
    assert [tuple(w.shape) for w in norm.weights] == [(channels,), (channels,)]
    norm.set_weights([gamma, beta])
    probe = keras.Model(d.input, [norm.input, norm.output])
    x = np.random.default_rng(3).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    before, after = (t.numpy().astype(np.float64) for t in probe(x))
    mean = before.mean(axis=(1, 2, 3), keepdims=True)
    var = before.var(axis=(1, 2, 3), keepdims=True)
    normalised = (before - mean) / np.sqrt(var + 1e-5)
    # One mean and variance per example over (H, W, C): normalising each pixel over its channels would not match.
    np.testing.assert_allclose(after, gamma * normalised + beta, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(normalised.mean(axis=(1, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(normalised.var(axis=(1, 2, 3)), 1.0, rtol=1e-3)
    pixel_means = normalised.mean(axis=3)
    assert np.abs(pixel_means).max() > 0.1  # per-pixel channel means are not normalised away


def test_layer_norm_of_an_mlp_critic_normalises_each_example_over_its_features():
    keras.utils.set_random_seed(0)
    d = networks.mlp_discriminator((8, 8, 1), hidden=(16,), norm="layer")
    norm = _layer_norms(d)[0]
    before, after = (t.numpy() for t in keras.Model(d.input, [norm.input, norm.output])(image_batch(4)[0]))
    expected = (before - before.mean(1, keepdims=True)) / np.sqrt(before.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-4)


# --- dropout -----------------------------------------------------------------------------------------------------


def test_dropout_masks_differ_per_replica_and_are_the_single_device_masks():
    strategy = mirrored_two_cpus()
    with strategy.scope():
        mirrored = tfgan_layers.Dropout(0.5, seed=3)
    single = tfgan_layers.Dropout(0.5, seed=3)
    ones = np.ones((8, 64), np.float32)
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(ones).repeat())
    iterator = iter(ds)

    @tf.function
    def step(batch):
        return strategy.run(lambda x: mirrored(x, training=True), args=(batch,))

    previous = None
    for _ in range(2):  # the seed state advances identically on both replicas, and as on one device
        parts = [p.numpy() for p in strategy.experimental_local_results(step(next(iterator)))]
        assert not np.array_equal(parts[0], parts[1]), "both replicas drew the same mask"
        together = np.concatenate(parts)
        np.testing.assert_array_equal(together, single(ones, training=True).numpy())
        assert set(np.unique(together)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate)
        assert abs((together == 0).mean() - 0.5) < 0.1
        assert previous is None or not np.array_equal(previous, together)
        previous = together
    np.testing.assert_array_equal(single(ones, training=False).numpy(), ones)


def test_dropout_rate_is_validated():
    with pytest.raises(ValueError, match="rate must be in \\[0, 1\\), got 1.0"):
        tfgan_layers.Dropout(1.0)


# --- spectral normalisation ----------------------------------------------------------------------------------


def _spectral_dense(units=2, fan_in=3, seed=0):
    keras.utils.set_random_seed(seed)
    layer = tfgan_layers.SpectralNormalization(keras.layers.Dense(units, use_bias=False))
    layer.build((None, fan_in))
    return layer


def _top_singular_value(matrix):
    return float(np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0])


def test_power_iterations_find_sigma_and_normalise_w_to_spectral_norm_one():
    keras.utils.set_random_seed(0)
    layer = tfgan_layers.SpectralNormalization(keras.layers.Conv2D(6, 3))
    layer(np.zeros((1, 5, 5, 4), np.float32))
    matrix = layer.layer.kernel.numpy().reshape(-1, 6)  # [kh * kw * in, out]
    for _ in range(30):
        layer.power_iteration()
    assert float(layer.sigma()) == pytest.approx(_top_singular_value(matrix), rel=1e-4)
    assert _top_singular_value(layer.normalized_kernel().numpy().reshape(-1, 6)) == pytest.approx(1.0, rel=1e-4)
    # The layer computes with W / sigma: its output is the convolution with the normalised kernel.
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
    expected = tf.nn.conv2d(x, layer.normalized_kernel(), 1, "VALID") + layer.layer.bias
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_calls_change_neither_the_kernel_nor_u_and_v():
    layer = _spectral_dense()
    state = [v.numpy() for v in layer.weights]
    x = np.ones((4, 3), np.float32)
    for training in (False, True):
        layer(x, training=training)
    with tf.GradientTape() as tape:  # a nested tape, as the gradient penalty's
        tape.watch(x := tf.constant(x))
        layer(x, training=True)
    for before, v in zip(state, layer.weights):
        np.testing.assert_array_equal(before, v.numpy())


def test_gradient_flows_through_sigma():
    """d/dW ||W / sigma(W)||_F, with sigma the largest singular value: autodiff against finite differences."""
    layer = _spectral_dense(units=2, fan_in=3)
    for _ in range(100):  # u, v converged: v^T W u is sigma(W) to float precision
        layer.power_iteration()
    kernel = layer.layer.kernel
    with tf.GradientTape() as tape:
        value = tf.norm(layer.normalized_kernel())
    grad = tape.gradient(value, kernel).numpy()

    def f(w):
        return np.linalg.norm(w) / _top_singular_value(w)

    w0, h = kernel.numpy().astype(np.float64), 1e-5
    numeric = np.zeros_like(w0)
    for idx in np.ndindex(w0.shape):
        e = np.zeros_like(w0)
        e[idx] = h
        numeric[idx] = (f(w0 + e) - f(w0 - e)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)
    # The gradient through sigma is not small here: without it the gradient would be W / (sigma ||W||).
    assert np.abs(grad - w0 / (np.linalg.norm(w0) * _top_singular_value(w0))).max() > 0.1


def _spectral_gan(**kwargs):
    return tiny_image_gan(d_norm="spectral", **kwargs)


def _power_iteration_counts(gan):
    counts = {}
    for layer in tfgan_layers.spectral_normalizations(gan.discriminator):
        original = layer.power_iteration

        def counted(original=original, name=layer.name):
            counts[name] = counts.get(name, 0) + 1
            original()

        layer.power_iteration = counted
    return counts


def test_u_is_updated_once_per_discriminator_update():
    gan = _spectral_gan(critic_steps=3, loss="wasserstein", penalties=[GradientPenalty(10.0)])
    layers = tfgan_layers.spectral_normalizations(gan.discriminator)
    assert len(layers) == 2  # the hidden Dense and the head
    counts = _power_iteration_counts(gan)
    gan.train_step(tf.constant(image_batch(12)[0]))  # eager: the spy counts every call
    assert counts == {layer.name: 3 for layer in layers}  # 3 critic updates; none in the generator step


def test_u_after_one_update_is_one_power_iteration_of_the_pre_update_kernel():
    gan = _spectral_gan()
    layer = tfgan_layers.spectral_normalizations(gan.discriminator)[0]
    w = layer.layer.kernel.numpy().astype(np.float64)
    u0 = layer.u.numpy().astype(np.float64)
    gan.train_step(tf.constant(image_batch(8)[0]))
    v = w @ u0 / np.linalg.norm(w @ u0)
    u = w.T @ v / np.linalg.norm(w.T @ v)
    np.testing.assert_allclose(layer.v.numpy(), v, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(layer.u.numpy(), u, rtol=1e-4, atol=1e-6)
    assert not np.allclose(layer.layer.kernel.numpy(), w)  # the update did change the kernel


def test_generator_step_changes_no_discriminator_state():
    gan = _spectral_gan()
    gan.train_step(tf.constant(image_batch(8)[0]))
    state = [v.numpy() for v in gan.discriminator.weights]
    gan.generator_step(tf.constant(image_batch(8)[0]), None, StepRandom(0, tf.constant(5, tf.int64)))
    for before, v in zip(state, gan.discriminator.weights):
        np.testing.assert_array_equal(before, v.numpy())


def test_sigma_tracks_the_kernel_during_training():
    gan = _spectral_gan(lr=1e-2)
    x = tf.constant(image_batch(8)[0])
    for _ in range(25):  # from a random u: sigma(W / sigma) 1.31 after 1 update, 1.05 after 10, 1.002 after 20
        gan.train_step(x)
    for layer in tfgan_layers.spectral_normalizations(gan.discriminator):
        matrix = layer.normalized_kernel().numpy().reshape(-1, layer.layer.kernel.shape[-1])
        assert _top_singular_value(matrix) == pytest.approx(1.0, abs=0.02), layer.name


def test_spectral_normalization_rejects_layers_it_cannot_reparameterise():
    with pytest.raises(ValueError, match="layer must be a Dense, Conv1D, Conv2D or Conv3D layer; got "
                                         "Conv2DTranspose"):
        tfgan_layers.SpectralNormalization(keras.layers.Conv2DTranspose(4, 3))
