"""The GAN model: one Keras `train_step` for the whole family, parameterised by its parts.

    gan = GAN(generator, discriminator, latent_dim=100, loss=get_loss_pair("non_saturating"))
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, 0.5), g_optimizer=keras.optimizers.Adam(2e-4, 0.5))
    gan.fit(dataset)   # or tfgan.trainer.Trainer for step-based runs with checkpoints and summaries

Each `train_step` consumes one batch of real data split into `critic_steps` equal minibatches: k
discriminator updates (each on its own real minibatch and fresh noise), then one generator update.
Variants (WGAN, WGAN-GP, LSGAN, ...) are choices of the loss pair, penalties, critic steps, weight
clipping and optimizers, never copies of this loop; a subclass may override `generator_step` alone
(e.g. unrolled GANs). What the discriminator sees of a batch of samples is one function, `discriminator_view`:
the samples, differentiably augmented (`augment`, DiffAugment) and packed m at a time (`pack`, PacGAN), in
both networks' updates and in the penalties.

Each network's update adds its Keras regularisation losses (`kernel_regularizer`, `add_loss`) and runs one
power iteration of its spectral normalisations (`tfgan.layers.SpectralNormalization`) first. Under a
float16 compute dtype both optimizers scale the loss dynamically (`keras.optimizers.LossScaleOptimizer`).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgan import distribute
from tfgan.layers import power_iterate, spectral_normalizations, sublayers
from tfgan.losses import LossPair, get_loss_pair
from tfgan.packing import pack as pack_samples
from tfgan.penalties import Penalty
from tfgan.choices import UNROLLED_GRADIENTS
from tfgan.random import PRIORS, StepRandom, sample_latents


class GAN(keras.Model):
    """A generator and a discriminator trained by alternating gradient steps.

    Args:
      generator: Keras model mapping latents [b, latent_dim] (and labels [b] when `num_classes`) to samples.
      discriminator: Keras model mapping samples (and labels) to one output per example, a logit for the
        probabilistic losses or a raw score for critics.
      latent_dim: size of the latent vector.
      loss: the loss pair (default: non-saturating generator, BCE discriminator).
      penalties: discriminator regularisers (see `tfgan.penalties`), added to its per-example loss.
      critic_steps: discriminator updates per generator update (k in Goodfellow et al. 2014, n_critic in
        the WGAN papers). Each consumes its own real minibatch.
      prior: latent prior, "normal" (N(0, I)) or "uniform" (U[-1, 1]).
      num_classes: > 0 for a conditional GAN; the batch must then carry integer labels.
      weight_clip: if set, clip every discriminator weight to [-c, c] after each of its updates (WGAN).
      ema_decay: if set, keep an exponential moving average of the generator's weights for samples and
        export (see `update_ema`; its batch-norm statistics are re-estimated, see `sampling_generator`).
      ema_rampup: ramp the EMA decay up from 0.1 as in `tf.train.ExponentialMovingAverage(num_updates=t)`:
        beta_t = min(decay, (1 + t) / (10 + t)), so that the average forgets the random initialisation
        (with a fixed 0.999, a third of the average is still the initialisation at step 1,000).
      augment: None, or a differentiable augmentation `augment(x, rng) -> x` (e.g. `tfgan.augment.DiffAugment`)
        applied to every discriminator input, real and generated, in both updates; the penalties see the
        augmented inputs (the `ns_r1_DiffAugment` variant of Zhao et al.'s code).
      pack: m >= 1 samples per discriminator example (PacGAN, `tfgan.packing`): real and generated batches
        are packed m at a time along the last axis after augmentation, so the discriminator's input has m
        times the generator's output channels (features), and the per-example losses and penalties are per
        pack. The (per-replica) batch must be a multiple of m. Not for conditional models.
      seed: seed of the counter-based noise stream (see `tfgan.random`).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, *,
                 loss: LossPair | None = None, penalties: Sequence[Penalty] = (), critic_steps: int = 1,
                 prior: str = "normal", num_classes: int = 0, weight_clip: float | None = None,
                 ema_decay: float | None = None, ema_rampup: bool = True, augment=None, pack: int = 1,
                 seed: int = 0, name: str = "gan"):
        super().__init__(name=name)
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        if augment is not None and not callable(augment):
            raise ValueError(f"augment must be None or a callable (x, rng) -> x; got {augment!r}")
        if int(pack) != pack or pack < 1:
            raise ValueError(f"pack must be an integer >= 1, got {pack}")
        if pack > 1 and num_classes:
            raise ValueError(f"pack={pack} packs unlabelled samples; a conditional GAN (num_classes={num_classes}) "
                             f"cannot pack")
        _check_packed_input(generator, discriminator, int(pack), num_classes)
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}; got {prior!r}")
        if weight_clip is not None and weight_clip <= 0:
            raise ValueError(f"weight_clip must be > 0 when set, got {weight_clip}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.loss_pair = loss or get_loss_pair("non_saturating")
        self.penalties = list(penalties)
        self.critic_steps = int(critic_steps)
        self.prior = prior
        self.num_classes = int(num_classes)
        self.weight_clip = weight_clip
        self.augment = augment
        self.pack = int(pack)
        self.seed = int(seed)
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) when set, got {ema_decay}")
        self.ema_decay = ema_decay
        self.ema_rampup = bool(ema_rampup)
        self.ema_generator = None
        # The step at which the EMA generator's batch-norm statistics were last estimated (-1: never).
        self._ema_statistics_step = keras.Variable(-1, dtype="int64", trainable=False, name="ema_statistics_step",
                                                   aggregation="only_first_replica")
        if ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        # Spectral normalisations of each network: one power iteration per update of that network.
        self._spectral = {"generator": spectral_normalizations(generator),
                          "discriminator": spectral_normalizations(discriminator)}
        # Completed train steps: drives the noise stream, so checkpointing it checkpoints the RNG state.
        self.step_counter = keras.Variable(0, dtype="int64", trainable=False, name="step_counter",
                                           aggregation="only_first_replica")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}
        # Sub-models are built; marking the wrapper built lets Keras run it under a strategy (keras#20164).
        self.built = True

    # --- Keras surface ------------------------------------------------------------------------------------

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                **kwargs):
        """Sets both optimizers and builds their state now, inside the caller's strategy scope.

        Building lazily inside a replicated step fails with 2+ replicas, so the slots are created here.

        When either network computes in float16, each optimizer is wrapped in its own
        `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling, Micikevicius et al. 2018): the loss is
        multiplied by a scale S (initially 2^15) before differentiation and the gradients divided by S, so small
        float16 gradients (the gradient penalty's second backward pass first) do not underflow to zero. A step
        with a non-finite gradient is skipped and S halved; S doubles after `dynamic_growth_steps` (2,000)
        finite steps. An optimizer that is already a LossScaleOptimizer is kept as it is. bfloat16 has
        float32's exponent range and needs no scaling.
        """
        super().compile(**kwargs)
        if d_optimizer is g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two optimizer instances, got the same object")
        if _computes_in_float16(self.generator) or _computes_in_float16(self.discriminator):
            d_optimizer, g_optimizer = _loss_scaled(d_optimizer), _loss_scaled(g_optimizer)
        if _inner(d_optimizer) is _inner(g_optimizer):
            raise ValueError("d_optimizer and g_optimizer must wrap two optimizer instances, got the same inner "
                             "optimizer")
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def metric_names(self) -> list[str]:
        names = ["d_loss", "g_loss", "d_real", "d_fake"]
        if self.loss_pair.probabilistic:
            names.append("d_accuracy")
        names += [f"penalty_{p.name}" for p in self.penalties]
        return names

    @property
    def metrics(self):
        return list(self._trackers.values())

    def call(self, inputs, training=False):
        """Samples from latents (and labels) of `sampling_generator`, as `generate` does: the EMA generator
        when there is one, else the generator."""
        return self.sampling_generator(inputs, training=training)

    # --- one training step ---------------------------------------------------------------------------------

    def train_step(self, data):
        real, labels = self._unpack(data)
        rng = StepRandom(self.seed, self.step_counter)
        k = self.critic_steps
        reals = self._split(real, k)
        label_chunks = self._split(labels, k) if labels is not None else [None] * k
        for i in range(k):
            self.discriminator_step(reals[i], label_chunks[i], rng)
        self.generator_step(reals[-1], label_chunks[-1], rng)
        self.step_counter.assign_add(1)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def discriminator_step(self, real, labels, rng: StepRandom, track: bool = True):
        """One discriminator (critic) update on a real minibatch and fresh noise.

        Args:
          real: [b, ...] real minibatch of this replica.
          labels: [b] labels (conditional models) or None.
          rng: the step's random draws.
          track: update the metric trackers (look-ahead updates of unrolled GANs do not).
        """
        batch = tf.shape(real)[0]
        fake = self.generator(self._generator_inputs(rng.latent(batch, self.latent_dim, self.prior), labels),
                              training=True)
        fake = tf.cast(tf.stop_gradient(fake), real.dtype)
        power_iterate(self._spectral["discriminator"])
        with tf.GradientTape() as tape:
            loss, terms = self.discriminator_loss(real, fake, labels, rng)
            scaled = self.d_optimizer.scale_loss(loss)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        if self.weight_clip is not None:
            self.clip_discriminator_weights()
        if track:
            total, real_out, fake_out, penalty_values = terms
            self._trackers["d_loss"].update_state(total)
            self._track_outputs(real_out, fake_out)
            for name, value in penalty_values.items():
                self._trackers[f"penalty_{name}"].update_state(value)

    def discriminator_loss(self, real, fake, labels, rng: StepRandom):
        """The discriminator's loss on a real and a generated minibatch: (this replica's share of the global-batch
        mean of loss + penalties, plus its regularisation), and (per-example totals, real outputs, fake outputs,
        {penalty name: per-example values})."""
        real, fake = self.discriminator_view(real, rng), self.discriminator_view(fake, rng)

        def discriminate(x):
            return self.discriminator(self._discriminator_inputs(x, labels), training=True)

        # The penalties' inner input gradients are loss-scaled like the loss (1 without loss scaling).
        discriminate.loss_scale = self.d_optimizer.scale_loss(tf.constant(1.0, tf.float32))
        real_out = discriminate(real)
        real_losses = self.discriminator.losses
        fake_out = discriminate(fake)
        fake_losses = self.discriminator.losses
        per_example = self.loss_pair.discriminator(real_out, fake_out)
        penalty_values = {p.name: tf.cast(p(discriminate, real, fake, rng), tf.float32) for p in self.penalties}
        total = per_example + tf.add_n(list(penalty_values.values())) if penalty_values else per_example
        loss = distribute.global_mean(total)
        regularization = _regularization(self.discriminator, [real_losses, fake_losses])
        if regularization is not None:
            loss += distribute.replica_share(regularization)
        return loss, (total, real_out, fake_out, penalty_values)

    def generator_step(self, real, labels, rng: StepRandom):
        """One generator update; `real` sets the batch size (and feeds look-ahead variants such as unrolled GANs)."""
        batch = tf.shape(real)[0]
        z = rng.latent(batch, self.latent_dim, self.prior)
        power_iterate(self._spectral["generator"])
        with tf.GradientTape() as tape:
            fake = self.generator(self._generator_inputs(z, labels), training=True)
            generator_losses = self.generator.losses
            fake_out = self.discriminator(self._discriminator_inputs(self.discriminator_view(fake, rng), labels),
                                          training=True)
            per_example, scaled = self._generator_objective(fake_out, generator_losses)
        self._apply_generator_update(tape, scaled, per_example)

    def _generator_objective(self, fake_out, generator_losses):
        """(per-example generator loss, the loss-scaled objective: its global mean plus the generator's
        regularisation); call inside the generator update's tape."""
        per_example = self.loss_pair.generator(fake_out)
        loss = distribute.global_mean(per_example)
        regularization = _regularization(self.generator, [generator_losses])
        if regularization is not None:
            loss += distribute.replica_share(regularization)
        return per_example, self.g_optimizer.scale_loss(loss)

    def _apply_generator_update(self, tape, scaled, per_example):
        """Applies the gradient of `scaled` to the generator, tracks its loss and updates the EMA copy."""
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self._trackers["g_loss"].update_state(per_example)
        if self.ema_generator is not None:
            self.update_ema()

    def discriminator_view(self, x, rng: StepRandom):
        """What the discriminator sees of samples x [b, ...]: augmented (`augment`), then packed m at a time
        (`pack`): [b / m, ..., m C]. The identity without either."""
        if self.augment is not None:
            x = self.augment(x, rng)
        return pack_samples(x, self.pack)

    def ema_beta(self) -> tf.Tensor:
        """The decay of this step's EMA update: min(decay, (1 + t) / (10 + t)) with t the EMA updates done so
        far (= completed train steps) when ramping up (`tf.train.ExponentialMovingAverage`'s num_updates
        ramp), else the decay."""
        if not self.ema_rampup:
            return tf.constant(self.ema_decay, tf.float32)
        t = tf.cast(self.step_counter, tf.float32)
        return tf.minimum(tf.constant(self.ema_decay, tf.float32), (1.0 + t) / (10.0 + t))

    def update_ema(self):
        """w_ema <- beta * w_ema + (1 - beta) * w for trainable weights, beta = `ema_beta()`.

        Batch-norm statistics are not copied: the raw generator's do not match the averaged weights. They
        are re-estimated for the EMA weights before sampling (`sampling_generator`). Other non-trainable state
        (spectral-norm power-iteration vectors) is copied.
        """
        beta = self.ema_beta()
        trainable = {id(v) for v in self.generator.trainable_variables}
        statistics = {id(v) for v in _batch_norm_statistics(self.ema_generator)}
        for ema_var, var in zip(self.ema_generator.weights, self.generator.weights):
            if id(var) in trainable:
                ema_var.assign(beta * ema_var + (1.0 - beta) * var)
            elif id(ema_var) not in statistics:
                ema_var.assign(var)

    def clip_discriminator_weights(self):
        """Clips every trainable discriminator weight to [-c, c] (Arjovsky et al. 2017, Algorithm 1)."""
        c = self.weight_clip
        for v in self.discriminator.trainable_variables:
            v.assign(tf.clip_by_value(v, -c, c))

    # --- helpers -------------------------------------------------------------------------------------------

    def _track_outputs(self, real_out, fake_out):
        real_out = tf.reshape(tf.cast(real_out, tf.float32), [-1])
        fake_out = tf.reshape(tf.cast(fake_out, tf.float32), [-1])
        if self.loss_pair.probabilistic:
            self._trackers["d_real"].update_state(tf.sigmoid(real_out))
            self._trackers["d_fake"].update_state(tf.sigmoid(fake_out))
            correct = 0.5 * (tf.cast(real_out > 0, tf.float32) + tf.cast(fake_out < 0, tf.float32))
            self._trackers["d_accuracy"].update_state(correct)
        else:
            self._trackers["d_real"].update_state(real_out)
            self._trackers["d_fake"].update_state(fake_out)

    def _unpack(self, data):
        if isinstance(data, dict):
            real, labels = data["x"], data.get("label")
        elif isinstance(data, (tuple, list)):
            real, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            real, labels = data, None
        if self.num_classes and labels is None:
            raise ValueError(f"a conditional GAN (num_classes={self.num_classes}) needs (x, label) batches")
        if not self.num_classes:
            labels = None
        return real, labels

    def _split(self, tensor, k):
        if k == 1:
            return [tensor]
        rows = tensor.shape[0]
        if rows is not None and rows % k:
            raise ValueError(
                f"a batch of {rows} rows cannot be split into critic_steps={k} real minibatches; batch the data "
                f"with batch_size * critic_steps rows (tfgan.data.make_dataset does this)")
        return tf.split(tensor, k, axis=0)

    def _generator_inputs(self, z, labels):
        return [z, labels] if self.num_classes else z

    def _discriminator_inputs(self, x, labels):
        return [x, labels] if self.num_classes else x

    @property
    def sampling_generator(self) -> keras.Model:
        """The generator used for samples and export: the EMA copy when there is one, else the generator.

        The EMA copy's batch-norm statistics are re-estimated for its weights (`estimate_batch_norm_statistics`,
        the function the export stage calls too) when the step changed since they were last estimated, so
        sample grids, evaluation and the export all see the same generator. Eagerly and inside a `tf.function`
        alike: there the check and the estimate are graph ops (a `tf.cond` on the step), so a traced sampler
        re-estimates at every new step too.
        """
        if self.ema_generator is None:
            return self.generator
        if tf.executing_eagerly():
            if int(self.step_counter.numpy()) != int(self._ema_statistics_step.numpy()):
                self._estimate_ema_statistics()
        else:
            # A stateful op: automatic control dependencies run it before the sampler reads the statistics.
            stale = tf.not_equal(self.step_counter, self._ema_statistics_step)
            tf.cond(stale, self._estimate_ema_statistics, lambda: tf.constant(False))
        return self.ema_generator

    def _estimate_ema_statistics(self) -> tf.Tensor:
        estimate_batch_norm_statistics(self.ema_generator, self.latent_dim, self.prior, self.num_classes)
        self._ema_statistics_step.assign(self.step_counter)
        return tf.constant(True)

    def generate(self, z, labels=None, training=False):
        """Samples for latents `z` (and `labels` for a conditional model), in the generator's output range,
        from `sampling_generator`."""
        return self.sampling_generator(self._generator_inputs(z, labels), training=training)

    def checkpoint_items(self) -> dict:
        """What a tf.train.Checkpoint must hold to resume this model exactly."""
        items = {"generator": self.generator, "discriminator": self.discriminator,
                 "step_counter": self.step_counter,
                 # Seed states of stateful random layers (dropout): masks continue across a resume.
                 "random_states": _seed_states(self.generator) + _seed_states(self.discriminator)}
        if self.ema_generator is not None:
            items["ema_generator"] = self.ema_generator
        if getattr(self, "d_optimizer", None) is not None:
            items.update(d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer)
        return items


def _check_packed_input(generator: keras.Model, discriminator: keras.Model, pack: int, num_classes: int) -> None:
    """The discriminator's input must be m packed generator outputs wide (where both shapes are known)."""
    if num_classes:
        return
    try:
        g_out, d_in = generator.output.shape, discriminator.input.shape
    except (AttributeError, ValueError):
        return  # subclassed models: shapes unknown until called
    if g_out[-1] is None or d_in[-1] is None or len(g_out) != len(d_in):
        return
    if d_in[-1] != g_out[-1] * pack:
        raise ValueError(f"with pack={pack} the discriminator must take {pack} x {g_out[-1]} = {g_out[-1] * pack} "
                         f"input channels (features), one block per packed sample; it takes {d_in[-1]} "
                         f"(build it for tfgan.packing.packed_shape(sample_shape, {pack}))")


def _seed_states(model: keras.Model) -> list:
    """The `keras.random.SeedGenerator` state variables of `model`: in `variables` but not in `weights`."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _computes_in_float16(model: keras.Model) -> bool:
    return any(layer.compute_dtype == "float16" for layer in sublayers(model))


def _loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


def _regularization(model: keras.Model, passes: list[list]) -> tf.Tensor | None:
    """The regularisation loss of one update of `model`, or None when it has none.

    `passes` holds `model.losses` read after each forward pass of the update. Each holds the weight
    regularisers (`kernel_regularizer`, ...) and that pass's `add_loss` terms (Keras clears those at every
    call of the model). The update's regulariser is the weight regularisers once plus the `add_loss` terms
    of every pass: sum over passes of sum(losses) - (passes - 1) * weight regularisers.
    """
    if not any(passes):
        return None
    total = tf.add_n([tf.cast(x, tf.float32) for losses in passes for x in losses])
    weights = [v.regularizer(v) for v in model.trainable_weights if getattr(v, "regularizer", None) is not None]
    if weights and len(passes) > 1:
        total -= (len(passes) - 1) * tf.add_n([tf.cast(x, tf.float32) for x in weights])
    return total


def _batch_norm_statistics(model: keras.Model) -> list:
    return [v for layer in sublayers(model) if isinstance(layer, keras.layers.BatchNormalization)
            for v in (layer.moving_mean, layer.moving_variance)]


def estimate_batch_norm_statistics(generator: keras.Model, latent_dim: int, prior: str, num_classes: int = 0,
                                   num_samples: int = 4096, batch_size: int = 512, seed: int = 2**20) -> None:
    """Sets the generator's batch-norm moving statistics to those of its inputs over latents from the prior.

    A generator's batch-norm statistics depend only on its weights and the latent prior, so they can be
    estimated after training for any weights, e.g. an EMA average, whose statistics the raw generator's do not
    match ("standing statistics", Brock et al. 2019, section 3). Layer by layer in network order, each
    BatchNormalization's moving mean and (biased) variance become the mean and variance of its inputs over
    `num_samples` latents, computed in inference mode with the statistics already set upstream: the
    statistics are exactly those inference sees. Conditional generators get the labels 0, 1, ..., C-1 in turn.
    Deterministic in (weights, prior, num_samples, seed): the in-training samples and the export, which both
    call it with the defaults, agree. TensorFlow ops throughout (sums in float64), so it runs eagerly and
    inside a `tf.function` alike.

    Args:
      generator: a functional Keras model taking z (and labels).
      latent_dim, prior, num_classes: the GAN's latent and label inputs.
      num_samples: latents to estimate over.
      batch_size: latents per forward pass.
      seed: seed of the latents.
    """
    norms = [layer for layer in sublayers(generator) if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return
    probe = keras.Model(generator.input, [layer.input for layer in norms])
    z = sample_latents(num_samples, latent_dim, prior, seed)
    labels = tf.constant(np.arange(num_samples) % num_classes, tf.int32) if num_classes else None
    for i, norm in enumerate(norms):
        total = total_sq = count = tf.constant(0.0, tf.float64)
        for start in range(0, num_samples, batch_size):
            zb = z[start:start + batch_size]
            outputs = probe([zb, labels[start:start + batch_size]] if num_classes else zb, training=False)
            x = tf.cast(outputs[i] if isinstance(outputs, (list, tuple)) else outputs, tf.float64)
            axis = norm.axis % x.shape.rank
            x = tf.reshape(tf.experimental.numpy.moveaxis(x, axis, -1), [-1, x.shape[axis]])  # [rows, channels]
            total += tf.reduce_sum(x, 0)
            total_sq += tf.reduce_sum(x * x, 0)
            count += tf.cast(tf.shape(x)[0], tf.float64)
        mean = total / count
        norm.moving_mean.assign(tf.cast(mean, tf.float32))
        norm.moving_variance.assign(tf.cast(tf.maximum(total_sq / count - mean * mean, 0.0), tf.float32))


class UnrolledGAN(GAN):
    """Unrolled GAN (Metz et al. 2017): the generator's update looks ahead `unrolled_steps` discriminator steps.

    Before each generator update the discriminator is updated K = `unrolled_steps` more times on the step's
    last real minibatch with fresh noise (drawn from a stream of their own, so the generator's update draws
    what the plain GAN's does), the generator is updated against this look-ahead discriminator D_K, and the
    discriminator's weights and optimizer state, and the generator's batch-norm statistics (and other
    non-trainable state) advanced by the look-ahead, are restored. The generator thus answers where the
    discriminator is going, not where it is, which damps the mode hopping of plain alternating updates.

    `unrolled_gradient` chooses the generator's gradient:
      "second_order" (the paper's, eq. 12): d f(theta_G, theta_D^K(theta_G, theta_D)) / d theta_G, the gradient
        flowing through the K look-ahead updates (nested tapes): theta_D^{k+1} = U(theta_D^k, grad L_D(theta_D^k,
        G(z_k))), with U the discriminator optimizer's own update rule (Adam, SGD with or without momentum,
        RMSprop without centring) written as a differentiable function of the weights and its slots, run
        from its current state. Under several replicas the look-ahead gradients are all-reduced as the
        optimizer's are. Spectral normalisations keep their power-iteration vectors during the look-ahead, and
        the discriminator's stochastic layers (dropout) their seed state. Cost per generator update: K
        discriminator forward/backward passes and a backward pass through all of them (the loss's
        second derivatives, third with a gradient penalty). Measured on 2 CPU cores: 1.5-2.2x the first-order
        step's time on the toy configs' MLPs (2x128, batch 256, K = 5; 2.8-3.4x while other jobs loaded the
        cores), 2.1x for the MNIST config's DCGAN (K = 3, batch 32); memory grows linearly in K.
      "first_order": the gradient at D_K, as if it did not depend on the generator (cheaper; the term the
        paper credits with countering mode collapse is dropped). The look-ahead updates are real optimizer
        updates, undone afterwards.

    Args:
      unrolled_steps: K, the look-ahead discriminator updates (the paper uses 5-10).
      unrolled_gradient: one of `tfgan.choices.UNROLLED_GRADIENTS`.
      **kwargs: as for `GAN`.
    """

    def __init__(self, generator, discriminator, latent_dim, *, unrolled_steps: int = 5,
                 unrolled_gradient: str = "second_order", **kwargs):
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        if unrolled_steps < 1:
            raise ValueError(f"unrolled_steps must be >= 1, got {unrolled_steps}")
        if unrolled_gradient not in UNROLLED_GRADIENTS:
            raise ValueError(f"unrolled_gradient must be one of {', '.join(UNROLLED_GRADIENTS)}; "
                             f"got {unrolled_gradient!r}")
        self.unrolled_steps = int(unrolled_steps)
        self.unrolled_gradient = unrolled_gradient

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(d_optimizer, g_optimizer, **kwargs)
        if self.unrolled_gradient == "second_order":
            _check_differentiable_update(_inner(self.d_optimizer))

    def generator_step(self, real, labels, rng: StepRandom):
        lookahead = rng.independent(1)
        g_state = self.generator.non_trainable_weights
        g_saved = [tf.identity(v) for v in g_state]
        if self.unrolled_gradient == "second_order":
            self._second_order_generator_step(real, labels, rng, lookahead, list(zip(g_state, g_saved)))
            return
        d_state = self.discriminator.weights + self.d_optimizer.variables
        d_saved = [tf.identity(v) for v in d_state]
        for _ in range(self.unrolled_steps):
            self.discriminator_step(real, labels, lookahead, track=False)
        for var, value in zip(g_state, g_saved):
            var.assign(value)
        super().generator_step(real, labels, rng)
        for var, value in zip(d_state, d_saved):
            var.assign(value)

    def _second_order_generator_step(self, real, labels, rng: StepRandom, lookahead: StepRandom, g_restore):
        batch = tf.shape(real)[0]
        z = rng.latent(batch, self.latent_dim, self.prior)
        power_iterate(self._spectral["generator"])
        d_vars = self.discriminator.trainable_variables
        optimizer = _inner(self.d_optimizer)
        with tf.GradientTape() as tape:
            theta = [tf.identity(v) for v in d_vars]
            slots = _optimizer_slots(optimizer, d_vars)
            for k in range(self.unrolled_steps):
                z_k = lookahead.latent(batch, self.latent_dim, self.prior)
                fake_k = tf.cast(self.generator(self._generator_inputs(z_k, labels), training=True), real.dtype)
                with tf.GradientTape() as inner:
                    inner.watch(theta)
                    with keras.StatelessScope(state_mapping=list(zip(d_vars, theta))):
                        loss_k, _ = self.discriminator_loss(real, fake_k, labels, lookahead)
                    scale = self.d_optimizer.scale_loss(tf.constant(1.0, tf.float32))
                    scaled_k = loss_k * scale
                grads = [tf.cast(g, tf.float32) / scale for g in inner.gradient(scaled_k, theta)]
                grads = _all_reduce_sum(grads)
                theta, slots = _differentiable_update(optimizer, theta, grads, slots, k)
            for var, value in g_restore:  # the look-ahead's generator passes advanced its batch-norm statistics
                var.assign(value)
            fake = self.generator(self._generator_inputs(z, labels), training=True)
            generator_losses = self.generator.losses
            view = self.discriminator_view(fake, rng)
            with keras.StatelessScope(state_mapping=list(zip(d_vars, theta))):
                fake_out = self.discriminator(self._discriminator_inputs(view, labels), training=True)
            per_example, scaled = self._generator_objective(fake_out, generator_losses)
        self._apply_generator_update(tape, scaled, per_example)


def _all_reduce_sum(grads: list) -> list:
    """Sums per-replica gradient shares over replicas, as the optimizer's all-reduce does (identity on one)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return grads
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)


_UNSUPPORTED_OPTIONS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "amsgrad",
                        "centered")


def _check_differentiable_update(optimizer) -> None:
    """Raises unless `optimizer`'s update rule has a differentiable copy (`_differentiable_update`)."""
    kind = type(optimizer).__name__
    options = [o for o in _UNSUPPORTED_OPTIONS if getattr(optimizer, o, None)]
    if kind not in ("Adam", "SGD", "RMSprop") or options or getattr(optimizer, "gradient_accumulation_steps", None):
        what = f"{kind} with {', '.join(options)}" if options else kind
        raise ValueError(f"unrolled_gradient='second_order' differentiates through the discriminator optimizer's "
                         f"updates, written for Adam, SGD and RMSprop without weight decay, clipping, amsgrad, "
                         f"centring or averaging; got {what}. Use unrolled_gradient='first_order' for it")


def _optimizer_slots(optimizer, variables) -> dict:
    """The optimizer's current state for `variables` as tensors: step count and per-variable slots."""
    index = [optimizer._get_variable_index(v) for v in variables]
    kind = type(optimizer).__name__
    slots = {"iterations": tf.cast(optimizer.iterations, tf.float32)}
    if kind == "Adam":
        slots.update(m=[tf.identity(optimizer._momentums[i]) for i in index],
                     v=[tf.identity(optimizer._velocities[i]) for i in index])
    elif kind == "SGD" and optimizer.momentum != 0:
        slots.update(m=[tf.identity(optimizer.momentums[i]) for i in index])
    elif kind == "RMSprop":
        slots.update(v=[tf.identity(optimizer._velocities[i]) for i in index])
        if optimizer.momentum > 0:
            slots.update(m=[tf.identity(optimizer._momentums[i]) for i in index])
    return slots


def _differentiable_update(optimizer, theta: list, grads: list, slots: dict, k: int) -> tuple[list, dict]:
    """The optimizer's (k+1)-th look-ahead update of weights `theta` as tensors: Keras' update_step formulas
    (Adam, SGD, RMSprop), with the learning rate of its current step.

    Adam's sqrt(v) is taken of max(v, 1e-30), which changes nothing forward (epsilon is 1e-7) and keeps the
    second derivative finite where a gradient is exactly 0 (sqrt'(0) is infinite).
    """
    kind = type(optimizer).__name__
    lr = tf.cast(optimizer.learning_rate, tf.float32)
    new = dict(slots)
    if kind == "Adam":
        t = slots["iterations"] + 1.0 + k
        b1, b2 = float(optimizer.beta_1), float(optimizer.beta_2)
        alpha = lr * tf.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        new["m"] = [m + (g - m) * (1.0 - b1) for m, g in zip(slots["m"], grads)]
        new["v"] = [v + (g * g - v) * (1.0 - b2) for v, g in zip(slots["v"], grads)]
        theta = [w - alpha * m / (tf.sqrt(tf.maximum(v, 1e-30)) + optimizer.epsilon)
                 for w, m, v in zip(theta, new["m"], new["v"])]
    elif kind == "SGD":
        if "m" in slots:
            mu = float(optimizer.momentum)
            new["m"] = [m * mu - g * lr for m, g in zip(slots["m"], grads)]
            if optimizer.nesterov:
                theta = [w + m * mu - g * lr for w, m, g in zip(theta, new["m"], grads)]
            else:
                theta = [w + m for w, m in zip(theta, new["m"])]
        else:
            theta = [w - lr * g for w, g in zip(theta, grads)]
    else:  # RMSprop
        rho = float(optimizer.rho)
        new["v"] = [rho * v + (1.0 - rho) * g * g for v, g in zip(slots["v"], grads)]
        increments = [lr * g / tf.sqrt(v + optimizer.epsilon) for g, v in zip(grads, new["v"])]
        if "m" in slots:
            new["m"] = [optimizer.momentum * m + inc for m, inc in zip(slots["m"], increments)]
            increments = new["m"]
        theta = [w - inc for w, inc in zip(theta, increments)]
    return theta, new
