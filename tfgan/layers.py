"""Layers of the GAN networks that Keras lacks or gets wrong for GANs.

- `MinibatchDiscrimination`, `MinibatchStddev`: let D compare a sample with the rest of its batch
  (mode-collapse remedies). Under a distribution strategy "the batch" is the replica's share of it. Do not
  combine them with a per-example gradient penalty: they make each score depend on the other examples.
- `Dropout`: replica-aware dropout (different masks on every replica, the single-device masks overall).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from tfgan import distribute


class MinibatchDiscrimination(layers.Layer):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    M = x T reshaped to [N, B, C]; c_b(i, j) = exp(-||M_i,b - M_j,b||_1); o(x_i)_b = sum_{j != i} c_b(i, j).
    The output is concat(x, o(x)): [N, A + B].

    Args:
      num_kernels: B, the number of features added.
      kernel_dim: C, the dimension of each kernel's projection.
    """

    def __init__(self, num_kernels: int = 16, kernel_dim: int = 4, **kwargs):
        super().__init__(**kwargs)
        if num_kernels < 1 or kernel_dim < 1:
            raise ValueError(f"num_kernels and kernel_dim must be >= 1; got {num_kernels}, {kernel_dim}")
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim

    def build(self, input_shape):
        self.T = self.add_weight(shape=(input_shape[-1], self.num_kernels * self.kernel_dim),
                                 initializer=keras.initializers.RandomNormal(stddev=0.05), name="T")

    def call(self, x):
        m = ops.reshape(ops.matmul(x, ops.cast(self.T, x.dtype)), (-1, self.num_kernels, self.kernel_dim))
        l1 = ops.sum(ops.abs(m[:, None] - m[None]), axis=-1)          # [N, N, B]
        o = ops.sum(ops.exp(-l1), axis=1) - 1.0                          # drop the j = i term (exp(0) = 1)
        return ops.concatenate([x, ops.cast(o, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_kernels)

    def get_config(self):
        return super().get_config() | {"num_kernels": self.num_kernels, "kernel_dim": self.kernel_dim}


class MinibatchStddev(layers.Layer):
    """Minibatch standard deviation (Karras et al. 2018, section 3).

    The standard deviation of each feature over the batch, averaged to one number, appended as a constant
    extra channel: [N, H, W, C] -> [N, H, W, C + 1] (or [N, D] -> [N, D + 1]).
    """

    def call(self, x):
        mean = ops.mean(x, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=0) + 1e-8)
        value = ops.mean(std)
        extra = ops.ones_like(x[..., :1]) * ops.cast(value, x.dtype)
        return ops.concatenate([x, extra], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


class Dropout(layers.Layer):
    """Dropout (Srivastava et al. 2014) with masks drawn for the global batch and sliced per replica.

        y = x * m / (1 - rate),   m ~ Bernoulli(1 - rate) per element, in training;   y = x otherwise.

    Keras' `Dropout` draws from a `SeedGenerator` whose state is a mirrored variable under MirroredStrategy, so
    every replica draws the same mask for its own rows. This layer draws the mask for the GLOBAL batch
    (replicas x this replica's rows) from that state, which is the same on every replica, and keeps this
    replica's rows (`tfgan.distribute.replica_slice`), as `tfgan.random` does for noise: replicas see different
    masks, and a step on R replicas uses exactly the masks one device would for the same global batch. The
    state advances once per call; it is a variable of the model (not a weight), checkpointed by
    `tfgan.model.GAN.checkpoint_items`, so masks continue across a resume.

    Args:
      rate: fraction of the units dropped, in [0, 1).
      seed: seed of the layer's `keras.random.SeedGenerator` (None: drawn from Keras' global seed, set by
        `keras.utils.set_random_seed`).
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        batch = tf.shape(inputs)[0]
        replicas, _ = distribute.replica_info()
        shape = tf.concat([[batch * replicas], tf.shape(inputs)[1:]], 0)
        uniform = tf.random.stateless_uniform(shape, seed=self.seed_generator.next())
        keep = tf.cast(distribute.replica_slice(uniform, batch) >= self.rate, inputs.dtype)
        return inputs * keep / tf.cast(1.0 - self.rate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"rate": self.rate, "seed": self.seed}
