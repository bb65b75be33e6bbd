"""Reading and writing the content of each artifact type: the one place that knows the files inside an
artifact's directory, shared by the executors that produce and consume it."""

from __future__ import annotations

import dataclasses
import json
import os

from pipelines.orchestration.artifacts import SERVING_MODEL_DIR, Artifact

TFLITE_MODEL_DIR = "Format-TFLite"   # where a Model artifact keeps its TFLite file (--export_tflite)
from tfgan import fileio

EXAMPLES_FILE = "examples.json"
STATISTICS_FILE = "statistics.json"
SCHEMA_FILE = "schema.json"
ANOMALIES_FILE = "anomalies.json"
EVALUATION_FILE = "metrics.json"
BLESSING_FILE = "blessing.json"
PUSHED_FILE = "pushed.json"
BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
INFRA_BLESSED, INFRA_NOT_BLESSED = "INFRA_BLESSED", "INFRA_NOT_BLESSED"


def write_json(artifact: Artifact, name: str, value) -> str:
    return fileio.write_json_atomic(os.path.join(artifact.uri, name), value)


def read_json(artifact: Artifact, name: str):
    path = os.path.join(artifact.uri, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{artifact.type} artifact {artifact.uri} has no {name}") from None


def write_marker(artifact: Artifact, name: str, text: str = "") -> str:
    """An empty-or-short file whose name is the verdict (TFX's BLESSED / NOT_BLESSED convention)."""
    return fileio.write_atomic(os.path.join(artifact.uri, name), text)


def serving_model_path(model: Artifact) -> str:
    """The SavedModel of a Model artifact."""
    return os.path.join(model.uri, SERVING_MODEL_DIR)


# --- Examples: TFRecord files of tf.train.Example under Split-<name>/ (TFX's layout) --------------------------
#
# Each record holds one example:
#   "x"      images: the raw uint8 pixels (bytes, row-major [H, W, C]); points: the coordinates (float list)
#   "shape"  the shape of "x" (int64 list)
#   "label"  the class (int64; 0 where the data has no labels)
# Images are stored as 8-bit values: exactly the source's pixels for 8-bit data kept at its own size (MNIST,
# the embedded digits, PNG folders), rounded to the nearest of 256 levels where the images were resized.
# examples.json beside the splits holds the spec (kind, shape, classes), the counts and the fingerprints.

SPLITS = ("train", "eval")


def split_dir(examples: Artifact, split: str) -> str:
    return os.path.join(examples.uri, f"Split-{split}")


def split_files(examples: Artifact, split: str) -> list[str]:
    """The TFRecord files of one split, sorted (the order a reader sees them in)."""
    directory = split_dir(examples, split)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Examples artifact {examples.uri} has no split {split!r} ({directory})")
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".tfrecord"))


def read_records(path: str):
    """The serialized records of one TFRecord file, in order."""
    import tensorflow as tf
    yield from tf.data.TFRecordDataset(path).as_numpy_iterator()


def encode_example(x, label: int) -> bytes:
    """One serialized tf.train.Example: x as uint8 (images) or float32 (points) array, its shape and label.
    Serialized deterministically (sorted feature names), so equal content gives equal bytes."""
    import numpy as np
    from tensorflow.core.example import example_pb2

    x = np.asarray(x)
    example = example_pb2.Example()
    feature = example.features.feature
    feature["shape"].int64_list.value.extend(x.shape)
    feature["label"].int64_list.value.append(int(label))
    if x.dtype == np.uint8:
        feature["x"].bytes_list.value.append(x.tobytes())
    else:  # a plain list: filling the field from an ndarray goes element by element, ten times slower
        feature["x"].float_list.value.extend(x.astype(np.float32).ravel().tolist())
    return example.SerializeToString(deterministic=True)


def decode_example(record: bytes):
    """(x, label) of a serialized record: x as float64 [..., C], images scaled to [0, 1] (NumPy, for Beam)."""
    import numpy as np
    from tensorflow.core.example import example_pb2

    f = example_pb2.Example.FromString(record).features.feature
    shape = tuple(f["shape"].int64_list.value)
    if f["x"].bytes_list.value:
        x = np.frombuffer(f["x"].bytes_list.value[0], np.uint8).reshape(shape) / 255.0
    else:
        x = np.asarray(f["x"].float_list.value, np.float64).reshape(shape)
    return x, int(f["label"].int64_list.value[0])


def examples_dataset(examples: Artifact, split: str, spec: dict | None = None):
    """The one reader of a snapshot: unbatched {"x": float32, "label": int32} elements of `split`, images in
    [0, 1], in file order (a tf.data.Dataset; shuffling is the consumer's)."""
    import tensorflow as tf

    spec = spec or read_json(examples, EXAMPLES_FILE)["spec"]
    shape = spec["shape"]
    image = spec["kind"] == "image"
    features = {"x": tf.io.FixedLenFeature([], tf.string) if image else tf.io.FixedLenFeature(shape, tf.float32),
                "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        e = tf.io.parse_single_example(record, features)
        x = e["x"]
        if image:
            x = tf.reshape(tf.cast(tf.io.decode_raw(x, tf.uint8), tf.float32) / 255.0, shape)
        return {"x": x, "label": tf.cast(e["label"], tf.int32)}

    return tf.data.TFRecordDataset(split_files(examples, split)).map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def open_examples(examples: Artifact):
    """The snapshot an Examples artifact holds, as a `tfgan.data.Source` with splits "train" and "eval" (read
    through `examples_dataset`): what the Trainer trains on and the Evaluator measures against."""
    from tfgan.data import DataSpec, Source

    record = read_json(examples, EXAMPLES_FILE)
    s = record["spec"]
    counts = record["counts"]
    spec = DataSpec(s["name"], s["kind"], tuple(s["shape"]), s["num_classes"], counts["train"], tuple(SPLITS),
                    tuple((k, counts[k]) for k in SPLITS))
    return Source(spec, lambda split, seed: examples_dataset(examples, split, s))
