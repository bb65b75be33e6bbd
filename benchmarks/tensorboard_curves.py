"""Draws D(x), D(G(z)), the discriminator's accuracy and both losses of training runs from their TensorBoard
event files, one column per run: the picture of README's "Reading TensorBoard" section.

    python -m tfgan.train --flagfile=configs/toy_ring8.cfg --run_dir=/tmp/tb/toy_ring8 --export=false
    python -m tfgan.train --flagfile=configs/toy_ring8_minimax.cfg --run_dir=/tmp/tb/toy_ring8_minimax --export=false
    python benchmarks/tensorboard_curves.py /tmp/tb/toy_ring8 /tmp/tb/toy_ring8_minimax --out=docs/tensorboard_curves.png

The trainer writes every step's metrics under `step/<name>` in `<run_dir>/tensorboard/train` (and window means
under `dynamics/` and `losses/` at each log step); this script reads the per-step ones with TensorBoard's own
event reader (TF2 summaries are stored as tensors) and draws each as a faint line with a moving average over
`--window` steps on top, as TensorBoard's smoothing does.
"""

from __future__ import annotations

import argparse
import os
import sys

PANELS = (("D(x) and D(G(z))", ("step/d_real", "step/d_fake")),
          ("discriminator accuracy", ("step/d_accuracy",)),
          ("losses", ("step/d_loss", "step/g_loss")))
LABELS = {"step/d_real": "D(x)", "step/d_fake": "D(G(z))", "step/d_accuracy": "D accuracy",
          "step/d_loss": "D loss", "step/g_loss": "G loss"}


def read_scalars(run_dir: str) -> dict:
    """{tag: (steps, values)} of every scalar the trainer wrote to `<run_dir>/tensorboard/train`."""
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util.tensor_util import make_ndarray
    log_dir = os.path.join(run_dir, "tensorboard", "train")
    if not os.path.isdir(log_dir):
        raise SystemExit(f"error: {run_dir}: no tensorboard/train directory (a run directory of tfgan.train?)")
    acc = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        values = [make_ndarray(e.tensor_proto) for e in events]
        if values and values[0].ndim == 0:  # scalars; sample images are tensors too
            out[tag] = (np.array([e.step for e in events]), np.array(values, np.float64))
    return out


def moving_average(values, window: int):
    import numpy as np
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def draw(run_dirs, titles, out: str, window: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfgan.fileio import write_atomic
    runs = [read_scalars(d) for d in run_dirs]
    fig, axes = plt.subplots(len(PANELS), len(runs), figsize=(5.2 * len(runs), 2.6 * len(PANELS)), squeeze=False,
                             sharex="col")
    for col, (scalars, title) in enumerate(zip(runs, titles)):
        for row, (name, tags) in enumerate(PANELS):
            ax = axes[row][col]
            for tag, colour in zip(tags, ("tab:blue", "tab:red")):
                if tag not in scalars:
                    continue
                steps, values = scalars[tag]
                ax.plot(steps, values, color=colour, alpha=0.2, linewidth=0.6)
                smooth = moving_average(values, window)
                ax.plot(steps[len(steps) - len(smooth):], smooth, color=colour, linewidth=1.5, label=LABELS[tag])
            if row < 2:
                ax.set_ylim(-0.02, 1.02)
                ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
            ax.set_ylabel(name)
            ax.legend(loc="best", fontsize=8)
            if row == 0:
                ax.set_title(title, fontsize=10)
            if row == len(PANELS) - 1:
                ax.set_xlabel("step")
    fig.tight_layout()
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_atomic(out, buf.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="run directories written by tfgan.train")
    parser.add_argument("--titles", default="", help="comma-separated column titles (default: the run names)")
    parser.add_argument("--window", type=int, default=50, help="moving-average window in steps")
    parser.add_argument("--out", default="tensorboard_curves.png", help="the PNG to write")
    args = parser.parse_args(argv)
    titles = args.titles.split(",") if args.titles else [os.path.basename(os.path.normpath(d)) for d in args.run_dirs]
    if len(titles) != len(args.run_dirs):
        parser.error(f"--titles names {len(titles)} columns for {len(args.run_dirs)} run directories")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    draw(args.run_dirs, titles, args.out, args.window)
    print(args.out)


if __name__ == "__main__":
    main()
