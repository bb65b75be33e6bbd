"""The tfgan pipeline: its components wired together, the run list and lineage from the run record.

    ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator (gate)
               -> Trainer -> Evaluator (blessing) + InfraValidator (infra blessing) -> Pusher

`create_pipeline(config)` builds it from a validated config; `tfgan.pipeline` runs it with the local
runner. The same components can be run by another orchestrator, one process per component
(`pipelines.orchestration.executor_main`).
"""

from __future__ import annotations

import dataclasses
import datetime
import os

from pipelines.components.data_validation import ExampleValidator, SchemaGen, StatisticsGen
from pipelines.components.evaluator import Evaluator
from pipelines.components.example_gen import ExampleGen
from pipelines.components.infra_validator import InfraValidator
from pipelines.components.pusher import Pusher
from pipelines.components.trainer import Trainer
from pipelines.config import COMPONENT_NAMES, PipelineConfig
from pipelines.orchestration import metadata as md
from pipelines.orchestration.artifacts import MODEL, PUSHED_MODEL, SERVING_MODEL_DIR
from pipelines.orchestration.runner import Pipeline


def training_parameters(config: PipelineConfig) -> dict:
    """The config the Trainer reads: every section but the pipeline's own, without the run directory (the
    Trainer's output artifact is its run directory)."""
    raw = dataclasses.asdict(config)
    raw.pop("pipeline")
    raw["train"].pop("run_dir")
    return raw


def create_pipeline(config: PipelineConfig) -> Pipeline:
    p, d, e = config.pipeline, config.data, config.eval
    example_gen = ExampleGen(dataset=d.dataset, data_dir=os.path.abspath(d.data_dir) if d.data_dir else "",
                             image_size=d.image_size, channels=d.channels, download=d.download,
                             eval_percent=p.eval_percent, beam_pipeline_args=p.beam_pipeline_args)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"], max_examples=p.statistics_max_examples,
                                   beam_pipeline_args=p.beam_pipeline_args)
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                         schema=schema_gen.outputs["schema"],
                                         schema_path=os.path.abspath(p.schema_path) if p.schema_path else "")
    trainer = Trainer(examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
                      config=training_parameters(config), warm_start=p.base_model)
    evaluator = Evaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                          metrics=list(e.eval_metrics), num_samples=p.evaluator_num_samples, seed=0,
                          feature_extractor=e.feature_extractor, inception_weights=e.inception_weights,
                          thresholds=list(p.bless_thresholds), change_thresholds=list(p.bless_change_thresholds))
    infra_validator = InfraValidator(model=trainer.outputs["model"], max_load_seconds=p.infra_max_load_seconds,
                                     timeout_seconds=p.infra_timeout_seconds)
    pusher = Pusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=infra_validator.outputs["blessing"], serving_dir=os.path.abspath(p.serving_dir))
    components = [example_gen, statistics_gen, schema_gen, example_validator, trainer, evaluator, infra_validator,
                  pusher]
    assert tuple(c.id for c in components) == COMPONENT_NAMES
    root = os.path.abspath(p.pipeline_root)
    return Pipeline(p.pipeline_name, root, components, os.path.abspath(p.metadata_path) if p.metadata_path else "",
                    p.enable_cache)


# --- the run record, read ----------------------------------------------------------------------------------

def _time(seconds) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds else "-"


def list_runs(store: md.MetadataStore) -> list[dict]:
    """Every pipeline run, oldest first: id, status, start, seconds, executions by state, pushed version."""
    runs = []
    for ctx in store.contexts(md.PIPELINE_RUN):
        p = ctx["properties"]
        executions = p.get("executions", [])
        pushed = None
        for component, execution_id, _ in executions:
            if component == "Pusher":
                outputs = store.events_of_execution(execution_id, md.OUTPUT).get("pushed_model", [])
                if outputs and outputs[0].properties.get("pushed"):
                    pushed = outputs[0].properties.get("pushed_destination")
        counts = {}
        for _, _, state in executions:
            counts[state] = counts.get(state, 0) + 1
        runs.append({"run": ctx["name"], "status": p.get("status"), "start": p.get("start"),
                     "seconds": (p["end"] - p["start"]) if p.get("end") and p.get("start") else None,
                     "executions": counts, "pushed": pushed, "reason": p.get("reason", "")})
    return runs


def format_runs(runs: list[dict]) -> str:
    if not runs:
        return "no runs recorded"
    lines = [f"{'run':<36} {'status':<9} {'started':<19} {'time':>8}  {'ran/cached/failed':<17}  result"]
    for r in runs:
        e = r["executions"]
        counts = f"{e.get(md.COMPLETE, 0)}/{e.get(md.CACHED, 0)}/{e.get(md.FAILED, 0)}"
        took = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "-"
        result = f"pushed {r['pushed']}" if r["pushed"] else (r["reason"] or "nothing pushed")
        lines.append(f"{r['run']:<36} {r['status'] or '?':<9} {_time(r['start']):<19} {took:>8}  {counts:<17}  "
                     f"{result[:120]}")
    return "\n".join(lines)


def find_artifact(store: md.MetadataStore, path: str):
    """The artifact a path names: an artifact directory, a pushed version directory, or a Model's SavedModel."""
    path = os.path.abspath(path).rstrip("/")
    found = store.artifacts_by_uri(path)
    if found:
        return found[0]
    for artifact in store.artifacts(PUSHED_MODEL):
        if artifact.properties.get("pushed_destination") == path:
            return artifact
    if os.path.basename(path) == SERVING_MODEL_DIR:
        models = [a for a in store.artifacts_by_uri(os.path.dirname(path)) if a.type == MODEL]
        if models:
            return models[0]
    raise ValueError(f"{path} is not an artifact or a pushed model in this run record ({store.path})")


def lineage(store: md.MetadataStore, path: str) -> str:
    """The tree of what produced the artifact at `path`, back to ExampleGen's data fingerprint and the flags."""
    artifact = find_artifact(store, path)
    lines, seen = [], set()

    def describe(a) -> str:
        p = a.properties
        extra = {"PushedModel": lambda: f"version {p.get('pushed_version')} at {p.get('pushed_destination')}"
                 if p.get("pushed") else "not pushed",
                 "Model": lambda: f"step {p.get('step')}",
                 "ModelBlessing": lambda: "BLESSED" if p.get("blessed") else "NOT_BLESSED",
                 "InfraBlessing": lambda: "INFRA_BLESSED" if p.get("blessed") else "INFRA_NOT_BLESSED",
                 "Examples": lambda: f"{p.get('dataset')} counts {p.get('counts')} data fingerprint "
                                     f"{str(p.get('data_fingerprint'))[:16]}"}.get(a.type, lambda: "")()
        return f"{a.type} #{a.id} {a.uri}" + (f"  [{extra}]" if extra else "")

    def walk(a, prefix, key):
        lines.append(f"{prefix}{key + ': ' if key else ''}{describe(a)}")
        execution = store.producer(a.id)
        if execution is None or execution["id"] in seen:
            if execution is not None:
                lines.append(f"{prefix}   (execution {execution['id']} shown above)")
            return
        seen.add(execution["id"])
        params = execution["properties"].get("parameters", {})
        shown = _flags(params) if execution["type"] == "Trainer" else \
            ", ".join(f"{k}={v}" for k, v in params.items() if v not in ("", [], None))
        lines.append(f"{prefix}   <- {execution['type']} execution {execution['id']} ({execution['state']}, "
                     f"{_time(execution['create_time'])})" + (f": {shown}" if shown else ""))
        for k, artifacts in sorted(store.events_of_execution(execution["id"], md.INPUT).items()):
            for child in artifacts:
                walk(child, prefix + "      ", k)

    walk(artifact, "", "")
    return "\n".join(lines)


def _flags(parameters: dict) -> str:
    """The Trainer's settings that differ from the defaults, as flags."""
    from pipelines.config import SECTIONS
    config = parameters.get("config", {})
    flags = []
    for section, values in config.items():
        defaults = dataclasses.asdict(SECTIONS[section]()) if section in SECTIONS else {}
        for k, v in values.items():
            default = defaults.get(k)
            if (list(default) if isinstance(default, tuple) else default) != v:
                flags.append(f"--{k}={','.join(map(str, v)) if isinstance(v, list) else v}")
    if parameters.get("warm_start"):
        flags.append(f"--base_model={parameters['warm_start']}")
    return " ".join(flags) or "all defaults"
