"""Counter-based randomness for training steps: reproducible, resumable and replica-aware.

A step's random tensors (latent noise, interpolation weights, augmentations) are a pure function of (seed, step,
draw index): stateless ops seeded by folding the step counter and a per-step draw index into the run's seed.
Checkpointing the step counter therefore checkpoints the RNG state, a resumed run draws what the
uninterrupted run would have drawn, and every replica slices its own rows out of the global draw
(see `tfgan.distribute.replica_slice`).
"""

from __future__ import annotations

import tensorflow as tf

from tfgan import choices, distribute

PRIORS = choices.PRIORS


class StepRandom:
    """The random draws of one training step.

    Each call to a draw method uses the next draw index, so draws within a step are independent. The draw
    order is fixed when the step is traced, so it is the same in every step and on every replica.

    Args:
      seed: the run's integer seed.
      step: scalar int64 tensor, the number of completed training steps.
    """

    def __init__(self, seed: int, step: tf.Tensor):
        base = tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int64)
        self._seed = tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64))
        self._draws = 0

    def _next_seed(self) -> tf.Tensor:
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._draws)

    def _global(self, fn, batch, shape, **kwargs) -> tf.Tensor:
        replicas, _ = distribute.replica_info()
        full = fn(tf.concat([[batch * replicas], tf.constant(shape, tf.int32)], 0),
                  seed=self._next_seed(), **kwargs)
        return distribute.replica_slice(full, batch)

    def independent(self, tag: int) -> "StepRandom":
        """A second stream of this step's draws, keyed by `tag` >= 1: its draws are independent of this stream's
        and leave this stream's sequence unchanged (draw index 0, never used by a draw, keys the streams)."""
        other = StepRandom.__new__(StepRandom)
        other._seed = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(self._seed, 0), int(tag))
        other._draws = 0
        return other

    def normal(self, batch, shape=()) -> tf.Tensor:
        """This replica's [batch, *shape] rows of a standard normal draw over the global batch."""
        return self._global(tf.random.stateless_normal, batch, list(shape))

    def uniform(self, batch, shape=(), minval=0.0, maxval=1.0) -> tf.Tensor:
        """This replica's [batch, *shape] rows of a U[minval, maxval) draw over the global batch."""
        return self._global(tf.random.stateless_uniform, batch, list(shape), minval=minval, maxval=maxval)

    def integers(self, batch, shape=(), minval=0, maxval=2) -> tf.Tensor:
        """This replica's [batch, *shape] rows of int32 draws uniform in {minval, ..., maxval - 1}, over the
        global batch."""
        return self._global(tf.random.stateless_uniform, batch, list(shape), minval=minval, maxval=maxval,
                            dtype=tf.int32)

    def latent(self, batch, latent_dim: int, prior: str) -> tf.Tensor:
        """Latent noise z of shape [batch, latent_dim] from the prior N(0, I) or U[-1, 1]."""
        if prior == "normal":
            return self.normal(batch, [latent_dim])
        return self.uniform(batch, [latent_dim], -1.0, 1.0)


def sample_latents(num: int, latent_dim: int, prior: str, seed: int) -> tf.Tensor:
    """A fixed batch of latents (sample grids, exports): [num, latent_dim] float32, deterministic in `seed`."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}; got {prior!r}")
    seed_pair = tf.constant([seed, 0], tf.int64)
    if prior == "normal":
        return tf.random.stateless_normal([num, latent_dim], seed=seed_pair)
    return tf.random.stateless_uniform([num, latent_dim], seed=seed_pair, minval=-1.0, maxval=1.0)
