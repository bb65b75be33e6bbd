"""Runs a compiled KFP v2 pipeline spec on this machine with `kfp.local` (SubprocessRunner, no virtual
environment): every task is a subprocess of the current Python running the spec's own command, the same
command a Kubeflow cluster runs in the image.

The tasks import the project: this module puts the directory this process imported `pipelines` from at the
front of their PYTHONPATH, so they run exactly the code that compiled the spec (an installed package works
the same way). `kfp.local` ignores the spec's image and, as used here, does not cache: every run executes
every task (KFP's cluster cache is what the code-version and data-fingerprint parameters are for).

Outputs land under `<root>/<pipeline name>-<timestamp>/<task>/<output>/`, beside the spec that ran
(`pipeline.yaml`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import warnings

import pipelines
from pipelines import artifact_io
from pipelines.components import infra_validator
from pipelines.orchestration.kfp_compiler import task_name

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pipelines.__file__)))


@dataclasses.dataclass
class LocalRun:
    """What a kfp.local run produced.

    Attributes:
      run_dir: the run's directory of task outputs.
      status: COMPLETE or FAILED (a task failed: see reason).
      pushed: the Pusher's record (pushed.json) if the Pusher ran, else None (a blessing was withheld).
      blessings: {component: blessing record} of the verdict producers that ran.
      reason: why nothing was pushed, or why the run failed.
    """

    run_dir: str
    status: str
    pushed: dict | None
    blessings: dict
    reason: str = ""


@contextlib.contextmanager
def _environment(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _read(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def run_spec(spec_path: str, root: str) -> LocalRun:
    """Runs the pipeline spec at `spec_path` with kfp.local; outputs under `root`."""
    from kfp import components, local

    os.makedirs(root, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root, raise_on_error=True)
    pipeline = components.load_component_from_file(spec_path)
    before = set(os.listdir(root))
    path = os.pathsep.join([PROJECT_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    status, reason = "COMPLETE", ""
    with _environment({"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}), \
            warnings.catch_warnings():
        # Known and said in the module docstring: local runs ignore the image and the display names.
        warnings.filterwarnings("ignore", message=".*(custom or non-Python base image|have no effect in the "
                                                  "current local runner).*")
        try:
            pipeline()
        except RuntimeError as e:  # kfp.local: a task failed (its log, with our one-line error, is above)
            status, reason = "FAILED", str(e).strip().splitlines()[0] if str(e).strip() else "a task failed"
    new = sorted(set(os.listdir(root)) - before)
    if len(new) != 1:
        raise RuntimeError(f"kfp.local wrote {len(new)} run directories under {root}; expected one")
    run_dir = os.path.join(root, new[0])
    shutil.copyfile(spec_path, os.path.join(run_dir, "pipeline.yaml"))  # what ran, beside its outputs
    blessings = {}
    for component, key, name in (("Evaluator", "blessing", artifact_io.BLESSING_FILE),
                                 ("InfraValidator", "blessing", infra_validator.REPORT_FILE)):
        record = _read(os.path.join(run_dir, task_name(component), key, name))
        if record is not None:
            blessings[component] = record
    pushed = _read(os.path.join(run_dir, task_name("Pusher"), "pushed_model", artifact_io.PUSHED_FILE))
    if pushed is None and status == "COMPLETE":
        reasons = []
        evaluation = blessings.get("Evaluator")
        if evaluation is not None and not evaluation.get("blessed"):
            reasons.append("Evaluator: " + "; ".join(evaluation.get("reasons") or ["not blessed"]))
        infra = blessings.get("InfraValidator")
        if infra is not None and infra.get("problems"):
            reasons.append("InfraValidator: " + "; ".join(infra["problems"]))
        reason = " | ".join(reasons)
    return LocalRun(run_dir, status, pushed, blessings, reason)
