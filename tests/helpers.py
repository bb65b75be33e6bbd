"""Small models and data shared by the tests."""

import keras
import numpy as np

from tfgan import networks
from tfgan.losses import get_loss_pair
from tfgan.model import GAN


def tiny_image_gan(critic_steps=1, loss="non_saturating", sync_batch_norm=False, seed=0, weight_clip=None,
                   penalties=(), num_classes=0, lr=1e-3, optimizer="adam", d_norm="none", init_seed=None,
                   d_dropout=0.0, ema_decay=None, augment=None, pack=1):
    """A small MLP GAN on 8x8x1 images (fast, with batch norm in G to exercise synchronisation).

    `sync_batch_norm` applies to both networks (D has batch norm with d_norm="batch"). With `pack` = m, D takes
    8x8xm packed inputs.
    """
    keras.utils.set_random_seed(seed if init_seed is None else init_seed)
    g = networks.mlp_generator(8, (8, 8, 1), hidden=(32,), sync_batch_norm=sync_batch_norm, num_classes=num_classes)
    d = networks.mlp_discriminator((8, 8, pack), hidden=(32,), dropout=d_dropout, num_classes=num_classes, norm=d_norm,
                                   sync_batch_norm=sync_batch_norm)
    gan = GAN(g, d, 8, loss=get_loss_pair(loss), critic_steps=critic_steps, weight_clip=weight_clip,
              penalties=penalties, num_classes=num_classes, ema_decay=ema_decay, augment=augment, pack=pack,
              seed=seed)
    opt = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}[optimizer]
    gan.compile(d_optimizer=opt(lr), g_optimizer=opt(lr))
    return gan


def image_batch(n=8, seed=0, num_classes=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, max(num_classes, 1), size=n).astype(np.int32)
    return x, y


def weights_of(gan):
    return [w.numpy() for w in gan.generator.weights + gan.discriminator.weights]


def state_of(gan):
    """Every variable of both networks: weights, batch-norm statistics, power-iteration and seed states."""
    return [v.numpy() for v in gan.generator.variables + gan.discriminator.variables]
