"""Train the MNIST evaluation classifier and compute real-data reference values.

  python -m tfgan.train_classifier --mnist_dir /path/to/mnist \
      --out tfgan/assets/mnist_classifier.weights.h5

trains `tfgan.features.build_mnist_classifier()` on the 60,000 training digits, reports the accuracy on the
10,000 held-out test digits, saves the (float32) weights and prints the real-data reference values
(`reference_values`): MNIST FID and KID of the test split against training digits and the MNIST IS of the
test split. `--reference_only` skips training and evaluates an existing weights file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgan import features as features_lib  # noqa: E402
from tfgan import metrics  # noqa: E402
from tfgan.data import idx  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _augment(x, max_shift):
    # Random translation by up to `max_shift` pixels: pad with background, crop 28x28 back.
    padded = tf.pad(x, [[max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    return tf.image.random_crop(padded, features_lib.MNIST_SHAPE)


def make_train_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                       max_shift: int = 0) -> tf.data.Dataset:
    """Shuffled, batched (image in [0, 1] float32 [28, 28, 1], int32 label) pairs, reshuffled each epoch.

    Args:
      images: uint8 [N, 28, 28, 1].
      labels: integer [N].
      batch_size: examples per batch, >= 1.
      seed: shuffle / augmentation seed.
      max_shift: random translation of up to this many pixels (0: no augmentation).

    Returns:
      The `tf.data.Dataset`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0; got {max_shift}")
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)

    def convert(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        if max_shift:
            x = _augment(x, max_shift)
        return x, y

    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(mnist_dir: str, epochs: int = 5, batch_size: int = 128, learning_rate: float = 1e-3,
          max_shift: int = 2, precision: str = "float32", seed: int = 0, verbose: int = 2) -> keras.Model:
    """Trains `build_mnist_classifier()` on the MNIST training split with Adam (cosine-decayed rate).

    Args:
      mnist_dir: directory of the four MNIST IDX files.
      epochs: passes over the 60,000 training digits.
      batch_size: examples per step.
      learning_rate: Adam's initial learning rate, decayed to 0 along a cosine.
      max_shift: random-translation augmentation in pixels (0: none).
      precision: "float32" or "mixed_bfloat16" (bfloat16 compute, float32 weights).
      seed: seed of the weights, shuffling and dropout.
      verbose: Keras fit verbosity.

    Returns:
      The trained model (float32 variables; its compute dtype follows `precision`).

    Raises:
      ValueError: an argument is out of range.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {epochs}")
    images, labels = idx.load_mnist_idx(mnist_dir, "train")
    keras.utils.set_random_seed(seed)
    ds = make_train_dataset(images, labels, batch_size, seed, max_shift)
    steps = epochs * int(np.ceil(len(images) / batch_size))
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = features_lib.build_mnist_classifier()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(ds, epochs=epochs, verbose=verbose, shuffle=False)  # the dataset shuffles
    return model


def evaluate_accuracy(extractor: features_lib.FeatureExtractor, mnist_dir: str) -> float:
    """Accuracy of `extractor.predict` on the 10,000 held-out MNIST test digits."""
    images, labels = idx.load_mnist_idx(mnist_dir, "test")
    return float(np.mean(extractor.predict(_to_float(images)) == labels))


def reference_values(mnist_dir: str, extractor: features_lib.FeatureExtractor | None = None,
                     num_examples: int = 10_000, seed: int = 0) -> dict:
    """Real-data reference values of the MNIST metrics: what a perfect generator would score.

    Features of the test split (the first `num_examples` digits) are compared with those of `num_examples`
    training digits drawn at random (without replacement, `seed`):

      fid_test_vs_train      MNIST FID (`frechet_distance_from_activations`)
      kid_test_vs_train      MNIST KID mean and std (`kernel_inception_distance`, 100 subsets of 1000)
      is_test                MNIST IS mean and std of the test digits (`inception_score`, 10 splits)
      is_train               the same for the training sample
      test_accuracy          classifier accuracy on all 10,000 test digits

    Args:
      mnist_dir: directory of the four MNIST IDX files.
      extractor: the feature extractor; None loads the shipped `MnistClassifier`.
      num_examples: digits per split, in [2, 10000].
      seed: seed of the training sample and of the KID subsets.

    Returns:
      A dict of the values above (floats; means/stds as [mean, std] lists) and the settings used.

    Raises:
      ValueError: `num_examples` is out of range.
    """
    extractor = features_lib.MnistClassifier() if extractor is None else extractor
    test_images, test_labels = idx.load_mnist_idx(mnist_dir, "test")
    train_images, _ = idx.load_mnist_idx(mnist_dir, "train")
    if not 2 <= num_examples <= len(test_images):
        raise ValueError(f"num_examples must be in [2, {len(test_images)}]; got {num_examples}")
    rng = np.random.default_rng(seed)
    train_sample = train_images[np.sort(rng.choice(len(train_images), num_examples, replace=False))]

    test_feats, test_probs = extractor.features_and_probabilities(_to_float(test_images))
    train_feats, train_probs = extractor.features_and_probabilities(_to_float(train_sample))
    n = num_examples
    return {
        "extractor": extractor.name,
        "num_examples": n,
        "seed": seed,
        "test_accuracy": float(np.mean(np.argmax(test_probs, 1) == test_labels)),
        "fid_test_vs_train": metrics.frechet_distance_from_activations(test_feats[:n], train_feats),
        "kid_test_vs_train": list(metrics.kernel_inception_distance(test_feats[:n], train_feats, seed=seed)),
        "is_test": list(metrics.inception_score(test_probs[:n], splits=10)),
        "is_train": list(metrics.inception_score(train_probs, splits=10)),
    }


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m tfgan.train_classifier", description=__doc__.split("\n")[0])
    parser.add_argument("--mnist_dir", required=True, help="directory of the four MNIST IDX files")
    parser.add_argument("--out", default=features_lib.MNIST_WEIGHTS,
                        help="weights file to write (must end in .weights.h5)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--max_shift", type=int, default=2, help="random-translation augmentation, pixels")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min_accuracy", type=float, default=0.99,
                        help="refuse to save weights below this held-out test accuracy")
    parser.add_argument("--reference_only", action="store_true",
                        help="skip training; evaluate the existing --out weights")
    parser.add_argument("--num_reference", type=int, default=10_000, help="digits per split for the reference values")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    if not args.out.endswith(".weights.h5"):
        print(f"error: --out must end in .weights.h5 (Keras weights format); got {args.out!r}", file=sys.stderr)
        return 2
    if not args.reference_only:
        start = time.time()
        model = train(args.mnist_dir, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, max_shift=args.max_shift, precision=args.precision,
                      seed=args.seed)
        train_s = time.time() - start
        # Evaluate a float32 copy, as users will load it.
        float_model = features_lib.build_mnist_classifier()
        float_model.set_weights([np.asarray(w, np.float32) for w in model.get_weights()])
        accuracy = evaluate_accuracy(features_lib.MnistClassifier(model=float_model), args.mnist_dir)
        print(f"training: {train_s:.1f} s; held-out test accuracy {accuracy:.4f}")
        if accuracy < args.min_accuracy:
            print(f"error: test accuracy {accuracy:.4f} < --min_accuracy {args.min_accuracy}; not saved",
                  file=sys.stderr)
            return 1
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        float_model.save_weights(args.out)
        print(f"saved {args.out} ({os.path.getsize(args.out)} bytes)")
    start = time.time()
    values = reference_values(args.mnist_dir, features_lib.MnistClassifier(args.out), args.num_reference, args.seed)
    print(f"reference values ({time.time() - start:.1f} s):")
    print(json.dumps(values, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
