"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020).

    D_step:  L_D(D(T(x)), D(T(G(z))))        G_step:  L_G(D(T(G(z))))

The same random transformation family T is applied to every input of the discriminator, real and generated,
in both networks' updates. Because T is differentiable, the generator's gradient flows through it; because
the discriminator only ever sees transformed images, it cannot tell real from fake by the transformation
(augmenting the real images alone would teach the generator to produce augmented images). With little
data (the 6,000 embedded digits) the discriminator otherwise memorises the training set and its feedback
to the generator degrades (Zhao et al. 2020, section 3).

The transformations follow the reference implementation (`DiffAugment_pytorch.py` of
mit-han-lab/data-efficient-gans), one independent draw per example:

  translation  shift by (tx, ty), each an integer uniform in [-H/8, H/8] ([-W/8, W/8]), zero fill.
  cutout       zero a square of (H/2, W/2) centred at a uniform position (partly outside the image at the
               borders).
  color        brightness x + U(-0.5, 0.5); saturation (x - mean_c x) * U(0, 2) + mean_c x (mean over
               channels; no effect on one channel); contrast (x - mean x) * U(0.5, 1.5) + mean x (mean over
               the whole image).

Random draws come from the training step's `tfgan.random.StepRandom`: resumable (a function of seed and
step) and replica-aware (drawn for the global batch, each replica keeps its rows).

Reference: Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (arXiv:2006.10738).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tfgan import choices
from tfgan.random import StepRandom

AUGMENT_POLICIES = choices.AUGMENTS


def _shift_matrices(shift: tf.Tensor, size: int, dtype) -> tf.Tensor:
    """S [b, size, size] with S[k, i, j] = 1 where j = i + shift_k and 0 <= j < size: (S x)_i = x_{i + shift}, zero
    where i + shift falls outside."""
    i = tf.range(size)[None, :, None]
    j = tf.range(size)[None, None, :]
    return tf.cast(tf.equal(j, i + shift[:, None, None]), dtype)


def translation(x: tf.Tensor, rng: StepRandom, ratio: float = 0.125) -> tf.Tensor:
    """Translates each image by its own integer offset, filling with zeros.

        out[k, i, j, c] = x[k, i + tx_k, j + ty_k, c] where inside the image, else 0;
        tx_k uniform in {-floor(H ratio), ..., floor(H ratio)}, ty_k likewise with W.

    Written as two shift matrices, out_k = S_x,k x_k S_y,k^T per channel, so the gradient with respect to x is
    the inverse shift of the output's gradient.

    Args:
      x: [b, H, W, C] images.
      rng: the step's random draws (two draws).
      ratio: the largest shift as a fraction of the size (1/8 in the reference).

    Returns:
      [b, H, W, C] translated images, x's dtype.
    """
    batch = tf.shape(x)[0]
    height, width = int(x.shape[1]), int(x.shape[2])
    sx, sy = int(height * ratio), int(width * ratio)
    tx = rng.integers(batch, (), -sx, sx + 1)
    ty = rng.integers(batch, (), -sy, sy + 1)
    rows = _shift_matrices(tx, height, x.dtype)
    cols = _shift_matrices(ty, width, x.dtype)
    return tf.einsum("bih,bhwc,bjw->bijc", rows, x, cols)


def cutout(x: tf.Tensor, rng: StepRandom, ratio: float = 0.5) -> tf.Tensor:
    """Zeroes a rectangle of (H ratio, W ratio) pixels in each image, centred at its own random position.

        rows [ox - h // 2, ox - h // 2 + h) x columns [oy - w // 2, oy - w // 2 + w), clipped to the image,
        with h = floor(H ratio), ox uniform in {0, ..., H - (h mod 2)} (oy likewise), as the reference.

    Args:
      x: [b, H, W, C] images.
      rng: the step's random draws (two draws).
      ratio: the rectangle's size as a fraction of the image's (1/2 in the reference).

    Returns:
      [b, H, W, C] images, x's dtype.
    """
    batch = tf.shape(x)[0]
    height, width = int(x.shape[1]), int(x.shape[2])
    h, w = int(height * ratio), int(width * ratio)
    ox = rng.integers(batch, (), 0, height + (1 - h % 2))
    oy = rng.integers(batch, (), 0, width + (1 - w % 2))

    def inside(offset, extent, size):
        start = offset[:, None] - extent // 2
        index = tf.range(size)[None, :]
        return tf.logical_and(index >= start, index < start + extent)   # [b, size]

    hole = tf.logical_and(inside(ox, h, height)[:, :, None], inside(oy, w, width)[:, None, :])
    return x * tf.cast(tf.logical_not(hole), x.dtype)[..., None]


def color(x: tf.Tensor, rng: StepRandom) -> tf.Tensor:
    """Random brightness, saturation and contrast per image (the reference's "color" policy, in this order).

    Args:
      x: [b, H, W, C] images.
      rng: the step's random draws (three draws).

    Returns:
      [b, H, W, C] images, x's dtype.
    """
    batch = tf.shape(x)[0]

    def draw(low, high):
        return tf.cast(rng.uniform(batch, (1, 1, 1), low, high), x.dtype)

    x = x + draw(-0.5, 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * draw(0.0, 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * draw(0.5, 1.5) + mean


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """The DiffAugment policy: the named transformations applied in the order given, e.g.
    DiffAugment(("translation", "cutout")) for grey-scale digits, ("color", "translation", "cutout") for RGB
    (the reference's full policy).

    Called as `augment(x, rng)` on a [b, H, W, C] batch with the step's `StepRandom`; the GAN model applies it to
    every discriminator input (`tfgan.model.GAN(augment=...)`).

    Args:
      policy: names among AUGMENT_POLICIES, each at most once.

    Raises:
      ValueError: an unknown or repeated name, or an empty policy.
    """

    def __init__(self, policy: Sequence[str]):
        policy = tuple(policy)
        unknown = [p for p in policy if p not in AUGMENT_POLICIES]
        if not policy or unknown or len(set(policy)) != len(policy):
            raise ValueError(f"augment policy must be a non-empty list of distinct names among "
                             f"{', '.join(AUGMENT_POLICIES)}; got {list(policy)}")
        self.policy = policy

    def __call__(self, x: tf.Tensor, rng: StepRandom) -> tf.Tensor:
        if x.shape.rank != 4:
            raise ValueError(f"DiffAugment transforms images [batch, H, W, C]; got a tensor of shape {x.shape}")
        for name in self.policy:
            x = _TRANSFORMS[name](x, rng)
        return x

    def __repr__(self):
        return f"DiffAugment({','.join(self.policy)})"
