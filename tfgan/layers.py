"""Layers of the GAN networks that Keras lacks or gets wrong for GANs.

- `MinibatchDiscrimination`, `MinibatchStddev`: let D compare a sample with the rest of its batch
  (mode-collapse remedies). Under a distribution strategy "the batch" is the replica's share of it. Do not
  combine them with a per-example gradient penalty: they make each score depend on the other examples.
- `Dropout`: replica-aware dropout (different masks on every replica, the single-device masks overall).
- `SpectralNormalization`: Miyato et al.'s differentiable W / sigma(W) with one power iteration per update.
"""

from __future__ import annotations

import math

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


class SpectralNormalization(layers.Wrapper):
    """Spectral normalisation (Miyato et al. 2018): the wrapped layer computes with W / sigma(W).

    W is the layer's kernel as a matrix [fan_in, units] (Miyato et al. write its transpose, which has the same
    singular values). sigma(W), its largest singular value, is estimated by power iteration with a persistent
    vector u (Algorithm 1), one iteration per update of the network:

        v <- W u / ||W u||,   u <- W^T v / ||W^T v||,   sigma(W) = v^T W u.

    `power_iteration()` runs it; `tfgan.model.GAN` calls it (`power_iterate`) once before each discriminator
    update for the discriminator's layers (and before each generator update for the generator's). Calls never
    update u: the real and fake passes of an update, the gradient penalty's nested tape, generator steps and
    inference all see the same u and v. sigma = v^T W u is computed from the kernel in every call, with u and v
    held constant, so W / sigma is a differentiable reparameterisation: gradients flow through sigma, with
    d sigma / d W = v u^T, the gradient of the largest singular value where u, v are its singular vectors
    (the paper's equation (12)). The kernel variable itself is never rewritten.

    Unlike `keras.layers.SpectralNormalization`, which overwrites the kernel with W / sigma on every training
    call (generator steps and nested tapes included) and passes no gradient through sigma.

    u starts as a random unit vector (the paper's isotropic initialisation) and v as W u / ||W u||, so that
    sigma = ||W u|| > 0 before the first update. u and v are non-trainable weights of the model: copied,
    checkpointed and restored with it. The layer computes in its own dtype policy, the wrapped layer's by
    default (a float32 head stays float32 under a mixed policy); sigma is computed in float32 (inside a Keras
    model; called on its own under a mixed policy, Keras hands the layer its kernel already cast).

    Args:
      layer: a `keras.layers.Dense`, `Conv1D`, `Conv2D` or `Conv3D` (channels_last), not yet called.
      seed: seed of u's initialisation (None: Keras' global seed).
    """

    def __init__(self, layer: layers.Layer, seed: int | None = None, **kwargs):
        supported = (layers.Dense, layers.Conv1D, layers.Conv2D, layers.Conv3D)
        if not isinstance(layer, supported) or isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose,
                                                                  layers.Conv3DTranspose)):
            raise ValueError(f"layer must be a Dense, Conv1D, Conv2D or Conv3D layer; got {type(layer).__name__}")
        if not isinstance(layer, layers.Dense) and layer.data_format != "channels_last":
            raise ValueError(f"layer must compute channels_last; got data_format={layer.data_format!r}")
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)
        self.seed = seed
        # sigma in float32 whatever the compute dtype: the kernel is read without autocasting.
        self.autocast = False

    def build(self, input_shape):
        super().build(input_shape)
        kernel = self.layer.kernel
        units = int(kernel.shape[-1])
        fan_in = math.prod(int(d) for d in kernel.shape[:-1])
        normal = keras.initializers.RandomNormal(seed=self.seed)
        # Identical on every replica (computed from the same kernel): the first replica's value is kept.
        self.u = self.add_weight(shape=(units,), name="u", trainable=False, autocast=False,
                                 aggregation="only_first_replica",
                                 initializer=lambda shape, dtype: _l2_normalize(normal(shape, "float32")))
        self.v = self.add_weight(shape=(fan_in,), name="v", trainable=False, autocast=False,
                                 aggregation="only_first_replica",
                                 initializer=lambda shape, dtype: _l2_normalize(ops.matmul(self._matrix(),
                                                                                           self.u.value)))

    def _matrix(self):
        kernel = ops.cast(self.layer.kernel, "float32")
        return ops.reshape(kernel, (-1, kernel.shape[-1]))

    def power_iteration(self):
        """One power-iteration step, v <- W u / ||W u||, u <- W^T v / ||W^T v||: once per update."""
        w = self._matrix()
        v = _l2_normalize(ops.matmul(w, self.u.value))
        u = _l2_normalize(ops.matmul(ops.transpose(w), v))
        self.v.assign(v)
        self.u.assign(u)

    def sigma(self):
        """v^T W u: the current estimate of W's largest singular value, differentiable in W."""
        u, v = ops.stop_gradient(self.u.value), ops.stop_gradient(self.v.value)
        return ops.sum(v * ops.matmul(self._matrix(), u))

    def normalized_kernel(self):
        """W / sigma(W) in the kernel's shape, float32."""
        return ops.cast(self.layer.kernel, "float32") / self.sigma()

    def call(self, inputs):
        layer, dtype = self.layer, self.compute_dtype
        inputs = ops.cast(inputs, dtype)
        kernel = ops.cast(self.normalized_kernel(), dtype)
        if isinstance(layer, layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        else:
            outputs = layer.convolution_op(inputs, kernel)
        if layer.use_bias:
            outputs = ops.add(outputs, ops.cast(layer.bias, dtype))
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return super().get_config() | {"seed": self.seed}


def _l2_normalize(x, epsilon=1e-12):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x)), epsilon))


def sublayers(model: keras.Model) -> list[layers.Layer]:
    """The layers of `model` in order, those of nested models included (not the wrapped layers of wrappers)."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += sublayers(layer)
    return found


def spectral_normalizations(model: keras.Model) -> list[SpectralNormalization]:
    """The `SpectralNormalization` layers of `model`, nested models included."""
    return [layer for layer in sublayers(model) if isinstance(layer, SpectralNormalization)]


def power_iterate(spectral_layers) -> None:
    """One power iteration of each `SpectralNormalization` layer: call once per update of their network."""
    for layer in spectral_layers:
        layer.power_iteration()
