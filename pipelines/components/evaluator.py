"""Evaluator: scores the trained generator on the eval split and decides whether it is good enough to ship.

Inputs: examples (Examples), model (Model); resolved from the run record: baseline_model, the latest
blessed Model produced before this one (with the evaluation that blessed it).
Parameters: metrics, num_samples, seed, feature_extractor, inception_weights, thresholds,
change_thresholds.
Outputs: evaluation (ModelEvaluation: metrics.json, pictures), blessing (ModelBlessing: a BLESSED or
NOT_BLESSED file and blessing.json with the reasons; property blessed = 1 or 0).

Blessing (after TFX's value and change thresholds):
  value thresholds   "fid<=15", "is>=8.5", "modes>=8": each must hold.
  change thresholds  "fid:2" (absolute) or "fid:10%" (relative): the model may be worse than the
                     baseline by at most that much, in the metric's better direction. Without a baseline
                     (the first model) they pass.
The metric names and their better directions are `tfgan.evaluation`'s.
"""

from __future__ import annotations

import hashlib
import json
import os

from pipelines import artifact_io
from pipelines.thresholds import bless, parse_change_thresholds, parse_value_thresholds
from pipelines.orchestration import component
from pipelines.orchestration import metadata as md
from pipelines.orchestration.artifacts import (
    EXAMPLES,
    LIVE,
    MODEL,
    MODEL_BLESSING,
    MODEL_EVALUATION,
)

def evaluate_model(saved_model: str, examples, metrics: list, num_samples: int, seed: int, feature_extractor: str,
                   inception_weights: str, out_dir: str | None = None) -> dict:
    """Metrics of an exported generator against the snapshot's eval split, under the evaluate command's protocol
    (`stages.EvalProtocol`, printed); pictures into `out_dir`."""
    from pipelines.stages import EvalProtocol, held_out_split, load_extractor, measure
    from tfgan import evaluation, fileio, visualize

    source = artifact_io.open_examples(examples)
    spec = source.spec
    names = list(metrics) or evaluation.default_metrics(spec.kind, spec.shape)
    evaluation.check_metric_names(names, spec.kind)
    generate, _ = evaluation.saved_model_generator(saved_model)
    extractor = load_extractor(spec.kind, feature_extractor, inception_weights)
    protocol = EvalProtocol(held_out_split(spec), num_samples, seed)
    result = measure(generate, source, names, protocol, extractor)
    print(f"{saved_model}: {protocol.describe(result.get('num_real'))}", flush=True)
    if out_dir and spec.kind == "image":
        visualize.write_png(os.path.join(out_dir, "samples.png"), visualize.image_grid(generate(64, seed + 99)))
    elif out_dir and spec.shape == (2,):
        from tfgan.data.toy import get_toy
        png = visualize.density_scatter_png(generate(min(num_samples, 5000), seed + 99), get_toy(spec.name))
        fileio.write_atomic(os.path.join(out_dir, "scatter.png"), png)
    return result


def settings_fingerprint(examples, exec_properties: dict) -> str:
    """What makes two evaluations comparable: the same eval data and the same measuring."""
    keys = ("metrics", "num_samples", "seed", "feature_extractor", "inception_weights")
    material = {"examples": examples.fingerprint, **{k: exec_properties[k] for k in keys}}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        p = exec_properties
        values = parse_value_thresholds(p["thresholds"])
        changes = parse_change_thresholds(p["change_thresholds"])
        examples, model = input_dict["examples"][0], input_dict["model"][0]
        evaluation_out, blessing = output_dict["evaluation"][0], output_dict["blessing"][0]
        measure = dict(metrics=p["metrics"], num_samples=p["num_samples"], seed=p["seed"],
                       feature_extractor=p["feature_extractor"], inception_weights=p["inception_weights"])
        metrics = evaluate_model(artifact_io.serving_model_path(model), examples, out_dir=evaluation_out.uri,
                                 **measure)
        settings = settings_fingerprint(examples, p)
        baseline, baseline_uri = None, None
        if input_dict.get("baseline_model"):
            baseline_model = input_dict["baseline_model"][0]
            baseline_uri = baseline_model.uri
            previous = input_dict.get("baseline_evaluation")
            if previous and previous[0].properties.get("settings") == settings:
                baseline = artifact_io.read_json(previous[0], artifact_io.EVALUATION_FILE)["metrics"]
            else:  # measured differently (other data or settings): measure the baseline now
                baseline = evaluate_model(artifact_io.serving_model_path(baseline_model), examples, **measure)
        blessed, reasons = bless(metrics, values, changes, baseline)
        artifact_io.write_json(evaluation_out, artifact_io.EVALUATION_FILE,
                               {"metrics": metrics, "baseline": baseline, "baseline_model": baseline_uri,
                                "model": model.uri, "split": "eval", "settings": measure})
        evaluation_out.properties.update(metrics=metrics, settings=settings, model_id=model.id)
        verdict = artifact_io.BLESSED if blessed else artifact_io.NOT_BLESSED
        artifact_io.write_marker(blessing, verdict, "\n".join(reasons))
        artifact_io.write_json(blessing, artifact_io.BLESSING_FILE,
                               {"blessed": blessed, "reasons": reasons, "metrics": metrics, "baseline": baseline,
                                "thresholds": [str(t) for t in values], "change_thresholds": [str(t) for t in changes]})
        blessing.properties.update(blessed=int(blessed), reasons=reasons, model_id=model.id, model_uri=model.uri)


class Evaluator(component.Component):
    INPUTS = {"examples": EXAMPLES, "model": MODEL}
    OPTIONAL_INPUTS = {"baseline_model": MODEL, "baseline_evaluation": MODEL_EVALUATION}
    OUTPUTS = {"evaluation": MODEL_EVALUATION, "blessing": MODEL_BLESSING}
    PARAMETERS = ("metrics", "num_samples", "seed", "feature_extractor", "inception_weights", "thresholds",
                  "change_thresholds")
    EXECUTOR = Executor

    def resolve_inputs(self, store, pipeline_context, inputs):
        """baseline: the latest blessed model produced before the candidate (none for the first)."""
        candidate = inputs["model"][0]
        for blessing in store.artifacts(MODEL_BLESSING, LIVE, context=pipeline_context):
            p = blessing.properties
            if not p.get("blessed") or p.get("model_id") is None or p["model_id"] >= candidate.id:
                continue
            model = store.get_artifact(p["model_id"])
            if model.state != LIVE or not os.path.isdir(model.uri):
                continue
            producer = store.producer(blessing.id)
            evaluation = store.events_of_execution(producer["id"], md.OUTPUT).get("evaluation", [])
            return inputs | {"baseline_model": [model], "baseline_evaluation": evaluation}
        return inputs

    def summary(self, outputs):
        p = outputs["blessing"][0].properties
        shown = {k: round(v, 4) for k, v in outputs["evaluation"][0].properties.get("metrics", {}).items()
                 if isinstance(v, float)}
        verdict = "BLESSED" if p.get("blessed") else "NOT_BLESSED: " + "; ".join(p.get("reasons", []))
        return f"{shown} {verdict}"
