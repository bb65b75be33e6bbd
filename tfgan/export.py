"""Exports a trained generator as a SavedModel for TF Serving.

Layout: `<export_dir>/<version>/` with an integer version (the training step), as TF Serving expects.
Signatures:
  serving_default       num_samples int32 [] + seed int64 []  (unconditional)
                        labels int32 [N] + seed int64 []       (conditional)
                        -> images float32 [N, H, W, C] in [0, 1]  (or samples [N, D] for toy data), latents
  generate_from_latents latents float32 [N, latent_dim] (+ labels int32 [N]) -> images / samples
  generate_png          as serving_default -> png_bytes string [N] (base64 in TF Serving's REST API)
`assets.extra/tfgan_export.json` records latent_dim, prior, output range, classes and the step.
"""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf

from tfgan.random import PRIORS

METADATA_FILE = "tfgan_export.json"


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
    """

    latent_dim: int
    prior: str
    output_range: tuple
    num_classes: int = 0
    kind: str = "image"


class GeneratorModule(tf.Module):
    """The generator wrapped with serving functions (see the module docstring)."""

    def __init__(self, generator, spec: ExportSpec):
        super().__init__(name="tfgan_generator")
        if spec.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}; got {spec.prior!r}")
        self.generator = generator
        self._spec = spec
        out = "images" if spec.kind == "image" else "samples"
        self._out_name = out
        z_spec = tf.TensorSpec([None, spec.latent_dim], tf.float32, name="latents")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")
        if spec.num_classes:
            label_spec = tf.TensorSpec([None], tf.int32, name="labels")
            self.serve = tf.function(lambda labels, seed: self._sample(tf.shape(labels)[0], seed, labels),
                                     input_signature=[label_spec, seed_spec])
            self.from_latents = tf.function(lambda latents, labels: {out: self._generate(latents, labels)},
                                            input_signature=[z_spec, label_spec])
            png = lambda labels, seed: self._png(self._sample(tf.shape(labels)[0], seed, labels))  # noqa: E731
            png_signature = [label_spec, seed_spec]
        else:
            n_spec = tf.TensorSpec([], tf.int32, name="num_samples")
            self.serve = tf.function(lambda num_samples, seed: self._sample(num_samples, seed, None),
                                     input_signature=[n_spec, seed_spec])
            self.from_latents = tf.function(lambda latents: {out: self._generate(latents, None)},
                                            input_signature=[z_spec])
            png = lambda num_samples, seed: self._png(self._sample(num_samples, seed, None))  # noqa: E731
            png_signature = [n_spec, seed_spec]
        if spec.kind == "image":
            self.png = tf.function(png, input_signature=png_signature)

    def _latents(self, n, seed):
        shape = tf.stack([n, self._spec.latent_dim])
        seed_pair = tf.stack([seed, tf.constant(0, tf.int64)])
        if self._spec.prior == "normal":
            return tf.random.stateless_normal(shape, seed=seed_pair)
        return tf.random.stateless_uniform(shape, seed=seed_pair, minval=-1.0, maxval=1.0)

    def _generate(self, latents, labels):
        x = self.generator([latents, labels] if self._spec.num_classes else latents, training=False)
        x = tf.cast(x, tf.float32)
        lo, hi = self._spec.output_range
        if self._spec.kind == "image" and lo is not None:
            x = tf.clip_by_value((x - lo) / (hi - lo), 0.0, 1.0)
        return x

    def _sample(self, n, seed, labels):
        z = self._latents(n, seed)
        return {self._out_name: self._generate(z, labels), "latents": z}

    def _png(self, outputs):
        pixels = tf.cast(tf.round(outputs["images"] * 255.0), tf.uint8)
        return {"png_bytes": tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)}


def export_generator(generator, spec: ExportSpec, export_dir: str, version: int) -> str:
    """Writes the SavedModel to `<export_dir>/<version>` and returns that path.

    Writes into a temporary directory first and renames it, so TF Serving (which watches export_dir)
    never sees a half-written version.
    """
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    path = os.path.join(export_dir, str(int(version)))
    tmp = os.path.join(export_dir, f".tmp-{int(version)}")
    for stale in (tmp, path):
        if tf.io.gfile.exists(stale):
            tf.io.gfile.rmtree(stale)
    module = GeneratorModule(generator, spec)
    signatures = {"serving_default": module.serve, "generate_from_latents": module.from_latents}
    if spec.kind == "image":
        signatures["generate_png"] = module.png
    tf.saved_model.save(module, tmp, signatures=signatures)
    extra = os.path.join(tmp, "assets.extra")
    tf.io.gfile.makedirs(extra)
    meta = dataclasses.asdict(spec) | {"version": int(version), "signatures": sorted(signatures)}
    with tf.io.gfile.GFile(os.path.join(extra, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2)
    tf.io.gfile.rename(tmp, path)
    return path


def read_export_metadata(path: str) -> dict:
    """The metadata written beside a SavedModel version by `export_generator`."""
    with tf.io.gfile.GFile(os.path.join(path, "assets.extra", METADATA_FILE)) as f:
        return json.load(f)
