"""The GAN family as parts of one train_step: unrolled look-ahead, EMA, conditional models, minibatch layers."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, tiny_image_gan

from tfgan import networks
from tfgan.export import ExportSpec, export_generator
from tfgan.layers import MinibatchDiscrimination, MinibatchStddev
from tfgan.choices import UNROLLED_GRADIENTS
from tfgan.model import GAN, UnrolledGAN
from tfgan.random import sample_latents


def _pair(cls, **kwargs):
    keras.utils.set_random_seed(0)
    g = networks.mlp_generator(8, (8, 8, 1), hidden=(32,), batch_norm=False)
    d = networks.mlp_discriminator((8, 8, 1), hidden=(32,), dropout=0.0)
    gan = cls(g, d, 8, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    return gan


def _generator_weights(gan):
    return [w.numpy() for w in gan.generator.weights]


@pytest.mark.parametrize("order", UNROLLED_GRADIENTS)
def test_unrolled_lookahead_is_restored_and_changes_the_generator_update(order):
    """The look-ahead draws its own noise, so the generator update of an unrolled GAN differs from the plain GAN's
    only through the look-ahead discriminator: restoring the discriminator before the generator update (or not
    looking ahead) leaves the two updates equal, and this test fails."""
    x = tf.constant(image_batch(8)[0])
    plain, unrolled = _pair(GAN), _pair(UnrolledGAN, unrolled_steps=3, unrolled_gradient=order)
    for a, b in zip(_generator_weights(plain), _generator_weights(unrolled)):
        np.testing.assert_array_equal(a, b)
    plain.train_step(x)
    unrolled.train_step(x)
    d_plain = [w.numpy() for w in plain.discriminator.weights]
    d_unrolled = [w.numpy() for w in unrolled.discriminator.weights]
    for a, b in zip(d_plain, d_unrolled):  # the look-ahead updates were undone
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(unrolled.d_optimizer.iterations) == 1  # optimizer state restored too
    for a, b in zip(plain.d_optimizer.variables, unrolled.d_optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    g_diff = max(float(np.abs(a - b).max()) for a, b in zip(_generator_weights(plain), _generator_weights(unrolled)))
    assert g_diff > 1e-4  # the generator answered the look-ahead discriminator


@pytest.mark.parametrize("order", UNROLLED_GRADIENTS)
def test_unrolled_lookahead_restores_the_generators_batch_norm_statistics(order):
    """The look-ahead's generator passes run in training mode; their batch-norm statistics are undone, so the
    step leaves the statistics the plain GAN's step leaves (one update, from the generator update's batch)."""
    x = tf.constant(image_batch(8)[0])
    gans = []
    for cls, kwargs in ((GAN, {}), (UnrolledGAN, dict(unrolled_steps=2, unrolled_gradient=order))):
        keras.utils.set_random_seed(0)
        g = networks.mlp_generator(8, (8, 8, 1), hidden=(32,), batch_norm=True)
        d = networks.mlp_discriminator((8, 8, 1), hidden=(32,), dropout=0.0)
        gan = cls(g, d, 8, **kwargs)
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
        gan.train_step(x)
        gans.append(gan)
    statistics = [[v.numpy() for v in gan.generator.non_trainable_weights] for gan in gans]
    assert statistics[0] and any(np.abs(s).max() > 0 for s in statistics[0])
    for a, b in zip(*statistics):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _Constant(keras.layers.Layer):
    """G(z) = b for every z: a generator whose samples do not depend on the noise."""

    def build(self, input_shape):
        self.b = self.add_weight(shape=(2,), initializer=keras.initializers.Constant([0.5, -0.3]), name="b")

    def call(self, z):
        return tf.zeros_like(z[:, :1]) + self.b


def _linear_unrolled(order, k, d_lr, g_lr):
    g = keras.Sequential([keras.Input((4,)), _Constant()])
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="score")])
    d.get_layer("score").kernel.assign([[0.8], [-0.4]])
    d.get_layer("score").bias.assign([0.1])
    gan = UnrolledGAN(g, d, 4, unrolled_steps=k, unrolled_gradient=order)
    gan.compile(d_optimizer=keras.optimizers.SGD(d_lr), g_optimizer=keras.optimizers.SGD(g_lr))
    return gan


def _unrolled_generator_gradient(real, b, a, c, k, lr, second_order):
    """Metz et al. (2017) eq. 12 by hand for G(z) = b and D(x) = x a + c under the BCE / non-saturating pair:
    K explicit SGD steps theta_{j+1} = theta_j - lr grad L_D(theta_j; b), then dL_G(b, theta_K)/db, with or
    without the path through theta_K."""
    b = tf.constant(b, tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(b)
        theta = [tf.constant(a, tf.float64), tf.constant(c, tf.float64)]
        for _ in range(k):
            with tf.GradientTape() as inner:
                inner.watch(theta)
                d_real = tf.linalg.matvec(real, theta[0]) + theta[1]
                d_fake = tf.tensordot(b, theta[0], 1) + theta[1]
                loss = tf.reduce_mean(tf.nn.softplus(-d_real)) + tf.nn.softplus(d_fake)
            grads = inner.gradient(loss, theta)
            if not second_order:
                grads = [tf.stop_gradient(g) for g in grads]
            theta = [w - lr * g for w, g in zip(theta, grads)]
        g_loss = tf.nn.softplus(-(tf.tensordot(b, theta[0], 1) + theta[1]))
    return outer.gradient(g_loss, b).numpy()


def test_second_order_unrolled_gradient_matches_eq_12_by_hand():
    """The generator's update equals -g_lr times the hand-unrolled gradient (float64, explicit SGD steps), and the
    first-order update the same gradient with the look-ahead path cut; the two differ by far more than the
    tolerance."""
    real = np.array([[1.0, 2.0], [-0.5, 1.5], [2.0, -1.0], [0.3, 0.7]])
    a, c, b0 = np.array([0.8, -0.4]), np.array(0.1), np.array([0.5, -0.3])
    k, d_lr, g_lr = 3, 0.5, 0.1
    expected = {}
    for order in UNROLLED_GRADIENTS:
        gan = _linear_unrolled(order, k, d_lr, g_lr)
        gan.train_step(tf.constant(real, tf.float32))
        # The step's own discriminator update comes first; the look-ahead starts from its result.
        a1 = gan.discriminator.get_layer("score").kernel.numpy()[:, 0].astype(np.float64)
        c1 = np.float64(gan.discriminator.get_layer("score").bias.numpy()[0])
        grad = _unrolled_generator_gradient(real, b0, a1, c1, k, d_lr, order == "second_order")
        expected[order] = b0 - g_lr * grad
        np.testing.assert_allclose(gan.generator.layers[-1].b.numpy(), expected[order], rtol=1e-5, atol=1e-6)
    assert np.abs(expected["second_order"] - expected["first_order"]).max() > 1e-3


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "sgd_nesterov", "rmsprop", "rmsprop_momentum"])
def test_differentiable_lookahead_update_is_the_optimizers_update(optimizer):
    """The second-order look-ahead's copy of the optimizer's rule gives what the Keras optimizer does over three
    updates, from a state with slots already filled."""
    from tfgan.model import _differentiable_update, _optimizer_slots
    make = {"adam": lambda: keras.optimizers.Adam(0.05),
            "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
            "sgd_nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            "rmsprop": lambda: keras.optimizers.RMSprop(0.05),
            "rmsprop_momentum": lambda: keras.optimizers.RMSprop(0.05, momentum=0.5)}[optimizer]
    rng = np.random.default_rng(0)
    variables = [tf.Variable(rng.normal(size=(3, 2)).astype(np.float32)), tf.Variable(np.zeros(2, np.float32))]
    grads = [[tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables] for _ in range(5)]
    grads[3][1] = tf.zeros(2)  # a zero gradient: Adam's sqrt stays finite
    opt = make()
    opt.build(variables)
    for g in grads[:2]:
        opt.apply_gradients(zip(g, variables))
    theta, slots = [tf.identity(v) for v in variables], _optimizer_slots(opt, variables)
    for j, g in enumerate(grads[2:]):
        theta, slots = _differentiable_update(opt, theta, g, slots, j)
        opt.apply_gradients(zip(g, variables))
    for t, v in zip(theta, variables):
        np.testing.assert_allclose(t.numpy(), v.numpy(), rtol=1e-5, atol=1e-6)


def test_second_order_unrolled_step_on_two_replicas_equals_one_device():
    """The look-ahead gradients are all-reduced as the optimizer's are: two replicas, each with half the batch,
    end the step where one device does."""
    from conftest import mirrored_two_cpus

    from tfgan.trainer import make_train_function
    strategy = mirrored_two_cpus()
    x = tf.constant(image_batch(16)[0])
    single = _pair(UnrolledGAN, unrolled_steps=2)
    with strategy.scope():
        mirrored = _pair(UnrolledGAN, unrolled_steps=2)
    for a, b in zip(single.generator.variables + single.discriminator.variables,
                    mirrored.generator.variables + mirrored.discriminator.variables):
        b.assign(a.numpy())
    before = _generator_weights(single)
    for strat, gan in ((tf.distribute.get_strategy(), single), (strategy, mirrored)):
        ds = strat.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).repeat())
        make_train_function(gan, strat)(iter(ds), 1)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(_generator_weights(single), before))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(_generator_weights(single), _generator_weights(mirrored)))
    assert moved > 1e-4 and diff < 1e-5, (moved, diff)


def test_second_order_unrolling_names_optimizers_it_cannot_differentiate():
    gan = _pair(UnrolledGAN, unrolled_steps=2)
    with pytest.raises(ValueError, match="Adam with amsgrad.*unrolled_gradient='first_order'"):
        gan.compile(d_optimizer=keras.optimizers.Adam(amsgrad=True), g_optimizer=keras.optimizers.Adam())
    with pytest.raises(ValueError, match="unrolled_gradient must be one of second_order, first_order"):
        _pair(UnrolledGAN, unrolled_gradient="third")


@pytest.mark.parametrize("args, expected", [([], "second_order"), (["--unrolled_gradient=first_order"], "first_order")])
def test_unrolled_gradient_flag_reaches_the_model(args, expected):
    from absl import flags

    from pipelines import flags as pipeline_flags
    from pipelines import stages, task

    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", "--dataset=ring8", "--architecture=mlp", "--latent_dim=4", "--g_hidden=8", "--d_hidden=8",
        "--output_activation=linear", "--unrolled_steps=2", *args])
    config = pipeline_flags.config_from_flags(fv)
    gan = task.build_gan(config, stages.ingest(config.data).spec)
    assert isinstance(gan, UnrolledGAN) and gan.unrolled_steps == 2 and gan.unrolled_gradient == expected


@pytest.mark.parametrize("rampup", [True, False], ids=["rampup", "fixed_decay"])
def test_ema_generator_follows_the_formula(rampup):
    """w_ema <- beta w_ema + (1 - beta) w with beta_t = min(decay, (1 + t) / (10 + t)): 0.1 at the first update,
    2/11 at the second (with decay 0.9); the decay itself without the ramp."""
    gan = _pair(GAN, ema_decay=0.9, ema_rampup=rampup)
    x = tf.constant(image_batch(8)[0])
    ema = [w.numpy() for w in gan.generator.weights]
    np.testing.assert_allclose(ema[0], gan.ema_generator.weights[0].numpy())
    for beta in ((0.1, 2 / 11) if rampup else (0.9, 0.9)):
        gan.train_step(x)
        ema = [beta * e + (1 - beta) * w.numpy() for e, w in zip(ema, gan.generator.weights)]
        for e, v in zip(ema, gan.ema_generator.weights):
            np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-7)
    assert gan.sampling_generator is gan.ema_generator
    assert "ema_generator" in gan.checkpoint_items()


def test_ema_rampup_forgets_the_initialisation():
    """The weight of the initial value in the average after t updates: prod_{s<t} beta_s. At decay 0.999 a fixed
    decay keeps 0.999^1000 = 37% of it after 1,000 steps; the ramp keeps prod (1+s)/(10+s) = 9! t! / (t+9)!."""
    gan = _pair(GAN, ema_decay=0.999)
    kept = 1.0
    for t in range(1000):
        gan.step_counter.assign(t)
        kept *= float(gan.ema_beta())
    assert 0.999 ** 1000 == pytest.approx(0.368, abs=1e-3)
    assert kept == pytest.approx(np.prod([(1 + s) / (10 + s) for s in range(1000)]), rel=1e-3) and kept < 1e-20


def _batch_norm_inputs(generator, z):
    """Each BatchNormalization's inputs [n * positions, channels] in inference mode."""
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    outputs = keras.Model(generator.input, [layer.input for layer in norms])(z, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return norms, [np.asarray(o, np.float64).reshape(-1, o.shape[-1]) for o in outputs]


@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
def test_ema_batch_norm_statistics_are_those_of_the_ema_weights(architecture):
    """After training, sampling re-estimates the EMA generator's batch-norm statistics: each layer's moving mean
    and variance are the mean and variance of its inputs over fresh latents from the prior, in inference mode."""
    keras.utils.set_random_seed(0)
    if architecture == "mlp":
        gan = tiny_image_gan(ema_decay=0.5)
    else:
        g = networks.dcgan_generator(8, 28, base_filters=4)
        d = networks.dcgan_discriminator(28, base_filters=4)
        gan = GAN(g, d, 8, ema_decay=0.5)
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    shape = (8, 8, 1) if architecture == "mlp" else (28, 28, 1)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, *shape)).astype(np.float32))
    for _ in range(5):
        gan.train_step(x)
    z = sample_latents(8192, 8, "normal", seed=77)  # not the estimator's latents
    gan.generate(z[:4])
    norms, inputs = _batch_norm_inputs(gan.ema_generator, z)
    raw_norms = [layer for layer in gan.generator.layers if isinstance(layer, keras.layers.BatchNormalization)]

    def fits(norm, x_in):
        # Two independent estimates (4,096 and 8,192 latents) of each feature's mean and variance: within 5
        # standard errors, 0.1 std for the mean and 15% for the variance.
        mean, var = x_in.mean(0), x_in.var(0)
        return (np.all(np.abs(norm.moving_mean.numpy() - mean) <= 0.1 * np.sqrt(var))
                and np.all(np.abs(norm.moving_variance.numpy() - var) <= 0.15 * var))

    for norm, raw, x_in in zip(norms, raw_norms, inputs):
        assert fits(norm, x_in), norm.name
        # The raw generator's statistics (copied before) do not fit the EMA weights.
        assert not fits(raw, x_in), raw.name
    # The estimate is made once per step: the next sample reuses it.
    before = [v.numpy() for v in gan.ema_generator.non_trainable_weights]
    norms[0].moving_mean.assign(norms[0].moving_mean + 1.0)
    gan.generate(z[:4])
    np.testing.assert_allclose(norms[0].moving_mean.numpy(), before[0] + 1.0)
    # GAN.call samples what generate samples.
    np.testing.assert_allclose(gan(z[:16]), gan.generate(z[:16]), rtol=1e-6)


def test_ema_batch_norm_statistics_are_re_estimated_inside_a_tf_function():
    """A traced sampler samples what an eager estimate gives, at the first call and again after more training
    (the re-estimate is a graph op keyed on the step, not a snapshot taken while tracing)."""
    from tfgan.model import estimate_batch_norm_statistics
    keras.utils.set_random_seed(0)
    gan = tiny_image_gan(ema_decay=0.5)
    x = tf.constant(image_batch(8)[0])
    z = sample_latents(16, 8, "normal", seed=5)
    sample = tf.function(lambda z: gan.generate(z))
    for steps in (3, 2):
        for _ in range(steps):
            gan.train_step(x)
        traced = sample(z).numpy()
        estimate_batch_norm_statistics(gan.ema_generator, 8, "normal")  # eagerly, as sampling does outside graphs
        eager = gan.ema_generator(z, training=False).numpy()
        np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gan.generate(z).numpy(), eager, rtol=1e-5, atol=1e-6)
    assert sample.experimental_get_tracing_count() == 1


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


def test_spectral_norm_discriminator_normalises_every_weight_layer():
    """--d_norm=spectral wraps every convolution and dense layer of the DCGAN critic; after power iterations each
    computes with a kernel whose largest singular value (NumPy SVD of the [fan_in, units] matrix) is 1."""
    from tfgan.layers import SpectralNormalization, spectral_normalizations, sublayers
    d = networks.dcgan_discriminator(28, 1, 8, norm="spectral")
    wrapped = spectral_normalizations(d)
    bare = [layer for layer in sublayers(d) if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(wrapped) >= 3 and not bare and all(isinstance(w, SpectralNormalization) for w in wrapped)
    for _ in range(100):
        for layer in wrapped:
            layer.power_iteration()
    for layer in wrapped:
        kernel = layer.normalized_kernel().numpy()
        assert np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0] == pytest.approx(1.0, abs=1e-3)
    assert d(tf.random.normal([2, 28, 28, 1]), training=True).shape == (2, 1)


def _couples_the_batch(d, x):
    """Whether D's output for example 0 changes when only example 1 changes."""
    changed = tf.tensor_scatter_nd_update(x, [[1]], x[1:2] + 1.0)
    return float(np.abs(d(x).numpy()[0] - d(changed).numpy()[0]).max()) > 1e-6


def test_minibatch_options_make_each_output_depend_on_the_batch():
    """Minibatch discrimination and the minibatch standard deviation feed batch statistics to the discriminator:
    an example's output depends on the other examples; without them it does not."""
    keras.utils.set_random_seed(0)
    images, points = tf.random.normal([3, 28, 28, 1]), tf.random.normal([3, 2])
    for options in (dict(minibatch_features=4), dict(minibatch_stddev=True)):
        d = networks.dcgan_discriminator(28, 1, 8, **options)
        assert d(images).shape == (3, 1) and _couples_the_batch(d, images), options
    assert not _couples_the_batch(networks.dcgan_discriminator(28, 1, 8), images)
    d = networks.mlp_discriminator((2,), (16,), minibatch_features=4)
    assert d(points).shape == (3, 1) and _couples_the_batch(d, points)
    assert not _couples_the_batch(networks.mlp_discriminator((2,), (16,)), points)


def test_samples_evaluation_and_export_see_the_same_ema_generator(tmp_path):
    """The sample grid and evaluation during training (GAN.generate) and the exported SavedModel (restored
    from the checkpoint) compute the same images: the export re-estimates the EMA generator's batch-norm
    statistics with the function sampling uses."""
    from absl import flags

    from pipelines import flags as pipeline_flags
    from pipelines import stages, task
    from tfgan import evaluation

    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", "--dataset=digits", "--architecture=mlp", "--latent_dim=8", "--g_hidden=32,32", "--d_hidden=32",
        "--ema_decay=0.9", "--batch_size=16", "--steps=12", "--log_every=6", "--sample_every=100",
        "--checkpoint_every=100", f"--run_dir={tmp_path / 'run'}"])
    config = pipeline_flags.config_from_flags(fv)
    result = stages.run(config, out=open(os.devnull, "w"))
    spec = stages.ingest(config.data).spec
    gan = task.build_gan(config, spec)
    tf.train.Checkpoint(**gan.checkpoint_items()).restore(result["checkpoint"]).assert_existing_objects_matched()
    in_training = evaluation.gan_generator(gan, "image", (-1.0, 1.0))
    exported, _ = evaluation.saved_model_generator(result["saved_model"])
    np.testing.assert_allclose(exported(64, 3), in_training(64, 3), atol=1e-5)
    # The checkpoint holds no estimate for the final weights (the last grid comes after the last checkpoint;
    # here the only one): the export did not use its statistics.
    keras.utils.set_random_seed(0)
    stale = task.build_networks(config.model, spec, 0, sync_batch_norm=False)[0]
    tf.train.Checkpoint(ema_generator=stale).restore(result["checkpoint"]).expect_partial()
    z = sample_latents(64, 8, "normal", 3)
    assert np.abs(stale(z, training=False).numpy() - gan.generate(z).numpy()).max() > 1e-3
