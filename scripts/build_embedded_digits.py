"""Rebuilds tfgan/data/assets/digits.npz from the original MNIST IDX files.

    python scripts/build_embedded_digits.py --mnist_dir /path/to/mnist

Takes the first 600 training images of each digit (6,000 images) and the first 200 test images of each
digit (2,000 held-out images) in file order: deterministic, balanced.
"""

import argparse
import hashlib
import os

import numpy as np

from tfgan.data.idx import load_mnist_idx

PER_CLASS = 600
TEST_PER_CLASS = 200


def first_per_class(labels, per_class):
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mnist_dir", required=True)
    parser.add_argument("--out", default=os.path.join("tfgan", "data", "assets", "digits.npz"))
    args = parser.parse_args()
    images, labels = load_mnist_idx(args.mnist_dir, "train")
    test_images, test_labels = load_mnist_idx(args.mnist_dir, "test")
    keep = first_per_class(labels, PER_CLASS)
    keep_test = first_per_class(test_labels, TEST_PER_CLASS)
    np.savez_compressed(args.out, images=images[keep], labels=labels[keep].astype(np.uint8),
                        source_index=keep.astype(np.int32), test_images=test_images[keep_test],
                        test_labels=test_labels[keep_test].astype(np.uint8),
                        test_source_index=keep_test.astype(np.int32))
    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {args.out}: {len(keep)} training and {len(keep_test)} test images, sha256 {digest}")


if __name__ == "__main__":
    main()
