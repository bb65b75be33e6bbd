"""InfraValidator: checks that a model server can load and run the trained model, before it is pushed.

Input: model (Model).  Parameters: max_load_seconds, timeout_seconds.
Output: blessing (InfraBlessing): an INFRA_BLESSED or INFRA_NOT_BLESSED file and report.json; property
blessed = 1 or 0.

In a fresh Python process (nothing of this one's state helps it), `tfgan.serving.validate_export` loads
the SavedModel through the session-based loader TF Serving uses, checks every signature against the
export contract (names, dtypes, shapes), sends warm-up requests through every signature (shapes, ranges,
PNGs that decode, determinism, an oversized request refused) and times the load. A load slower than
max_load_seconds, a process that outlives timeout_seconds, or any problem: not blessed, with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pipelines import artifact_io
from pipelines.orchestration import component
from pipelines.orchestration.artifacts import INFRA_BLESSING, MODEL

REPORT_FILE = "report.json"


def check_in_fresh_process(saved_model: str, sample_shape, max_load_seconds: float, timeout_seconds: float,
                           report_path: str) -> dict:
    """Runs `validate_export` in a new process; returns its report (problems, timings)."""
    cmd = [sys.executable, "-m", "pipelines.components.infra_validator", saved_model, report_path,
           json.dumps(list(sample_shape) if sample_shape else None), str(max_load_seconds)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_seconds, env=env)
    except subprocess.TimeoutExpired:
        return {"problems": [f"the check did not finish within {timeout_seconds:g}s"]}
    if proc.returncode != 0 or not os.path.exists(report_path):
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"problems": [f"the check process failed: {tail[:300]}"]}
    with open(report_path) as f:
        return json.load(f)


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        model = input_dict["model"][0]
        blessing = output_dict["blessing"][0]
        report_path = os.path.join(blessing.uri, REPORT_FILE)
        report = check_in_fresh_process(artifact_io.serving_model_path(model), model.properties.get("sample_shape"),
                                        exec_properties["max_load_seconds"], exec_properties["timeout_seconds"],
                                        report_path)
        artifact_io.write_json(blessing, REPORT_FILE, report)
        ok = not report["problems"]
        artifact_io.write_marker(blessing, artifact_io.INFRA_BLESSED if ok else artifact_io.INFRA_NOT_BLESSED,
                                 "\n".join(report["problems"]))
        blessing.properties.update(blessed=int(ok), reasons=report["problems"], model_id=model.id,
                                   load_seconds=report.get("load_seconds"))


class InfraValidator(component.Component):
    INPUTS = {"model": MODEL}
    OUTPUTS = {"blessing": INFRA_BLESSING}
    PARAMETERS = ("max_load_seconds", "timeout_seconds")
    EXECUTOR = Executor

    def summary(self, outputs):
        p = outputs["blessing"][0].properties
        if p.get("blessed"):
            return f"INFRA_BLESSED (loaded in {p.get('load_seconds', float('nan')):.1f}s, every signature answered)"
        return "INFRA_NOT_BLESSED: " + "; ".join(p.get("reasons", []))


def _worker(argv) -> int:
    """python -m pipelines.components.infra_validator SAVED_MODEL REPORT SAMPLE_SHAPE_JSON MAX_LOAD_SECONDS"""
    saved_model, report_path, shape, max_load = argv[0], argv[1], json.loads(argv[2]), float(argv[3])
    from tfgan import fileio, serving
    report = serving.validate_export(saved_model, tuple(shape) if shape else None, max_load_seconds=max_load)
    fileio.write_json_atomic(report_path, {"problems": report.problems, "load_seconds": report.load_seconds,
                                           "request_seconds": report.request_seconds,
                                           "outputs": report.outputs})
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
