"""The train command (`python -m tfgan.train`): ingest -> train -> sample grids -> export, in one run
directory. The Trainer alone, for people who only want training; `tfgan.pipeline` runs the whole TFX-style
chain. All flags are defined in `pipelines.flags`; `--help` lists them by group.
"""

import time

STARTED = time.perf_counter()  # the first step's report says how long start-up took from here

import contextlib  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from pipelines import flags as pipeline_flags  # noqa: E402
from pipelines.commands import cli, errors, startup  # noqa: E402

pipeline_flags.define_flags(sections=pipeline_flags.TRAIN_SECTIONS)
FLAGS = flags.FLAGS
SUMMARY = """usage: python -m tfgan.train [--flagfile=configs/NAME.cfg] [--flag=value ...]

Train a GAN: ingest the data, train, write sample grids and checkpoints, export the generator, all in
--run_dir. Running the same command again resumes. Exit codes: 0 done, 2 a bad flag or input, 3 a NaN/Inf
stopped training, 5 the file system refused, 130 interrupted."""


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown the progress lines
    try:
        config = pipeline_flags.config_from_flags(FLAGS)  # every check that needs no TensorFlow
    except ValueError as e:
        return errors.report(e)
    from tfgan.locks import DirectoryLock
    # One writer per run directory, checked before the TensorFlow import: a second run stops at once.
    lock = DirectoryLock(config.train.run_dir, "run directory") if startup.is_chief_process() else None
    try:
        with lock or contextlib.nullcontext():
            startup.import_tensorflow_quietly(show=FLAGS["verbosity"].present)
            from pipelines import stages
            signal.signal(signal.SIGTERM, _interrupt)
            stages.run(config, flags_text=FLAGS.flags_into_string(), started=STARTED)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - every expected failure becomes one line; others propagate
        return errors.report(e)
    return 0


def run():
    cli.run(main, "tfgan.train", SUMMARY, pipeline_flags.help_groups(pipeline_flags.TRAIN_SECTIONS),
            derive=pipeline_flags.resolve_default_dirs)


if __name__ == "__main__":
    run()
