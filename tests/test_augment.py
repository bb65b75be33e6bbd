"""DiffAugment against a NumPy transcription of the reference code, and its contract inside the train step: every
discriminator input is augmented, the generator's gradient flows through the augmentation, penalties see what
the discriminator sees, and replicas draw what one device draws."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, tiny_image_gan

from tfgan import augment
from tfgan.random import StepRandom


def _rng(step=5):
    return StepRandom(3, tf.constant(step, tf.int64))


def _images(n=64, size=28, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def _reference_translation(x, tx, ty):
    """The reference's rand_translation (DiffAugment_pytorch.py), channels last: pad by one zero pixel, gather
    rows clamp(i + tx + 1, 0, H + 1) and columns clamp(j + ty + 1, 0, W + 1) of the padded image."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.empty_like(x)
    for k in range(n):
        rows = np.clip(np.arange(h) + tx[k] + 1, 0, h + 1)
        cols = np.clip(np.arange(w) + ty[k] + 1, 0, w + 1)
        out[k] = padded[k][rows][:, cols]
    return out


def _reference_cutout(x, ox, oy, ratio=0.5):
    """The reference's rand_cutout: zero the clamped index grid of a (H/2, W/2) rectangle at offset - size // 2."""
    n, h, w, _ = x.shape
    ch, cw = int(h * ratio), int(w * ratio)
    mask = np.ones((n, h, w), x.dtype)
    for k in range(n):
        rows = np.clip(np.arange(ch) + ox[k] - ch // 2, 0, h - 1)
        cols = np.clip(np.arange(cw) + oy[k] - cw // 2, 0, w - 1)
        mask[k][np.ix_(rows, cols)] = 0
    return x * mask[..., None]


def test_translation_matches_the_reference_and_draws_every_shift_up_to_an_eighth():
    x = _images(256)
    out = augment.translation(tf.constant(x), _rng()).numpy()
    draws = _rng()  # the same seed and step replay the same draws, in the same order
    tx, ty = draws.integers(256, (), -3, 4).numpy(), draws.integers(256, (), -3, 4).numpy()
    np.testing.assert_array_equal(out, _reference_translation(x, tx, ty))
    assert set(tx) == set(ty) == set(range(-3, 4))  # 28 // 8 = 3, both ends included
    assert not np.array_equal(tx, ty)               # independent draws per axis
    # A shifted image keeps its content: a shift by (tx, ty) moves pixel (i + tx, j + ty) to (i, j).
    k = int(np.argmax((tx == 2) & (ty == -1)))
    assert tx[k] == 2 and ty[k] == -1
    np.testing.assert_array_equal(out[k, :26, 1:], x[k, 2:, :27])


def test_translation_gradient_is_the_inverse_shift():
    x = tf.constant(_images(8))
    weights = tf.constant(_images(8, seed=1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(weights * augment.translation(x, _rng()))
    grad = tape.gradient(total, x).numpy()
    draws = _rng()
    tx, ty = draws.integers(8, (), -3, 4).numpy(), draws.integers(8, (), -3, 4).numpy()
    # d total / d x[k, a, b] = weights[k, a - tx, b - ty] where that pixel lies inside.
    expected = _reference_translation(weights.numpy(), -tx, -ty)
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_cutout_matches_the_reference_including_the_borders():
    x = _images(512, channels=3)
    out = augment.cutout(tf.constant(x), _rng()).numpy()
    draws = _rng()
    ox, oy = draws.integers(512, (), 0, 29).numpy(), draws.integers(512, (), 0, 29).numpy()
    np.testing.assert_array_equal(out, _reference_cutout(x, ox, oy))
    assert ox.min() == 0 and ox.max() == 28  # offsets 0..H for an even hole size (14), as randint(0, H + 1)
    zeroed = (out == 0).all(axis=-1).sum(axis=(1, 2))
    # A whole 14 x 14 hole inside the image; clipped at the borders, down to a 7 x 7 quarter in a corner.
    assert zeroed.max() == 14 * 14 and 7 * 7 <= zeroed.min() < 14 * 7


def test_color_is_brightness_then_saturation_then_contrast():
    x = _images(16, size=4, channels=3)
    out = augment.color(tf.constant(x), _rng()).numpy()
    draws = _rng()
    b, s, c = (draws.uniform(16, (1, 1, 1), lo, hi).numpy() for lo, hi in ((-0.5, 0.5), (0.0, 2.0), (0.5, 1.5)))
    y = x + b
    y = (y - y.mean(axis=3, keepdims=True)) * s + y.mean(axis=3, keepdims=True)
    y = (y - y.mean(axis=(1, 2, 3), keepdims=True)) * c + y.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)


def test_policy_applies_its_transformations_in_order_and_rejects_unknown_names():
    x = tf.constant(_images(8))
    both = augment.DiffAugment(("translation", "cutout"))(x, _rng())
    draws = _rng()
    expected = augment.cutout(augment.translation(x, draws), draws)
    np.testing.assert_array_equal(both, expected)
    for bad in ((), ("flip",), ("cutout", "cutout")):
        with pytest.raises(ValueError, match="augment policy must be"):
            augment.DiffAugment(bad)
    with pytest.raises(ValueError, match="transforms images"):
        augment.DiffAugment(("cutout",))(tf.zeros([4, 2]), _rng())


class _Spy:
    """An augmentation that records the batches it transforms and returns them scaled by `factor`."""

    def __init__(self, factor=1.0):
        self.calls, self.factor = [], factor

    def __call__(self, x, rng):
        self.calls.append(x.shape[0])
        return x * self.factor


def test_every_discriminator_input_is_augmented_in_both_updates():
    spy = _Spy()
    gan = tiny_image_gan(critic_steps=2, augment=spy)
    gan.train_step(tf.constant(image_batch(16)[0]))
    # Each critic step augments its real and its generated minibatch, the generator step its generated batch.
    assert spy.calls == [8, 8, 8, 8, 8]


def test_the_generator_gradient_flows_through_the_augmentation():
    """SGD on the generator: through an augmentation that zeroes every image, D sees constants and the generator
    gets no gradient; through DiffAugment's translation and cutout it does."""
    x = tf.constant(image_batch(8)[0])
    moved = {}
    for name, aug in {"zero": _Spy(0.0), "diffaugment": augment.DiffAugment(("translation", "cutout"))}.items():
        gan = tiny_image_gan(augment=aug, optimizer="sgd", lr=0.1)
        before = [w.numpy() for w in gan.generator.trainable_weights]
        gan.train_step(x)
        moved[name] = max(float(np.abs(w.numpy() - b).max()) for w, b in zip(gan.generator.trainable_weights, before))
    assert moved["zero"] == 0.0
    assert moved["diffaugment"] > 1e-4


def test_penalties_see_the_augmented_inputs():
    seen = {}

    class Recorder:
        name = "recorder"

        def __call__(self, discriminate, real, fake, rng):
            seen["real"], seen["fake"] = real.numpy(), fake.numpy()
            return tf.zeros([tf.shape(real)[0]])

    gan = tiny_image_gan(augment=_Spy(0.5), penalties=[Recorder()])
    x = image_batch(8)[0]
    gan.train_step(tf.constant(x))
    np.testing.assert_allclose(seen["real"], 0.5 * x)
    assert np.abs(seen["fake"]).max() <= 0.5 + 1e-6  # tanh outputs halved


def test_augmented_gan_step_under_mixed_bfloat16_matches_float32():
    """One DiffAugment step of a small DCGAN under mixed_bfloat16 and under float32, same weights and draws: the
    losses agree to bf16 rounding and both networks' SGD updates (minus the gradients) point the same way; the
    augmentation is part of the step (without it the discriminator's loss differs)."""
    from tfgan import networks
    from tfgan.model import GAN
    x = tf.constant(_images(8))
    results = {}
    for policy, aug in (("float32", True), ("mixed_bfloat16", True), ("float32", False)):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        gan = GAN(networks.dcgan_generator(8, 28, base_filters=4), networks.dcgan_discriminator(28, base_filters=4),
                  8, augment=augment.DiffAugment(("translation", "cutout")) if aug else None)
        gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
        before = [w.numpy() for w in gan.generator.trainable_weights + gan.discriminator.trainable_weights]
        logs = gan.train_step(x)
        after = [w.numpy() for w in gan.generator.trainable_weights + gan.discriminator.trainable_weights]
        n_g = len(gan.generator.trainable_weights)
        moved = [a - b for a, b in zip(after, before)]
        results[policy, aug] = ({k: float(v) for k, v in logs.items()},
                                np.concatenate([m.ravel() for m in moved[:n_g]]),
                                np.concatenate([m.ravel() for m in moved[n_g:]]))
    (l32, g32, d32), (l16, g16, d16), (plain, _, _) = (results["float32", True], results["mixed_bfloat16", True],
                                                       results["float32", False])
    assert abs(l16["d_loss"] - l32["d_loss"]) < 0.02 and abs(l16["g_loss"] - l32["g_loss"]) < 0.02, (l16, l32)

    def cosine(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert np.linalg.norm(g32) > 0 and np.linalg.norm(d32) > 0
    assert cosine(g16, g32) > 0.95 and cosine(d16, d32) > 0.95, (cosine(g16, g32), cosine(d16, d32))
    assert abs(plain["d_loss"] - l32["d_loss"]) > 1e-4
