"""The pipeline command (`python -m tfgan.pipeline`):

    python -m tfgan.pipeline --flagfile=configs/pipeline_quickstart.cfg     run the whole chain
    python -m tfgan.pipeline --flagfile=... --components=Evaluator,Pusher   run some components again
    python -m tfgan.pipeline runs [--pipeline_root=...]                      list the recorded runs
    python -m tfgan.pipeline lineage DIR [--pipeline_root=...]               what produced a pushed model
    python -m tfgan.pipeline compile --flagfile=... --output=pipeline.yaml [--image=IMAGE]
                                                 the same pipeline as a Kubeflow Pipelines v2 spec
    python -m tfgan.pipeline --runner=kfp_local --flagfile=...              that spec, run here by kfp.local

A run ends by printing the pushed model's directory, or why nothing was pushed. Exit codes: 0 the
pipeline ran (pushed or not), 2 a bad flag or input, 3 a component failed, 4 a gate stopped the pipeline
(anomalies in the data), 130 interrupted. The same command after a failure or a kill resumes: finished
components are cache hits and the Trainer continues from its checkpoint.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from pipelines import flags as pipeline_flags  # noqa: E402
from pipelines.commands import cli, errors, startup  # noqa: E402

pipeline_flags.define_flags()
flags.DEFINE_string("output", "", "compile: the Kubeflow Pipelines v2 spec (YAML) to write, e.g. pipeline.yaml.")
FLAGS = flags.FLAGS
COMMANDS = ("run", "runs", "lineage", "compile")
SUMMARY = """usage: python -m tfgan.pipeline [run] --flagfile=configs/NAME.cfg [--flag=value ...]   run the pipeline
       python -m tfgan.pipeline --runner=kfp_local --flagfile=configs/NAME.cfg        the same on kfp.local
       python -m tfgan.pipeline compile --flagfile=configs/NAME.cfg --output=pipeline.yaml   Kubeflow Pipelines spec
       python -m tfgan.pipeline runs [--pipeline_root=DIR]                               list the recorded runs
       python -m tfgan.pipeline lineage DIR [--pipeline_root=DIR]                        what produced a pushed model

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer -> Evaluator + InfraValidator -> Pusher.
The same command after a failure resumes. Exit codes: 0 ran (pushed or not), 2 a bad flag or input,
3 a component failed, 4 a gate stopped the pipeline, 5 the file system refused, 130 interrupted."""


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _store():
    from pipelines.orchestration.metadata import MetadataStore
    path = FLAGS.metadata_path or os.path.join(FLAGS.pipeline_root, "metadata.sqlite")
    if not os.path.exists(path):
        raise ValueError(f"no run record at {path}: run the pipeline first, or set --pipeline_root / --metadata_path")
    return MetadataStore(path)


def main(argv):
    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("run", [])
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if (command == "lineage") != bool(args) or len(args) > 1:
        print("error: usage: tfgan.pipeline [run] | runs | lineage DIR | compile --output=FILE", file=sys.stderr)
        return 2
    if (command == "compile") != bool(FLAGS.output):
        print("error: --output names the spec that `compile` writes (e.g. compile --output=pipeline.yaml); "
              "other commands take no --output", file=sys.stderr)
        return 2
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if command in ("runs", "lineage"):
        try:
            store = _store()  # a missing run record is reported before TensorFlow starts
            startup.import_tensorflow_quietly(show=FLAGS["verbosity"].present)
            from pipelines import pipeline
            print(pipeline.format_runs(pipeline.list_runs(store)) if command == "runs"
                  else pipeline.lineage(store, args[0]))
        except ValueError as e:
            return errors.report(e)
        return 0
    try:
        config = pipeline_flags.config_from_flags(FLAGS)  # every check that needs no TensorFlow
        if command == "compile":
            from pipelines.config import check_kfp
            check_kfp(config.pipeline, "a Kubeflow Pipelines spec")
    except ValueError as e:
        return errors.report(e)
    startup.import_tensorflow_quietly(show=FLAGS["verbosity"].present)
    if command == "compile" or config.pipeline.runner == "kfp_local":
        return _kfp(command, config)
    from pipelines import pipeline
    from pipelines.orchestration.runner import LocalDagRunner, PipelineError
    from tfgan.distribute import set_threads
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Before any component runs an op; the Trainer's own call (in its process when isolated) is then a no-op.
        set_threads(config.train.intra_op_threads, config.train.inter_op_threads)
        definition = pipeline.create_pipeline(config)
        result = LocalDagRunner(isolation=config.pipeline.isolation).run(
            definition, only=list(config.pipeline.components) or None,
            properties={"flags": FLAGS.flags_into_string()})
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted: run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every expected failure becomes one line; others propagate
        return errors.report(e)
    print(f"\npipeline {definition.name} run {result.run_id}: {result.status}")
    if result.status == "STOPPED":
        print(f"  stopped: {result.reason}")
        return errors.STOPPED
    pushed = result.outputs.get("Pusher", {}).get("pushed_model")
    if pushed:
        p = pushed[0].properties
        if p.get("pushed"):
            print(f"  pushed model: {p['pushed_destination']}")
            print(f"  serve it:     docker run -p 8501:8501 -v {os.path.dirname(p['pushed_destination'])}:/models/gan "
                  f"-e MODEL_NAME=gan tensorflow/serving")
            print(f"  lineage:      python -m tfgan.pipeline lineage {p['pushed_destination']} "
                  f"--pipeline_root={config.pipeline.pipeline_root}")
        else:
            print("  nothing pushed: " + " | ".join(p.get("reasons", [])))
    print(f"  run record:   {definition.metadata_path} (python -m tfgan.pipeline runs "
          f"--pipeline_root={config.pipeline.pipeline_root})")
    return 0


def _kfp(command, config) -> int:
    """compile: writes the Kubeflow Pipelines spec; run with --runner=kfp_local: compiles it into the pipeline
    root and runs it here with kfp.local."""
    from pipelines import pipeline
    from pipelines.orchestration import kfp_compiler, kfp_local
    p = config.pipeline
    if p.bless_change_thresholds:
        print("note: --bless_change_thresholds compare with the latest blessed model in the local run record; a "
              "Kubeflow run has none, so only --bless_thresholds decide there", file=sys.stderr)
    definition = pipeline.create_pipeline(config)
    spec = FLAGS.output if command == "compile" else os.path.join(definition.root, "kfp_local", "pipeline.yaml")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(spec)), exist_ok=True)
        kfp_compiler.compile_pipeline(definition, spec, p.image)
    except (ValueError, OSError) as e:
        return errors.report(e)
    if command == "compile":
        print(f"wrote {spec}: Kubeflow Pipelines v2 spec of pipeline {definition.name} "
              f"({len(definition.components)} components, image {p.image})")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = kfp_local.run_spec(spec, os.path.dirname(spec))
    except KeyboardInterrupt:
        print("interrupted (kfp.local keeps no run record: a new run starts over)", file=sys.stderr)
        return 130
    print(f"\npipeline {definition.name} on kfp_local: {result.status}")
    print(f"  outputs:      {result.run_dir}")
    if result.status != "COMPLETE":
        print(f"  failed: {result.reason}")
        return 3
    if result.pushed and result.pushed.get("pushed"):
        print(f"  pushed model: {result.pushed['pushed_destination']}")
    else:
        print(f"  nothing pushed: {result.reason or ' | '.join((result.pushed or {}).get('reasons', []))}")
    return 0


def run():
    cli.run(main, "tfgan.pipeline", SUMMARY,
            (pipeline_flags.help_groups(("pipeline",)) + pipeline_flags.help_groups(pipeline_flags.TRAIN_SECTIONS)),
            derive=pipeline_flags.resolve_default_dirs)


if __name__ == "__main__":
    run()
