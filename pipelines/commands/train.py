"""The train command (`python -m tfgan.train`): ingest -> train -> sample grids -> export, in one run
directory. The Trainer alone, for people who only want training; `tfgan.pipeline` runs the whole TFX-style
chain. All flags are defined in `pipelines.flags`; `--helpfull` lists them.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from pipelines import flags as pipeline_flags  # noqa: E402

pipeline_flags.define_flags(sections=pipeline_flags.TRAIN_SECTIONS)
FLAGS = flags.FLAGS


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown the progress lines
    try:
        config = pipeline_flags.config_from_flags(FLAGS)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from pipelines import stages
    from tfgan.data.idx import IDXError
    from tfgan.trainer import NonFiniteLossError
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stages.run(config, flags_text=FLAGS.flags_into_string())
    except (ValueError, FileNotFoundError, IDXError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
