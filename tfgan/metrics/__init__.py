"""GAN evaluation metrics (NumPy/SciPy, float64).

Divergences and closed forms, Frechet distance (FID), Inception Score, Kernel
Inception Distance, improved precision/recall and mode coverage.
"""

from tfgan.metrics.divergences import empirical_w1
from tfgan.metrics.divergences import gaussian_kl
from tfgan.metrics.divergences import gaussian_w1
from tfgan.metrics.divergences import gaussian_w2
from tfgan.metrics.divergences import js_divergence
from tfgan.metrics.divergences import kl_divergence
from tfgan.metrics.divergences import optimal_discriminator
from tfgan.metrics.divergences import total_variation
from tfgan.metrics.divergences import virtual_training_criterion
from tfgan.metrics.frechet import frechet_distance
from tfgan.metrics.frechet import frechet_distance_from_activations
from tfgan.metrics.frechet import StreamingMoments
from tfgan.metrics.inception_score import inception_score
from tfgan.metrics.kid import kernel_inception_distance
from tfgan.metrics.kid import mmd2_unbiased
from tfgan.metrics.kid import polynomial_kernel
from tfgan.metrics.modes import grid_modes
from tfgan.metrics.modes import histogram_kl_to_uniform
from tfgan.metrics.modes import mode_coverage
from tfgan.metrics.modes import ModeCoverage
from tfgan.metrics.modes import ring_modes
from tfgan.metrics.modes import stacked_mnist_coverage
from tfgan.metrics.modes import StackedMnistCoverage
from tfgan.metrics.prd import knn_radii
from tfgan.metrics.prd import manifold_membership
from tfgan.metrics.prd import precision_recall
from tfgan.metrics.prd import PrecisionRecall

__all__ = [
    "empirical_w1",
    "gaussian_kl",
    "gaussian_w1",
    "gaussian_w2",
    "js_divergence",
    "kl_divergence",
    "optimal_discriminator",
    "total_variation",
    "virtual_training_criterion",
    "frechet_distance",
    "frechet_distance_from_activations",
    "StreamingMoments",
    "inception_score",
    "kernel_inception_distance",
    "mmd2_unbiased",
    "polynomial_kernel",
    "grid_modes",
    "histogram_kl_to_uniform",
    "mode_coverage",
    "ModeCoverage",
    "ring_modes",
    "stacked_mnist_coverage",
    "StackedMnistCoverage",
    "knn_radii",
    "manifold_membership",
    "precision_recall",
    "PrecisionRecall",
]
