"""What real digits score under the quickstart's evaluation protocol: the reference beside its FID and IS.

    python benchmarks/embedded_reference.py                                  # embedded digits only
    python benchmarks/embedded_reference.py --mnist_dir=/path/to/mnist/idx   # and real MNIST digits
    python benchmarks/embedded_reference.py --out=docs/results/reference/embedded_digits.json

The quickstart is evaluated by `python -m tfgan.evaluate --run_dir=runs/quickstart --metrics=fid,is
--num_samples=10000`: 10,000 generated digits against the real set the evaluate command draws from the run's
data, which for `--dataset=digits` is all 6,000 embedded training digits. A perfect generator would draw
from the digits' own distribution, so the reference is real digits in the generated set's place, scored by
the same code (`tfgan.evaluation.image_metrics`, the shipped MNIST classifier) against the same 6,000:

  held-out 2,000   the embedded digits' own test split (200 per class, from the MNIST test file)
  MNIST test 10k   the 10,000 MNIST test digits (the quickstart's sample size)
  MNIST train 10k  10,000 MNIST training digits that are not among the embedded 6,000 (seed 0)

IS is that of each set alone (10 splits), and of the 6,000 embedded training digits. FID is biased upwards
at small sample sizes, so only the 10k rows have the quickstart's sizes (10,000 against 6,000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BATCH = 500
QUICKSTART_SAMPLES = 10_000


def _batches(images, seed=0):
    """uint8 [N, 28, 28, 1] -> float32 batches in [0, 1], as the data sources give them, in a shuffled order:
    the embedded digits are stored class by class, and IS is averaged over splits of consecutive images."""
    import numpy as np
    order = np.random.default_rng(seed).permutation(len(images))
    for start in range(0, len(images), BATCH):
        yield images[order[start:start + BATCH]].astype("float32") / 255.0


def _not_embedded(train_images, embedded_images, n, seed):
    """n MNIST training digits (uint8) whose pixels match none of the embedded digits, drawn with `seed`."""
    import numpy as np
    embedded = {img.tobytes() for img in embedded_images}
    fresh = np.array([i for i, img in enumerate(train_images) if img.tobytes() not in embedded])
    pick = np.random.default_rng(seed).choice(fresh, size=n, replace=False)
    return train_images[np.sort(pick)], len(train_images) - len(fresh)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist_dir", default="", help="MNIST IDX files (train-*, t10k-*): adds the real-MNIST rows")
    parser.add_argument("--out", default="", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.mnist_dir and not os.path.isdir(args.mnist_dir):
        parser.error(f"--mnist_dir={args.mnist_dir}: no such directory")

    import numpy as np

    from tfgan.data import sources
    from tfgan.data.idx import load_mnist_idx
    from tfgan.evaluation import image_metrics, real_batches
    from tfgan.features import load_feature_extractor

    extractor = load_feature_extractor("mnist")
    digits = sources.embedded_digits()
    arrays = sources._embedded_arrays()
    train_images, test_images = arrays["train"][0], arrays["test"][0]

    def score(name, images, fid=True):
        # The real side exactly as the evaluate command draws it for the quickstart (seed 0 -> real seed 1).
        real = real_batches(digits, QUICKSTART_SAMPLES, BATCH, "train", seed=1) if fid else None
        result = image_metrics(_batches(images), real, extractor, ["fid", "is"] if fid else ["is"])
        row = dict(set=name, fid=result.get("fid"), is_mean=result["is"], is_std=result["is_std"],
                   num_fake=result["num_fake"], num_real=result["num_real"])
        shown = f"{row['fid']:.2f}" if fid else "(the same set)"
        print(f"| {name} | {row['num_fake']:,} | {row['num_real'] or 6000:,} | {shown} | "
              f"{row['is_mean']:.2f} ± {row['is_std']:.2f} |", flush=True)
        return row

    print("| real set in the generated set's place | n | against (embedded train) | MNIST FID | MNIST IS |")
    print("|---|---|---|---|---|")
    rows = [score("embedded training digits themselves", train_images, fid=False),
            score("embedded held-out digits (test split)", test_images)]
    if args.mnist_dir:
        mnist_test = load_mnist_idx(args.mnist_dir, "test")[0]
        mnist_train = load_mnist_idx(args.mnist_dir, "train")[0]
        rows.append(score("MNIST test digits", mnist_test[:QUICKSTART_SAMPLES]))
        others, matched = _not_embedded(mnist_train, train_images, QUICKSTART_SAMPLES, seed=0)
        if matched != len(train_images):
            print(f"note: {matched} MNIST training digits match an embedded digit (expected {len(train_images)})")
        rows.append(score("MNIST training digits not embedded", others))
    if args.out:
        from tfgan.fileio import write_json_atomic
        from results import describe, machine
        # The MNIST directory is a path on the measuring machine: recorded as a placeholder.
        shown = ["--mnist_dir=<MNIST IDX directory>" if a.startswith("--mnist_dir") else a
                 for a in (argv if argv is not None else sys.argv[1:])]
        record = dict(command=" ".join(["python", "benchmarks/embedded_reference.py", *shown]),
                      date=time.strftime("%Y-%m-%d"), machine=describe(machine()),
                      protocol="MNIST classifier features; each set against the 6,000 embedded training digits "
                               "drawn as `tfgan.evaluate` draws them (real seed 1); IS over 10 splits",
                      rows=rows)
        write_json_atomic(args.out, record)
    return rows


if __name__ == "__main__":
    main()
