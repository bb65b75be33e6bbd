"""The GAN model's train_step: update order, critic steps, noise stream, Keras fit(), distribution."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from helpers import image_batch, state_of, tiny_image_gan

from tfgan.augment import DiffAugment
from tfgan.model import GAN
from tfgan.penalties import get_penalty
from tfgan.random import StepRandom
from tfgan.trainer import make_train_function


def test_critic_steps_update_counts_and_order():
    gan = tiny_image_gan(critic_steps=3)
    order = []
    d_step, g_step = gan.discriminator_step, gan.generator_step
    gan.discriminator_step = lambda *a: (order.append("d"), d_step(*a))
    gan.generator_step = lambda *a: (order.append("g"), g_step(*a))
    x, _ = image_batch(12)
    logs = gan.train_step(tf.constant(x))
    assert order == ["d", "d", "d", "g"]
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 1
    assert int(gan.step_counter) == 1
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "d_accuracy"}
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_batch_not_divisible_by_critic_steps_is_named():
    gan = tiny_image_gan(critic_steps=3)
    with pytest.raises(ValueError, match="critic_steps=3"):
        gan.train_step(tf.constant(image_batch(8)[0]))


def test_each_critic_step_sees_its_own_real_minibatch():
    gan = tiny_image_gan(critic_steps=2)
    seen = []
    d_step = gan.discriminator_step
    gan.discriminator_step = lambda real, labels, rng: (seen.append(real.numpy()), d_step(real, labels, rng))
    x, _ = image_batch(8)
    gan.train_step(tf.constant(x))
    np.testing.assert_array_equal(seen[0], x[:4])
    np.testing.assert_array_equal(seen[1], x[4:])


def test_noise_stream_is_a_function_of_seed_and_step():
    a1 = StepRandom(7, tf.constant(3, tf.int64))
    a2 = StepRandom(7, tf.constant(3, tf.int64))
    b = StepRandom(7, tf.constant(4, tf.int64))
    z1, z1_again, z_next_step = a1.normal(4, [5]), a2.normal(4, [5]), b.normal(4, [5])
    np.testing.assert_array_equal(z1, z1_again)          # resumable: same step, same draw
    assert not np.allclose(z1, z_next_step)              # a new step draws new noise
    assert not np.allclose(a1.normal(4, [5]), z1)        # a second draw within a step is independent
    u = StepRandom(0, tf.constant(0, tf.int64)).uniform(10000, [1, 1, 1])
    assert u.shape == (10000, 1, 1, 1) and 0.0 <= float(tf.reduce_min(u)) and float(tf.reduce_max(u)) < 1.0
    assert abs(float(tf.reduce_mean(u)) - 0.5) < 0.01


def test_weight_clipping_bounds_every_critic_weight():
    gan = tiny_image_gan(loss="wasserstein", weight_clip=0.01, optimizer="rmsprop", lr=0.5, critic_steps=2)
    gan.train_step(tf.constant(image_batch(8)[0]))
    for v in gan.discriminator.trainable_variables:
        assert float(tf.reduce_max(tf.abs(v))) <= 0.01 + 1e-7
    # The generator is not clipped.
    assert max(float(tf.reduce_max(tf.abs(v))) for v in gan.generator.trainable_variables) > 0.01


def test_keras_fit_runs_and_resets_metrics():
    x, y = image_batch(64)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
    gan = tiny_image_gan()
    history = gan.fit(ds, steps_per_epoch=4, epochs=2, verbose=0)
    assert len(history.history["d_loss"]) == 2 and len(history.history["g_loss"]) == 2
    assert int(gan.step_counter) == 8
    assert np.all(np.isfinite(history.history["d_real"]))
    # The same 8 steps one batch at a time, each reporting only its own metrics: fit's epoch values must be
    # the means over that epoch's 4 steps, not running means that still include the first epoch.
    twin = tiny_image_gan()
    steps = [twin.train_on_batch(*batch, return_dict=True) for batch in ds.take(8)]
    for name in gan.metric_names():
        epochs = [np.mean([s[name] for s in steps[:4]]), np.mean([s[name] for s in steps[4:]])]
        np.testing.assert_allclose(history.history[name], epochs, rtol=1e-4, atol=1e-6, err_msg=name)
        if name in ("d_loss", "g_loss"):  # the check can tell a reset from a running mean over 8 steps
            assert abs(np.mean([s[name] for s in steps]) - epochs[1]) > 1e-3, name


def test_same_optimizer_twice_rejected():
    gan = tiny_image_gan()
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        gan.compile(d_optimizer=opt, g_optimizer=opt)


def _distributed_steps(strategy, gan, x, steps):
    """The metrics of `steps` steps, one step per call, each as {name: scalar}."""
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(len(x)).repeat())
    iterator, train_fn = iter(ds), make_train_function(gan, strategy)
    return [{k: v[0] for k, v in train_fn(iterator, 1).items()} for _ in range(steps)]


# (loss, penalties, other arguments of tiny_image_gan). The last cases add what makes replicas differ from one
# device unless handled: dropout masks, discriminator batch norm (synchronised, as the pipeline builds it for
# replicas > 1), spectral-norm power iterations, layer norm, and several critic steps per step.
FAMILY = [("non_saturating", (), {}), ("minimax", (), {}), ("wasserstein", (), {}), ("hinge", (), {}),
          ("least_squares", (), {}), ("wasserstein", ("gp",), {}), ("non_saturating", ("r1",), {}),
          ("non_saturating", (), dict(d_dropout=0.3, d_norm="batch", critic_steps=3)),
          ("hinge", (), dict(d_dropout=0.3, d_norm="spectral", critic_steps=2)),
          ("wasserstein", ("gp",), dict(d_dropout=0.2, d_norm="layer", critic_steps=2)),
          # DiffAugment's draws and PacGAN's packs: each replica packs its own rows, the packs of one device.
          ("non_saturating", ("r1",), dict(augment="translation,cutout", critic_steps=2)),
          ("wasserstein", ("gp",), dict(pack=2, augment="cutout")),
          ("non_saturating", (), dict(pack=4, critic_steps=2))]


@pytest.mark.parametrize("loss, penalty_names, extra", FAMILY,
                         ids=[f"{l}-{'+'.join(p) or 'none'}{''.join(f'-{k}={v}' for k, v in e.items())}"
                              for l, p, e in FAMILY])
def test_two_replica_step_equals_single_device_step(loss, penalty_names, extra):
    strategy = mirrored_two_cpus()
    k = extra.get("critic_steps", 1)
    x, _ = image_batch(16 * k)
    # Each replica gets a contiguous half of the batch and splits it into k critic minibatches; order the rows so
    # that critic minibatch i holds the same 16 rows as on one device (a different, equally random, grouping
    # otherwise).
    x_replicas = x.reshape(k, 2, 8, *x.shape[1:]).swapaxes(0, 1).reshape(x.shape)
    if "augment" in extra:
        extra = dict(extra, augment=DiffAugment(extra["augment"].split(",")))
    single = tiny_image_gan(loss=loss, penalties=[get_penalty(p) for p in penalty_names], **extra)
    with strategy.scope():
        mirrored = tiny_image_gan(loss=loss, penalties=[get_penalty(p) for p in penalty_names], sync_batch_norm=True,
                                  **extra)
    # Same initial state (the sync flag does not change variables): weights, statistics, u, v and seed states.
    for a, b in zip(single.generator.variables + single.discriminator.variables,
                    mirrored.generator.variables + mirrored.discriminator.variables):
        b.assign(a.numpy())
    before = state_of(single)
    # Two steps: random and power-iteration states must also advance alike.
    logs_single = _distributed_steps(tf.distribute.get_strategy(), single, x, 2)
    logs_mirrored = _distributed_steps(strategy, mirrored, x_replicas, 2)
    after_single, after_mirrored = state_of(single), state_of(mirrored)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(after_single, before))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(after_single, after_mirrored))
    assert moved > 1e-4, "the steps must change the weights for the comparison to mean anything"
    # Synchronised batch norm in D sums its statistics across replicas in another order: ~6e-5 after Adam's
    # first steps (which normalise the gradient's scale), against ~1e-7 for every other case.
    tolerance = 2e-4 if extra.get("d_norm") == "batch" else 1e-5
    assert diff < tolerance, f"2-replica steps differ from the single-device steps by {diff}"
    # The gradient penalty's second backward pass sums in another order too: weights ~3e-6 apart after two
    # steps (WGAN-GP, unpacked or packed), logged losses ~1e-6.
    for step_single, step_mirrored in zip(logs_single, logs_mirrored):
        for k in step_single:
            assert float(step_mirrored[k]) == pytest.approx(float(step_single[k]), rel=1e-5, abs=2e-6), k


def test_replicas_draw_different_noise():
    strategy = mirrored_two_cpus()

    @tf.function
    def draw():
        return strategy.run(lambda: StepRandom(0, tf.constant(0, tf.int64)).normal(4, [3]))

    z0, z1 = strategy.experimental_local_results(draw())
    assert not np.allclose(z0, z1)
    # And together they are exactly the single-device draw over the global batch of 8.
    np.testing.assert_allclose(np.concatenate([z0, z1]), StepRandom(0, tf.constant(0, tf.int64)).normal(8, [3]))


# --- regularisation losses ----------------------------------------------------------------------------------

def _linear_gan(g_l2=0.0, d_l2=0.0, d_activity_l2=0.0, lr=0.1):
    """G: z [4] -> Dense -> 8x8x1; D: flatten -> Dense(1). Plain SGD, so an update is -lr * gradient."""
    keras.utils.set_random_seed(0)
    reg = lambda c: keras.regularizers.L2(c) if c else None  # noqa: E731
    z = keras.Input((4,))
    g = keras.Model(z, keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64, kernel_regularizer=reg(g_l2))(z)))
    x = keras.Input((8, 8, 1))
    score = keras.layers.Dense(1, kernel_regularizer=reg(d_l2), activity_regularizer=reg(d_activity_l2))(
        keras.layers.Flatten()(x))
    gan = GAN(g, keras.Model(x, score), 4)
    gan.compile(d_optimizer=keras.optimizers.SGD(lr), g_optimizer=keras.optimizers.SGD(lr))
    return gan


def _kernel(model):
    return next(w for w in model.trainable_weights if len(w.shape) == 2)


@pytest.mark.parametrize("replicas", [1, 2])
def test_weight_regularisers_join_each_networks_loss_once(replicas):
    """L2(c) adds c ||W||^2, whose gradient is 2 c W: a regularised SGD update differs from the unregularised one
    by exactly -lr * 2c * W, on one device and summed over two replicas (each adds its 1/replicas share)."""
    strategy = mirrored_two_cpus() if replicas == 2 else tf.distribute.get_strategy()
    x, _ = image_batch(8)
    results = {}
    for name, kwargs in {"plain": {}, "d": dict(d_l2=0.3), "g": dict(g_l2=0.3)}.items():
        with strategy.scope():
            gan = _linear_gan(**kwargs)
        initial = {"d": _kernel(gan.discriminator).numpy(), "g": _kernel(gan.generator).numpy()}
        _distributed_steps(strategy, gan, x, 1)
        results[name] = {"d": _kernel(gan.discriminator).numpy(), "g": _kernel(gan.generator).numpy()}
    for net in ("d", "g"):  # D is updated first, so a G regulariser cannot change D's update, nor D's change G's
        np.testing.assert_allclose(results[net][net] - results["plain"][net], -0.1 * 2 * 0.3 * initial[net],
                                   rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results["g"]["d"], results["plain"]["d"], rtol=1e-6)


def test_activity_regulariser_of_the_real_and_fake_passes_joins_the_discriminator_loss():
    """Dense(1, activity_regularizer=L2(c)) adds c * mean_i s_i^2 per pass (Keras divides by the batch), so the
    head's kernel gradient gains 2c * mean_i s_i x_i over the real and over the fake batch."""
    x, _ = image_batch(8)
    plain, regularised = _linear_gan(), _linear_gan(d_activity_l2=0.05)
    kernel = _kernel(regularised.discriminator).numpy()
    bias = regularised.discriminator.trainable_weights[1].numpy()
    z = StepRandom(0, tf.constant(0, tf.int64)).latent(8, 4, "normal")  # the D step's noise (first draw)
    fake = regularised.generator(z).numpy()
    plain.train_step(tf.constant(x))
    regularised.train_step(tf.constant(x))
    gradient = 0.0
    for batch in (x, fake):
        flat = batch.reshape(8, -1)
        scores = flat @ kernel + bias
        gradient = gradient + 2 * 0.05 * flat.T @ scores / 8
    np.testing.assert_allclose(_kernel(regularised.discriminator).numpy() - _kernel(plain.discriminator).numpy(),
                               -0.1 * gradient, rtol=1e-4, atol=1e-6)

