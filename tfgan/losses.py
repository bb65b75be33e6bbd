"""Adversarial losses, written once as per-example functions of discriminator outputs.

Every function takes logits (or raw critic values) and returns a per-example loss of shape [batch]; the
reduction to a scalar happens in one place (`tfgan.distribute.global_mean`), so that the same functions
are correct on one device and under `tf.distribute`.

Probabilistic losses work on logits `l` with D = sigmoid(l), using the identities
    -log D = softplus(-l),    -log(1 - D) = softplus(l),
which are exact and stable for any finite logit (no log(0), no overflow).

References:
  Goodfellow et al. 2014, "Generative Adversarial Nets" (minimax and non-saturating losses).
  Salimans et al. 2016, "Improved Techniques for Training GANs" (one-sided label smoothing).
  Arjovsky et al. 2017, "Wasserstein GAN".
  Lim & Ye 2017, "Geometric GAN" (hinge loss).
  Mao et al. 2017, "Least Squares Generative Adversarial Networks".
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

from tfgan import choices


def _flat(x: tf.Tensor) -> tf.Tensor:
    """Discriminator outputs as a float32 [batch] vector (accepts [batch] or [batch, 1])."""
    x = tf.convert_to_tensor(x)
    return tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0]])


# --- The original GAN (Goodfellow et al. 2014) ---------------------------------------------------------------

def bce_discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0) -> tf.Tensor:
    """Binary cross-entropy discriminator loss from logits, with optional one-sided label smoothing.

        L_D = -[t log D(x) + (1 - t) log(1 - D(x))] - log(1 - D(G(z))),   t = 1 - label_smoothing
            = t softplus(-l_real) + (1 - t) softplus(l_real) + softplus(l_fake).

    Only the real target is smoothed (one-sided, Salimans et al. 2016): smoothing the fake target would
    reward the generator for samples far from the data.

    Args:
      real_logits: [batch] or [batch, 1] logits of D on real data.
      fake_logits: same shape, logits of D on generated data.
      label_smoothing: in [0, 1); 0 gives the plain loss, 0.1 the usual smoothed target 0.9.

    Returns:
      [batch] per-example losses (real term of example i plus fake term of example i).
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    real, fake = _flat(real_logits), _flat(fake_logits)
    t = 1.0 - label_smoothing
    return t * tf.nn.softplus(-real) + (1.0 - t) * tf.nn.softplus(real) + tf.nn.softplus(fake)


def minimax_generator_loss(fake_logits) -> tf.Tensor:
    """The generator's side of the minimax game: L_G = log(1 - D(G(z))) = -softplus(l_fake).

    Its gradient dL/dl = -sigmoid(l) vanishes as D(G(z)) -> 0, i.e. early in training when D wins
    easily: the "saturating" loss.

    Args:
      fake_logits: [batch] or [batch, 1] logits of D on generated data.

    Returns:
      [batch] per-example losses (non-positive).
    """
    return -tf.nn.softplus(_flat(fake_logits))


def non_saturating_generator_loss(fake_logits) -> tf.Tensor:
    """The non-saturating generator loss: L_G = -log D(G(z)) = softplus(-l_fake).

    Same fixed point as the minimax loss, but dL/dl = -(1 - sigmoid(l)) -> -1 as D(G(z)) -> 0, so the
    generator gets a strong gradient exactly when it is worst (Goodfellow et al. 2014, section 3).

    Args:
      fake_logits: [batch] or [batch, 1] logits of D on generated data.

    Returns:
      [batch] per-example losses (non-negative).
    """
    return tf.nn.softplus(-_flat(fake_logits))


# --- Wasserstein (Arjovsky et al. 2017) -------------------------------------------------------------------------

def wasserstein_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """WGAN critic loss: L_C = C(G(z)) - C(x) per example (no sigmoid, no log).

    Minimising its mean maximises E[C(x)] - E[C(G(z))], the Kantorovich-Rubinstein estimate of W1 when C is
    1-Lipschitz (enforced by weight clipping or a gradient penalty).

    Args:
      real_scores: [batch] or [batch, 1] critic values on real data.
      fake_scores: same shape, on generated data.

    Returns:
      [batch] per-example losses.
    """
    return _flat(fake_scores) - _flat(real_scores)


def wasserstein_generator_loss(fake_scores) -> tf.Tensor:
    """WGAN generator loss: L_G = -C(G(z)).

    Args:
      fake_scores: [batch] or [batch, 1] critic values on generated data.

    Returns:
      [batch] per-example losses.
    """
    return -_flat(fake_scores)


# --- Hinge (Lim & Ye 2017; Miyato et al. 2018) ----------------------------------------------------------------

def hinge_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """Hinge discriminator loss: L_D = max(0, 1 - D(x)) + max(0, 1 + D(G(z))).

    Args:
      real_scores: [batch] or [batch, 1] raw discriminator outputs on real data.
      fake_scores: same shape, on generated data.

    Returns:
      [batch] per-example losses.
    """
    return tf.nn.relu(1.0 - _flat(real_scores)) + tf.nn.relu(1.0 + _flat(fake_scores))


def hinge_generator_loss(fake_scores) -> tf.Tensor:
    """Hinge generator loss: L_G = -D(G(z)) (as in SAGAN / BigGAN).

    Args:
      fake_scores: [batch] or [batch, 1] raw discriminator outputs on generated data.

    Returns:
      [batch] per-example losses.
    """
    return -_flat(fake_scores)


# --- Least squares (Mao et al. 2017) ---------------------------------------------------------------------------

def least_squares_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """LSGAN discriminator loss with targets a=0 (fake), b=1 (real): 1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2.

    Args:
      real_scores: [batch] or [batch, 1] raw discriminator outputs on real data.
      fake_scores: same shape, on generated data.

    Returns:
      [batch] per-example losses.
    """
    return 0.5 * tf.square(_flat(real_scores) - 1.0) + 0.5 * tf.square(_flat(fake_scores))


def least_squares_generator_loss(fake_scores) -> tf.Tensor:
    """LSGAN generator loss with target c=1: 1/2 (D(G(z)) - 1)^2.

    Args:
      fake_scores: [batch] or [batch, 1] raw discriminator outputs on generated data.

    Returns:
      [batch] per-example losses.
    """
    return 0.5 * tf.square(_flat(fake_scores) - 1.0)


# --- Loss pairs ------------------------------------------------------------------------------------------------

class LossPair(NamedTuple):
    """The two sides of a GAN objective.

    Attributes:
      generator: fake outputs [batch] -> per-example generator loss [batch].
      discriminator: (real outputs, fake outputs) -> per-example discriminator loss [batch].
      probabilistic: True when D's output is a logit of P(real) (then D(x) = sigmoid(output) is reported
        and accuracy is meaningful); False for critics with unbounded scores.
    """

    generator: Callable[[tf.Tensor], tf.Tensor]
    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    probabilistic: bool = True


def _smoothed(label_smoothing: float):
    def discriminator(real, fake):
        return bce_discriminator_loss(real, fake, label_smoothing=label_smoothing)
    return discriminator


LOSS_NAMES = choices.LOSSES


def get_loss_pair(name: str, label_smoothing: float = 0.0) -> LossPair:
    """Returns the loss pair registered under `name`.

    Args:
      name: one of LOSS_NAMES.
      label_smoothing: one-sided smoothing of the real target; only for the probabilistic losses
        ("minimax", "non_saturating").

    Raises:
      ValueError: unknown name, or label smoothing asked of a loss that has no labels.
    """
    if name not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {', '.join(LOSS_NAMES)}; got {name!r}")
    if label_smoothing and name not in ("minimax", "non_saturating"):
        raise ValueError(f"label_smoothing applies to the minimax and non_saturating losses only; "
                         f"got label_smoothing={label_smoothing} with loss {name!r}")
    if name == "minimax":
        return LossPair(minimax_generator_loss, _smoothed(label_smoothing), True)
    if name == "non_saturating":
        return LossPair(non_saturating_generator_loss, _smoothed(label_smoothing), True)
    if name == "wasserstein":
        return LossPair(wasserstein_generator_loss, wasserstein_discriminator_loss, False)
    if name == "hinge":
        return LossPair(hinge_generator_loss, hinge_discriminator_loss, False)
    return LossPair(least_squares_generator_loss, least_squares_discriminator_loss, False)
