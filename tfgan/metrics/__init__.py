"""GAN evaluation metrics (NumPy/SciPy, float64).

Divergences and closed forms, Frechet distance (FID), Inception Score, Kernel
Inception Distance, improved precision/recall and mode coverage.
"""

from tfgan.metrics.divergences import (
    assignment_w1,
    empirical_w1,
    gaussian_kl,
    gaussian_w1,
    gaussian_w2,
    js_divergence,
    kl_divergence,
    optimal_discriminator,
    total_variation,
    virtual_training_criterion,
)
from tfgan.metrics.frechet import (
    StreamingMoments,
    frechet_distance,
    frechet_distance_from_activations,
)
from tfgan.metrics.inception_score import inception_score
from tfgan.metrics.kid import (
    kernel_inception_distance,
    mmd2_unbiased,
    polynomial_kernel,
)
from tfgan.metrics.modes import (
    ModeCoverage,
    StackedMnistCoverage,
    grid_modes,
    histogram_kl_to_uniform,
    mode_coverage,
    ring_modes,
    stacked_mnist_coverage,
)
from tfgan.metrics.prd import (
    PrecisionRecall,
    knn_radii,
    manifold_membership,
    precision_recall,
)

__all__ = [
    "assignment_w1",
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
