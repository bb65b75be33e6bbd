"""Feature extractors for GAN evaluation: FID / KID / precision-recall features and IS class probabilities.

Every extractor takes images in [0, 1], float, shape [N, H, W, C] (a NumPy array, a tf.Tensor, or an
iterable of such batches, e.g. a batched `tf.data.Dataset` or a generator of sample batches), streams them
through its network `batch_size` images at a time, and returns NumPy float32 arrays:

  features(images)      [N, D]  penultimate activations (input of `tfgan.metrics.frechet_distance_from_activations`,
                                `kernel_inception_distance`, `precision_recall`, or `StreamingMoments`)
  probabilities(images) [N, K]  softmax class probabilities (input of `tfgan.metrics.inception_score`)
  features_and_probabilities(images)  both from one pass

Extractors (`load_feature_extractor(name, weights_path)`):

  "mnist"      `MnistClassifier`: a small CNN trained on the 60,000 MNIST training digits, shipped in
               `tfgan/assets/` (see its README for the held-out accuracy and real-data reference values).
               128-D features ("MNIST FID"), 10 classes ("MNIST IS"). Input 28x28x1; other sizes are resized,
               RGB is converted to grayscale.
  "inception"  `InceptionFeatures`: Keras' InceptionV3 (ImageNet, 1000 classes) from a local weights file;
               2048-D pool3 features and 1000-class probabilities.

Example:
  extractor = load_feature_extractor("mnist")
  real = extractor.features(real_images)
  fake_feats, fake_probs = extractor.features_and_probabilities(fake_images)
  fid = tfgan.metrics.frechet_distance_from_activations(real, fake_feats)
  is_mean, is_std = tfgan.metrics.inception_score(fake_probs)
"""

from __future__ import annotations

import os
from typing import Iterable

import keras
import numpy as np
import tensorflow as tf

from tfgan import choices
from keras import layers

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
MNIST_WEIGHTS = os.path.join(ASSETS, "mnist_classifier.weights.h5")
EXTRACTOR_NAMES = choices.FEATURE_EXTRACTORS

MNIST_SHAPE = (28, 28, 1)
MNIST_FEATURE_DIM = 128
MNIST_NUM_CLASSES = 10
INCEPTION_SIZE = 299

# Tolerance on the [0, 1] input range (interpolating resizes and float noise can overshoot slightly).
_RANGE_TOL = 1e-2


def build_mnist_classifier(dropout: float = 0.5) -> keras.Model:
    """The MNIST classifier architecture: image in [0, 1], 28x28x1 -> 10 logits.

    conv3x3(32) -> maxpool -> conv3x3(64) -> maxpool -> conv3x3(64, valid) -> flatten -> dense(128) "features"
    -> dropout -> dense(10) "logits". About 262k parameters. The final layer is float32 whatever the global
    mixed-precision policy.

    Args:
      dropout: dropout rate in [0, 1) before the logits layer (active in training only).

    Returns:
      An uncompiled `keras.Model` with layers named "features" (ReLU, 128-D) and "logits".

    Raises:
      ValueError: `dropout` is not in [0, 1).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    inputs = keras.Input(MNIST_SHAPE, name="image")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(MNIST_FEATURE_DIM, activation="relu", name="features")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(MNIST_NUM_CLASSES, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="mnist_classifier")


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else repr(value)[:80]


def _is_array(images) -> bool:
    return isinstance(images, (np.ndarray, tf.Tensor)) or hasattr(images, "__array__")


def _check_batch(batch, what: str = "images") -> np.ndarray:
    """A batch as float32 NumPy [B, H, W, C] in [0, 1], or a ValueError naming the problem."""
    if isinstance(batch, dict):
        if "x" not in batch:
            raise ValueError(f"{what}: a dict batch must hold the images under 'x'; got keys {sorted(batch)}")
        batch = batch["x"]
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and _is_array(batch[0]):
        batch = batch[0]  # (images, labels) pairs
    array = np.asarray(batch)
    if array.ndim != 4:
        raise ValueError(f"{what} must be 4-D [N, H, W, C] with C in (1, 3); got {_describe(array)}")
    if array.shape[-1] not in (1, 3):
        raise ValueError(f"{what} must have 1 (grayscale) or 3 (RGB) channels in the last axis; "
                         f"got shape {array.shape}")
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be numeric; got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if array.size:
        lo, hi = float(array.min()), float(array.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{what} must be finite; got values in [{lo}, {hi}]")
        if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
            raise ValueError(
                f"{what} must be in [0, 1]; got values in [{lo:.4g}, {hi:.4g}] (map tanh outputs with "
                "(x + 1) / 2 and uint8 pixels with x / 255)")
    return array


def _iterate_batches(images, batch_size: int):
    """Yields checked float32 batches of at most `batch_size` images from an array or an iterable."""
    if _is_array(images):
        array = _check_batch(images)
        for start in range(0, array.shape[0], batch_size):
            yield array[start:start + batch_size]
        return
    if isinstance(images, (str, bytes)) or not isinstance(images, Iterable):
        raise ValueError(f"images must be an array [N, H, W, C] or an iterable of such batches; "
                         f"got {_describe(images)}")
    for i, batch in enumerate(images):
        array = _check_batch(batch, what=f"images (batch {i})")
        for start in range(0, array.shape[0], batch_size):
            yield array[start:start + batch_size]


class FeatureExtractor:
    """Common interface: a network image -> (features [D], probabilities [K]), evaluated in batches.

    Subclasses set `name`, `input_shape`, `feature_dim`, `num_classes`, `batch_size`, `self._model` (a Keras
    model with the two outputs [features, probabilities] taking `input_shape` images) and implement
    `preprocess`.
    """

    name: str = ""
    input_shape: tuple = ()
    feature_dim: int = 0
    num_classes: int = 0
    batch_size: int = 256
    _model: keras.Model

    def preprocess(self, images) -> tf.Tensor:
        """Maps a checked float32 batch [B, H, W, C] in [0, 1] to the network's input."""
        raise NotImplementedError

    @tf.function(reduce_retracing=True)
    def _forward(self, x):
        features, probs = self._model(x, training=False)
        return tf.cast(features, tf.float32), tf.cast(probs, tf.float32)

    def _check_batch_size(self, batch_size):
        batch_size = self.batch_size if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        return int(batch_size)

    def features_and_probabilities(self, images, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features and class probabilities of `images` from one pass through the network.

        Args:
          images: float [N, H, W, C] in [0, 1] (NumPy array or tf.Tensor), or an iterable of such batches
            (a batched `tf.data.Dataset`, a generator...); dict batches use their "x" entry and
            (images, labels) pairs their images.
          batch_size: images per network call; defaults to the extractor's `batch_size`.

        Returns:
          (features float32 [N, feature_dim], probabilities float32 [N, num_classes]).

        Raises:
          ValueError: an image batch is not 4-D with 1 or 3 channels, not finite, or outside [0, 1];
            `batch_size` is not a positive integer.
        """
        batch_size = self._check_batch_size(batch_size)
        feats, probs = [], []
        for batch in _iterate_batches(images, batch_size):
            if batch.shape[0] == 0:
                continue
            f, p = self._forward(self.preprocess(batch))
            feats.append(f.numpy())
            probs.append(p.numpy())
        if not feats:
            return (np.zeros((0, self.feature_dim), np.float32), np.zeros((0, self.num_classes), np.float32))
        return np.concatenate(feats), np.concatenate(probs)

    def features(self, images, batch_size: int | None = None) -> np.ndarray:
        """Penultimate-layer activations, float32 [N, feature_dim]; see `features_and_probabilities`."""
        return self.features_and_probabilities(images, batch_size)[0]

    def probabilities(self, images, batch_size: int | None = None) -> np.ndarray:
        """Softmax class probabilities, float32 [N, num_classes]; see `features_and_probabilities`."""
        return self.features_and_probabilities(images, batch_size)[1]

    def predict(self, images, batch_size: int | None = None) -> np.ndarray:
        """Most probable class of each image, int64 [N]."""
        return np.argmax(self.probabilities(images, batch_size), axis=1).astype(np.int64)

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, input_shape={self.input_shape}, "
                f"feature_dim={self.feature_dim}, num_classes={self.num_classes})")


def _check_weights_file(weights_path, what: str) -> str:
    if weights_path is None or (isinstance(weights_path, str) and not weights_path):
        raise ValueError(f"weights_path is required for {what}; got {weights_path!r}")
    path = os.fspath(weights_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights_path={path!r}: no such file ({what})")
    return path


def mnist_preprocess(images) -> tf.Tensor:
    """Maps float [B, H, W, C] images in [0, 1] to the classifier's 28x28x1 input.

    RGB is converted to grayscale (ITU-R 601 luma, `tf.image.rgb_to_grayscale`); other sizes are resized
    bilinearly (antialiased when shrinking) to 28x28. Values are clipped to [0, 1].

    Args:
      images: float [B, H, W, C], C in (1, 3), values in [0, 1].

    Returns:
      float32 tf.Tensor [B, 28, 28, 1].

    Raises:
      ValueError: `images` is not 4-D with 1 or 3 channels, or outside [0, 1].
    """
    x = tf.convert_to_tensor(_check_batch(images))
    if x.shape[-1] == 3:
        x = tf.image.rgb_to_grayscale(x)
    if tuple(x.shape[1:3]) != MNIST_SHAPE[:2]:
        x = tf.image.resize(x, MNIST_SHAPE[:2], method="bilinear", antialias=True)
    return tf.clip_by_value(x, 0.0, 1.0)


class MnistClassifier(FeatureExtractor):
    """The shipped MNIST CNN: 128-D "MNIST FID" features and 10-class "MNIST IS" probabilities.

    Architecture in `build_mnist_classifier`; weights trained by `python -m tfgan.train_classifier` (see
    `tfgan/assets/README.md` for the held-out test accuracy and the real-data reference values).
    """

    name = "mnist"
    input_shape = MNIST_SHAPE
    feature_dim = MNIST_FEATURE_DIM
    num_classes = MNIST_NUM_CLASSES
    batch_size = 500

    def __init__(self, weights_path: str | os.PathLike | None = None, model: keras.Model | None = None):
        """Builds the network and loads its weights.

        Args:
          weights_path: a `.weights.h5` file saved from `build_mnist_classifier()`; None loads the shipped
            `tfgan/assets/mnist_classifier.weights.h5`.
          model: instead of loading a file, use this (trained) `build_mnist_classifier()` model as is;
            `weights_path` must then be None.

        Raises:
          FileNotFoundError: the weights file does not exist.
          ValueError: both `weights_path` and `model` are given, or the file does not fit the architecture.
        """
        if model is not None:
            if weights_path is not None:
                raise ValueError(f"give weights_path or model, not both; got weights_path={weights_path!r}")
            classifier = model
            self.weights_path = None
        else:
            path = MNIST_WEIGHTS if weights_path is None else weights_path
            self.weights_path = _check_weights_file(path, "the MNIST classifier")
            classifier = build_mnist_classifier()
            try:
                classifier.load_weights(self.weights_path)
            except Exception as e:  # Keras raises ValueError/KeyError/OSError for mismatched files
                raise ValueError(f"weights_path={self.weights_path!r}: does not hold weights of "
                                 f"build_mnist_classifier(): {e}") from e
        logits = classifier.get_layer("logits").output
        self.classifier = classifier
        self._model = keras.Model(
            classifier.inputs,
            [classifier.get_layer("features").output, layers.Softmax(dtype="float32", name="probs")(logits)])

    def preprocess(self, images) -> tf.Tensor:
        return mnist_preprocess(images)


def inception_preprocess(images) -> tf.Tensor:
    """Standard Inception preprocessing of float [B, H, W, C] images in [0, 1].

    Grayscale is repeated to RGB, images are resized bilinearly to 299x299 (no antialiasing, as in the
    reference FID code) and scaled from [0, 1] to [-1, 1].

    Args:
      images: float [B, H, W, C], C in (1, 3), values in [0, 1].

    Returns:
      float32 tf.Tensor [B, 299, 299, 3] in [-1, 1].

    Raises:
      ValueError: `images` is not 4-D with 1 or 3 channels, or outside [0, 1].
    """
    x = tf.convert_to_tensor(_check_batch(images))
    if x.shape[-1] == 1:
        x = tf.image.grayscale_to_rgb(x)
    if tuple(x.shape[1:3]) != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = tf.image.resize(x, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
    return tf.clip_by_value(x, 0.0, 1.0) * 2.0 - 1.0


class InceptionFeatures(FeatureExtractor):
    """Keras InceptionV3 (ImageNet): 2048-D pool3 features and 1000-class probabilities.

    The weights are read from a local file (nothing is downloaded), e.g. Keras'
    `inception_v3_weights_tf_dim_ordering_tf_kernels.h5`. Note that this is Keras' InceptionV3 with 1000
    classes, not the 2015 TF graph (1008 classes) of the original FID/IS code, so scores are comparable
    among themselves but not digit-for-digit with published numbers.
    """

    name = "inception"
    input_shape = (INCEPTION_SIZE, INCEPTION_SIZE, 3)
    feature_dim = 2048
    num_classes = 1000
    batch_size = 50

    def __init__(self, weights_path: str | os.PathLike):
        """Builds InceptionV3 with its classification top and loads `weights_path`.

        Args:
          weights_path: a local InceptionV3 `include_top=True` weights file (.h5 or .weights.h5).

        Raises:
          ValueError: `weights_path` is None or empty, or the file does not fit InceptionV3.
          FileNotFoundError: the file does not exist.
        """
        self.weights_path = _check_weights_file(weights_path, "InceptionV3 (no download on this path)")
        try:
            net = keras.applications.InceptionV3(include_top=True, weights=self.weights_path)
        except Exception as e:
            raise ValueError(f"weights_path={self.weights_path!r}: cannot be loaded into InceptionV3 "
                             f"(include_top=True, 1000 classes): {e}") from e
        self.network = net
        self._model = keras.Model(net.inputs, [net.get_layer("avg_pool").output, net.output])

    def preprocess(self, images) -> tf.Tensor:
        return inception_preprocess(images)


def load_feature_extractor(name: str, weights_path: str | os.PathLike | None = None) -> FeatureExtractor:
    """A feature extractor by name.

    Args:
      name: "mnist" (`MnistClassifier`; weights_path None uses the shipped weights) or "inception"
        (`InceptionFeatures`; weights_path required).
      weights_path: the weights file.

    Returns:
      The extractor.

    Raises:
      ValueError: unknown `name`, or "inception" without `weights_path`.
      FileNotFoundError: the weights file does not exist.
    """
    if name == "mnist":
        return MnistClassifier(weights_path)
    if name == "inception":
        return InceptionFeatures(weights_path)
    raise ValueError(f"name must be one of {', '.join(EXTRACTOR_NAMES)}; got {name!r}")
