"""Exports a trained generator as a SavedModel that TF Serving runs, and as a TFLite file.

Layout: `<export_dir>/<version>/` with an integer version (the training step), as TF Serving expects. The
SavedModel is written with Keras' own `keras.export.ExportArchive`, whose variables the session-based
loader of model servers (`SavedModelBundle`, exercised by `saved_model_cli run` and
`tf.compat.v1.saved_model.loader.load`) can restore; a plain `tf.Module` around a Keras 3 model loads in
Python but not there.

Signatures (N <= max_samples, recorded at export; default 1024):

  unconditional
    serving_default        num_samples int32 [] in [0, max_samples], seed int64 []
                           -> images float32 [N, H, W, C] in [0, 1] (toys: samples float32 [N, D]),
                              latents float32 [N, latent_dim]
    generate_from_latents  latents float32 [N, latent_dim] -> images (or samples)
    generate_png           num_samples, seed -> png_bytes string [N]       (images only)
  conditional
    serving_default        labels int32 [N] in [0, num_classes), seed int64 [] -> images, latents
    generate_from_latents  latents float32 [N, latent_dim], labels int32 [N] -> images
    generate_png           labels, seed -> png_bytes string [N]

Every input is checked inside the graph before any work: a request out of range fails with an
InvalidArgument error whose message names the input and the allowed range (TF Serving answers it as HTTP
400 / gRPC INVALID_ARGUMENT), never with a crash, an out-of-memory or a silently wrong answer. The latents
input is declared [None, None] so that a wrong width reaches that check whatever the client.
`seed` makes `serving_default` deterministic: the latents are a stateless normal (or uniform) draw seeded
by (seed, 0), the same draw as `tfgan.random.sample_latents(N, latent_dim, prior, seed)`.

`assets.extra/tfgan_export.json` records the ExportSpec (latent_dim, prior, output range, classes, kind,
max_samples), the version and the signatures. A version directory, once written, is never rewritten:
`export_generator` refuses an existing version (see `ExportExistsError`).
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfgan import choices, fileio
from tfgan.random import PRIORS

METADATA_FILE = "tfgan_export.json"
FORMAT_VERSION = 2
DEFAULT_MAX_SAMPLES = 1024
KINDS = choices.EXPORT_KINDS


class ExportExistsError(FileExistsError):
    """The version directory exists already: exports are immutable."""


class TFLiteConversionError(RuntimeError):
    """The generator could not be converted to TFLite; the message names the ops that failed."""


@dataclasses.dataclass(frozen=True)
class ExportSpec:
    """What the SavedModel needs to know about the generator.

    Attributes:
      latent_dim: size of z.
      prior: "normal" or "uniform".
      output_range: the generator's output range, e.g. (-1, 1); images are mapped to [0, 1].
        (None, None) for toy data (samples are returned as they are).
      num_classes: > 0 for a conditional generator.
      kind: "image" or "points".
      max_samples: the most samples one request may ask for (bounds the memory a request can take).
    """

    latent_dim: int
    prior: str
    output_range: tuple
    num_classes: int = 0
    kind: str = "image"
    max_samples: int = DEFAULT_MAX_SAMPLES

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}; got {self.prior!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")
        if not 1 <= self.max_samples <= 2**31 - 1:
            raise ValueError(f"max_samples must be in [1, 2^31 - 1], got {self.max_samples}")

    @property
    def output_name(self) -> str:
        return "images" if self.kind == "image" else "samples"


# --- the graph: checked inputs -> samples ------------------------------------------------------------------

def _checked(value, condition, message, *data):
    """`value`, with `condition` asserted before anything that consumes it runs.

    The identity under a control dependency orders the check before the work (the random draw of a
    10^7-sample request, say), which automatic control dependencies alone would not: stateless ops may
    run before a stateful Assert.
    """
    check = tf.debugging.Assert(condition, [message, *data], summarize=8)
    with tf.control_dependencies([check]):
        return tf.identity(value)


def _check_count(n, name: str, max_samples: int):
    return _checked(n, tf.logical_and(n >= 0, n <= max_samples),
                    f"{name} must be in [0, {max_samples}] (max_samples of this export); got", n)


def _check_labels(labels, num_classes: int, max_samples: int):
    n = tf.size(labels)
    labels = _checked(labels, n <= max_samples,
                      f"labels must hold at most {max_samples} values (max_samples of this export); got", n)
    valid = tf.logical_and(labels >= 0, labels < num_classes)
    return _checked(labels, tf.reduce_all(valid),
                    f"labels must be integers in [0, {num_classes}); got out-of-range values",
                    tf.boolean_mask(labels, tf.logical_not(valid)))


def _check_latents(latents, spec: ExportSpec):
    width = tf.shape(latents)[1]
    latents = _checked(latents, tf.equal(width, spec.latent_dim),
                       f"latents must have shape [N, {spec.latent_dim}]; got width", width)
    latents = _checked(latents, tf.shape(latents)[0] <= spec.max_samples,
                       f"latents must have at most {spec.max_samples} rows (max_samples of this export); got",
                       tf.shape(latents)[0])
    latents = _checked(latents, tf.reduce_all(tf.math.is_finite(latents)), "latents must be finite numbers")
    return tf.ensure_shape(latents, [None, spec.latent_dim])


def _draw_latents(n, seed, spec: ExportSpec):
    shape = tf.stack([n, spec.latent_dim])
    seed_pair = tf.stack([seed, tf.constant(0, tf.int64)])
    if spec.prior == "normal":
        return tf.random.stateless_normal(shape, seed=seed_pair)
    return tf.random.stateless_uniform(shape, seed=seed_pair, minval=-1.0, maxval=1.0)


class _Graph:
    """The generator's serving computation for one ExportSpec (traced into each signature)."""

    def __init__(self, generator: keras.Model, spec: ExportSpec):
        self.generator, self.spec = generator, spec

    def generate(self, latents, labels=None):
        inputs = [latents, labels] if self.spec.num_classes else latents
        x = tf.cast(self.generator(inputs, training=False), tf.float32)
        lo, hi = self.spec.output_range
        if self.spec.kind == "image" and lo is not None:
            x = tf.clip_by_value((x - lo) / (hi - lo), 0.0, 1.0)
        return x

    def sample(self, n, seed, labels=None):
        z = _draw_latents(n, seed, self.spec)
        return {self.spec.output_name: self.generate(z, labels), "latents": z}

    @staticmethod
    def png(images):
        pixels = tf.cast(tf.round(images * 255.0), tf.uint8)
        return {"png_bytes": tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)}

    def endpoints(self) -> dict:
        """{signature name: (function, input signature)}."""
        s = self.spec
        seed = tf.TensorSpec([], tf.int64, name="seed")
        latents = tf.TensorSpec([None, None], tf.float32, name="latents")
        out = s.output_name
        if s.num_classes:
            labels = tf.TensorSpec([None], tf.int32, name="labels")

            def serving_default(labels, seed):
                labels = _check_labels(labels, s.num_classes, s.max_samples)
                return self.sample(tf.size(labels), seed, labels)

            def generate_from_latents(latents, labels):
                latents = _check_latents(latents, s)
                labels = _check_labels(labels, s.num_classes, s.max_samples)
                labels = _checked(labels, tf.equal(tf.size(labels), tf.shape(latents)[0]),
                                  "labels and latents must have the same number of rows; got",
                                  tf.size(labels), tf.shape(latents)[0])
                return {out: self.generate(latents, labels)}

            def generate_png(labels, seed):
                return self.png(serving_default(labels, seed)[out])

            ends = {"serving_default": (serving_default, [labels, seed]),
                    "generate_from_latents": (generate_from_latents, [latents, labels])}
            png_signature = [labels, seed]
        else:
            num_samples = tf.TensorSpec([], tf.int32, name="num_samples")

            def serving_default(num_samples, seed):
                return self.sample(_check_count(num_samples, "num_samples", s.max_samples), seed)

            def generate_from_latents(latents):
                return {out: self.generate(_check_latents(latents, s))}

            def generate_png(num_samples, seed):
                return self.png(serving_default(num_samples, seed)[out])

            ends = {"serving_default": (serving_default, [num_samples, seed]),
                    "generate_from_latents": (generate_from_latents, [latents])}
            png_signature = [num_samples, seed]
        if s.kind == "image":
            ends["generate_png"] = (generate_png, png_signature)
        return ends


# --- writing -----------------------------------------------------------------------------------------------

def version_path(export_dir: str, version: int) -> str:
    if int(version) < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    return os.path.join(export_dir, str(int(version)))


def is_complete_export(path: str) -> bool:
    """Whether `path` holds a whole SavedModel written by `export_generator`."""
    return (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
            and tf.io.gfile.exists(os.path.join(path, "assets.extra", METADATA_FILE)))


def export_generator(generator: keras.Model, spec: ExportSpec, export_dir: str, version: int) -> str:
    """Writes the SavedModel to `<export_dir>/<version>` and returns that path.

    Raises:
      ExportExistsError: `<export_dir>/<version>` exists; versions are never rewritten (a server may be
        serving it).
    """
    return write_saved_model(generator, spec, version_path(export_dir, version), version)


def write_saved_model(generator: keras.Model, spec: ExportSpec, path: str, version: int) -> str:
    """Writes the SavedModel of `generator` to exactly `path` (which must not exist); returns `path`.

    The SavedModel is written into a hidden temporary directory beside `path` and renamed into place, so
    a model server watching the parent directory never sees a half-written version.

    Raises:
      ExportExistsError: `path` exists.
    """
    if tf.io.gfile.exists(path):
        raise ExportExistsError(f"{path} exists; an export version is never rewritten (export a new version, "
                                f"or delete it by hand if no server uses it)")
    with fileio.renamed_into_place(path, overwrite=False) as tmp:
        archive = keras.export.ExportArchive()
        archive.track(generator)
        endpoints = _Graph(generator, spec).endpoints()
        for name, (fn, signature) in endpoints.items():
            archive.add_endpoint(name, fn, input_signature=signature)
        archive.write_out(tmp, verbose=False)
        meta = dataclasses.asdict(spec) | {"version": int(version), "signatures": sorted(endpoints),
                                           "format": FORMAT_VERSION}
        fileio.write_json_atomic(os.path.join(tmp, "assets.extra", METADATA_FILE), meta)
    return path


def list_versions(export_dir: str) -> list[int]:
    """The integer version directories under `export_dir`, ascending (unfinished writes are skipped)."""
    if not tf.io.gfile.isdir(export_dir):
        return []
    names = [n.rstrip("/") for n in tf.io.gfile.listdir(export_dir)]
    return sorted(int(n) for n in names if n.isdigit() and tf.io.gfile.isdir(os.path.join(export_dir, n)))


def latest_export(export_dir: str) -> str:
    """The highest integer version directory under `export_dir`.

    Raises:
      FileNotFoundError: there is none.
    """
    versions = list_versions(export_dir)
    if not versions:
        raise FileNotFoundError(f"no SavedModel version under {export_dir}")
    return os.path.join(export_dir, str(versions[-1]))


def read_export_metadata(path: str) -> dict:
    """The metadata written beside a SavedModel version by `export_generator`.

    Exports written before `max_samples` was recorded get the default, so every export of this project
    can be read.

    Raises:
      FileNotFoundError: `path` is not an export of this project.
    """
    meta_path = os.path.join(path, "assets.extra", METADATA_FILE)
    if not tf.io.gfile.exists(meta_path):
        raise FileNotFoundError(f"{path} is not a tfgan export: {meta_path} is missing")
    with tf.io.gfile.GFile(meta_path) as f:
        meta = json.load(f)
    meta.setdefault("max_samples", DEFAULT_MAX_SAMPLES)
    meta.setdefault("format", 1)
    meta["output_range"] = tuple(meta["output_range"])
    return meta


def spec_from_metadata(meta: dict) -> ExportSpec:
    names = {f.name for f in dataclasses.fields(ExportSpec)}
    return ExportSpec(**{k: v for k, v in meta.items() if k in names})


# --- TFLite ------------------------------------------------------------------------------------------------

def export_tflite(generator: keras.Model, spec: ExportSpec, path: str, quantize: bool = False) -> str:
    """Converts latents (and labels) -> samples to a TFLite flatbuffer at `path`; returns `path`.

    The converted function is `generate_from_latents` without its input checks (TFLite has no Assert):
    inputs `latents` float32 [N, latent_dim] (and `labels` int32 [N]), output images in [0, 1] (or toy
    samples), float32. N is dynamic: resize the input tensors before allocating.

    Args:
      generator: the generator (float32 policy).
      spec: its ExportSpec.
      path: the .tflite file to write (written atomically).
      quantize: dynamic-range quantisation (`tf.lite.Optimize.DEFAULT`): int8 weights, float activations;
        about 4x smaller, slightly different outputs.

    Raises:
      TFLiteConversionError: an op cannot be converted; the message names it.
    """
    import tempfile

    graph = _Graph(generator, spec)
    signature = [tf.TensorSpec([None, spec.latent_dim], tf.float32, name="latents")]
    if spec.num_classes:
        signature.append(tf.TensorSpec([None], tf.int32, name="labels"))

    def generate(latents, labels=None):
        return {spec.output_name: graph.generate(latents, labels)}

    # The converter freezes variables reliably only from a SavedModel: converting the concrete function
    # of a Keras 3 model directly leaves READ_VARIABLE ops that the interpreter runs uninitialised.
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(generator)
        archive.add_endpoint("serving_default", generate, input_signature=signature)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            flatbuffer = converter.convert()
        except Exception as e:  # the converter raises ConverterError with MLIR diagnostics
            raise TFLiteConversionError(_conversion_failure(e)) from None
    return fileio.write_atomic(path, flatbuffer)


def _conversion_failure(error: Exception) -> str:
    import re
    text = str(error)
    ops = sorted(set(re.findall(r"'((?:tf|tfl)\.[A-Za-z0-9_]+)' op", text)))
    first = next((line.strip() for line in text.splitlines() if "error" in line.lower()), text.strip()[:300])
    return ("TFLite conversion failed" + (f" on ops {', '.join(ops)}" if ops else "") + f": {first}")


def tflite_interpreter(path: str):
    """A TFLite interpreter for `path`: LiteRT's (`ai_edge_litert`) when installed, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings
        with warnings.catch_warnings():  # TensorFlow's copy warns that it moved to LiteRT
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)


def run_tflite(path: str, latents: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Runs a file written by `export_tflite` on a batch of latents (and labels); returns its samples."""
    interpreter = tflite_interpreter(path)
    runner = interpreter.get_signature_runner()
    inputs = {"latents": np.asarray(latents, np.float32)}
    if labels is not None:
        inputs["labels"] = np.asarray(labels, np.int32)
    outputs = runner(**inputs)
    return next(iter(outputs.values()))
