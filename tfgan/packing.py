"""Packing (PacGAN, Lin et al. 2018): the discriminator judges m samples at once.

A packed discriminator D: X^m -> R sees m samples of the same kind, all real or all generated, concatenated
along the channels (images: [H, W, m C]) or the features (points: [m D]). It thereby compares the product
distributions P^m and Q^m, whose distance grows much faster than that of P and Q when Q misses mass that P
has: a generator that drops modes is penalised more strongly, which is the paper's remedy for mode collapse.
Nothing else changes: the losses, the penalties and the generator are those of the unpacked GAN, applied to
packed examples. The batch of n samples is split into n / m consecutive groups.

How many samples make a batch is the data pipeline's choice (`tfgan.choices.PACK_BATCHES`, the `--pack_batch`
flag): by default `--batch_size` counts samples, so an update sees batch_size / m packs; the reference code
draws m batches and feeds batch_size packs (m * batch_size samples per update, the unpacked GAN's number of
discriminator examples), which `--pack_batch=packs` selects (`tfgan.choices.samples_per_update`).

Reference: Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative adversarial networks",
NeurIPS 2018 (arXiv:1712.04086), section 3.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def packed_shape(shape: Sequence[int], pack: int) -> tuple:
    """The shape of one packed example for samples of `shape`: the last axis m times wider."""
    if pack < 1:
        raise ValueError(f"pack must be >= 1, got {pack}")
    shape = tuple(int(d) for d in shape)
    return shape[:-1] + (shape[-1] * pack,)


def pack(x: tf.Tensor, m: int) -> tf.Tensor:
    """Concatenates each group of m consecutive samples along the last axis.

        [n, ..., C] -> [n / m, ..., m C],   packed[k][..., i C:(i + 1) C] = x[k m + i]   (0 <= i < m).

    Args:
      x: [n, ..., C] samples; n must be a multiple of m.
      m: samples per packed example (1 returns x).

    Returns:
      [n / m, ..., m C], x's dtype.

    Raises:
      ValueError: m < 1, or a static n that is not a multiple of m.
    """
    if m < 1:
        raise ValueError(f"pack must be >= 1, got {m}")
    if m == 1:
        return x
    n = x.shape[0]
    if n is not None and n % m:
        raise ValueError(f"a batch of {n} samples cannot be packed in groups of pack={m}; use a (per-replica) batch "
                         f"size that is a multiple of {m}")
    rank = x.shape.rank
    inner = [int(d) for d in x.shape[1:]]
    grouped = tf.reshape(x, [-1, m, *inner])                                       # [n/m, m, ..., C]
    grouped = tf.transpose(grouped, [0, *range(2, rank), 1, rank])                 # [n/m, ..., m, C]
    return tf.reshape(grouped, [-1, *inner[:-1], m * inner[-1]])
