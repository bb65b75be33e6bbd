"""Regularisers added to the discriminator's loss, each returning per-example values.

A penalty is called inside the discriminator's GradientTape as

    penalty(discriminate, real, fake, rng) -> [batch] per-example values (already weighted)

where `discriminate(x)` runs the discriminator in training mode (with the batch's labels when the model is
conditional) and `rng` is the step's `tfgan.random.StepRandom`. Penalties that need gradients of D
with respect to its inputs open their own (nested) tape, so the penalty is differentiated with respect to
D's weights by the outer tape.

Under a float16 compute dtype that inner gradient is loss-scaled as the outer loss is: `discriminate` may carry
a `loss_scale` attribute S (the model sets the discriminator optimizer's dynamic scale), and `gradient_norm`
differentiates S * sum D(x), then divides the gradient by S in float32 (StyleGAN's TF code does the same with
the optimizer's scale). Unscaled, input gradients below float16's smallest subnormal (6e-8) flush to zero and
the penalty is computed from zeros. An overflow (S * gradient > 65504) makes the penalty and then the
discriminator's gradient non-finite, so the loss-scale optimizer skips the step and halves S, as for the
outer loss.
"""

from __future__ import annotations

from typing import Callable, Protocol

import tensorflow as tf

from tfgan import choices
from tfgan.random import StepRandom

Discriminate = Callable[[tf.Tensor], tf.Tensor]


class Penalty(Protocol):
    """What the GAN model expects of a penalty."""

    name: str

    def __call__(self, discriminate: Discriminate, real: tf.Tensor, fake: tf.Tensor,
                 rng: StepRandom) -> tf.Tensor:
        ...


def interpolate(real: tf.Tensor, fake: tf.Tensor, rng: StepRandom) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example random points on the segments between real and fake samples.

        x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1], one eps per example broadcast over its features.

    Args:
      real: [batch, ...] real samples.
      fake: [batch, ...] generated samples (same shape).
      rng: the step's random draws.

    Returns:
      (x_hat [batch, ...], eps [batch, 1, ..., 1]).
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    eps = rng.uniform(tf.shape(real)[0], [1] * (real.shape.rank - 1))
    return eps * real + (1.0 - eps) * fake, eps


def gradient_norm(discriminate: Discriminate, x: tf.Tensor, epsilon: float = 1e-12) -> tf.Tensor:
    """Per-example ||grad_x D(x)||_2 over all non-batch axes, sqrt(sum g^2 + epsilon), via a nested tape.

    The examples must not interact inside D (no batch norm, no minibatch features) for the gradient of the
    summed outputs to be each example's own gradient. The gradient is that of S * sum D(x) divided by S, with
    S = `discriminate.loss_scale` when set (a float16 discriminator's loss scale, see the module docstring),
    else 1.
    """
    scale = tf.cast(getattr(discriminate, "loss_scale", 1.0), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.cast(discriminate(x), tf.float32) * scale
    grads = tf.cast(tape.gradient(out, x), tf.float32) / scale
    axes = list(range(1, grads.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + epsilon)


class GradientPenalty:
    """WGAN-GP's penalty (Gulrajani et al. 2017): lambda * (||grad_x_hat C(x_hat)||_2 - target)^2 per example.

    x_hat interpolates real and fake samples with eps ~ U[0, 1] per example (`interpolate`). The gradient is
    taken by a tape nested inside the critic's tape, so the penalty is differentiated with respect to the
    critic's weights.

    Args:
      weight: lambda (10 in the paper).
      target: the target gradient norm (1 for a 1-Lipschitz critic).
      one_sided: penalise only norms above the target: lambda * max(0, ||g|| - target)^2.
      epsilon: added under the square root so the norm is differentiable at 0.
    """

    name = "gp"

    def __init__(self, weight: float = 10.0, target: float = 1.0, one_sided: bool = False, epsilon: float = 1e-12):
        if weight < 0:
            raise ValueError(f"gradient penalty weight must be >= 0, got {weight}")
        if target <= 0:
            raise ValueError(f"gradient penalty target must be > 0, got {target}")
        self.weight, self.target, self.one_sided, self.epsilon = weight, target, one_sided, epsilon

    def __call__(self, discriminate, real, fake, rng):
        x_hat, _ = interpolate(real, fake, rng)
        excess = gradient_norm(discriminate, x_hat, self.epsilon) - self.target
        if self.one_sided:
            excess = tf.nn.relu(excess)
        return self.weight * tf.square(excess)


class R1Penalty:
    """R1 (Mescheder et al. 2018): gamma / 2 * ||grad_x D(x)||_2^2 on real data, per example.

    Args:
      gamma: the weight gamma (10 is common for images).
    """

    name = "r1"

    def __init__(self, gamma: float = 10.0):
        if gamma < 0:
            raise ValueError(f"R1 gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def __call__(self, discriminate, real, fake, rng):
        del fake, rng
        norm = gradient_norm(discriminate, tf.cast(real, tf.float32), epsilon=0.0)
        return 0.5 * self.gamma * tf.square(norm)


PENALTY_NAMES = choices.PENALTIES


def get_penalty(name: str, gp_weight: float = 10.0, gp_target: float = 1.0, gp_one_sided: bool = False,
                r1_gamma: float = 10.0) -> Penalty:
    """The penalty registered under `name` ("gp" or "r1")."""
    if name == "gp":
        return GradientPenalty(gp_weight, gp_target, gp_one_sided)
    if name == "r1":
        return R1Penalty(r1_gamma)
    raise ValueError(f"penalty must be one of {', '.join(PENALTY_NAMES)}; got {name!r}")
