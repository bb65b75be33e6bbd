"""The GAN family as parts of one train_step: unrolled look-ahead, EMA, conditional models, minibatch layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, tiny_image_gan

from tfgan import networks
from tfgan.export import ExportSpec, export_generator
from tfgan.layers import MinibatchDiscrimination, MinibatchStddev
from tfgan.model import GAN, UnrolledGAN


def _pair(cls, **kwargs):
    keras.utils.set_random_seed(0)
    g = networks.mlp_generator(8, (8, 8, 1), hidden=(32,), batch_norm=False)
    d = networks.mlp_discriminator((8, 8, 1), hidden=(32,), dropout=0.0)
    gan = cls(g, d, 8, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    return gan


def test_unrolled_lookahead_is_restored_and_changes_the_generator_update():
    x = tf.constant(image_batch(8)[0])
    plain, unrolled = _pair(GAN), _pair(UnrolledGAN, unrolled_steps=3)
    plain.train_step(x)
    unrolled.train_step(x)
    d_plain = [w.numpy() for w in plain.discriminator.weights]
    d_unrolled = [w.numpy() for w in unrolled.discriminator.weights]
    for a, b in zip(d_plain, d_unrolled):  # the look-ahead updates were undone
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(unrolled.d_optimizer.iterations) == 1  # optimizer state restored too
    g_diff = max(float(np.abs(a.numpy() - b.numpy()).max())
                 for a, b in zip(plain.generator.weights, unrolled.generator.weights))
    assert g_diff > 1e-4  # the generator answered the look-ahead discriminator


def test_ema_generator_follows_the_formula():
    gan = _pair(GAN, ema_decay=0.9)
    before = [w.numpy() for w in gan.generator.weights]
    np.testing.assert_allclose(before[0], gan.ema_generator.weights[0].numpy())
    gan.train_step(tf.constant(image_batch(8)[0]))
    after = [w.numpy() for w in gan.generator.weights]
    for b, a, e in zip(before, after, gan.ema_generator.weights):
        np.testing.assert_allclose(e.numpy(), 0.9 * b + 0.1 * a, rtol=1e-5, atol=1e-7)
    assert gan.sampling_generator is gan.ema_generator
    assert "ema_generator" in gan.checkpoint_items()


def test_conditional_gan_trains_and_exports_a_labels_signature(tmp_path):
    gan = tiny_image_gan(num_classes=3)
    x, y = image_batch(12, num_classes=3)
    logs = gan.train_step((tf.constant(x), tf.constant(y)))
    assert np.isfinite(float(logs["d_loss"]))
    with pytest.raises(ValueError, match="needs \\(x, label\\) batches"):
        gan.train_step(tf.constant(x))
    path = export_generator(gan.generator, ExportSpec(8, "normal", (-1.0, 1.0), 3), str(tmp_path), 1)
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](labels=tf.constant([0, 2, 1, 1]), seed=tf.constant(3, tf.int64))
    assert out["images"].shape == (4, 8, 8, 1)
    # The label changes the sample for the same latent.
    z = tf.repeat(out["latents"][:1], 3, axis=0)
    imgs = loaded.signatures["generate_from_latents"](latents=z, labels=tf.constant([0, 1, 2]))["images"].numpy()
    assert np.abs(imgs[0] - imgs[1]).max() > 1e-4


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_conditional_discriminators_depend_on_the_label(conditioning):
    for d in (networks.dcgan_discriminator(28, 1, 8, num_classes=10, conditioning=conditioning),
              networks.mlp_discriminator((28, 28, 1), (16,), num_classes=10, conditioning=conditioning)):
        x = tf.random.normal([2, 28, 28, 1])
        a = d([x, tf.constant([1, 1])]).numpy()
        b = d([x, tf.constant([7, 7])]).numpy()
        assert a.shape == (2, 1) and np.abs(a - b).max() > 1e-6


def test_minibatch_discrimination_measures_closeness_within_the_batch():
    layer = MinibatchDiscrimination(num_kernels=5, kernel_dim=3)
    same = tf.ones([4, 6])
    out = layer(same).numpy()
    assert out.shape == (4, 11)
    # Identical samples: every other sample contributes exp(0) = 1, so o = N - 1 = 3 per kernel.
    np.testing.assert_allclose(out[:, 6:], 3.0, rtol=1e-6)
    far = tf.constant(np.diag([1000.0] * 4)[:, :4] @ np.ones((4, 6)) * np.arange(1, 5)[:, None], tf.float32)
    np.testing.assert_allclose(layer(far).numpy()[:, 6:], 0.0, atol=1e-6)  # far apart: no neighbours


def test_minibatch_stddev_appends_the_batch_spread():
    x = tf.constant(np.stack([np.zeros((2, 2, 3)), 2 * np.ones((2, 2, 3))]), tf.float32)
    out = MinibatchStddev()(x).numpy()
    assert out.shape == (2, 2, 2, 4)
    np.testing.assert_allclose(out[..., 3], 1.0, rtol=1e-4)  # std of {0, 2} = 1 for every feature
    np.testing.assert_allclose(out[..., :3], x.numpy())


def test_spectral_norm_discriminator_builds_and_runs():
    d = networks.dcgan_discriminator(28, 1, 8, norm="spectral")
    assert d(tf.random.normal([2, 28, 28, 1]), training=True).shape == (2, 1)


def test_minibatch_options_in_networks():
    d = networks.dcgan_discriminator(28, 1, 8, minibatch_features=4, minibatch_stddev=True)
    assert d(tf.random.normal([3, 28, 28, 1])).shape == (3, 1)
    d = networks.mlp_discriminator((2,), (16,), minibatch_features=4)
    assert d(tf.random.normal([3, 2])).shape == (3, 1)
