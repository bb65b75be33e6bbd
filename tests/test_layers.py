"""The networks' own layers against their papers."""

import keras
import numpy as np
from helpers import image_batch

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
