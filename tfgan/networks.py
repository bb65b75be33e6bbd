"""Generator and discriminator architectures, sized by arguments.

- MLP: the fully connected networks of the original GAN (Goodfellow et al. 2014), also used for the 1-D
  and 2-D toy distributions.
- DCGAN: transposed-convolution generator and strided-convolution discriminator (Radford et al. 2016) for
  any image size of the form s * 2^m with 4 <= s <= 7 (28x28, 32x32, 64x64, ...).

Conditional variants (`num_classes > 0`) take `[inputs, labels]`: the generator concatenates a label
embedding to z; the discriminator either concatenates a label embedding to its input ("concat") or adds
the projection term <embed(y), phi(x)> to its output ("projection", Miyato & Koyama 2018).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import layers

from tfgan import choices
from tfgan.layers import Dropout, MinibatchDiscrimination, MinibatchStddev, SpectralNormalization

OUTPUT_ACTIVATIONS = choices.OUTPUT_ACTIVATIONS
NORMS = choices.NORMS
CONDITIONINGS = choices.CONDITIONINGS

# Pixel range of each generator output activation; the data pipeline scales real data to match.
OUTPUT_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "linear": (None, None)}


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _batch_norm(sync: bool) -> layers.Layer:
    # Synchronized BN matches a single device under MirroredStrategy; plain BN uses per-replica statistics.
    return layers.BatchNormalization(synchronized=sync, momentum=0.9, epsilon=1e-5)


def _dense(units, norm, **kwargs):
    layer = layers.Dense(units, **kwargs)
    # tfgan's W / sigma(W) reparameterisation (Miyato et al. 2018), in the Dense layer's own dtype policy.
    return SpectralNormalization(layer) if norm == "spectral" else layer


def _conv(filters, kernel, norm, **kwargs):
    layer = layers.Conv2D(filters, kernel, strides=2, padding="same", **kwargs)
    return SpectralNormalization(layer) if norm == "spectral" else layer


def _layer_norm(x):
    """Layer normalisation (Ba et al. 2016) of each example over all its features, with a per-channel scale
    and offset: over (H, W, C) for conv features, as the WGAN-GP reference code does (Gulrajani et al. 2017,
    `tflib/ops/layernorm.py`: moments over axes [1, 2, 3], one scale and offset per channel, epsilon 1e-5).
    That is group normalisation with one group (Wu & He 2018). Keras' LayerNormalization would normalise
    each pixel over its channels alone."""
    if len(x.shape) == 4:
        return layers.GroupNormalization(groups=1, epsilon=1e-5)(x)
    return layers.LayerNormalization(epsilon=1e-5)(x)


def _normalise(x, norm, sync_batch_norm):
    if norm == "batch":
        return _batch_norm(sync_batch_norm)(x)
    if norm == "layer":
        return _layer_norm(x)
    return x


def _generator_input(latent_dim, num_classes, embed_dim=None):
    z = keras.Input((latent_dim,), name="z")
    if not num_classes:
        return z, z
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, embed_dim or min(50, latent_dim), name="label_embedding")(label)
    return [z, label], layers.Concatenate()([z, embedded])


def _output(x, activation):
    _check("output_activation", activation, OUTPUT_ACTIVATIONS)
    # float32 output whatever the compute dtype, so losses and exported images are float32.
    return layers.Activation(activation, dtype="float32", name="samples")(x)


def _discriminator_head(features, label, num_classes, conditioning, norm):
    """Final score; adds the projection term for a projection discriminator."""
    out = _dense(1, norm, dtype="float32", name="score")(features)
    if num_classes and conditioning == "projection":
        embed = layers.Embedding(num_classes, features.shape[-1], name="projection")(label)
        proj = layers.Dot(axes=1)([embed, features])
        out = layers.Add(dtype="float32")([out, proj])
    return out


# --- MLP ---------------------------------------------------------------------------------------------------

def mlp_generator(latent_dim: int = 100, output_shape: Sequence[int] = (28, 28, 1),
                  hidden: Sequence[int] = (256, 512, 1024), output_activation: str = "tanh",
                  batch_norm: bool = True, sync_batch_norm: bool = False, num_classes: int = 0,
                  name: str = "generator") -> keras.Model:
    """The original GAN's MLP generator: z -> 256 -> 512 -> 1024 -> prod(output_shape).

    Hidden layers: Dense -> BatchNorm (optional) -> LeakyReLU(0.2).

    Args:
      latent_dim: size of z.
      output_shape: shape of one sample, e.g. (28, 28, 1) for MNIST or (2,) for a 2-D toy.
      hidden: hidden layer widths.
      output_activation: "tanh" (data in [-1, 1]), "sigmoid" ([0, 1]) or "linear" (toy data).
      batch_norm: batch norm after each hidden Dense.
      sync_batch_norm: synchronise batch statistics across replicas (set when replicas > 1).
      num_classes: > 0 for a conditional generator taking [z, label].
    """
    inputs, x = _generator_input(latent_dim, num_classes)
    for units in hidden:
        x = layers.Dense(units, use_bias=not batch_norm)(x)
        if batch_norm:
            x = _batch_norm(sync_batch_norm)(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Dense(int(np.prod(output_shape)))(x)
    x = layers.Reshape(tuple(output_shape))(x)
    return keras.Model(inputs, _output(x, output_activation), name=name)


def mlp_discriminator(input_shape: Sequence[int] = (28, 28, 1), hidden: Sequence[int] = (1024, 512, 256),
                      dropout: float = 0.3, norm: str = "none", num_classes: int = 0,
                      conditioning: str = "concat", minibatch_features: int = 0,
                      sync_batch_norm: bool = False, name: str = "discriminator") -> keras.Model:
    """The original GAN's MLP discriminator: prod(input_shape) -> 1024 -> 512 -> 256 -> 1 (a logit or score).

    Hidden layers: Dense -> norm (optional) -> LeakyReLU(0.2) -> Dropout.

    Args:
      input_shape: shape of one sample.
      hidden: hidden layer widths.
      dropout: dropout rate after each hidden layer (0 disables).
      norm: "none", "batch", "layer" or "spectral" (spectral normalisation of every Dense).
      num_classes: > 0 for a conditional discriminator taking [x, label].
      conditioning: "concat" (label embedding joins the input) or "projection".
      minibatch_features: > 0 adds a minibatch-discrimination layer with this many features before the head.
    """
    _check("norm", norm, NORMS)
    _check("conditioning", conditioning, CONDITIONINGS)
    x_in = keras.Input(tuple(input_shape), name="x")
    x = layers.Flatten()(x_in)
    inputs, label = x_in, None
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [x_in, label]
        if conditioning == "concat":
            x = layers.Concatenate()([x, layers.Embedding(num_classes, 50, name="label_embedding")(label)])
    for units in hidden:
        x = _dense(units, norm)(x)
        x = _normalise(x, norm, sync_batch_norm)
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = Dropout(dropout)(x)
    if minibatch_features:
        x = MinibatchDiscrimination(minibatch_features)(x)
    return keras.Model(inputs, _discriminator_head(x, label, num_classes, conditioning, norm), name=name)


# --- DCGAN -------------------------------------------------------------------------------------------------



def dcgan_generator(latent_dim: int = 100, image_size: int = 28, channels: int = 1, base_filters: int = 64,
                    kernel_size: int = 4, output_activation: str = "tanh", sync_batch_norm: bool = False,
                    num_classes: int = 0, name: str = "generator") -> keras.Model:
    """DCGAN generator: Dense to s x s x (base*2^(m-1)), then m stride-2 transposed convolutions.

    Each hidden layer is ConvTranspose -> BatchNorm -> ReLU; the last maps to `channels` with tanh
    (Radford et al. 2016). Filters halve at each doubling of resolution: for 64x64x3 and base 64,
    4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x64 -> 64x64x3.

    Args:
      latent_dim: size of z.
      image_size: output height and width (28, 32, 64, ...; see `_upsampling_plan`).
      channels: output channels (1 for MNIST, 3 for RGB).
      base_filters: filters of the last hidden layer.
      kernel_size: transposed-convolution kernel (4 or 5 are usual).
      output_activation: "tanh" or "sigmoid".
      sync_batch_norm: synchronise batch statistics across replicas.
      num_classes: > 0 for a conditional generator taking [z, label].
    """
    size, m = choices.upsampling_plan(image_size)
    inputs, x = _generator_input(latent_dim, num_classes)
    filters = base_filters * 2 ** (m - 1)
    x = layers.Dense(size * size * filters, use_bias=False)(x)
    x = _batch_norm(sync_batch_norm)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((size, size, filters))(x)
    for i in range(1, m):
        x = layers.Conv2DTranspose(base_filters * 2 ** (m - 1 - i), kernel_size, strides=2, padding="same",
                                   use_bias=False)(x)
        x = _batch_norm(sync_batch_norm)(x)
        x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same")(x)
    return keras.Model(inputs, _output(x, output_activation), name=name)


def dcgan_discriminator(image_size: int = 28, channels: int = 1, base_filters: int = 64, kernel_size: int = 4,
                        norm: str = "none", dropout: float = 0.0, num_classes: int = 0,
                        conditioning: str = "projection", minibatch_features: int = 0,
                        minibatch_stddev: bool = False, sync_batch_norm: bool = False,
                        name: str = "discriminator") -> keras.Model:
    """DCGAN discriminator: m stride-2 convolutions with LeakyReLU(0.2), filters doubling, then one output.

    No normalisation on the first layer (Radford et al. 2016). Use norm="none", "layer" or "spectral"
    for a WGAN-GP critic: batch norm makes each example's score depend on the rest of the batch, which
    the per-example gradient penalty assumes it does not.

    Args:
      image_size: input height and width.
      channels: input channels.
      base_filters: filters of the first convolution.
      kernel_size: convolution kernel.
      norm: normalisation after each convolution but the first.
      dropout: dropout rate after each convolution (0 disables).
      num_classes: > 0 for a conditional discriminator taking [x, label].
      conditioning: "concat" (label embedding as extra input channels) or "projection".
      minibatch_features: > 0 adds minibatch discrimination before the head.
      minibatch_stddev: append the minibatch standard-deviation feature map before the last convolution.
    """
    _check("norm", norm, NORMS)
    _check("conditioning", conditioning, CONDITIONINGS)
    _, m = choices.upsampling_plan(image_size)
    x_in = keras.Input((image_size, image_size, channels), name="x")
    x, inputs, label = x_in, x_in, None
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [x_in, label]
        if conditioning == "concat":
            emb = layers.Embedding(num_classes, image_size * image_size, name="label_embedding")(label)
            x = layers.Concatenate()([x, layers.Reshape((image_size, image_size, 1))(emb)])
    for i in range(m):
        if minibatch_stddev and i == m - 1:
            x = MinibatchStddev()(x)
        x = _conv(base_filters * 2 ** i, kernel_size, norm)(x)
        if i > 0:
            x = _normalise(x, norm, sync_batch_norm)
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = Dropout(dropout)(x)
    x = layers.Flatten()(x)
    if minibatch_features:
        x = MinibatchDiscrimination(minibatch_features)(x)
    return keras.Model(inputs, _discriminator_head(x, label, num_classes, conditioning, norm), name=name)
