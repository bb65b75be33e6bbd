"""Where real data comes from. Every source yields unbatched {"x": float32, "label": int32} elements.

Images come out in [0, 1], shape [H, W, C]; toy points as raw float32 coordinates. `tfgan.data.make_dataset`
scales, shuffles and batches them.

Names (`get_source`):
  digits          6,000 MNIST training digits shipped inside the package (no download; see assets/README.md)
  mnist           MNIST-format IDX files in a local directory (MNIST, Fashion-MNIST, KMNIST, ...)
  folder          a directory of image files (PNG/JPEG/BMP/GIF); subdirectories become class labels
  tfds:<name>     any tensorflow-datasets image data set, e.g. tfds:cifar10, read from `data_dir` (TFDS's own
                  default directory when empty); tfds:mnist, tfds:fashion_mnist and tfds:kmnist also read the
                  data set's original IDX files when `data_dir` holds them (what TFDS would prepare them from)
  stacked_mnist   Stacked MNIST (Srivastava et al. 2017): three random digits as the R, G, B channels, 1,000 modes;
                  the digits of IDX files in `data_dir`, else of TFDS's mnist (prepared in `data_dir`, or
                  downloaded with `download`), or the embedded digits when `data_dir` is empty and `download` off
  gaussian_1d, ring8, grid25   toy distributions (tfgan.data.toy)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import tensorflow as tf

from tfgan import choices
from tfgan.data import idx, toy

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SOURCE_NAMES = choices.IMAGE_DATASETS + ("tfds:<name>",) + choices.TOYS
TOY_POINTS = 100_000


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a source produces.

    Attributes:
      name: the source name.
      kind: "image" or "points".
      shape: shape of one example's "x".
      num_classes: number of labels (0 if unlabelled).
      num_examples: examples in the "train" split, if known.
      splits: the source's own splits, "train" first (e.g. ("train", "test")).
      split_sizes: examples per split where known, as ((name, count), ...).
    """

    name: str
    kind: str
    shape: tuple
    num_classes: int
    num_examples: int | None = None
    splits: tuple = ("train",)
    split_sizes: tuple = ()

    def size(self, split: str) -> int | None:
        """Examples in `split`, or None where the source does not know (streams)."""
        return dict(self.split_sizes).get(split)


@dataclasses.dataclass(frozen=True)
class Source:
    """A data source: its spec and a function (split, seed) -> unbatched tf.data.Dataset."""

    spec: DataSpec
    dataset_fn: Callable[[str, int], tf.data.Dataset]

    def dataset(self, split: str = "train", seed: int = 0) -> tf.data.Dataset:
        """Unbatched {"x", "label"} elements of `split` (one of `spec.splits`).

        Raises:
          ValueError: the source has no such split.
        """
        if split not in self.spec.splits:
            raise ValueError(f"{self.spec.name} has no split {split!r}; its splits are {', '.join(self.spec.splits)}")
        return self.dataset_fn(split, seed)


def _resize(image, image_size, channels):
    if channels == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    if image_size and (image.shape[0] != image_size or image.shape[1] != image_size):
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.clip_by_value(image, 0.0, 1.0)


def _from_arrays(name, splits: dict, num_classes, image_size, channels) -> Source:
    """A source over in-memory uint8 images: splits = {split: (images [N, H, W, C], labels [N])}."""
    images = splits["train"][0]
    size = image_size or images.shape[1]
    chans = channels or images.shape[-1]

    def dataset_fn(split, seed):
        del seed
        x, y = splits[split]
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
        return ds.map(lambda x, y: {"x": _resize(tf.cast(x, tf.float32) / 255.0, size, chans), "label": y},
                      num_parallel_calls=tf.data.AUTOTUNE)

    sizes = tuple((k, len(v[0])) for k, v in splits.items())
    return Source(DataSpec(name, "image", (size, size, chans), num_classes, len(images), tuple(splits), sizes),
                  dataset_fn)


def _embedded_arrays() -> dict:
    with np.load(os.path.join(ASSETS, "digits.npz")) as f:
        return {"train": (f["images"], f["labels"]), "test": (f["test_images"], f["test_labels"])}


def embedded_digits(image_size: int = 0, channels: int = 0) -> Source:
    """The MNIST digits shipped in the package: "train" 6,000 (600 per class, first in file order of the
    MNIST training file), "test" 2,000 (200 per class, from the MNIST test file)."""
    return _from_arrays("digits", _embedded_arrays(), 10, image_size, channels)


def _idx_splits(data_dir: str) -> dict:
    """{"train": arrays, "test": arrays where the test files are there too}."""
    splits = {"train": idx.load_mnist_idx(data_dir, "train")}
    try:
        splits["test"] = idx.load_mnist_idx(data_dir, "test")
    except FileNotFoundError:
        pass
    return splits


def mnist_idx(data_dir: str, image_size: int = 0, channels: int = 0) -> Source:
    """MNIST-format IDX files from a local directory (the four original file names, .gz or not): the
    "train" split, and "test" where the t10k files are there too."""
    splits = _idx_splits(data_dir)
    return _from_arrays("mnist", splits, int(splits["train"][1].max()) + 1, image_size, channels)


def holds_idx(data_dir: str | None) -> bool:
    """Whether `data_dir` holds the MNIST-format IDX training images (under one of the names `idx` reads)."""
    try:
        idx.find_file(data_dir, idx.MNIST_FILES["train"][0])
    except (FileNotFoundError, TypeError):
        return False
    return True


def _tfds_arrays(name: str, data_dir: str | None, download: bool) -> dict:
    """{split: (uint8 images [N, H, W, C], int64 labels [N])} of a TFDS image data set, in memory."""
    import tensorflow_datasets as tfds
    builder = _prepared_builder(name, data_dir, download)
    return {split: tuple(tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True)))
            for split in ("train", "test") if split in builder.info.splits}


def stacked_mnist(data_dir: str | None = None, download: bool = False) -> Source:
    """Stacked MNIST: each example stacks three independently drawn digits as channels; label 100a + 10b + c.

    Digits come from IDX files in `data_dir`; else from TFDS's mnist (prepared in `data_dir`, TFDS's default
    directory when empty, downloaded if `download`); or from the embedded digits when `data_dir` is empty and
    `download` is off. Each split stacks the digits of the same split. The stream is endless (a fresh
    triple each draw), so the spec has no example count.
    """
    if holds_idx(data_dir):
        splits = _idx_splits(data_dir)
    elif data_dir or download:
        splits = _tfds_arrays("mnist", data_dir, download)
    else:
        splits = _embedded_arrays()

    def dataset_fn(split, seed):
        images, labels = splits[split]
        base = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).repeat()
        copies = [base.shuffle(len(images), seed=seed * 3 + i) for i in range(3)]

        def stack(a, b, c):
            x = tf.concat([a[0], b[0], c[0]], axis=-1)
            return {"x": tf.cast(x, tf.float32) / 255.0, "label": a[1] * 100 + b[1] * 10 + c[1]}

        return tf.data.Dataset.zip(tuple(copies)).map(stack, num_parallel_calls=tf.data.AUTOTUNE)

    return Source(DataSpec("stacked_mnist", "image", (28, 28, 3), 1000, None, tuple(splits)), dataset_fn)


def list_image_files(directory: str) -> tuple[list[str], list[int], list[str]]:
    """Image files under `directory` (sorted), their labels and the class names.

    Files in subdirectories get the subdirectory's index as label (sorted names); files directly in
    `directory` get label 0 when there are no subdirectories with images.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image folder {directory!r} does not exist")
    files = []
    for root, _, names in os.walk(directory):
        files += [os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    files.sort()
    if not files:
        raise ValueError(f"image folder {directory!r} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
    rel_dirs = [os.path.relpath(os.path.dirname(f), directory).split(os.sep)[0] for f in files]
    classes = sorted({d for d in rel_dirs if d != "."})
    if classes and "." in rel_dirs:
        classes = []  # mixed layout: no labels
    index = {c: i for i, c in enumerate(classes)}
    labels = [index.get(d, 0) for d in rel_dirs] if classes else [0] * len(files)
    return files, labels, classes


def verify_images(files: list[str]) -> list[tuple[int, int]]:
    """Checks every file decodes as an image; returns their (width, height).

    Raises:
      ValueError: naming the first file that is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError
    sizes = []
    for path in files:
        try:
            with Image.open(path) as im:
                sizes.append(im.size)
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise ValueError(f"{path}: not a readable image ({e})") from e
    return sizes


def image_folder(directory: str, image_size: int = 0, channels: int = 3) -> Source:
    """A folder of image files, decoded, resized to image_size x image_size and scaled to [0, 1].

    Every file is checked to decode first. `image_size` 0 keeps the images' own size, which must then be
    one square size shared by all of them.

    Raises:
      ValueError: an unreadable file, or image_size 0 with images of several or non-square sizes.
    """
    files, labels, classes = list_image_files(directory)
    sizes = verify_images(files)
    if not image_size:
        counts = {}
        for size in sizes:
            counts[size] = counts.get(size, 0) + 1
        if len(counts) > 1 or sizes[0][0] != sizes[0][1]:
            common = ", ".join(f"{w}x{h} ({n} files)" for (w, h), n in sorted(counts.items(), key=lambda c: -c[1])[:3])
            raise ValueError(f"image folder {directory!r} holds images of sizes {common}: set an image size to "
                             f"resize them to (their own size is used only when all are one square size)")
        image_size = sizes[0][0]

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [image_size, image_size], antialias=True)
        image.set_shape([image_size, image_size, channels])
        return {"x": tf.clip_by_value(image, 0.0, 1.0), "label": label}

    def dataset_fn(split, seed):
        del split, seed
        ds = tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, np.int32)))
        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)

    spec = DataSpec(f"folder:{directory}", "image", (image_size, image_size, channels), len(classes), len(files),
                    ("train",), (("train", len(files)),))
    return Source(spec, dataset_fn)


def tfds_images(name: str, data_dir: str | None, download: bool = False, image_size: int = 0,
                channels: int = 0) -> Source:
    """A tensorflow-datasets image data set read from `data_dir`.

    Downloading happens only when `download` is True: offline, TFDS retries for minutes before failing,
    so by default a missing data set fails at once with instructions.
    """
    import tensorflow_datasets as tfds
    if name in TFDS_IDX and holds_idx(data_dir):
        splits = _idx_splits(data_dir)
        return _from_arrays(f"tfds:{name}", splits, int(splits["train"][1].max()) + 1, image_size, channels)
    builder = _prepared_builder(name, data_dir, download)
    info = builder.info
    features = info.features
    if "image" not in features:
        raise ValueError(f"tfds:{name} has no 'image' feature (features: {', '.join(features)})")
    native = features["image"].shape
    size = image_size or native[0]
    chans = channels or native[-1]
    num_classes = features["label"].num_classes if "label" in features else 0

    def dataset_fn(split, seed):
        ds = builder.as_dataset(split=split, shuffle_files=True, read_config=tfds.ReadConfig(shuffle_seed=seed))

        def convert(e):
            label = tf.cast(e["label"], tf.int32) if num_classes else tf.constant(0, tf.int32)
            return {"x": _resize(tf.cast(e["image"], tf.float32) / 255.0, size, chans), "label": label}

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    if info.splits and "train" not in info.splits:
        raise ValueError(f"tfds:{name} has no 'train' split (splits: {', '.join(info.splits)})")
    names = ("train",) + tuple(sorted(k for k in info.splits if k != "train"))
    sizes = tuple((k, info.splits[k].num_examples) for k in names if k in info.splits)
    count = dict(sizes).get("train")
    return Source(DataSpec(f"tfds:{name}", "image", (size, size, chans), num_classes, count, names, sizes),
                  dataset_fn)


def _prepared_builder(name: str, data_dir: str | None, download: bool):
    """A TFDS builder whose data is prepared in `data_dir`, downloading it first if `download`.

    Raises:
      ValueError: no TFDS data set of that name.
      FileNotFoundError: the data is not prepared and may not or cannot be downloaded (no network); one line
        saying what to do, at once (TFDS itself retries an unreachable server for minutes).
    """
    import tensorflow_datasets as tfds
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        import difflib
        close = difflib.get_close_matches(name, tfds.list_builders(), n=5, cutoff=0.6)
        hint = f"; closest names: {', '.join(close)}" if close else ""
        raise ValueError(f"tfds:{name}: no TFDS data set of that name{hint}") from None
    except Exception as e:  # a malformed name or an unreadable data_dir: one line naming it
        raise ValueError(f"tfds:{name}: unknown or unreadable TFDS data set "
                         f"({str(e).strip().splitlines()[0][:200]})") from None
    if builder.is_prepared():
        return builder
    idx_hint = (f" or at the {name} IDX files ({idx.MNIST_FILES['train'][0]}[.gz], ...)" if name in TFDS_IDX
                else "")
    where = f"data_dir={os.path.dirname(os.path.dirname(builder.data_dir))!r}"
    if not download:
        raise FileNotFoundError(
            f"tfds:{name} is not prepared in {where}: add --download to let TFDS fetch it (needs network), or "
            f"point --data_dir at a prepared TFDS data_dir{idx_hint}")
    unreachable = _unreachable(DOWNLOAD_HOST)
    if unreachable:
        raise FileNotFoundError(
            f"tfds:{name} is not prepared in {where} and cannot be downloaded ({DOWNLOAD_HOST}: {unreachable}): "
            f"offline, point --data_dir at a prepared TFDS data_dir{idx_hint}")
    try:
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001 - a failed download is one line naming the data set
        raise FileNotFoundError(f"tfds:{name}: download and preparation failed "
                                f"({str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__})"
                                ) from e
    return builder


# TFDS data sets prepared from MNIST-format IDX files, which `tfds_images` reads directly where `data_dir` holds them.
TFDS_IDX = ("mnist", "fashion_mnist", "kmnist")
# Where TFDS fetches prepared data sets (and MNIST's files): reached before a download is tried, because an
# unreachable server costs minutes of TFDS's retries before it fails.
DOWNLOAD_HOST = "storage.googleapis.com"


def _unreachable(host: str, port: int = 443, timeout: float = 5.0) -> str:
    """'' if a TCP connection to host:port opens within `timeout` seconds, else why not."""
    import socket
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__
    return ""


def toy_source(name: str, num_points: int = TOY_POINTS) -> Source:
    """Samples of a toy distribution (a fixed set of `num_points`, drawn from the split's seed)."""
    mixture = toy.get_toy(name)

    def dataset_fn(split, seed):
        points, labels = mixture.sample(num_points, seed=seed + (0 if split == "train" else 1_000_003))
        return tf.data.Dataset.from_tensor_slices({"x": points, "label": labels})

    spec = DataSpec(name, "points", (mixture.dim,), len(mixture.centers), num_points, ("train", "test"),
                    (("train", num_points), ("test", num_points)))
    return Source(spec, dataset_fn)


def get_source(name: str, data_dir: str | None = None, image_size: int = 0, channels: int = 0,
               download: bool = False) -> Source:
    """Builds the source registered under `name` (see the module docstring for names).

    Raises:
      ValueError: unknown name, or a source that needs `data_dir` without one.
    """
    if name == "digits":
        return embedded_digits(image_size, channels)
    if name == "mnist":
        if not data_dir:
            raise ValueError("dataset 'mnist' reads IDX files from data_dir; data_dir is empty")
        return mnist_idx(data_dir, image_size, channels)
    if name == "stacked_mnist":
        return stacked_mnist(data_dir, download)
    if name == "folder":
        if not data_dir:
            raise ValueError("dataset 'folder' reads images from data_dir; data_dir is empty")
        return image_folder(data_dir, image_size, channels or 3)
    if name.startswith("tfds:") and len(name) > 5:
        return tfds_images(name[5:], data_dir, download, image_size, channels)
    if name in toy.TOYS:
        return toy_source(name)
    raise ValueError(f"dataset must be one of {', '.join(SOURCE_NAMES)}; got {name!r}")


# --- deterministic splits ----------------------------------------------------------------------------------

HASH_BUCKETS = 100


def hash_bucket(x: tf.Tensor, buckets: int = HASH_BUCKETS) -> tf.Tensor:
    """A bucket in [0, buckets) from an example's content: the same example lands in the same bucket
    whatever the order it is read in (TFX ExampleGen's hash split)."""
    return tf.strings.to_hash_bucket_fast(tf.io.serialize_tensor(x), buckets)


def resplit(source: Source, assignment: dict) -> Source:
    """A source whose splits are the given parts of `source`'s splits.

    Args:
      source: the source.
      assignment: {new split: (source split, (first bucket, end bucket) or None for the whole split)}:
        a part keeps the examples whose `hash_bucket` of "x" is in [first, end).

    Returns:
      A Source with splits in the order of `assignment` (sizes unknown where a part was taken).
    """
    for new, (old, buckets) in assignment.items():
        if old not in source.spec.splits:
            raise ValueError(f"{source.spec.name} has no split {old!r} for {new!r}")
        if buckets is not None and not 0 <= buckets[0] < buckets[1] <= HASH_BUCKETS:
            raise ValueError(f"buckets of {new!r} must satisfy 0 <= first < end <= {HASH_BUCKETS}; got {buckets}")

    def dataset_fn(split, seed):
        old, buckets = assignment[split]
        ds = source.dataset(old, seed)
        if buckets is None:
            return ds
        lo, hi = buckets
        return ds.filter(lambda e: tf.logical_and(hash_bucket(e["x"]) >= lo, hash_bucket(e["x"]) < hi))

    sizes = tuple((new, source.spec.size(old)) for new, (old, buckets) in assignment.items()
                  if buckets is None and source.spec.size(old) is not None)
    train_old, train_buckets = assignment.get("train", (None, (0, 0)))
    count = source.spec.size(train_old) if train_buckets is None else None
    spec = dataclasses.replace(source.spec, splits=tuple(assignment), split_sizes=sizes, num_examples=count)
    return Source(spec, dataset_fn)
