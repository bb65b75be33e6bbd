"""Evaluating what a generator makes: samples in, metrics out.

A generator is seen through one function, `generate(n, seed) -> samples` (images in [0, 1], or toy points),
so the same code evaluates a SavedModel (`saved_model_generator`) and a model in training
(`gan_generator`). Real data comes from a `tfgan.data.Source`. Image metrics stream through a feature
extractor (`tfgan.features`), keeping only running moments for FID and at most `max_kept` feature rows
for KID and precision/recall, so 50k samples need not sit in memory.

Metric names (what to compute) and the result keys each produces (`METRIC_KEYS`):
  images: fid, is, kid, precision_recall (Kynkaanniemi et al. 2019 improved precision and recall, of equal-size
          sets; "prd" is accepted as its former name), stacked_modes (Stacked MNIST coverage, 1000 modes)
  points: modes (2-D mixtures: modes captured, high-quality fraction, reverse KL), w1 (Wasserstein-1 to the
          data: 1-D, exact between all points; 2-D and up, exact between equal-size samples of at most
          `W1_MAX_POINTS` points each, an assignment problem)
Every result also records how many generated and real samples the metrics saw (num_fake, num_real).
`RESULT_KEYS` is the one table of every result key and the direction in which it improves.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from tfgan import metrics as M

# Metric names and result keys with their directions: one table, in tfgan.choices.
from tfgan.choices import (  # noqa: F401 (re-exported)
    COUNT_KEYS,
    HIGHER,
    IMAGE_METRICS,
    LOWER,
    METRIC_KEYS,
    METRIC_NAMES,
    POINT_METRICS,
    RESULT_KEYS,
    check_metric_names,
    default_metrics,
    metric_lower_is_better,
    rankable_keys,
)
from tfgan.data.sources import Source
from tfgan.data.toy import Mixture

Generate = Callable[[int, int], np.ndarray]

# Points per side of the exact W1 in 2-D and up: an assignment problem, O(n^3) (about 1 s at 1,000).
W1_MAX_POINTS = 1000





# --- generators ---------------------------------------------------------------------------------------------

def saved_model_generator(path: str) -> tuple[Generate, dict]:
    """(generate, metadata) for a SavedModel written by `tfgan.export.export_generator`.

    Conditional models are sampled with labels cycling through the classes (a balanced set).
    """
    from tfgan.export import read_export_metadata
    meta = read_export_metadata(path)
    model = tf.saved_model.load(path)
    serve = model.signatures["serving_default"]
    out = "images" if meta["kind"] == "image" else "samples"

    def generate(n, seed):
        """n samples drawn in requests of at most max_samples (request i uses seed + i)."""
        chunk = int(meta.get("max_samples", 1024))
        parts = []
        for i, start in enumerate(range(0, n, chunk)):
            size, s = min(chunk, n - start), tf.constant(seed + i, tf.int64)
            if meta["num_classes"]:
                labels = tf.constant((np.arange(size) + start) % meta["num_classes"], tf.int32)
                parts.append(serve(labels=labels, seed=s)[out].numpy())
            else:
                parts.append(serve(num_samples=tf.constant(size, tf.int32), seed=s)[out].numpy())
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)

    return generate, meta


def gan_generator(gan, kind: str, output_range) -> Generate:
    """`generate` for a `tfgan.model.GAN` in memory (its sampling generator: the EMA copy if any)."""
    from tfgan.random import sample_latents
    from tfgan.visualize import to_unit_range

    def generate(n, seed):
        z = sample_latents(n, gan.latent_dim, gan.prior, seed)
        labels = tf.constant(np.arange(n) % gan.num_classes, tf.int32) if gan.num_classes else None
        x = gan.generate(z, labels).numpy()
        return to_unit_range(x, output_range) if kind == "image" else x

    return generate


def generated_batches(generate: Generate, n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """n samples in batches; batch i uses seed + i, so the set is reproducible."""
    done, i = 0, 0
    while done < n:
        size = min(batch_size, n - done)
        yield generate(size, seed + i)
        done += size
        i += 1


def real_batches(source: Source, n: int, batch_size: int, split: str = "train", seed: int = 0) -> Iterator[np.ndarray]:
    """Up to n real examples (images in [0, 1] as the source gives them) in batches.

    A source may hold fewer than n examples (the embedded digits hold 6,000): then all of them come, and
    the metrics computed from them record the true count (`num_real`).
    """
    ds = source.dataset(split, seed).shuffle(10_000, seed=seed).take(n).batch(batch_size)
    for batch in ds:
        yield batch["x"].numpy()


# --- image metrics ------------------------------------------------------------------------------------------

class _FeatureSummary:
    """Running moments, the first `max_kept` feature rows and all class probabilities of one image set."""

    def __init__(self, max_kept: int):
        self.moments = M.StreamingMoments()
        self.kept: list[np.ndarray] = []
        self.num_kept = 0
        self.max_kept = max_kept
        self.probs: list[np.ndarray] = []
        self.count = 0

    def add(self, features, probs):
        self.count += len(features)
        self.moments.update(features.astype(np.float64))
        if self.num_kept < self.max_kept:
            take = features[: self.max_kept - self.num_kept]
            self.kept.append(take)
            self.num_kept += len(take)
        self.probs.append(probs)

    @property
    def features(self):
        return np.concatenate(self.kept)

    @property
    def probabilities(self):
        return np.concatenate(self.probs)


def _summarise(batches, extractor, max_kept) -> _FeatureSummary:
    summary = _FeatureSummary(max_kept)
    for batch in batches:
        f, p = extractor.features_and_probabilities(batch)
        summary.add(f, p)
    return summary


def image_metrics(fake: Iterator[np.ndarray], real: Iterator[np.ndarray] | None, extractor, names,
                  max_kept: int = 10_000, is_splits: int = 10, kid_subset: int = 1000) -> dict:
    """FID, IS, KID and precision/recall of generated images against real ones.

    Args:
      fake: batches of generated images in [0, 1].
      real: batches of real images in [0, 1] (not needed for "is" and "stacked_modes" alone).
      extractor: a `tfgan.features.FeatureExtractor`.
      names: metric names among IMAGE_METRICS (or their former names, `METRIC_ALIASES`).
      max_kept: feature rows kept for KID and precision/recall (which compares the first n of each set, n the
        smaller set's size).

    Returns:
      {"fid": ..., "is": ..., "is_std": ..., "kid": ..., "kid_std": ..., "precision": ..., "recall": ...,
       "stacked_modes": ..., "stacked_kl": ...} for the requested names, and the numbers of generated and
      real images the metrics saw, "num_fake" and "num_real" (0 when no metric needs real images).
    """
    names = check_metric_names(names, "image")
    results = {}
    if "stacked_modes" in names:
        fake = list(fake)  # classified per channel below as well
        digits = np.concatenate([np.stack([extractor.predict(b[..., c:c + 1]) for c in range(3)], 1) for b in fake])
        cov = M.stacked_mnist_coverage(digits)
        results.update(stacked_modes=int(cov.num_modes_covered), stacked_kl=float(cov.kl_to_uniform),
                       num_fake=len(digits), num_real=0)
        names = [n for n in names if n != "stacked_modes"]
        if not names:
            return results
    fake_summary = _summarise(fake, extractor, max_kept)
    needs_real = any(n in names for n in ("fid", "kid", "precision_recall"))
    real_summary = _summarise(real, extractor, max_kept) if needs_real else None
    results.update(num_fake=fake_summary.count, num_real=real_summary.count if real_summary else 0)
    if "fid" in names:
        mu1, s1 = fake_summary.moments.result()
        mu2, s2 = real_summary.moments.result()
        results["fid"] = float(M.frechet_distance(mu1, s1, mu2, s2))
    if "is" in names:
        probs = fake_summary.probabilities
        mean, std = M.inception_score(probs, splits=min(is_splits, max(1, len(probs) // 100)))
        results.update({"is": float(mean), "is_std": float(std)})
    if "kid" in names:
        f, r = fake_summary.features, real_summary.features
        mean, std = M.kernel_inception_distance(f, r, num_subsets=100, subset_size=min(kid_subset, len(f), len(r)))
        results.update(kid=float(mean), kid_std=float(std))
    if "precision_recall" in names:
        # Sets of equal size, as in the paper: a larger set has smaller k-NN radii (a tighter manifold).
        real_features, fake_features = real_summary.features, fake_summary.features
        n = min(len(real_features), len(fake_features))
        pr = M.precision_recall(real_features[:n], fake_features[:n])
        results.update(precision=float(pr.precision), recall=float(pr.recall))
    return results


# --- point metrics ------------------------------------------------------------------------------------------

def point_metrics(fake: np.ndarray, mixture: Mixture, names, real: np.ndarray | None = None) -> dict:
    """Mode coverage and Wasserstein-1 of generated toy points against the known mixture.

    Args:
      fake: [n, D] generated points.
      mixture: the data distribution.
      names: among POINT_METRICS.
      real: [m, D] data samples for W1 (default: 20,000 drawn from the mixture).

    Returns:
      {"modes", "num_modes", "high_quality", "reverse_kl", "w1"} for the requested names, and the numbers of
      generated and real points used, "num_fake" and "num_real" (0 when W1 is not requested). W1 is exact: in
      1-D between all points (sorted samples); in 2-D and up between the first n = min(len(fake), len(real),
      `W1_MAX_POINTS`) points of each set (both are random draws), the empirical W1 of two n-point sets
      (`tfgan.metrics.assignment_w1`), and "num_real" is n.
    """
    names = check_metric_names(names, "points")
    results = {"num_fake": len(fake), "num_real": 0}
    if "modes" in names:
        cov = M.mode_coverage(fake, mixture.centers, mixture.std)
        results.update(modes=int(cov.num_modes_captured), num_modes=int(cov.num_modes),
                       high_quality=float(cov.high_quality_fraction), reverse_kl=float(cov.reverse_kl))
    if "w1" in names:
        real = mixture.sample(20_000, seed=12345)[0] if real is None else real
        if fake.shape[1] == 1:
            results["w1"] = M.empirical_w1(fake[:, 0], real[:, 0])
            results["num_real"] = len(real)
        else:
            n = min(len(fake), len(real), W1_MAX_POINTS)
            results["w1"] = M.assignment_w1(fake[:n], real[:n])
            results["num_real"] = n
    return results


def is_improvement(metric: str, new: float, best: float | None) -> bool:
    """Whether `new` beats `best` for the result key `metric`, in its direction in `RESULT_KEYS`.

    A non-finite `new` never improves; any finite `new` improves on no value (`best` None).

    Raises:
      ValueError: `metric` is not a result key, or one without a direction (a spread or a count).
    """
    direction = RESULT_KEYS.get(metric)
    if direction is None:
        ranked = ", ".join(k for k, d in RESULT_KEYS.items() if d)
        what = "has no direction (a spread or a count)" if metric in RESULT_KEYS else "is not a metric result key"
        raise ValueError(f"metric {metric!r} {what}; a best metric must be one of {ranked}")
    if not np.isfinite(new):
        return False
    if best is None:
        return True
    return bool(new < best) if direction == LOWER else bool(new > best)


def evaluate_samples(generate: Generate, source: Source, names, num_samples: int, extractor=None,
                     batch_size: int = 500, seed: int = 0, real_split: str = "train") -> dict:
    """Metrics of `num_samples` generated samples against the data of `source`.

    Args:
      generate: (n, seed) -> samples (images in [0, 1] or points).
      source: the real data.
      names: metric names valid for the source's kind.
      num_samples: generated (and real) samples to compare. A source with fewer real examples gives all it
        has; the result's "num_fake" and "num_real" say how many were compared.
      extractor: feature extractor for image metrics.
      batch_size: generation batch size.
      seed: seed of the generated set (the real set uses seed + 1).
      real_split: split of the real data.
    """
    from tfgan.data.toy import get_toy
    if source.spec.kind == "image":
        if extractor is None:
            raise ValueError("image metrics need a feature extractor (tfgan.features.load_feature_extractor)")
        return image_metrics(generated_batches(generate, num_samples, batch_size, seed),
                             real_batches(source, num_samples, batch_size, real_split, seed + 1), extractor, names,
                             kid_subset=min(1000, num_samples))
    fake = np.concatenate(list(generated_batches(generate, num_samples, batch_size, seed)))
    real = np.concatenate(list(real_batches(source, 20_000, 5000, real_split, seed + 1)))
    return point_metrics(fake, get_toy(source.spec.name), names, real)
