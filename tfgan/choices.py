"""Every list of choices in tfgan, and the rules on single values that need no TensorFlow, in one module
that imports nothing heavy.

The library modules take their lists from here (losses, networks, penalties, evaluation, ...), the flag
layer builds its enums from them, and config validation checks a whole command line against them before
TensorFlow is imported (a bad flag is answered in a fraction of a second, not after a 3-5 s import).
"""

from __future__ import annotations

LOSSES = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares")
PENALTIES = ("gp", "r1")
AUGMENTS = ("color", "translation", "cutout")  # DiffAugment policies
PRIORS = ("normal", "uniform")
ARCHITECTURES = ("dcgan", "mlp")
OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", "linear")
NORMS = ("none", "batch", "layer", "spectral")
CONDITIONINGS = ("concat", "projection")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
# Unrolled GAN generator gradient: through the look-ahead discriminator updates (Metz et al. 2017, eq. 12;
# the default), or at the look-ahead discriminator only.
UNROLLED_GRADIENTS = ("second_order", "first_order")
# PacGAN: what --batch_size counts with --pack=m. "samples" (the default): batch_size samples, packed into
# batch_size / m discriminator examples. "packs" (Lin et al. 2018's code): batch_size packs, m * batch_size samples
# per update, so the discriminator sees as many examples as the unpacked GAN's.
PACK_BATCHES = ("samples", "packs")
LR_SCHEDULES = ("constant", "linear")  # learning rate over training: fixed, or decayed linearly to 0
PRECISION_POLICIES = ("none", "auto", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "mirrored", "multi_worker")
FEATURE_EXTRACTORS = ("mnist", "inception")
# The real data metrics compare against: the data set's held-out split, or the training split (the published
# MNIST protocol: FID against the training digits).
REAL_DATA = ("held_out", "train")
EXPORT_KINDS = ("image", "points")
SAMPLE_FORMATS = (".png", ".gif", ".npy")

# Data sets: the toys with their dimension, the image sources, and any TFDS image data set as tfds:<name>.
TOY_DIMS = {"gaussian_1d": 1, "ring8": 2, "grid25": 2}
TOYS = tuple(TOY_DIMS)
IMAGE_DATASETS = ("digits", "mnist", "stacked_mnist", "folder")
DATASETS = IMAGE_DATASETS + TOYS
TFDS_PREFIX = "tfds:"
# Image data sets whose own size is 28x28 (TFDS's MNIST-format sets included).
NATIVE_28 = ("digits", "mnist", "stacked_mnist", "tfds:mnist", "tfds:fashion_mnist", "tfds:kmnist")

# Metrics: the names a user asks for, per data kind, and every result key they produce with the direction
# in which it improves (None for spreads and counts, which rank nothing and cannot be a best metric).
IMAGE_METRICS = ("fid", "is", "kid", "precision_recall", "stacked_modes")
POINT_METRICS = ("modes", "w1")
METRIC_NAMES = IMAGE_METRICS + POINT_METRICS
# Former names, still accepted: "prd" was Kynkaanniemi et al.'s improved precision/recall, not Sajjadi et al.'s PRD.
METRIC_ALIASES = {"prd": "precision_recall"}
LOWER, HIGHER = "lower", "higher"
RESULT_KEYS = {
    "fid": LOWER, "is": HIGHER, "is_std": None, "kid": LOWER, "kid_std": None,
    "precision": HIGHER, "recall": HIGHER, "stacked_modes": HIGHER, "stacked_kl": LOWER,
    "modes": HIGHER, "num_modes": None, "high_quality": HIGHER, "reverse_kl": LOWER, "w1": LOWER,
    "num_fake": None, "num_real": None,
}
METRIC_KEYS = {
    "fid": ("fid",), "is": ("is", "is_std"), "kid": ("kid", "kid_std"),
    "precision_recall": ("precision", "recall"),
    "stacked_modes": ("stacked_modes", "stacked_kl"),
    "modes": ("modes", "num_modes", "high_quality", "reverse_kl"), "w1": ("w1",),
}
COUNT_KEYS = ("num_fake", "num_real")


def is_dataset(name: str) -> bool:
    return name in DATASETS or (name.startswith(TFDS_PREFIX) and len(name) > len(TFDS_PREFIX))


def canonical_metric_names(names) -> list[str]:
    """`names` with former names (`METRIC_ALIASES`) replaced by the current ones."""
    return [METRIC_ALIASES.get(n, n) for n in names]


def check_metric_names(names, kind: str) -> list[str]:
    """Validates metric names against the data kind ("image" or "points"); returns them with aliases resolved."""
    allowed = IMAGE_METRICS if kind == "image" else POINT_METRICS
    bad = [n for n in names if METRIC_ALIASES.get(n, n) not in allowed]
    if bad or not names:
        raise ValueError(f"metrics for {kind} data must be among {', '.join(allowed)}; got {', '.join(names) or 'none'}")
    return canonical_metric_names(names)


# Image metrics the shipped MNIST classifier can give meaning to, and the images each needs: digits for the
# distribution metrics, three stacked digits for the Stacked MNIST mode count.
MNIST_FEATURE_SHAPES = {"fid": (28, 28, 1), "is": (28, 28, 1), "kid": (28, 28, 1), "precision_recall": (28, 28, 1),
                        "stacked_modes": (28, 28, 3)}


def check_feature_extractor_fits(extractor: str, names, shape) -> None:
    """Refuses image metrics that would mean nothing: the MNIST classifier's features of images that are
    not MNIST-shaped digits (it would resize and grey any image and still print a number), or a Stacked
    MNIST mode count of images that are not three stacked digits.

    Raises:
      ValueError: naming the metrics, the image shape and the fix.
    """
    shape, shown = tuple(shape), "x".join(map(str, shape))
    names = [METRIC_ALIASES.get(n, n) for n in names]
    if "stacked_modes" in names and shape != MNIST_FEATURE_SHAPES["stacked_modes"]:
        raise ValueError(f"--metrics=stacked_modes counts the modes of Stacked MNIST (28x28x3 images); these "
                         f"are {shown}: use --metrics=fid,is,kid,precision_recall")
    wrong = [n for n in names if n in MNIST_FEATURE_SHAPES and n != "stacked_modes"]
    if extractor == "mnist" and wrong and shape != MNIST_FEATURE_SHAPES["fid"]:
        also = ", or --metrics=stacked_modes" if shape == MNIST_FEATURE_SHAPES["stacked_modes"] else ""
        raise ValueError(f"--metrics={','.join(wrong)} with --feature_extractor=mnist: the MNIST classifier "
                         f"scores 28x28x1 digits, these images are {shown}: use --feature_extractor=inception "
                         f"--inception_weights=FILE (a local InceptionV3 weights file){also}")


def default_metrics(kind: str, shape) -> list[str]:
    """The metrics computed when none are named: fid, is, kid, precision_recall for images; modes, w1 for 2-D
    points."""
    if kind == "points":
        return ["modes", "w1"] if shape[-1] == 2 else ["w1"]
    return ["fid", "is", "kid", "precision_recall"]


def metric_lower_is_better(key: str) -> bool:
    """Whether a lower value of result key `key` is better.

    Raises:
      ValueError: `key` is not a result key with a direction (naming those that have one).
    """
    if not RESULT_KEYS.get(key):
        ranked = sorted(k for k, d in RESULT_KEYS.items() if d)
        raise ValueError(f"{key!r} is not a ranked metric; ranked metrics: {', '.join(ranked)}")
    return RESULT_KEYS[key] == LOWER


def rankable_keys(names) -> tuple[str, ...]:
    """The result keys of metric `names` that have a direction, i.e. the valid best metrics for them.

    Raises:
      ValueError: an unknown metric name.
    """
    names = canonical_metric_names(names)
    unknown = [n for n in names if n not in METRIC_KEYS]
    if unknown:
        raise ValueError(f"metric names must be among {', '.join(METRIC_KEYS)}; got {', '.join(unknown)}")
    return tuple(k for n in names for k in METRIC_KEYS[n] if RESULT_KEYS[k])


def samples_per_update(batch_size: int, pack: int, pack_batch: str = "samples") -> int:
    """Real (and generated) samples per discriminator update for a --batch_size with --pack=m: batch_size for
    pack_batch "samples" (batch_size / m packs), m * batch_size for "packs" (batch_size packs), see `PACK_BATCHES`.

    Raises:
      ValueError: an unknown `pack_batch`.
    """
    if pack_batch not in PACK_BATCHES:
        raise ValueError(f"pack_batch must be one of {', '.join(PACK_BATCHES)}; got {pack_batch!r}")
    return batch_size * pack if pack_batch == "packs" else batch_size


def upsampling_plan(image_size: int) -> tuple[int, int]:
    """(base size s, number of stride-2 layers m) with image_size = s * 2^m, 4 <= s <= 7, m >= 1: the sizes
    a DCGAN generator can make (28, 32, 64, ...).

    Raises:
      ValueError: another size.
    """
    size, m = image_size, 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        m += 1
    if m < 1 or not 4 <= size <= 7:
        raise ValueError(f"image_size must be s * 2^m with 4 <= s <= 7 and m >= 1 (28, 32, 64, ...); got {image_size}")
    return size, m
