"""Evaluate a trained generator: `python -m tfgan.evaluate --run_dir=runs/quickstart --metrics=fid,is,kid,precision_recall`.

Reads the run's config (data set, model) from `<run_dir>/config.json`, loads the latest SavedModel in
`<run_dir>/export` (or `--saved_model`), and writes metrics.json and plots to `<run_dir>/eval/<step>/`,
also logging them to the run's TensorBoard (`tensorboard/eval`).
"""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from pipelines.commands import cli, errors, startup  # noqa: E402
from pipelines.config import load_run_config  # noqa: E402
from tfgan import choices  # noqa: E402

flags.DEFINE_string("run_dir", None, "Run directory written by tfgan.train (required).", required=True)
flags.DEFINE_string("saved_model", "", "SavedModel version directory (default: the latest in <run_dir>/export).")
flags.DEFINE_list("metrics", [], "Metrics: fid, is, kid, precision_recall (prd: its former name), "
                                 "stacked_modes (images); modes, w1 (toys). "
                                 "Default: fid,is,kid,precision_recall for images, modes,w1 for 2-D toys, w1 for 1-D.")
flags.DEFINE_integer("num_samples", 10_000, "Generated (and real) samples.", lower_bound=10)
flags.DEFINE_enum("feature_extractor", "mnist", choices.FEATURE_EXTRACTORS,
                  "Features for image metrics: mnist (shipped classifier) or inception (--inception_weights).")
flags.DEFINE_string("inception_weights", "", "Local InceptionV3 weights file for --feature_extractor=inception.")
flags.DEFINE_string("data_dir", None, "Override the run's data directory (e.g. the data moved).")
flags.DEFINE_string("output_dir", "", "Where to write metrics.json and plots (default <run_dir>/eval/<step>).")
flags.DEFINE_integer("seed", 0, "Seed of the generated and real sample sets.", lower_bound=0)
flags.DEFINE_enum("real_data", "held_out", choices.REAL_DATA,
                  "Real data to compare with: held_out (the data set's held-out split, as the pipeline's Evaluator) "
                  "or train (the training split: the published MNIST FID protocol of benchmarks/results.py).")
FLAGS = flags.FLAGS
SUMMARY = """usage: python -m tfgan.evaluate --run_dir=runs/NAME [--metrics=fid,is,kid,precision_recall] [--flag=value ...]

Score a run's exported generator against its data; writes metrics.json and plots to <run_dir>/eval/<step>/
and the run's TensorBoard. Exit codes: 0 done, 2 a bad flag or input, 5 the file system refused."""
GROUPS = (("what to evaluate", ("run_dir", "saved_model", "data_dir")),
          ("metrics", ("metrics", "num_samples", "real_data", "seed", "feature_extractor", "inception_weights")),
          ("output", ("output_dir",)))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:  # every check that needs no TensorFlow
        if not os.path.isdir(FLAGS.run_dir):
            raise ValueError(f"--run_dir={FLAGS.run_dir}: no such directory")
        config = load_run_config(FLAGS.run_dir)
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, run_dir=FLAGS.run_dir))
        if FLAGS.data_dir is not None:
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, data_dir=FLAGS.data_dir))
        points = config.data.dataset in choices.TOYS
        kind = "points" if points else "image"
        metrics = FLAGS.metrics or choices.default_metrics(
            kind, (choices.TOY_DIMS[config.data.dataset],) if points else ())
        try:
            choices.check_metric_names(metrics, kind)
        except ValueError as e:
            raise ValueError(f"--metrics={','.join(metrics)}: {e}") from None
        if kind == "image" and FLAGS.feature_extractor == "inception" and not FLAGS.inception_weights:
            raise ValueError("--feature_extractor=inception needs --inception_weights (a local InceptionV3 weights "
                             "file; weights are not downloaded)")
        if FLAGS.saved_model and not os.path.isdir(FLAGS.saved_model):
            raise ValueError(f"--saved_model={FLAGS.saved_model}: no such directory")
    except (ValueError, FileNotFoundError) as e:
        return errors.report(e)
    startup.import_tensorflow_quietly(show=FLAGS["verbosity"].present)
    try:
        from pipelines import stages
        from tfgan.export import latest_export
        ingested = stages.ingest(config.data)
        if kind == "image":
            choices.check_feature_extractor_fits(FLAGS.feature_extractor, metrics, ingested.spec.shape)
        saved_model = FLAGS.saved_model or latest_export(
            config.export.export_dir or os.path.join(FLAGS.run_dir, "export"))
        extractor = stages.load_extractor(kind, FLAGS.feature_extractor, FLAGS.inception_weights)
        stages.evaluate(config, ingested, saved_model, metrics, FLAGS.num_samples, extractor,
                        FLAGS.output_dir or None, FLAGS.seed, real_data=FLAGS.real_data)
    except Exception as e:  # noqa: BLE001 - every expected failure becomes one line; others propagate
        return errors.report(e)
    return 0


def run():
    cli.run(main, "tfgan.evaluate", SUMMARY, GROUPS)


if __name__ == "__main__":
    run()
