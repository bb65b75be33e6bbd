"""Where real data comes from. Every source yields unbatched {"x": float32, "label": int32} elements.

Images come out in [0, 1], shape [H, W, C]; toy points as raw float32 coordinates. `tfgan.data.make_dataset`
scales, shuffles and batches them.

Names (`get_source`):
  digits          6,000 MNIST training digits shipped inside the package (no download; see assets/README.md)
  mnist           MNIST-format IDX files in a local directory (MNIST, Fashion-MNIST, KMNIST, ...)
  folder          a directory of image files (PNG/JPEG/BMP/GIF); subdirectories become class labels
  tfds:<name>     any tensorflow-datasets image data set, e.g. tfds:cifar10, read from `data_dir`
  stacked_mnist   Stacked MNIST (Srivastava et al. 2017): three random digits as the R, G, B channels, 1,000 modes;
                  from IDX files in `data_dir`, or from the embedded digits when `data_dir` is empty
  gaussian_1d, ring8, grid25   toy distributions (tfgan.data.toy)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import tensorflow as tf

from tfgan.data import idx, toy

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SOURCE_NAMES = ("digits", "mnist", "stacked_mnist", "folder", "tfds:<name>") + tuple(toy.TOYS)
TOY_POINTS = 100_000


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a source produces.

    Attributes:
      name: the source name.
      kind: "image" or "points".
      shape: shape of one example's "x".
      num_classes: number of labels (0 if unlabelled).
      num_examples: examples in the split, if known.
    """

    name: str
    kind: str
    shape: tuple
    num_classes: int
    num_examples: int | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """A data source: its spec and a function (split, seed) -> unbatched tf.data.Dataset."""

    spec: DataSpec
    dataset_fn: Callable[[str, int], tf.data.Dataset]

    def dataset(self, split: str = "train", seed: int = 0) -> tf.data.Dataset:
        return self.dataset_fn(split, seed)


def _resize(image, image_size, channels):
    if channels == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    if image_size and (image.shape[0] != image_size or image.shape[1] != image_size):
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.clip_by_value(image, 0.0, 1.0)


def _from_arrays(name, images: np.ndarray, labels: np.ndarray, num_classes, image_size, channels) -> Source:
    size = image_size or images.shape[1]
    chans = channels or images.shape[-1]

    def dataset_fn(split, seed):
        del seed
        ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
        return ds.map(lambda x, y: {"x": _resize(tf.cast(x, tf.float32) / 255.0, size, chans), "label": y},
                      num_parallel_calls=tf.data.AUTOTUNE)

    return Source(DataSpec(name, "image", (size, size, chans), num_classes, len(images)), dataset_fn)


def embedded_digits(image_size: int = 0, channels: int = 0) -> Source:
    """The 6,000 MNIST digits shipped in the package (600 per class, first in file order)."""
    with np.load(os.path.join(ASSETS, "digits.npz")) as f:
        images, labels = f["images"], f["labels"]
    return _from_arrays("digits", images, labels, 10, image_size, channels)


def mnist_idx(data_dir: str, split: str = "train", image_size: int = 0, channels: int = 0) -> Source:
    """MNIST-format IDX files from a local directory (the four original file names, .gz or not)."""
    images, labels = idx.load_mnist_idx(data_dir, split)
    return _from_arrays("mnist", images, labels, int(labels.max()) + 1, image_size, channels)


def stacked_mnist(data_dir: str | None = None, split: str = "train") -> Source:
    """Stacked MNIST: each example stacks three independently drawn digits as channels; label 100a + 10b + c.

    The stream is endless (a fresh triple each draw), so the spec has no example count.
    """
    if data_dir:
        images, labels = idx.load_mnist_idx(data_dir, split)
    else:
        with np.load(os.path.join(ASSETS, "digits.npz")) as f:
            images, labels = f["images"], f["labels"].astype(np.int64)

    def dataset_fn(split_, seed):
        del split_
        base = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).repeat()
        copies = [base.shuffle(len(images), seed=seed * 3 + i) for i in range(3)]

        def stack(a, b, c):
            x = tf.concat([a[0], b[0], c[0]], axis=-1)
            return {"x": tf.cast(x, tf.float32) / 255.0, "label": a[1] * 100 + b[1] * 10 + c[1]}

        return tf.data.Dataset.zip(tuple(copies)).map(stack, num_parallel_calls=tf.data.AUTOTUNE)

    return Source(DataSpec("stacked_mnist", "image", (28, 28, 3), 1000, None), dataset_fn)


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


def verify_images(files: list[str]) -> None:
    """Checks every file decodes as an image; raises ValueError naming the first that does not."""
    from PIL import Image, UnidentifiedImageError
    for path in files:
        try:
            with Image.open(path) as im:
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise ValueError(f"{path}: not a readable image ({e})") from e


def image_folder(directory: str, image_size: int, channels: int = 3, verify: bool = True) -> Source:
    """A folder of image files, decoded, resized to image_size x image_size and scaled to [0, 1]."""
    if not image_size:
        raise ValueError("image_size must be set (> 0) for an image folder")
    files, labels, classes = list_image_files(directory)
    if verify:
        verify_images(files)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [image_size, image_size], antialias=True)
        image.set_shape([image_size, image_size, channels])
        return {"x": tf.clip_by_value(image, 0.0, 1.0), "label": label}

    def dataset_fn(split, seed):
        del split, seed
        ds = tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, np.int32)))
        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)

    spec = DataSpec(f"folder:{directory}", "image", (image_size, image_size, channels), len(classes), len(files))
    return Source(spec, dataset_fn)


def tfds_images(name: str, data_dir: str | None, download: bool = False, image_size: int = 0,
                channels: int = 0) -> Source:
    """A tensorflow-datasets image data set read from `data_dir`.

    Downloading happens only when `download` is True: offline, TFDS retries for minutes before failing,
    so by default a missing data set fails at once with instructions.
    """
    import tensorflow_datasets as tfds
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError and friends: name the data set and the directory.
        raise ValueError(f"tfds:{name}: unknown or unreadable TFDS data set ({e})") from e
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise FileNotFoundError(
            f"tfds:{name} is not prepared in data_dir={builder.data_dir!r}; prepare it there (e.g. `tfds build "
            f"{name} --data_dir=...` on a machine with network) or pass the download flag to fetch it")
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

    splits = info.splits
    count = splits["train"].num_examples if "train" in splits else None
    return Source(DataSpec(f"tfds:{name}", "image", (size, size, chans), num_classes, count), dataset_fn)


def toy_source(name: str, num_points: int = TOY_POINTS) -> Source:
    """Samples of a toy distribution (a fixed set of `num_points`, drawn from the split's seed)."""
    mixture = toy.get_toy(name)

    def dataset_fn(split, seed):
        points, labels = mixture.sample(num_points, seed=seed + (0 if split == "train" else 1_000_003))
        return tf.data.Dataset.from_tensor_slices({"x": points, "label": labels})

    spec = DataSpec(name, "points", (mixture.dim,), len(mixture.centers), num_points)
    return Source(spec, dataset_fn)


def get_source(name: str, data_dir: str | None = None, image_size: int = 0, channels: int = 0,
               download: bool = False, split: str = "train") -> Source:
    """Builds the source registered under `name` (see the module docstring for names).

    Raises:
      ValueError: unknown name, or a source that needs `data_dir` without one.
    """
    if name == "digits":
        return embedded_digits(image_size, channels)
    if name == "mnist":
        if not data_dir:
            raise ValueError("dataset 'mnist' reads IDX files from data_dir; data_dir is empty")
        return mnist_idx(data_dir, split, image_size, channels)
    if name == "stacked_mnist":
        return stacked_mnist(data_dir, split)
    if name == "folder":
        if not data_dir:
            raise ValueError("dataset 'folder' reads images from data_dir; data_dir is empty")
        return image_folder(data_dir, image_size or 64, channels or 3)
    if name.startswith("tfds:") and len(name) > 5:
        return tfds_images(name[5:], data_dir, download, image_size, channels)
    if name in toy.TOYS:
        return toy_source(name)
    raise ValueError(f"dataset must be one of {', '.join(SOURCE_NAMES)}; got {name!r}")
