"""The networks' own layers against their papers: layer norm of conv critics, replica-aware dropout."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from helpers import image_batch

from tfgan import layers as tfgan_layers
from tfgan import networks

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
