"""Pusher: puts a model that both the Evaluator and the InfraValidator blessed where the server looks.

Inputs: model (Model), model_blessing (ModelBlessing), infra_blessing (InfraBlessing).
Parameter: serving_dir.
Output: pushed_model (PushedModel): pushed.json; properties pushed = 1 or 0, pushed_version,
pushed_destination, reasons.

The SavedModel is copied into a hidden temporary directory inside serving_dir and renamed to
`<serving_dir>/<version>/`, so TF Serving (which loads integer directory names) never sees a partial
model, whatever kills the copy. Versions only grow: max(now in seconds, the highest existing + 1); an
existing version is never overwritten.
"""

from __future__ import annotations

import os
import shutil
import time

from pipelines import artifact_io
from pipelines.orchestration import component
from pipelines.orchestration.artifacts import INFRA_BLESSING, MODEL, MODEL_BLESSING, PUSHED_MODEL
from tfgan import fileio
from tfgan.export import list_versions


def push(saved_model: str, serving_dir: str) -> tuple[int, str]:
    """Copies `saved_model` to a new version under `serving_dir`; returns (version, path)."""
    os.makedirs(serving_dir, exist_ok=True)
    fileio.remove_stale_temporaries(serving_dir)
    versions = list_versions(serving_dir)
    version = max(int(time.time()), (versions[-1] + 1) if versions else 0)
    path = os.path.join(serving_dir, str(version))
    with fileio.renamed_into_place(path, overwrite=False) as tmp:
        shutil.copytree(saved_model, tmp)
    return version, path


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        model = input_dict["model"][0]
        reasons = []
        for key, name in (("model_blessing", "Evaluator"), ("infra_blessing", "InfraValidator")):
            blessing = input_dict[key][0]
            if not blessing.properties.get("blessed"):
                reasons.append(f"{name}: " + "; ".join(blessing.properties.get("reasons") or ["not blessed"]))
            elif blessing.properties.get("model_id") not in (None, model.id):
                reasons.append(f"{name} blessed another model ({blessing.properties.get('model_id')})")
        pushed = output_dict["pushed_model"][0]
        record = {"pushed": not reasons, "reasons": reasons, "model": model.uri}
        if not reasons:
            serving_dir = os.path.abspath(exec_properties["serving_dir"])
            version, path = push(artifact_io.serving_model_path(model), serving_dir)
            record.update(pushed_version=version, pushed_destination=path)
        artifact_io.write_json(pushed, artifact_io.PUSHED_FILE, record)
        pushed.properties.update(pushed=int(record["pushed"]), reasons=reasons, model_id=model.id,
                                 pushed_version=record.get("pushed_version"),
                                 pushed_destination=record.get("pushed_destination"))


class Pusher(component.Component):
    INPUTS = {"model": MODEL, "model_blessing": MODEL_BLESSING, "infra_blessing": INFRA_BLESSING}
    OUTPUTS = {"pushed_model": PUSHED_MODEL}
    PARAMETERS = ("serving_dir",)
    EXECUTOR = Executor

    def outputs_valid(self, outputs):
        """A cached push stands only while its version is still in the serving directory."""
        p = outputs["pushed_model"][0].properties
        return not p.get("pushed") or os.path.isdir(p.get("pushed_destination") or "")

    def summary(self, outputs):
        p = outputs["pushed_model"][0].properties
        if p.get("pushed"):
            return f"pushed version {p['pushed_version']} to {p['pushed_destination']}"
        return "not pushed: " + " | ".join(p.get("reasons", []))
