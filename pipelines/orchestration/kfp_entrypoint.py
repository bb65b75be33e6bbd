"""Inside a Kubeflow Pipelines task: rebuilds a component's `input_dict / output_dict / exec_properties`
from KFP's artifacts and parameters, and calls the same executor `Do()` the local runner calls (after
TFX's `kubeflow_v2_run_executor.py`).

Each KFP component of the pipeline (`kfp_compiler`) is a function of typed KFP artifacts and parameters
whose body is one call:

    from pipelines.orchestration import kfp_entrypoint
    return kfp_entrypoint.run("pipelines.components.pusher.Pusher", locals(), json_parameters=())

Here:
  inputs      each KFP input artifact becomes an `Artifact` of the declared type, uri = its local path
              (KFP mounts or downloads remote storage there), properties and fingerprint from its metadata;
              a producer of another type is refused.
  outputs     each KFP output artifact's path becomes the output directory; after `Do`, the properties the
              executor set go back into the metadata (exactly, as JSON text: KFP turns ints into floats).
  parameters  the declared ones, JSON-decoded where the compiler encoded them (lists, dicts).
  resolvers   the component's `resolve_inputs` hook sees an empty run record, as on a first local run
              (no baseline model, the schema inferred now): under KFP, lineage lives in KFP's own store.
  fingerprint a component with a driver fingerprint (ExampleGen: the data files) compares it with the one
              compiled into the spec, which KFP's cache key sees; data that changed since refuses to run.
  gates       a component's `stop_reason` fails the task (nothing downstream runs); a verdict output
              (kfp_types.GATE_TYPES) is also returned, as the parameter GATE_PARAMETER, for `dsl.If`.

Errors end the task with one line (no traceback) and a non-zero exit.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time

from pipelines.orchestration import kfp_types
from pipelines.orchestration.artifacts import LIVE, Artifact, content_fingerprint
from pipelines.orchestration.component import Channel

CODE_VERSION = "tfgan_code_version"              # parameter: the component's code version (cache key)
DRIVER_FINGERPRINT = "tfgan_driver_fingerprint"  # parameter: the driver's fingerprint at compile time


# The output parameter that carries a component's verdict (`blessed` of its one verdict output, 1 or 0): the
# function's return value, which KFP names "Output" (kfp.local resolves conditions on that name only).
GATE_PARAMETER = "Output"


class _EmptyRecord:
    """A run record with nothing in it, for the resolvers (see the module docstring)."""

    def artifacts(self, *args, **kwargs):
        return []

    def artifacts_by_uri(self, *args, **kwargs):
        return []


def _component_class(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _local_path(kfp_artifact) -> str:
    """Where the artifact's files are in this container: KFP's local path for its URI (gs://B/x is mounted
    at /gcs/B/x, minio:// and s3:// likewise; a local URI is its own path)."""
    return kfp_artifact.path


def to_artifact(kfp_artifact, declared_type: str, key: str) -> Artifact:
    """The project's Artifact for a KFP input artifact."""
    metadata = dict(kfp_artifact.metadata or {})
    found = metadata.get(kfp_types.TYPE_KEY)
    if found != declared_type:
        raise ValueError(f"input {key}: expected a {declared_type} artifact, got {found or 'one not written by tfgan'} "
                         f"({kfp_artifact.uri})")
    return Artifact(declared_type, _local_path(kfp_artifact), json.loads(metadata.get(kfp_types.PROPERTIES_KEY, "{}")),
                    state=LIVE, fingerprint=metadata.get(kfp_types.FINGERPRINT_KEY))


def write_metadata(kfp_artifact, artifact: Artifact) -> None:
    """The artifact's type, fingerprint and properties (exact JSON) into the KFP artifact's metadata, with the
    scalar properties also as plain entries for the KFP UI."""
    def readable(v):  # a Struct number cannot be inf or NaN
        return isinstance(v, (str, bool)) or (isinstance(v, (int, float)) and math.isfinite(v))

    shown = {k: v for k, v in artifact.properties.items() if readable(v) and not k.startswith("tfgan_")}
    if isinstance(artifact.properties.get("metrics"), dict):  # the Evaluator's scores, as KFP Metrics show them
        shown.update({k: v for k, v in artifact.properties["metrics"].items() if readable(v) and not isinstance(v, str)})
    kfp_artifact.metadata.update(shown)
    kfp_artifact.metadata.update({kfp_types.TYPE_KEY: artifact.type, kfp_types.FINGERPRINT_KEY: artifact.fingerprint,
                                  kfp_types.PROPERTIES_KEY: json.dumps(artifact.properties, sort_keys=True)})


def execute(component_path: str, arguments: dict, json_parameters=()) -> int | None:
    """Runs the component's executor on KFP's arguments (artifacts and parameters by name).

    Returns:
      The `blessed` (1 or 0) of the component's verdict output, or None if it has none.

    Raises:
      ValueError: an input of the wrong type, or data that changed since the pipeline was compiled.
      RuntimeError: the component's gate stopped the pipeline (its reason).
    """
    cls = _component_class(component_path)
    declared = {**cls.INPUTS, **cls.OPTIONAL_INPUTS}
    exec_properties = {name: json.loads(arguments[name]) if name in json_parameters else arguments[name]
                       for name in cls.PARAMETERS}
    present = {k: v for k, v in arguments.items() if k in declared and v is not None}
    # The declaration's own constructor: the hooks are methods of a component instance.
    component = cls(**{k: Channel("kfp", k, declared[k]) for k in present}, **exec_properties)
    compiled = arguments.get(DRIVER_FINGERPRINT)
    if compiled:
        now = component.driver_fingerprint(exec_properties)
        if now != compiled:
            raise ValueError(f"{component.id}: its input changed since the pipeline was compiled (fingerprint "
                             f"{str(now)[:12]}, compiled {compiled[:12]}): compile the pipeline again, so that the "
                             f"spec and KFP's cache see the new data")
    inputs = {k: [to_artifact(v, declared[k], k)] for k, v in present.items()}
    inputs = component.resolve_inputs(_EmptyRecord(), None, inputs)
    outputs = {}
    for key, type_ in cls.OUTPUTS.items():
        path = _local_path(arguments[key])
        os.makedirs(path, exist_ok=True)
        outputs[key] = [Artifact(type_, path)]
    start = time.perf_counter()
    print(f"[{component.id}] running", flush=True)
    cls.EXECUTOR().Do(inputs, outputs, dict(exec_properties))
    for key, (artifact,) in outputs.items():
        artifact.fingerprint = content_fingerprint(artifact.uri)
        artifact.state = LIVE
        write_metadata(arguments[key], artifact)
    summary = component.summary(outputs)
    print(f"[{component.id}] done in {time.perf_counter() - start:.1f}s {summary}".rstrip(), flush=True)
    stop = component.stop_reason(outputs)
    if stop:
        raise RuntimeError(f"stopped the pipeline: {stop}")
    verdicts = [int(bool(outputs[key][0].properties.get("blessed")))
                for key, type_ in cls.OUTPUTS.items() if type_ in kfp_types.GATE_TYPES]
    return verdicts[0] if verdicts else None


def run(component_path: str, arguments: dict, json_parameters=()):
    """`execute` for a KFP component function (its return value); any error ends the task with one line on
    stderr and exit code 1."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return execute(component_path, arguments, json_parameters)
    except Exception as e:  # noqa: BLE001 - one line for the task's log; the exit code fails the task
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if not isinstance(e, (ValueError, RuntimeError, OSError)) or not text:  # not written for the user
            text = f"{type(e).__name__}: {text}".rstrip(": ")
        print(f"error: [{component_path.rsplit('.', 1)[-1]}] {text}", file=sys.stderr, flush=True)
        sys.exit(1)
