"""Precision policies: what `auto` resolves to, and a GAN step under mixed_bfloat16 keeps float32 where it must."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from helpers import image_batch, tiny_image_gan, weights_of

from tfgan import distribute, networks
from tfgan.losses import LossPair, bce_discriminator_loss, non_saturating_generator_loss
from tfgan.penalties import GradientPenalty
from tfgan.random import StepRandom
from tfgan.trainer import make_train_function


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text("".join(f"processor\t: {i}\nflags\t\t: {flags}\n\n" for i in range(2)))
    return str(path)


def test_native_bf16_read_from_cpu_flags(tmp_path):
    assert distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_bf16 avx512_vnni"))
    assert distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu avx512f amx_tile amx_bf16 amx_int8"))
    assert not distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_vnni"))
    assert not distribute.cpu_has_native_bf16(str(tmp_path / "missing"))


def test_resolve_precision(monkeypatch):
    assert distribute.resolve_precision("none") == "float32"
    assert distribute.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert distribute.resolve_precision("mixed_float16") == "mixed_float16"
    monkeypatch.setattr(distribute, "cpu_has_native_bf16", lambda: True)
    assert distribute.resolve_precision("auto") == ("float32" if tf.config.list_physical_devices("GPU")
                                                    else "mixed_bfloat16")
    monkeypatch.setattr(distribute, "cpu_has_native_bf16", lambda: False)
    assert distribute.resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match=r"none, auto, mixed_bfloat16, mixed_float16; got 'fp8'"):
        distribute.resolve_precision("fp8")


@pytest.mark.parametrize("penalties, d_norm", [((), "none"), ((GradientPenalty(10.0),), "none"), ((), "spectral")],
                         ids=["plain", "gradient_penalty", "spectral_norm"])
def test_bfloat16_step_keeps_float32_variables_losses_and_outputs(penalties, d_norm):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    gan = tiny_image_gan(penalties=penalties, loss="wasserstein" if penalties else "non_saturating", d_norm=d_norm)
    before = [w.numpy() for w in gan.discriminator.trainable_weights]
    logs = gan.train_on_batch(*image_batch(16), return_dict=True)
    for name, value in logs.items():
        assert np.isfinite(value), (name, value)
    assert all(w.dtype == "float32" for w in gan.generator.weights + gan.discriminator.weights)
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.discriminator.trainable_weights))
    z = tf.random.normal([4, 8])
    assert gan.generator(z).dtype == tf.float32
    assert gan.discriminator(gan.generator(z)).dtype == tf.float32
    # The generator's layers compute in bfloat16: the policy took effect.
    assert gan.generator.layers[1].compute_dtype == "bfloat16"


def test_dcgan_under_bfloat16_matches_float32_closely():
    """Same weights, both policies: the bf16 generator's images stay within bf16 rounding of float32's."""
    keras.utils.set_random_seed(0)
    g32 = networks.dcgan_generator(latent_dim=16, image_size=28, base_filters=16)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    g16 = networks.dcgan_generator(latent_dim=16, image_size=28, base_filters=16)
    g16.set_weights(g32.get_weights())
    z = tf.random.normal([8, 16], seed=1)
    a, b = g32(z, training=False).numpy(), g16(z, training=False).numpy()
    assert b.dtype == np.float32
    assert np.abs(a - b).max() < 0.1 and np.abs(a - b).mean() < 0.02


# --- float16: dynamic loss scaling -------------------------------------------------------------------------


def _scaled_loss_pair(factor):
    """The non-saturating pair times `factor` (a tf.Variable): tiny factors underflow float16 gradients, large
    ones overflow them."""
    return LossPair(lambda fake: factor * non_saturating_generator_loss(fake),
                    lambda real, fake: factor * bce_discriminator_loss(real, fake))


def test_float16_wraps_each_optimizer_in_its_own_loss_scale_optimizer():
    keras.mixed_precision.set_global_policy("mixed_float16")
    gan = tiny_image_gan()
    for opt in (gan.d_optimizer, gan.g_optimizer):
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer) and float(opt.dynamic_scale) == 2.0 ** 15
        assert opt.built and opt.inner_optimizer.built  # built in compile, inside the caller's strategy scope
    assert gan.d_optimizer.inner_optimizer is not gan.g_optimizer.inner_optimizer
    items = gan.checkpoint_items()
    assert items["d_optimizer"] is gan.d_optimizer and items["g_optimizer"] is gan.g_optimizer
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # bfloat16 has float32's range: no scaling
    assert not isinstance(tiny_image_gan().d_optimizer, keras.optimizers.LossScaleOptimizer)


def _hidden_kernel(gan):
    return gan.discriminator.layers[2].kernel  # Flatten, then the hidden Dense (float16 compute)


def test_loss_scaling_rescues_float16_gradients_that_would_underflow():
    """A loss times 1e-8 gives float16 activations gradients ~1e-10, below float16's smallest subnormal (6e-8):
    unscaled they flush to zero and the hidden layer does not move; scaled by 2^15 they survive. (Adam's
    epsilon is 1e-12 so that it moves by ~lr on gradients this small.)"""
    keras.mixed_precision.set_global_policy("mixed_float16")
    real = tf.constant(image_batch(8)[0])
    moved = {}
    for scaled in (True, False):
        gan = tiny_image_gan()
        adam = keras.optimizers.Adam(1e-3, epsilon=1e-12)
        gan.compile(d_optimizer=adam, g_optimizer=keras.optimizers.Adam(1e-3))
        gan.loss_pair = _scaled_loss_pair(tf.Variable(1e-8))
        assert _hidden_kernel(gan).dtype == "float32" and gan.discriminator.layers[2].compute_dtype == "float16"
        if not scaled:  # what the model did before: the bare optimizer, no loss scaling
            gan.d_optimizer = adam
        before = _hidden_kernel(gan).numpy()
        gan.discriminator_step(real, None, StepRandom(0, tf.constant(0, tf.int64)))
        moved[scaled] = float(np.abs(_hidden_kernel(gan).numpy() - before).max())
    assert moved[False] == 0.0, "the premise: unscaled float16 gradients underflow here"
    assert moved[True] > 1e-4, moved


def test_loss_scale_halves_and_skips_on_overflow_then_grows_back():
    keras.mixed_precision.set_global_policy("mixed_float16")
    gan = tiny_image_gan()
    gan.compile(d_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), dynamic_growth_steps=2),
                g_optimizer=keras.optimizers.Adam(1e-3))
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)  # wrapped; the D one kept as given
    factor = tf.Variable(1.0)
    gan.loss_pair = _scaled_loss_pair(factor)
    real, opt = tf.constant(image_batch(8)[0]), gan.d_optimizer

    def step():
        before = [v.numpy() for v in gan.discriminator.trainable_variables]
        gan.discriminator_step(real, None, StepRandom(0, tf.constant(0, tf.int64)))
        return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, gan.discriminator.trainable_variables))

    factor.assign(1e6)  # loss * 2^15 * 1e6: float16 gradients overflow to inf
    assert not step(), "a step with non-finite gradients must be skipped"
    assert float(opt.dynamic_scale) == 2.0 ** 14 and int(opt.iterations) == 0
    factor.assign(1.0)
    assert step() and float(opt.dynamic_scale) == 2.0 ** 14  # one finite step: not yet
    assert step() and float(opt.dynamic_scale) == 2.0 ** 15  # dynamic_growth_steps finite steps: doubled
    assert int(opt.iterations) == 2


def test_loss_scaled_optimizers_resume_from_a_checkpoint(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    gan = tiny_image_gan()
    factor = tf.Variable(1e6)
    gan.loss_pair = _scaled_loss_pair(factor)
    x = tf.constant(image_batch(8)[0])
    gan.train_step(x)  # overflows: both scales halve
    factor.assign(1.0)
    gan.train_step(x)
    path = tf.train.Checkpoint(**gan.checkpoint_items()).save(str(tmp_path / "ckpt"))
    restored = tiny_image_gan(init_seed=7)
    tf.train.Checkpoint(**restored.checkpoint_items()).restore(path).assert_consumed()
    for a, b in ((gan.d_optimizer, restored.d_optimizer), (gan.g_optimizer, restored.g_optimizer)):
        assert float(b.dynamic_scale) == float(a.dynamic_scale) == 2.0 ** 14
        assert int(b.step_counter) == int(a.step_counter) == 1 and int(b.iterations) == int(a.iterations) == 1
        for u, v in zip(a.variables, b.variables):
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    for u, v in zip(weights_of(gan), weights_of(restored)):
        np.testing.assert_array_equal(u, v)


def test_float16_two_replica_step_matches_one_device():
    strategy = mirrored_two_cpus()
    keras.mixed_precision.set_global_policy("mixed_float16")
    x = image_batch(16)[0]
    single = tiny_image_gan()
    with strategy.scope():
        mirrored = tiny_image_gan(sync_batch_norm=True)
    for a, b in zip(single.generator.variables + single.discriminator.variables,
                    mirrored.generator.variables + mirrored.discriminator.variables):
        b.assign(a.numpy())
    for strategy_, gan in ((tf.distribute.get_strategy(), single), (strategy, mirrored)):
        ds = strategy_.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).repeat())
        iterator, train_fn = iter(ds), make_train_function(gan, strategy_)
        for _ in range(2):
            train_fn(iterator)
    opt = mirrored.d_optimizer
    assert float(opt.dynamic_scale.numpy()) == 2.0 ** 15 and int(opt.iterations.numpy()) == 2
    diff = max(float(np.abs(a - b).max()) for a, b in zip(weights_of(single), weights_of(mirrored)))
    assert diff < 1e-3, diff  # float16 sums in another order
