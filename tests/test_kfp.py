"""The pipeline on Kubeflow Pipelines: the compiled v2 spec (loaded back with kfp's own loader), the
entrypoint that adapts KFP's artifacts to the executors, and whole runs through kfp.local (slow)."""

import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from conftest import REPO, free_port

kfp = pytest.importorskip("kfp", reason="kfp is the pipeline extra: pip install -e '.[cpu,pipeline]'")

from google.protobuf import json_format, struct_pb2  # noqa: E402

from pipelines import flags as pipeline_flags  # noqa: E402
from pipelines import pipeline as tfx_pipeline  # noqa: E402
from pipelines.orchestration import kfp_compiler, kfp_entrypoint, kfp_types  # noqa: E402
from pipelines.orchestration.artifacts import TYPES, Artifact  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")
RING = os.path.join(REPO, "configs", "toy_ring8.cfg")
# The eight tasks, as KFP names them (written out here, not derived from the code under test).
TASKS = {"example-gen", "statistics-gen", "schema-gen", "example-validator", "trainer", "evaluator",
         "infra-validator", "pusher"}


def _pipeline_cmd(*args):
    return [sys.executable, "-m", "tfgan.pipeline", *args]


def _config(*args):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["pipeline", *args])
    return pipeline_flags.config_from_flags(fv)


def _load_spec(path):
    """The spec as KFP's own PipelineSpec proto (and kfp's loader must accept the file)."""
    import yaml
    from kfp.pipeline_spec import pipeline_spec_pb2
    loaded = kfp.components.load_component_from_file(str(path))
    assert loaded.pipeline_spec is not None  # a pipeline, not a single component
    with open(path) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


def _leaf_tasks(spec):
    """{task name: (task spec, [trigger conditions of the condition groups around it])}."""
    found = {}

    def walk(dag, conditions):
        for name, task in dag.tasks.items():
            component = spec.components[task.component_ref.name]
            here = conditions + ([task.trigger_policy.condition] if task.trigger_policy.condition else [])
            if component.WhichOneof("implementation") == "dag":
                walk(component.dag, here)
            else:
                found[name] = (task, here)

    walk(spec.root.dag, [])
    return found


def _constant(task, name):
    return json_format.MessageToDict(task.inputs.parameters[name].runtime_value.constant)


def _executor(spec, task):
    label = spec.components[task.component_ref.name].executor_label
    return spec.deployment_spec["executors"][label]["container"]


def test_compile_command_writes_a_spec_kfp_loads_with_the_eight_components_and_the_gate(tmp_path):
    out = tmp_path / "spec" / "pipeline.yaml"
    proc = subprocess.run(_pipeline_cmd(f"--flagfile={RING}", "compile", f"--output={out}",
                                        "--image=registry.example/tfgan:test", f"--pipeline_root={tmp_path / 'root'}",
                                        "--bless_thresholds=modes>=7"),
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    assert [n for n in os.listdir(out.parent)] == ["pipeline.yaml"]  # nothing half-written beside it
    spec = _load_spec(out)
    tasks = _leaf_tasks(spec)
    assert set(tasks) == TASKS

    # The gate: the Pusher alone runs inside a condition on each blessing, and nothing else is conditional.
    conditions = {name: c for name, (_, c) in tasks.items() if c}
    assert set(conditions) == {"pusher"}
    assert sorted(re.sub(r"\s+", " ", c) for c in conditions["pusher"]) == [
        "int(inputs.parameter_values['pipelinechannel--evaluator-Output']) == 1",
        "int(inputs.parameter_values['pipelinechannel--infra-validator-Output']) == 1"]
    # After the data gate: the Trainer waits for the ExampleValidator though it reads none of its outputs.
    assert "example-validator" in tasks["trainer"][0].dependent_tasks
    # The Pusher's cached result could name a version that was deleted since: never cached.
    assert not tasks["pusher"][0].caching_options.enable_cache
    assert tasks["trainer"][0].caching_options.enable_cache

    for name, (task, _) in tasks.items():
        container = _executor(spec, task)
        assert container["image"] == "registry.example/tfgan:test", name
        assert "kfp.dsl.executor_main" in " ".join(container["command"])
        assert "kfp_entrypoint.run(" in container["command"][-1], name
        assert "pip install" not in " ".join(container["command"]), name  # the image holds everything
        assert re.fullmatch(r"[0-9a-f]{64}", _constant(task, "tfgan_code_version")), name
    # The data fingerprint is a parameter, so that KFP's cache key sees the data.
    assert re.fullmatch(r"[0-9a-f]{64}", _constant(tasks["example-gen"][0], "tfgan_driver_fingerprint"))
    # Nested settings travel as JSON text: their ints stay ints (a Struct would make 5000 into 5000.0).
    config = json.loads(_constant(tasks["trainer"][0], "config"))
    assert config["train"]["steps"] == 5000 and type(config["train"]["steps"]) is int
    assert config["model"]["g_hidden"] == [128, 128]
    assert json.loads(_constant(tasks["evaluator"][0], "thresholds")) == ["modes>=7"]

    # Artifacts are typed: a model is a system.Model, the evaluation system.Metrics, the examples a Dataset.
    outputs = {name: {k: v.artifact_type.schema_title for k, v in
                      spec.components[t.component_ref.name].output_definitions.artifacts.items()}
               for name, (t, _) in tasks.items()}
    assert outputs["trainer"]["model"] == "system.Model" and outputs["example-gen"]["examples"] == "system.Dataset"
    assert outputs["evaluator"]["evaluation"] == "system.Metrics"


def test_every_artifact_type_has_a_kfp_class():
    assert set(kfp_types.KFP_TYPES) == set(TYPES)


def test_compile_refuses_what_only_the_local_run_record_can_resolve(tmp_path):
    proc = subprocess.run(_pipeline_cmd(f"--flagfile={RING}", "compile", f"--output={tmp_path / 'p.yaml'}",
                                        "--base_model=latest_blessed"),
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --base_model=latest_blessed"), proc.stderr
    assert "Traceback" not in proc.stderr and not os.path.exists(tmp_path / "p.yaml")
    with pytest.raises(ValueError, match="--components=Trainer reuses outputs"):
        _config(f"--flagfile={RING}", "--runner=kfp_local", "--components=Trainer")


def _write_idx(directory, images, labels):
    """MNIST-format IDX files (train and test) for uint8 images [N, H, W] and labels [N]."""
    os.makedirs(directory, exist_ok=True)
    for names in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        with open(os.path.join(directory, names[0]), "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", *images.shape) + images.tobytes())
        with open(os.path.join(directory, names[1]), "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 0x08, 1) + struct.pack(">I", len(labels)) + labels.tobytes())


def _compile(tmp_path, data, name):
    """({task: {parameter: value in the spec}}, ExampleGen's parameters as compiled)."""
    config = _config("--dataset=mnist", f"--data_dir={data}", "--architecture=dcgan", "--latent_dim=8",
                     f"--pipeline_root={tmp_path / 'root'}")
    definition = tfx_pipeline.create_pipeline(config)
    path = kfp_compiler.compile_pipeline(definition, str(tmp_path / name), "tfgan:test")
    in_spec = {n: {k: _constant(t, k) for k in t.inputs.parameters} for n, (t, _) in _leaf_tasks(_load_spec(path)).items()}
    example_gen = [c for c in definition.components if c.id == "ExampleGen"][0]
    return in_spec, kfp_compiler.component_parameters(example_gen)


def test_a_changed_data_file_changes_the_compiled_fingerprint_and_the_old_spec_refuses_it(tmp_path):
    data = tmp_path / "idx"
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), np.arange(32, dtype=np.uint8) % 10
    _write_idx(data, images, labels)
    before, old = _compile(tmp_path, data, "a.yaml")
    images[0, 0, 0] ^= 1  # one bit of one pixel
    _write_idx(data, images, labels)
    after, new = _compile(tmp_path, data, "b.yaml")
    changed = {(n, k) for n in before for k in before[n] if before[n][k] != after[n][k]}
    assert changed == {("example-gen", "tfgan_driver_fingerprint")}

    # The spec compiled before the change refuses to ingest the changed data (its cache entry would lie) ...
    component = "pipelines.components.example_gen.ExampleGen"
    stale = dict(old, examples=kfp.dsl.Dataset(name="examples", uri=str(tmp_path / "stale" / "examples")))
    with pytest.raises(ValueError, match="changed since the pipeline was compiled"):
        kfp_entrypoint.execute(component, stale)
    assert not os.path.exists(tmp_path / "stale")
    # ... and the one compiled after it runs ExampleGen, whose output carries the same fingerprint.
    fresh = dict(new, examples=kfp.dsl.Dataset(name="examples", uri=str(tmp_path / "fresh" / "examples")))
    kfp_entrypoint.execute(component, fresh)
    examples = kfp_entrypoint.to_artifact(fresh["examples"], "Examples", "examples")
    assert examples.properties["data_fingerprint"] == new["tfgan_driver_fingerprint"]
    assert examples.properties["counts"] == {"train": 32, "eval": 32}


def _through_struct(metadata: dict) -> dict:
    """What KFP does to artifact metadata between tasks: a protobuf Struct (every number a double)."""
    message = struct_pb2.Struct()
    message.update(metadata)
    return json_format.MessageToDict(message)


def test_artifact_properties_survive_kfp_metadata_exactly(tmp_path):
    properties = {"step": 300, "sample_shape": [2], "metrics": {"modes": 8, "w1": 0.0125, "reverse_kl": float("inf")},
                  "blessed": 1, "reasons": [], "model_id": None}
    produced = kfp.dsl.Model(name="model", uri=str(tmp_path / "model"))
    kfp_entrypoint.write_metadata(produced, Artifact("Model", str(tmp_path / "model"), properties,
                                                     fingerprint="ab" * 32))
    consumed = kfp.dsl.Model(name="model", uri=produced.uri, metadata=_through_struct(produced.metadata))
    assert type(consumed.metadata["step"]) is float  # what KFP does to a plain int
    artifact = kfp_entrypoint.to_artifact(consumed, "Model", "model")
    assert artifact.properties == properties and artifact.fingerprint == "ab" * 32
    assert type(artifact.properties["step"]) is int and type(artifact.properties["sample_shape"][0]) is int
    assert artifact.uri == str(tmp_path / "model")
    with pytest.raises(ValueError, match="input model: expected a ModelBlessing artifact, got Model"):
        kfp_entrypoint.to_artifact(consumed, "ModelBlessing", "model")


def _kfp_input(tmp_path, key, type_, files):
    """A KFP input artifact as an upstream tfgan task leaves it: files in its directory, metadata set."""
    uri = tmp_path / key
    uri.mkdir()
    for name, value in files.items():
        (uri / name).write_text(json.dumps(value))
    artifact = kfp.dsl.Artifact(name=key, uri=str(uri))
    kfp_entrypoint.write_metadata(artifact, Artifact(type_, str(uri), {}))
    return artifact


def test_the_data_gate_fails_its_task_under_kfp(tmp_path):
    """ExampleValidator's anomalies stop the pipeline: under KFP, its task fails (so the Trainer, which runs
    after it, never starts) with the reason, after writing its report."""
    statistics = {"kind": "image", "num_classes": 10, "splits": {}}
    schema = {"kind": "points", "feature": "x", "shape": [2], "dtype": "float32", "range": [-3, 3],
              "num_classes": 0, "labels": [0]}
    arguments = {"statistics": _kfp_input(tmp_path, "statistics", "ExampleStatistics", {"statistics.json": statistics}),
                 "schema": _kfp_input(tmp_path, "schema", "Schema", {"schema.json": schema}),
                 "anomalies": kfp.dsl.Artifact(name="anomalies", uri=str(tmp_path / "anomalies")),
                 "schema_path": ""}
    with pytest.raises(RuntimeError, match="stopped the pipeline: 1 anomaly .* kind: the data are images"):
        kfp_entrypoint.execute("pipelines.components.data_validation.ExampleValidator", arguments)
    report = json.loads((tmp_path / "anomalies" / "anomalies.json").read_text())
    assert [a["field"] for a in report["anomalies"]] == ["kind"]


# --- whole runs through kfp.local (each task a fresh Python process: minutes) -------------------------------

def _run_kfp_local(tmp_path, *args):
    proc = subprocess.run(_pipeline_cmd(f"--flagfile={RING}", "--runner=kfp_local", "--log_every=100",
                                        "--sample_every=5000", "--checkpoint_every=5000",
                                        "--evaluator_num_samples=2000", f"--pipeline_root={tmp_path / 'root'}",
                                        f"--serving_dir={tmp_path / 'serving'}", *args),
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


@pytest.mark.slow
def test_kfp_local_pushes_a_trained_model_that_serves_and_withholds_a_5_step_one(tmp_path):
    thresholds = "--bless_thresholds=modes>=3,w1<=0.8"  # 5 steps: 0 modes, w1 1.08; 300 steps: 5, 0.42
    text = _run_kfp_local(tmp_path, "--steps=5", thresholds)
    assert "nothing pushed: Evaluator: modes" in text and "fails modes>=3" in text, text[-3000:]
    assert not os.path.isdir(tmp_path / "serving") or not os.listdir(tmp_path / "serving")
    run_dir = re.search(r"^  outputs:\s+(/\S+)$", text, re.M).group(1)
    assert not os.path.exists(os.path.join(run_dir, "pusher"))  # the gate skipped the task itself
    assert os.path.isfile(os.path.join(run_dir, "infra-validator", "blessing", "INFRA_BLESSED"))

    text = _run_kfp_local(tmp_path, "--steps=400", thresholds)
    pushed = re.search(r"^  pushed model:\s+(/\S+)$", text, re.M)
    assert pushed, text[-3000:]
    path = pushed.group(1)
    assert os.path.dirname(path) == str(tmp_path / "serving") and os.listdir(tmp_path / "serving") == [
        os.path.basename(path)]
    out = tmp_path / "served"
    proc = subprocess.run(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                           "serving_default", "--input_exprs", "num_samples=16;seed=3", "--outdir", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    samples = np.load(out / "samples.npy")
    assert samples.shape == (16, 2) and np.isfinite(samples).all()


def _ring_examples(directory):
    from pipelines.components.example_gen import ExampleGen
    examples = Artifact("Examples", str(directory))
    os.makedirs(examples.uri)
    ExampleGen.EXECUTOR().Do({}, {"examples": [examples]}, {"dataset": "ring8", "data_dir": "", "image_size": 0,
                                                            "channels": 0, "download": False, "eval_percent": 10,
                                                            "beam_pipeline_args": ""})
    return examples


def _ring_schema(directory, examples):
    """The schema the pipeline's StatisticsGen and SchemaGen executors infer from `examples`."""
    from pipelines.components.data_validation import SchemaGen, StatisticsGen
    statistics = Artifact("ExampleStatistics", str(directory / "statistics"))
    schema = Artifact("Schema", str(directory / "schema"))
    os.makedirs(statistics.uri)
    os.makedirs(schema.uri)
    StatisticsGen.EXECUTOR().Do({"examples": [examples]}, {"statistics": [statistics]},
                                {"max_examples": 0, "beam_pipeline_args": ""})
    SchemaGen.EXECUTOR().Do({"statistics": [statistics]}, {"schema": [schema]}, {})
    return schema


def test_only_the_chief_worker_exports(tmp_path, monkeypatch):
    """A worker that is not the chief trains (its collectives are needed) but leaves the SavedModel to the
    chief: two workers writing one export directory would race (checked without a cluster: the training
    is replaced by what a non-chief worker's training returns)."""
    from pipelines import stages
    from pipelines.components import trainer

    examples = _ring_examples(tmp_path / "examples")
    config = _config(f"--flagfile={RING}", "--steps=3")
    worker = stages.Trained(str(tmp_path / "model"), 3, str(tmp_path / "model" / "worker_tmp_1" / "ckpt-3"), None,
                            {}, 0.1, chief=False)
    monkeypatch.setattr(stages, "train", lambda *args, **kwargs: worker)
    result = trainer.run_fn(trainer.FnArgs(
        examples=examples.uri, schema_file=os.path.join(_ring_schema(tmp_path, examples).uri, "schema.json"),
        model_dir=str(tmp_path / "model"),
        serving_model_dir=str(tmp_path / "model" / "Format-Serving"), model_run_dir=str(tmp_path / "model_run"),
        hyperparameters=tfx_pipeline.training_parameters(config)))
    assert result["step"] == 3
    assert not os.path.exists(tmp_path / "model" / "Format-Serving")


@pytest.mark.slow
def test_the_trainer_executor_scales_out_under_tf_config(tmp_path):
    """What BUILD.md tells a cluster to run: the Trainer's executor in every worker (a TFJob's or a Vertex
    worker pool's replicas), the same arguments everywhere, TF_CONFIG naming the cluster and this worker."""
    from tfgan.export import is_complete_export

    examples = _ring_examples(tmp_path / "examples")
    schema = _ring_schema(tmp_path, examples)
    config = _config(f"--flagfile={RING}", "--strategy=multi_worker", "--steps=40", "--batch_size=64",
                     "--log_every=20", "--checkpoint_every=20", "--sample_every=40")
    files = {"inputs": {"examples": [examples.to_json()], "schema": [schema.to_json()]},
             "exec_properties": {"config": tfx_pipeline.training_parameters(config), "warm_start": ""}}
    outputs = {"model": [Artifact("Model", str(tmp_path / "model")).to_json()],
               "model_run": [Artifact("ModelRun", str(tmp_path / "model_run")).to_json()]}
    for name, value in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(value))
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = []
    for index in range(2):
        (tmp_path / f"outputs{index}.json").write_text(json.dumps(outputs))
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pipelines.orchestration.executor_main",
             "--component=pipelines.components.trainer.Trainer", f"--inputs={tmp_path / 'inputs.json'}",
             f"--outputs={tmp_path / f'outputs{index}.json'}", f"--exec_properties={tmp_path / 'exec_properties.json'}"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    assert "2 replica(s)" in logs[0]
    chief = json.loads((tmp_path / "outputs0.json").read_text())["model"][0]["properties"]
    assert chief["step"] == 40
    serving = os.path.join(tmp_path, "model", "Format-Serving")
    assert is_complete_export(serving)
    # The chief alone wrote the run directory's files and the SavedModel; the other worker only its scratch.
    assert sorted(n for n in os.listdir(tmp_path / "model") if n.startswith("worker_tmp")) == ["worker_tmp_1"]
    assert not [n for n in os.listdir(tmp_path / "model") if n.startswith(".")]  # no export left half-written
