"""Pictures of what a generator makes: sample grids and 2-D / 1-D plots, as PNG bytes and TensorBoard images."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import tensorflow as tf

from tfgan import fileio


def to_unit_range(samples, output_range) -> np.ndarray:
    """Maps generator outputs from `output_range` (e.g. (-1, 1)) to [0, 1], clipped."""
    lo, hi = output_range
    x = np.asarray(samples, np.float32)
    if lo is not None:
        x = (x - lo) / (hi - lo)
    return np.clip(x, 0.0, 1.0)


def image_grid(images, rows: int | None = None, padding: int = 2) -> np.ndarray:
    """Tiles images [N, H, W, C] in [0, 1] into one uint8 image [rows*(H+p)+p, cols*(W+p)+p, C].

    Args:
      images: float images in [0, 1].
      rows: grid rows (default: as square as possible); columns are ceil(N / rows).
      padding: pixels of black between tiles.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    n, h, w, c = images.shape
    rows = rows or int(math.floor(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = images[i]
    return np.round(grid * 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W, C] image."""
    return tf.io.encode_png(tf.constant(image)).numpy()


def write_png(path: str, image: np.ndarray) -> None:
    """Writes a uint8 [H, W, C] image as PNG (atomically: a reader never sees half a file)."""
    fileio.write_atomic(path, encode_png(image))


def scatter_png(samples, data=None, title: str = "", limits: float | None = None) -> bytes:
    """A PNG of 2-D samples (orange) over data points (blue), or of 1-D densities as histograms."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = np.asarray(samples, np.float32)
    fig, ax = plt.subplots(figsize=(5, 5) if samples.shape[-1] == 2 else (6, 3.5), dpi=100)
    if samples.shape[-1] == 2:
        if data is not None:
            ax.scatter(data[:, 0], data[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:orange", alpha=0.6, label="generated")
        if limits:
            ax.set_xlim(-limits, limits)
            ax.set_ylim(-limits, limits)
        ax.set_aspect("equal")
    else:
        bins = np.linspace(min(samples.min(), data.min() if data is not None else np.inf),
                           max(samples.max(), data.max() if data is not None else -np.inf), 80)
        if data is not None:
            ax.hist(data[:, 0], bins=bins, density=True, alpha=0.5, color="tab:blue", label="data")
        ax.hist(samples[:, 0], bins=bins, density=True, alpha=0.5, color="tab:orange", label="generated")
    ax.legend(loc="upper right")
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def paths_png(paths, title: str = "") -> bytes:
    """A PNG of latent-interpolation paths through sample space: [rows, steps, D] with D = 1 or 2.

    2-D: each row is a line through its samples, from a circle (start) to a cross (end). 1-D: each row's
    value against the interpolation step.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = np.asarray(paths, np.float32)
    fig, ax = plt.subplots(figsize=(5, 5) if paths.shape[-1] == 2 else (6, 3.5), dpi=100)
    for row in paths:
        if paths.shape[-1] == 2:
            line, = ax.plot(row[:, 0], row[:, 1], lw=1, alpha=0.8)
            ax.plot(row[0, 0], row[0, 1], "o", color=line.get_color(), ms=3)
            ax.plot(row[-1, 0], row[-1, 1], "x", color=line.get_color(), ms=4)
        else:
            ax.plot(np.arange(len(row)), row[:, 0], lw=1, alpha=0.8)
    if paths.shape[-1] == 2:
        ax.set_aspect("equal")
    else:
        ax.set_xlabel("interpolation step")
    ax.set_title(title)
    return _png(fig)


def decode_png(png: bytes) -> np.ndarray:
    return tf.io.decode_png(png, channels=3).numpy()


class SampleWriter:
    """Writes what the generator makes from FIXED inputs, so grids over training are comparable.

    Images: a grid PNG `samples/step_XXXXXXX.png` (one row per class for a conditional model) and a
    TensorBoard image. Toy points: a scatter (2-D) or histogram (1-D) of samples over the data.

    Args:
      gan: the `tfgan.model.GAN`.
      kind: "image" or "points".
      output_range: the generator's output range.
      out_dir: directory for the PNG files.
      writer: tf.summary writer (or None).
      num_samples: samples per picture (rounded to full rows of `num_classes` for conditional models).
      seed: seed of the fixed latents.
      data: for toy points, real points drawn from the data ([n, D]).
    """

    def __init__(self, gan, kind: str, output_range, out_dir: str, writer=None, num_samples: int = 64,
                 seed: int = 1234, data=None):
        from tfgan.random import sample_latents
        self.gan, self.kind, self.output_range = gan, kind, output_range
        self.out_dir, self.writer, self.data = out_dir, writer, data
        self.rows = None
        self.labels = None
        if gan.num_classes:
            per_class = max(1, num_samples // gan.num_classes)
            self.labels = tf.constant(np.repeat(np.arange(gan.num_classes), per_class), tf.int32)
            num_samples = int(self.labels.shape[0])
            self.rows = gan.num_classes
        self.latents = sample_latents(num_samples, gan.latent_dim, gan.prior, seed)
        tf.io.gfile.makedirs(out_dir)
        self.last_path = None

    def samples(self) -> np.ndarray:
        return self.gan.generate(self.latents, self.labels, training=False).numpy()

    def path(self, step: int) -> str:
        """Where the grid of `step` goes."""
        return os.path.join(self.out_dir, f"step_{step:07d}.png")

    def __call__(self, step: int) -> str:
        samples = self.samples()
        if self.kind == "image":
            picture = image_grid(to_unit_range(samples, self.output_range), rows=self.rows)
            png = encode_png(picture)
        else:
            png = scatter_png(samples, self.data, title=f"step {step}",
                              limits=None if samples.shape[-1] != 2 else 1.25 * float(np.abs(self.data).max()))
            picture = decode_png(png)
        path = self.path(step)
        fileio.write_atomic(path, png)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples", picture[None], step=step)
        self.last_path = path
        return path


def real_vs_fake_grid(real, fake, rows: int = 8, padding: int = 2) -> np.ndarray:
    """Real images (left) and generated images (right) side by side, as one uint8 picture."""
    n = min(len(real), len(fake), rows * rows)
    left, right = image_grid(real[:n], rows=rows, padding=padding), image_grid(fake[:n], rows=rows, padding=padding)
    gap = np.full((left.shape[0], 8, left.shape[2]), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=1)


def density_scatter_png(samples, mixture, title: str = "") -> bytes:
    """Generated 2-D points over the contours of the data density (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = 1.25 * float(np.abs(mixture.centers).max() + 4 * mixture.std)
    xs = np.linspace(-lim, lim, 300)
    xx, yy = np.meshgrid(xs, xs)
    dens = mixture.density(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.contourf(xx, yy, np.log(dens + 1e-12), levels=np.linspace(np.log(dens.max()) - 12, np.log(dens.max()), 10),
                cmap="Blues")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:orange", alpha=0.6, label="generated")
    ax.scatter(mixture.centers[:, 0], mixture.centers[:, 1], marker="x", c="k", s=20, label="modes")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title(title)
    return _png(fig)


def curves_png(history: list[dict], title: str = "") -> bytes:
    """One panel per metric of a list of {"step": s, metric: value, ...} records."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for r in history for k, v in r.items() if k != "step" and isinstance(v, (int, float))})
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 2.8), dpi=100, squeeze=False)
    for ax, name in zip(axes[0], names):
        points = [(r["step"], r[name]) for r in history if name in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3)
        ax.set_title(name)
        ax.set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class Figure1D:
    """The original GAN paper's figure 1 over training, for 1-D data: p_data, p_g and D(x).

    Each call records a snapshot (p_g as a histogram of generated samples, D(x) on a grid: sigmoid of the
    logit for probabilistic losses, the raw critic value otherwise), writes it to TensorBoard, and rewrites
    `path` with up to four panels (first, two intermediate and the latest snapshot). Where the model
    converges, p_g covers p_data and D(x) flattens towards 1/2.
    """

    def __init__(self, gan, mixture, path: str, writer=None, num_samples: int = 5000, seed: int = 4321):
        from tfgan.random import sample_latents
        self.gan, self.mixture, self.path, self.writer = gan, mixture, path, writer
        self.latents = sample_latents(num_samples, gan.latent_dim, gan.prior, seed)
        mean, std = float(mixture.centers[0, 0]), mixture.std
        self.xs = np.linspace(mean - 6 * std - 2, mean + 6 * std + 2, 400, dtype=np.float32)
        self.snapshots = []

    def snapshot(self, step: int) -> dict:
        samples = self.gan.generate(self.latents).numpy()[:, 0]
        d = tf.cast(self.gan.discriminator(tf.constant(self.xs[:, None]), training=False), tf.float32).numpy()[:, 0]
        if self.gan.loss_pair.probabilistic:
            d = 1.0 / (1.0 + np.exp(-d))
        return {"step": step, "samples": samples, "d": d}

    def __call__(self, step: int) -> str:
        self.snapshots.append(self.snapshot(step))
        png = self.render()
        fileio.write_atomic(self.path, png)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("figure1", decode_png(png)[None], step=step)
        return self.path

    def render(self) -> bytes:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        snaps = self.snapshots
        picks = sorted({0, len(snaps) // 3, (2 * len(snaps)) // 3, len(snaps) - 1})
        fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.0), dpi=100, squeeze=False)
        p_data = self.mixture.density(self.xs[:, None])
        bins = np.linspace(self.xs[0], self.xs[-1], 80)
        for ax, i in zip(axes[0], picks):
            s = snaps[i]
            ax.plot(self.xs, p_data, color="k", ls=":", label="p_data")
            ax.hist(np.clip(s["samples"], self.xs[0], self.xs[-1]), bins=bins, density=True, color="tab:green",
                    alpha=0.5, label="p_g")
            ax2 = ax.twinx()
            ax2.plot(self.xs, s["d"], color="tab:blue", label="D(x)")
            if self.gan.loss_pair.probabilistic:
                ax2.set_ylim(0, 1)
                ax2.axhline(0.5, color="tab:blue", lw=0.5, ls="--")
            ax.set_title(f"step {s['step']}")
        handles = axes[0][0].get_legend_handles_labels()
        extra = fig.axes[-1].get_legend_handles_labels()
        axes[0][0].legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", fontsize=7)
        fig.tight_layout()
        return _png(fig)
