"""Trainer: trains the GAN on the train split behind a `run_fn(fn_args)` contract (after TFX's Trainer),
and exports the generator.

Inputs: examples (Examples), schema (Schema); optional base_model (Model, warm start).
Parameters: config (the training sections of the pipeline config), warm_start (--base_model: a Model
artifact directory of this pipeline, latest_blessed, or empty).
Outputs: model (Model): the run directory (checkpoints/, samples/, config.json) with the SavedModel in
Format-Serving/ (and, with --export_tflite, the TFLite model in Format-TFLite/), written by the train
command's own export function; model_run (ModelRun): TensorBoard logs.

Before training, the schema is read and checked against the model it builds (kind, example shape, classes).

Resumable: a run killed mid-training is picked up by the next pipeline run with the same cache key, in
its own output directories, from its latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from pipelines import artifact_io
from pipelines.orchestration import component
from pipelines.orchestration.artifacts import EXAMPLES, LIVE, MODEL, MODEL_BLESSING, MODEL_RUN, SCHEMA


@dataclasses.dataclass
class FnArgs:
    """What `run_fn` gets (the shape of TFX's FnArgs).

    Attributes:
      examples: the Examples artifact directory (open with `artifact_io.open_examples`).
      train_split, eval_split: its split names.
      schema_file: the schema the data was validated against.
      model_dir: the run directory (checkpoints, samples, resolved config).
      serving_model_dir: where the SavedModel goes.
      model_run_dir: where TensorBoard logs go.
      hyperparameters: the config sections (dict) to train with.
      base_model: a checkpoint to warm-start the networks from, or None.
    """

    examples: str
    schema_file: str
    model_dir: str
    serving_model_dir: str
    model_run_dir: str
    hyperparameters: dict
    base_model: str | None = None
    train_split: str = "train"
    eval_split: str = "eval"


def check_schema(schema: dict, config, spec, schema_file: str) -> None:
    """The schema the data was validated against must fit the model the Trainer builds: the kind, the shape
    of one example (that of the generator's output) and, for a conditional model, the classes.

    Raises:
      ValueError: one line naming the schema file, what it says and what the model would be.
    """
    from pipelines.task import build_networks, generator_classes

    num_classes = generator_classes(config, spec)
    generator, _ = build_networks(config.model, spec, num_classes, sync_batch_norm=False)
    built = list(generator.output_shape[1:])
    problems = []
    if schema["kind"] != spec.kind:
        problems.append(f"kind {schema['kind']}, the data {spec.kind}")
    if list(schema["shape"]) != built:
        problems.append(f"shape {list(schema['shape'])}, the generator's output {built}")
    if num_classes and (schema.get("num_classes") != num_classes or any(c >= num_classes for c in schema["labels"])):
        problems.append(f"{schema.get('num_classes')} classes (labels up to {max(schema['labels'], default=-1)}), "
                        f"the conditional model {num_classes}")
    if problems:
        raise ValueError(f"schema {schema_file} does not fit the model the Trainer builds: {'; '.join(problems)}")


def run_fn(fn_args: FnArgs) -> dict:
    """Checks the schema, trains (or resumes) and exports (TFLite too with --export_tflite); returns {"step",
    "metrics", "sample_grid", "sample_shape", "tflite"}.

    With --strategy=multi_worker every worker of the cluster (TF_CONFIG) runs this with the same arguments;
    the chief alone writes the run directory and the SavedModel.
    """
    import json

    from pipelines import stages
    from pipelines.config import PipelineConfig
    from pipelines.orchestration.artifacts import Artifact

    config = PipelineConfig.from_dict(fn_args.hyperparameters)
    # Before this process's first op (isolated executors); where the pipeline process set them, a no-op.
    stages.apply_threads(config)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, run_dir=fn_args.model_dir))
    source = artifact_io.open_examples(Artifact(EXAMPLES, fn_args.examples))
    with open(fn_args.schema_file) as f:
        check_schema(json.load(f), config, source.spec, fn_args.schema_file)
    ingested = stages.Ingested(source, source.spec)
    trained = stages.train(config, ingested, log_dir=fn_args.model_run_dir, warm_start=fn_args.base_model,
                           out=sys.stdout)
    tflite = (os.path.join(fn_args.model_dir, artifact_io.TFLITE_MODEL_DIR,
                           f"model{'.dynamic_range' if config.export.tflite_quantize else ''}.tflite")
              if config.export.export_tflite else None)
    if not trained.chief:  # the chief alone exports into the shared Model artifact
        return {"step": trained.step, "metrics": trained.metrics, "sample_grid": trained.sample_grid,
                "sample_shape": list(source.spec.shape), "tflite": None}
    if tflite:
        os.makedirs(os.path.dirname(tflite), exist_ok=True)
    exported = stages.export_checkpoint(config, source.spec, trained.checkpoint, fn_args.serving_model_dir, tflite)
    return {"step": trained.step, "metrics": trained.metrics, "sample_grid": trained.sample_grid,
            "sample_shape": list(source.spec.shape), "tflite": exported.tflite}


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        import tensorflow as tf

        model, model_run = output_dict["model"][0], output_dict["model_run"][0]
        base = input_dict.get("base_model")
        base_checkpoint = tf.train.latest_checkpoint(os.path.join(base[0].uri, "checkpoints")) if base else None
        result = run_fn(FnArgs(
            examples=input_dict["examples"][0].uri,
            schema_file=os.path.join(input_dict["schema"][0].uri, artifact_io.SCHEMA_FILE),
            model_dir=model.uri, serving_model_dir=artifact_io.serving_model_path(model),
            model_run_dir=model_run.uri, hyperparameters=exec_properties["config"], base_model=base_checkpoint))
        model.properties.update(result)
        model_run.properties["tensorboard"] = f"tensorboard --logdir {model_run.uri}"


class Trainer(component.Component):
    INPUTS = {"examples": EXAMPLES, "schema": SCHEMA}
    OPTIONAL_INPUTS = {"base_model": MODEL}
    OUTPUTS = {"model": MODEL, "model_run": MODEL_RUN}
    PARAMETERS = ("config", "warm_start")
    EXECUTOR = Executor
    RESUMABLE = True

    def resolve_inputs(self, store, pipeline_context, inputs):
        """base_model: a Model artifact directory of this pipeline, or latest_blessed."""
        wanted = self.exec_properties["warm_start"]
        if not wanted:
            return inputs
        if wanted == "latest_blessed":
            for blessing in store.artifacts(MODEL_BLESSING, LIVE, context=pipeline_context):
                if blessing.properties.get("blessed"):
                    model = store.get_artifact(blessing.properties["model_id"])
                    if model.state == LIVE and os.path.isdir(model.uri):
                        return inputs | {"base_model": [model]}
            raise ValueError("--base_model=latest_blessed: no blessed model in this pipeline's run record yet")
        path = os.path.abspath(wanted).rstrip("/")
        found = [a for a in store.artifacts_by_uri(path) if a.type == MODEL and a.state == LIVE]
        if not found:
            raise ValueError(f"--base_model={wanted}: not a LIVE Model artifact of this pipeline (give the "
                             f"directory of a Trainer's model output, or latest_blessed)")
        return inputs | {"base_model": found[:1]}

    def summary(self, outputs):
        p = outputs["model"][0].properties
        return f"step {p.get('step')}, SavedModel {artifact_io.serving_model_path(outputs['model'][0])}"
