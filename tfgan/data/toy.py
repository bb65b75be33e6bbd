"""Toy distributions for experiments where the data density is known exactly.

- "gaussian_1d": N(4, 0.5^2), the 1-D setting of the original GAN paper's figure 1.
- "ring8": 8 Gaussians of std 0.02 evenly spaced on a circle of radius 2 (Metz et al. 2017).
- "grid25": 25 Gaussians of std 0.05 on the 5x5 grid {-4, -2, 0, 2, 4}^2 (Srivastava et al. 2017).

Each mixture component has equal weight; a sample's label is the index of its component.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Mixture(NamedTuple):
    """An isotropic Gaussian mixture with equal weights: centres [K, D] and one std."""

    centers: np.ndarray
    std: float

    @property
    def dim(self) -> int:
        return self.centers.shape[1]

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """n samples and their component indices: (float32 [n, D], int32 [n])."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(self.centers), size=n)
        points = self.centers[labels] + self.std * rng.standard_normal((n, self.dim))
        return points.astype(np.float32), labels.astype(np.int32)

    def density(self, points: np.ndarray) -> np.ndarray:
        """The mixture's probability density at points [n, D] (float64 [n])."""
        points = np.asarray(points, np.float64).reshape(-1, self.dim)
        sq = ((points[:, None, :] - self.centers[None]) ** 2).sum(-1)
        norm = (2 * np.pi * self.std ** 2) ** (self.dim / 2)
        return np.exp(-sq / (2 * self.std ** 2)).mean(axis=1) / norm


def ring(num_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return Mixture(np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    coords = spacing * (np.arange(side) - (side - 1) / 2)
    xx, yy = np.meshgrid(coords, coords, indexing="ij")
    return Mixture(np.stack([xx.ravel(), yy.ravel()], 1), std)


def gaussian_1d(mean: float = 4.0, std: float = 0.5) -> Mixture:
    return Mixture(np.array([[mean]]), std)


TOYS = {"gaussian_1d": gaussian_1d, "ring8": ring, "grid25": grid}


def get_toy(name: str) -> Mixture:
    if name not in TOYS:
        raise ValueError(f"toy distribution must be one of {', '.join(TOYS)}; got {name!r}")
    return TOYS[name]()
