"""Rebuilds tfgan/data/assets/digits.npz from the original MNIST IDX files.

    python scripts/build_embedded_digits.py --mnist_dir ../shared/data/mnist

Takes the first 600 training images of each digit (6,000 images) in file order: deterministic, balanced.
"""

import argparse
import hashlib
import os

import numpy as np

from tfgan.data.idx import load_mnist_idx

PER_CLASS = 600


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mnist_dir", required=True)
    parser.add_argument("--out", default=os.path.join("tfgan", "data", "assets", "digits.npz"))
    args = parser.parse_args()
    images, labels = load_mnist_idx(args.mnist_dir, "train")
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS] for c in range(10)]))
    np.savez_compressed(args.out, images=images[keep], labels=labels[keep].astype(np.uint8),
                        source_index=keep.astype(np.int32))
    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {args.out}: {len(keep)} images, sha256 {digest}")


if __name__ == "__main__":
    main()
