"""Discriminator layers that let D compare a sample with the rest of its batch (mode-collapse remedies).

Under a distribution strategy "the batch" is the replica's share of it. Do not combine these layers with a
per-example gradient penalty: they make each score depend on the other examples.
"""

from __future__ import annotations

import keras
from keras import layers, ops


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
