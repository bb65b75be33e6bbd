"""Plain Keras GANs written for the benchmarks in the style of the official Keras examples.

Each is one `keras.Model` with the example's networks and a straightforward `train_step`, as in keras-io's
`examples/generative/wgan_gp.py` and `examples/generative/dcgan_overriding_train_step.py`. They are the
baseline that `step_speed.py --compare` times tfgan against, on the same networks and the same real batches.
Two departures from the examples, both for equal work and a fair comparison, not speed:

- The WGAN-GP interpolation weight is drawn from U[0, 1] (the example once drew it from a normal
  distribution; the paper and tfgan use the uniform).
- The DCGAN's label noise (`0.05 * uniform`) is kept, as in the example.

They run in float32 only: the examples' train steps fail under mixed_bfloat16 as written (a bfloat16
generator output minus a float32 real batch raises a TypeError).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

# --- WGAN-GP (keras-io examples/generative/wgan_gp.py): 28x28x1, latent 128 ----------------------------------

WGAN_LATENT = 128


def wgan_critic(image_size: int = 28) -> keras.Model:
    """The example's critic: zero-pad 28 -> 32, four 5x5 stride-2 convolutions (64, 128, 256, 512) with
    LeakyReLU(0.2), dropout 0.3 after the second and third, flatten, dropout 0.2, one linear score."""
    inputs = layers.Input((image_size, image_size, 1))
    x = layers.ZeroPadding2D((2, 2))(inputs)
    for filters, dropout in ((64, 0.0), (128, 0.3), (256, 0.3), (512, 0.0)):
        x = layers.Conv2D(filters, 5, strides=2, padding="same", use_bias=True)(x)
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, layers.Dense(1, dtype="float32")(x), name="critic")


def wgan_generator(latent_dim: int = WGAN_LATENT) -> keras.Model:
    """The example's generator: Dense 4x4x256 -> BN -> LeakyReLU, three (UpSampling2D, 3x3 Conv2D, BN,
    LeakyReLU) blocks to 32x32 (128, 64, then 1 channel with tanh), cropped to 28x28."""
    z = layers.Input((latent_dim,))
    x = layers.Dense(4 * 4 * 256, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, 256))(x)
    for filters in (128, 64):
        x = layers.UpSampling2D((2, 2))(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(1, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(z, layers.Cropping2D((2, 2), dtype="float32")(x), name="generator")


class KerasWGANGP(keras.Model):
    """The example's WGAN class: `d_steps` critic updates with the gradient penalty, then one generator update,
    all on the same real batch."""

    def __init__(self, critic, generator, latent_dim=WGAN_LATENT, d_steps=3, gp_weight=10.0):
        super().__init__()
        self.critic, self.generator = critic, generator
        self.latent_dim, self.d_steps, self.gp_weight = latent_dim, d_steps, gp_weight
        self.built = True

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.d_steps):
            z = tf.random.normal((batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(z, training=True)
                fake_logits = self.critic(fake_images, training=True)
                real_logits = self.critic(real_images, training=True)
                d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                gp = self.gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        z = tf.random.normal((batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            generated = self.generator(z, training=True)
            g_loss = -tf.reduce_mean(self.critic(generated, training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


# --- DCGAN (keras-io examples/generative/dcgan_overriding_train_step.py): 64x64x3, latent 128 ----------------

DCGAN_LATENT = 128


def dcgan_discriminator(logits: bool = False) -> keras.Model:
    """The example's discriminator: three 4x4 stride-2 convolutions (64, 128, 128) with LeakyReLU(0.2),
    flatten, dropout 0.2, a sigmoid output (`logits`: no sigmoid, for losses that take logits)."""
    inputs = layers.Input((64, 64, 3))
    x = inputs
    for filters in (64, 128, 128):
        x = layers.Conv2D(filters, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    activation = None if logits else "sigmoid"
    return keras.Model(inputs, layers.Dense(1, activation=activation, dtype="float32")(x), name="discriminator")


def dcgan_generator(latent_dim: int = DCGAN_LATENT) -> keras.Model:
    """The example's generator: Dense 8x8x128, three 4x4 stride-2 transposed convolutions (128, 256, 512)
    with LeakyReLU(0.2), a 5x5 convolution to 3 channels with a sigmoid."""
    z = layers.Input((latent_dim,))
    x = layers.Dense(8 * 8 * 128)(z)
    x = layers.Reshape((8, 8, 128))(x)
    for filters in (128, 256, 512):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    return keras.Model(z, layers.Conv2D(3, 5, padding="same", activation="sigmoid", dtype="float32")(x),
                       name="generator")


class KerasDCGAN(keras.Model):
    """The example's GAN class: one discriminator update on real and generated images (with label noise),
    then one generator update, binary cross-entropy on sigmoid outputs."""

    def __init__(self, discriminator, generator, latent_dim=DCGAN_LATENT):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.built = True

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy()

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        z = tf.random.normal((batch_size, self.latent_dim))
        generated = self.generator(z)
        combined = tf.concat([generated, real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = tf.random.normal((batch_size, self.latent_dim))
        misleading = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(misleading, self.discriminator(self.generator(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}
