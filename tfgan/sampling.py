"""Pictures and arrays from an exported generator: grids, one row per class, latent interpolations and
truncated latents. The `python -m tfgan.sample` command is a thin layer over this module.

Every export of this project is read the same way, old version directories included: through
`tf.saved_model.load` and its `generate_from_latents` signature, with the metadata in
`assets.extra/tfgan_export.json`. The latents are drawn here, so that truncation and interpolation work
on any export; without truncation, `sample_latents(n, ..., seed)` equals the latents that the export's
`serving_default` draws for the same `seed`.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf

from tfgan import choices, fileio, visualize
from tfgan import export as export_lib
from tfgan.random import sample_latents as _base_latents

OUTPUT_FORMATS = choices.SAMPLE_FORMATS


class ExportedGenerator:
    """A SavedModel written by `tfgan.export.export_generator`, called on latents (and labels).

    Attributes:
      path: the version directory.
      meta: its metadata (latent_dim, prior, output_range, num_classes, kind, max_samples, version).
    """

    def __init__(self, path: str):
        self.path = path
        self.meta = export_lib.read_export_metadata(path)
        self._fn = tf.saved_model.load(path).signatures["generate_from_latents"]
        self._out = "images" if self.meta["kind"] == "image" else "samples"

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    def __call__(self, latents: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Samples for `latents` [N, latent_dim] (and `labels` [N]), in requests of at most max_samples rows.

        Raises:
          ValueError: labels missing for a conditional export, or out of range.
        """
        latents = np.asarray(latents, np.float32)
        if self.num_classes:
            if labels is None:
                raise ValueError(f"{self.path} is conditional ({self.num_classes} classes): labels are needed")
            labels = np.asarray(labels, np.int32)
            bad = labels[(labels < 0) | (labels >= self.num_classes)]
            if bad.size:
                raise ValueError(f"labels must be in [0, {self.num_classes}); got {sorted(set(bad.tolist()))}")
        chunk = int(self.meta["max_samples"])
        parts = []
        for start in range(0, len(latents), chunk):
            inputs = {"latents": tf.constant(latents[start:start + chunk])}
            if self.num_classes:
                inputs["labels"] = tf.constant(labels[start:start + chunk])
            parts.append(self._fn(**inputs)[self._out].numpy())
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


# --- latents -----------------------------------------------------------------------------------------------

def sample_latents(n: int, latent_dim: int, prior: str, seed: int, truncation: float = 0.0) -> np.ndarray:
    """[n, latent_dim] latents from the prior; with `truncation` T > 0, the truncation trick.

    Truncation (Brock et al. 2019, BigGAN section 3.1) resamples every entry with |z| > T from the prior
    until none is left, i.e. draws from the prior truncated to [-T, T]. A smaller T trades variety for
    fidelity: samples move towards the most typical outputs. For a uniform prior on [-1, 1], T >= 1
    changes nothing.

    Args:
      n: number of latents.
      latent_dim: their width.
      prior: "normal" or "uniform".
      seed: integer seed; the first draw is `tfgan.random.sample_latents(n, latent_dim, prior, seed)`.
      truncation: T > 0 to truncate, 0 for none.

    Raises:
      ValueError: a negative truncation.
    """
    if truncation < 0:
        raise ValueError(f"truncation must be > 0 (or 0 for none), got {truncation}")
    z = _base_latents(n, latent_dim, prior, seed).numpy()
    if not truncation:
        return z
    redraw = 0
    while True:
        outside = np.abs(z) > truncation
        if not outside.any():
            return z
        redraw += 1
        fresh = tf.random.stateless_normal if prior == "normal" else tf.random.stateless_uniform
        kwargs = {} if prior == "normal" else {"minval": -1.0, "maxval": 1.0}
        draw = fresh([int(outside.sum())], seed=tf.constant([seed, redraw], tf.int64), **kwargs).numpy()
        z[outside] = draw


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of `a` and `b` [N, D] at fractions `t` [K]: [N, K, D].

        slerp(a, b, t) = sin((1 - t) omega) / sin(omega) a + sin(t omega) / sin(omega) b,
        omega = angle between a and b

    (Shoemake 1985; White 2016 for GAN latents: for a normal prior, straight lines pass through the
    low-probability region near the origin, arcs stay where the prior's mass is). Falls back to linear
    interpolation where a and b are (anti)parallel within 1e-6.
    """
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)
    cos = np.sum(a * b, -1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None, None]
    tt = t[None, :, None]
    sin = np.sin(omega)
    near = np.abs(sin) < 1e-6
    safe = np.where(near, 1.0, sin)
    spherical = (np.sin((1 - tt) * omega) * a[:, None] + np.sin(tt * omega) * b[:, None]) / safe
    return np.where(near, lerp(a, b, t), spherical).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation between rows of `a` and `b` [N, D] at fractions `t` [K]: [N, K, D]."""
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)
    return ((1 - t)[None, :, None] * a[:, None] + t[None, :, None] * b[:, None]).astype(np.float32)


def interpolation_latents(rows: int, steps: int, latent_dim: int, prior: str, seed: int,
                          truncation: float = 0.0) -> np.ndarray:
    """[rows, steps, latent_dim]: each row walks from one random latent to another in `steps` frames.

    Slerp for a normal prior, lerp for a uniform one (a straight segment stays inside the cube).
    """
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
    ends = sample_latents(2 * rows, latent_dim, prior, seed, truncation)
    t = np.linspace(0.0, 1.0, steps)
    walk = slerp if prior == "normal" else lerp
    return walk(ends[:rows], ends[rows:], t)


# --- what to draw ------------------------------------------------------------------------------------------

def row_labels(num_classes: int, labels=None) -> list[int] | None:
    """The label of each grid row: the given `labels`, or every class; None for an unconditional model.

    Raises:
      ValueError: labels for an unconditional model, or out of range.
    """
    if not num_classes:
        if labels:
            raise ValueError("labels were given, but the export is unconditional")
        return None
    rows = list(labels) if labels else list(range(num_classes))
    bad = [v for v in rows if not 0 <= v < num_classes]
    if bad:
        raise ValueError(f"labels must be in [0, {num_classes}); got {bad}")
    return rows


def generate(model: ExportedGenerator, num: int, seed: int = 0, labels=None, interpolate: int = 0,
             truncation: float = 0.0) -> tuple[np.ndarray, int]:
    """Samples to draw and the grid's row count.

    Without `interpolate`: `num` samples (a conditional model: one row per label, num // rows per row),
    [N, ...]. With `interpolate` = K: rows of K frames between random endpoints, [rows, K, ...]: `num`
    rows for an unconditional model, one per label for a conditional one.
    """
    meta = model.meta
    dim, prior = int(meta["latent_dim"]), meta["prior"]
    rows = row_labels(model.num_classes, labels)
    if interpolate:
        n_rows = len(rows) if rows else num
        z = interpolation_latents(n_rows, interpolate, dim, prior, seed, truncation)
        y = None if rows is None else np.repeat(np.asarray(rows, np.int32), interpolate)
        x = model(z.reshape(-1, dim), y)
        return x.reshape(n_rows, interpolate, *x.shape[1:]), n_rows
    if rows is None:
        return model(sample_latents(num, dim, prior, seed, truncation)), None
    per_row = max(1, num // len(rows))
    y = np.repeat(np.asarray(rows, np.int32), per_row)
    return model(sample_latents(len(y), dim, prior, seed, truncation), y), len(rows)


# --- writing -----------------------------------------------------------------------------------------------

def write(path: str, samples: np.ndarray, kind: str, rows: int | None, interpolated: bool,
          frame_ms: int = 80) -> str:
    """Writes samples as a PNG grid / scatter, an animated GIF (interpolations) or a .npy array.

    Images: PNG = one grid (interpolations: one strip per row); GIF = one frame per interpolation step.
    Points: PNG = a scatter (interpolations: one path per row); GIF = the points at each step.

    Raises:
      ValueError: an unknown extension, or a GIF without interpolation.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"output must end in {', '.join(OUTPUT_FORMATS)}; got {path!r}")
    if ext == ".npy":
        buf = io.BytesIO()
        np.save(buf, samples)
        return fileio.write_atomic(path, buf.getvalue())
    if ext == ".gif":
        if not interpolated:
            raise ValueError("a .gif animates an interpolation: add --interpolate=K (K >= 2 frames)")
        limits = 1.1 * float(np.abs(samples).max()) if kind != "image" else None
        frames = [_frame(samples[:, k], kind, rows, f"step {k + 1}/{samples.shape[1]}", limits)
                  for k in range(samples.shape[1])]
        return fileio.write_atomic(path, _gif(frames, frame_ms))
    if kind == "image":
        flat = samples.reshape(-1, *samples.shape[-3:])
        return fileio.write_atomic(path, visualize.encode_png(visualize.image_grid(flat, rows=rows)))
    return fileio.write_atomic(path, visualize.paths_png(samples) if interpolated else visualize.scatter_png(samples))


def _frame(samples, kind, rows, title, limits) -> np.ndarray:
    if kind == "image":
        return visualize.image_grid(samples, rows=rows)
    return visualize.decode_png(visualize.scatter_png(samples, title=title, limits=limits))


def _gif(frames: list[np.ndarray], frame_ms: int) -> bytes:
    from PIL import Image
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buf.getvalue()
