"""Running an export the way model servers do, and checking its serving contract.

TF Serving loads a SavedModel through the C++ `SavedModelBundle`: a TF1 graph and session, variables
restored by the graph's saver, signatures fed by tensor name. `tf.saved_model.load` in Python takes another
path (object graph, eager functions) and can succeed where a server fails, so everything here goes through
`tf.compat.v1.saved_model.loader.load`, the Python face of that loader (and the code behind
`saved_model_cli run`).

`validate_export` is the infra check of a version directory: it loads the model, checks every signature's
inputs and outputs against the contract of `tfgan.export` (names, dtypes, shapes), sends warm-up requests
through every signature (outputs' shapes, dtypes, ranges, PNGs that decode, determinism in the seed), checks
that an out-of-range request is refused with InvalidArgument, and times the load and the requests.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import tensorflow as tf

from tfgan import export as export_lib

SERVE_TAG = "serve"


class SessionModel:
    """A SavedModel loaded into a TF1 session, as a model server loads it.

    Use as a context manager, or call `close()`.
    """

    def __init__(self, path: str, tags=(SERVE_TAG,)):
        self.path = path
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta_graph = tf.compat.v1.saved_model.loader.load(self.session, list(tags), path)
        self.signatures = dict(self.meta_graph.signature_def)

    def run(self, signature: str, **inputs) -> dict[str, np.ndarray]:
        """Feeds `inputs` (by signature input key) to `signature`; returns every output by key.

        Raises:
          KeyError: unknown signature or input key.
          tf.errors.InvalidArgumentError: the model refused the request.
        """
        if signature not in self.signatures:
            raise KeyError(f"{self.path} has no signature {signature!r}; it has {', '.join(sorted(self.signatures))}")
        sig = self.signatures[signature]
        unknown = sorted(set(inputs) - set(sig.inputs))
        if unknown:
            raise KeyError(f"signature {signature} has no input {', '.join(unknown)}; its inputs are "
                           f"{', '.join(sorted(sig.inputs))}")
        keys = sorted(sig.outputs)
        feeds = {sig.inputs[k].name: v for k, v in inputs.items()}
        values = self.session.run([sig.outputs[k].name for k in keys], feed_dict=feeds)
        return dict(zip(keys, values))

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the contract ------------------------------------------------------------------------------------------

def expected_signatures(spec: export_lib.ExportSpec, sample_shape: tuple | None = None) -> dict:
    """{signature: {"inputs": {key: (dtype, shape)}, "outputs": {key: (dtype, shape)}}} of an export.

    Shapes use None for a dynamic dimension; output sample shapes are checked when `sample_shape` (one
    sample's shape) is given.
    """
    n = None
    out = spec.output_name
    sample = (n, *sample_shape) if sample_shape else None
    common_out = {out: (tf.float32, sample), "latents": (tf.float32, (n, spec.latent_dim))}
    request = {"labels": (tf.int32, (n,))} if spec.num_classes else {"num_samples": (tf.int32, ())}
    request["seed"] = (tf.int64, ())
    from_latents = {"latents": (tf.float32, (n, None))}
    if spec.num_classes:
        from_latents["labels"] = (tf.int32, (n,))
    sigs = {"serving_default": {"inputs": request, "outputs": common_out},
            "generate_from_latents": {"inputs": from_latents, "outputs": {out: (tf.float32, sample)}}}
    if spec.kind == "image":
        sigs["generate_png"] = {"inputs": dict(request), "outputs": {"png_bytes": (tf.string, (n,))}}
    return sigs


def _shape(tensor_info) -> tuple | None:
    if tensor_info.tensor_shape.unknown_rank:
        return None
    return tuple(None if d.size < 0 else d.size for d in tensor_info.tensor_shape.dim)


def contract_problems(signatures: dict, spec: export_lib.ExportSpec, sample_shape: tuple | None = None) -> list[str]:
    """What differs between a SavedModel's SignatureDefs and the export contract (empty: none)."""
    problems = []
    for name, want in expected_signatures(spec, sample_shape).items():
        if name not in signatures:
            problems.append(f"signature {name} is missing")
            continue
        sig = signatures[name]
        for side in ("inputs", "outputs"):
            have = getattr(sig, side)
            for key, (dtype, shape) in want[side].items():
                if key not in have:
                    problems.append(f"{name}: {side[:-1]} {key} is missing")
                    continue
                got_dtype = tf.as_dtype(have[key].dtype)
                if got_dtype != dtype:
                    problems.append(f"{name}: {side[:-1]} {key} is {got_dtype.name}, expected {dtype.name}")
                got_shape = _shape(have[key])
                if shape is not None and (got_shape is None or len(got_shape) != len(shape) or any(
                        w is not None and g != w for g, w in zip(got_shape, shape))):
                    problems.append(f"{name}: {side[:-1]} {key} has shape {got_shape}, expected {shape}")
            extra = sorted(set(have) - set(want[side]))
            if extra:
                problems.append(f"{name}: unexpected {side} {', '.join(extra)}")
    return problems


# --- validation --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class ValidationReport:
    """What `validate_export` found.

    Attributes:
      path: the version directory.
      problems: what is wrong (empty: the export passed).
      load_seconds: time to load the model into a session.
      request_seconds: {signature: seconds of its warm-up request}.
      outputs: {signature: {output key: shape}} of the warm-up requests.
    """

    path: str
    problems: list
    load_seconds: float = float("nan")
    request_seconds: dict = dataclasses.field(default_factory=dict)
    outputs: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _request(spec: export_lib.ExportSpec, n: int, seed: int) -> dict:
    if spec.num_classes:
        return {"labels": np.arange(n, dtype=np.int32) % spec.num_classes, "seed": np.int64(seed)}
    return {"num_samples": np.int32(n), "seed": np.int64(seed)}


def validate_export(path: str, sample_shape: tuple | None = None, num_samples: int = 4,
                    max_load_seconds: float | None = None) -> ValidationReport:
    """Loads `path` as a model server does and checks its contract and warm-up requests.

    Args:
      path: an export version directory.
      sample_shape: one sample's expected shape (e.g. (28, 28, 1)); None skips that check.
      num_samples: samples per warm-up request.
      max_load_seconds: a problem is reported when loading takes longer.

    Returns:
      The report; `report.ok` when nothing is wrong. Never raises for a bad model: what went wrong is in
      `problems`.
    """
    report = ValidationReport(path, [])
    try:
        meta = export_lib.read_export_metadata(path)
        spec = export_lib.spec_from_metadata(meta)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as e:
        report.problems.append(f"metadata: {e}")
        return report
    start = time.perf_counter()
    try:
        model = SessionModel(path)
    except Exception as e:  # a corrupted variables file, a missing saved_model.pb, ...: all mean "cannot serve"
        report.problems.append(f"load: {type(e).__name__}: {_first_line(e)}")
        return report
    report.load_seconds = time.perf_counter() - start
    if max_load_seconds is not None and report.load_seconds > max_load_seconds:
        report.problems.append(f"load took {report.load_seconds:.1f}s, more than {max_load_seconds}s")
    with model:
        report.problems += contract_problems(model.signatures, spec, sample_shape)
        if report.problems:
            return report
        _warm_up(model, spec, num_samples, report)
    return report


def _warm_up(model: SessionModel, spec: export_lib.ExportSpec, n: int, report: ValidationReport) -> None:
    out = spec.output_name
    request = _request(spec, n, seed=7)

    def run(signature, **inputs):
        start = time.perf_counter()
        try:
            result = model.run(signature, **inputs)
        except Exception as e:
            report.problems.append(f"{signature}: request failed: {type(e).__name__}: {_first_line(e)}")
            return None
        report.request_seconds[signature] = time.perf_counter() - start
        report.outputs[signature] = {k: tuple(v.shape) for k, v in result.items()}
        return result

    served = run("serving_default", **request)
    if served is None:
        return
    x, z = served[out], served["latents"]
    if x.shape[0] != n or z.shape != (n, spec.latent_dim):
        report.problems.append(f"serving_default: {n} samples asked, got {out} {x.shape}, latents {z.shape}")
    if not np.all(np.isfinite(x)):
        report.problems.append(f"serving_default: {out} has non-finite values")
    if spec.kind == "image" and (x.min() < 0 or x.max() > 1):
        report.problems.append(f"serving_default: images outside [0, 1] ({x.min():.3g} .. {x.max():.3g})")
    again = run("serving_default", **request)
    if again is not None and not np.array_equal(again[out], x):
        report.problems.append("serving_default: the same seed gave different samples")
    inputs = {"latents": z} | ({"labels": request["labels"]} if spec.num_classes else {})
    from_latents = run("generate_from_latents", **inputs)
    if from_latents is not None and not np.allclose(from_latents[out], x, atol=1e-5):
        report.problems.append("generate_from_latents: differs from serving_default on the same latents")
    if spec.kind == "image":
        png = run("generate_png", **request)
        if png is not None:
            decoded = np.stack([tf.io.decode_png(b).numpy() for b in png["png_bytes"]])
            expected = np.round(x * 255).astype(np.uint8)
            if decoded.shape != expected.shape or np.abs(decoded.astype(int) - expected).max() > 1:
                report.problems.append("generate_png: the PNGs do not hold serving_default's images")
    too_many = _request(spec, spec.max_samples + 1, seed=7)
    try:
        model.run("serving_default", **too_many)
        report.problems.append(f"serving_default: a request for {spec.max_samples + 1} samples (max_samples "
                               f"{spec.max_samples}) was not refused")
    except tf.errors.InvalidArgumentError:
        pass


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if "assertion failed" in line or "Error" in line or "error" in line]
    return (useful or lines or [type(error).__name__])[0][:300]
