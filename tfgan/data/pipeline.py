"""The training input pipeline: scale, shuffle, repeat, batch, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgan.data.sources import Source


def scale_to_range(x: tf.Tensor, output_range: tuple) -> tf.Tensor:
    """Maps [0, 1] pixels to the generator's output range ((-1, 1) for tanh, (0, 1) for sigmoid)."""
    lo, hi = output_range
    if lo is None:
        return x
    return x * (hi - lo) + lo


def make_dataset(source: Source, batch_size: int, *, critic_steps: int = 1, split: str = "train",
                 output_range: tuple = (-1.0, 1.0), shuffle_buffer: int = 10_000, seed: int = 0,
                 repeat: bool = True, cache: bool = True, start_step: int = 0) -> tf.data.Dataset:
    """Batches of {"x", "label"} for `GAN.train_step`.

    Each batch holds `batch_size * critic_steps` examples: one real minibatch of `batch_size` for each
    discriminator update of a step. The remainder is dropped so that every step (and every replica under
    a strategy) sees full minibatches.

    Args:
      source: where the data comes from (`tfgan.data.get_source`).
      batch_size: GLOBAL minibatch size of one discriminator update (split across replicas).
      critic_steps: discriminator updates per train step.
      split: the source's split.
      output_range: the generator's output range; image pixels in [0, 1] are mapped to it (toy points are
        left as they are).
      shuffle_buffer: shuffle buffer size (0 disables shuffling).
      seed: shuffle seed; the order is reshuffled each epoch, reproducibly. As with every tf.data shuffle,
        the order also depends on TensorFlow's global seed (`keras.utils.set_random_seed`).
      repeat: repeat forever (training) or one pass (evaluation).
      cache: cache decoded examples in memory after the first pass (small data sets).
      start_step: the train step a resumed run continues from. With `cache`, the stream skips the examples
        of the first `start_step` steps, so a resumed run sees exactly the batches an uninterrupted run sees
        (skipping in memory costs about a second per million examples). Without `cache` skipping would
        re-read the data, so the stream instead starts a fresh order seeded by (seed, start_step).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    if start_step and repeat and not cache:
        seed = int(np.random.SeedSequence([seed, start_step]).generate_state(1)[0] >> 1)
    ds = source.dataset(split, seed)
    if source.spec.kind == "image":
        ds = ds.map(lambda e: {"x": scale_to_range(e["x"], output_range), "label": e["label"]},
                    num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
        if cache and start_step:
            ds = ds.skip(start_step * batch_size * critic_steps)
    ds = ds.batch(batch_size * critic_steps, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
