"""Regularisers added to the discriminator's loss, each returning per-example values.

A penalty is called inside the discriminator's GradientTape as

    penalty(discriminate, real, fake, rng) -> [batch] per-example values (already weighted)

where `discriminate(x)` runs the discriminator in training mode (with the batch's labels when the model is
conditional) and `rng` is the step's `tfgan.random.StepRandom`. Penalties that need gradients of D
with respect to its inputs open their own (nested) tape, so the penalty is differentiated with respect to
D's weights by the outer tape.
"""

from __future__ import annotations

from typing import Callable, Protocol

import tensorflow as tf

from tfgan.random import StepRandom

Discriminate = Callable[[tf.Tensor], tf.Tensor]


class Penalty(Protocol):
    """What the GAN model expects of a penalty."""

    name: str

    def __call__(self, discriminate: Discriminate, real: tf.Tensor, fake: tf.Tensor,
                 rng: StepRandom) -> tf.Tensor:
        ...
