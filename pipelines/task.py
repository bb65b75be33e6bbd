"""The task: the one place where a config becomes networks, optimizers and a compiled GAN (after Model
Garden's `Task.build_model`). The train stage, the Trainer component, the export and the benchmarks all
build through here; nothing else calls `tfgan.networks` with config values.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipelines.config import GANConfig, ModelConfig, PipelineConfig
from tfgan import distribute, networks
from tfgan.augment import DiffAugment
from tfgan.data import DataSpec
from tfgan.losses import get_loss_pair
from tfgan.model import GAN, UnrolledGAN, estimate_batch_norm_statistics
from tfgan.packing import packed_shape
from tfgan.penalties import get_penalty


def output_range(model: ModelConfig) -> tuple:
    return networks.OUTPUT_RANGES[model.output_activation]


def build_networks(model: ModelConfig, spec: DataSpec, num_classes: int, sync_batch_norm: bool, pack: int = 1):
    """(generator, discriminator) for the data's shape; the discriminator takes `pack` samples packed along the
    last axis (PacGAN)."""
    d_shape = packed_shape(spec.shape, pack)
    if model.architecture == "mlp":
        g = networks.mlp_generator(model.latent_dim, spec.shape, model.g_hidden, model.output_activation,
                                   batch_norm=model.g_batch_norm, sync_batch_norm=sync_batch_norm,
                                   num_classes=num_classes)
        d = networks.mlp_discriminator(d_shape, model.d_hidden, dropout=model.d_dropout, norm=model.d_norm,
                                       num_classes=num_classes, conditioning=model.conditioning,
                                       minibatch_features=model.minibatch_features,
                                       sync_batch_norm=sync_batch_norm)
        return g, d
    size, _, channels = spec.shape
    g = networks.dcgan_generator(model.latent_dim, size, channels, model.g_base_filters, model.kernel_size,
                                 model.output_activation, sync_batch_norm=sync_batch_norm,
                                 num_classes=num_classes)
    d = networks.dcgan_discriminator(size, d_shape[-1], model.d_base_filters, model.kernel_size, norm=model.d_norm,
                                     dropout=model.d_dropout, num_classes=num_classes,
                                     conditioning=model.conditioning,
                                     minibatch_features=model.minibatch_features,
                                     minibatch_stddev=model.minibatch_stddev, sync_batch_norm=sync_batch_norm)
    return g, d


def build_optimizer(gan: GANConfig, learning_rate: float, updates: int = 0) -> keras.optimizers.Optimizer:
    """The optimizer named by --optimizer (one of tfgan.choices.OPTIMIZERS), its rate following --lr_schedule
    over `updates` applications (the schedule reads the optimizer's checkpointed iteration count)."""
    if gan.lr_schedule == "linear":
        learning_rate = keras.optimizers.schedules.PolynomialDecay(learning_rate, max(updates, 1), 0.0, power=1.0)
    if gan.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=gan.beta1, beta_2=gan.beta2)
    if gan.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    return keras.optimizers.SGD(learning_rate)


def build_gan(config: PipelineConfig, spec: DataSpec, replicas: int = 1) -> GAN:
    """The compiled GAN; call inside the strategy's scope."""
    keras.utils.set_random_seed(config.train.seed)
    num_classes = spec.num_classes if config.data.conditional else 0
    c = config.gan
    g, d = build_networks(config.model, spec, num_classes, sync_batch_norm=replicas > 1, pack=c.pack)
    penalties = [get_penalty(name, c.gp_weight, c.gp_target, c.gp_one_sided, c.r1_gamma) for name in c.penalties]
    kwargs = dict(loss=get_loss_pair(c.loss, c.label_smoothing), penalties=penalties, critic_steps=c.critic_steps,
                  prior=config.model.prior, num_classes=num_classes, weight_clip=c.weight_clip or None,
                  ema_decay=c.ema_decay or None, ema_rampup=c.ema_rampup,
                  augment=DiffAugment(c.augment) if c.augment else None, pack=c.pack, seed=config.train.seed)
    if c.unrolled_steps:
        gan = UnrolledGAN(g, d, config.model.latent_dim, unrolled_steps=c.unrolled_steps,
                          unrolled_gradient=c.unrolled_gradient, **kwargs)
    else:
        gan = GAN(g, d, config.model.latent_dim, **kwargs)
    steps = config.train.steps
    gan.compile(d_optimizer=build_optimizer(c, c.d_learning_rate, steps * c.critic_steps),
                g_optimizer=build_optimizer(c, c.g_learning_rate, steps))
    return gan


def set_precision(policy: str) -> str:
    """Sets the global Keras dtype policy for a --mixed_precision value and returns the policy's name."""
    resolved = distribute.resolve_precision(policy)
    keras.mixed_precision.set_global_policy(resolved)
    return resolved


def generator_classes(config: PipelineConfig, spec: DataSpec) -> int:
    return spec.num_classes if config.data.conditional else 0


def restore_generator(config: PipelineConfig, spec: DataSpec, checkpoint: str) -> keras.Model:
    """The sampling generator (the EMA copy when there is one) in float32, restored from `checkpoint`.

    Variables are float32 under every precision policy, so the export computes in float32 whatever the
    training used and serves on any machine.

    Raises:
      ValueError: some generator variable is not in the checkpoint (a config that does not match the run).
    """
    set_precision("none")
    num_classes = generator_classes(config, spec)
    generator, _ = build_networks(config.model, spec, num_classes, sync_batch_norm=False)
    key = "ema_generator" if config.gan.ema_decay else "generator"
    status = tf.train.Checkpoint(**{key: generator}).restore(checkpoint).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{checkpoint} does not hold every variable of the {key} that the run's config "
                         f"describes ({str(e).splitlines()[0][:200]}); was the run trained with other model "
                         f"flags?") from None
    if config.gan.ema_decay:
        # The EMA generator's batch-norm statistics, estimated for its averaged weights by the function the
        # in-training samples use (GAN.sampling_generator), so the export samples what training showed.
        estimate_batch_norm_statistics(generator, config.model.latent_dim, config.model.prior, num_classes)
    return generator
