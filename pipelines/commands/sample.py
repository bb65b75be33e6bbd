"""Pictures from an exported generator: `python -m tfgan.sample --run_dir=runs/quickstart --out=digits.png`.

    --saved_model=DIR | --run_dir=DIR [--version=N]   which export (default: the run's latest version)
    --out=FILE.png | FILE.gif | FILE.npy               a grid (or scatter), an animated interpolation, numbers
    --num=64 --seed=0                                   how many samples, which ones
    --labels=3,5                                        conditional exports: these classes, one row each
                                                        (default: one row per class)
    --interpolate=K                                     K frames between random endpoints per row (slerp for a
                                                        normal prior, lerp for a uniform one)
    --truncation=T                                      resample latent entries with |z| > T: more typical,
                                                        less varied samples (BigGAN's truncation trick)

Works on every export of this project (any version directory, older ones included). Without
--truncation, the samples for --seed=S are those the export's serving_default returns for seed=S.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from pipelines.commands import cli, errors, startup  # noqa: E402
from tfgan import choices  # noqa: E402

OUTPUT_FORMATS = choices.SAMPLE_FORMATS

flags.DEFINE_string("saved_model", "", "SavedModel version directory written by tfgan (export/<version>).")
flags.DEFINE_string("run_dir", "", "Run directory written by tfgan.train: sample its latest export (or --version).")
flags.DEFINE_integer("version", None, "With --run_dir: the export version (training step) to sample.", lower_bound=0)
flags.DEFINE_string("out", None, "Output file: .png (grid / scatter), .gif (animated interpolation) or .npy.",
                    required=True)
flags.DEFINE_integer("num", 64, "Samples (conditional: in all, split over the rows; with --interpolate: rows).",
                     lower_bound=1, upper_bound=100_000)
flags.DEFINE_integer("seed", 0, "Seed of the latents.", lower_bound=0, upper_bound=2**31 - 1)
flags.DEFINE_list("labels", [], "Conditional exports: class labels, one grid row each (default: every class).")
flags.DEFINE_integer("interpolate", 0, "Frames of a latent interpolation per row (0: none; else >= 2).",
                     lower_bound=0, upper_bound=1000)
flags.DEFINE_float("truncation", 0.0, "Truncation threshold T > 0 for the latents (0: none).", lower_bound=0.0)
flags.DEFINE_integer("frame_ms", 80, "GIF frame duration in milliseconds.", lower_bound=10)
FLAGS = flags.FLAGS
SUMMARY = """usage: python -m tfgan.sample (--run_dir=runs/NAME [--version=N] | --saved_model=DIR) --out=FILE [--flag=value ...]

Pictures or numbers from an exported generator: a grid or scatter (.png), an animated latent interpolation
(.gif) or the samples themselves (.npy). Exit codes: 0 done, 2 a bad flag or input, 5 the file system refused."""
GROUPS = (("which export", ("run_dir", "version", "saved_model")),
          ("samples", ("num", "seed", "labels", "truncation", "interpolate")),
          ("output", ("out", "frame_ms")))


def _checked_args() -> tuple[str | None, list[int]]:
    """Validates what needs no TensorFlow; returns (export dir or None for --run_dir, labels)."""
    ext = os.path.splitext(FLAGS.out)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"--out={FLAGS.out}: must end in {', '.join(OUTPUT_FORMATS)}")
    if ext == ".gif" and not FLAGS.interpolate:
        raise ValueError(f"--out={FLAGS.out}: a .gif animates an interpolation; add --interpolate=K (K >= 2)")
    if FLAGS.interpolate == 1:
        raise ValueError("--interpolate=1: an interpolation needs at least 2 frames (0 turns it off)")
    if bool(FLAGS.saved_model) == bool(FLAGS.run_dir):
        raise ValueError("set exactly one of --saved_model (an export version directory) and --run_dir")
    if FLAGS.version is not None and not FLAGS.run_dir:
        raise ValueError("--version applies to --run_dir; with --saved_model name the version directory itself")
    try:
        labels = [int(v) for v in FLAGS.labels]
    except ValueError:
        raise ValueError(f"--labels={','.join(FLAGS.labels)}: expected comma-separated integers") from None
    if FLAGS.saved_model:
        if not os.path.isdir(FLAGS.saved_model):
            raise ValueError(f"--saved_model={FLAGS.saved_model}: no such directory")
        return FLAGS.saved_model, labels
    if not os.path.isdir(FLAGS.run_dir):
        raise ValueError(f"--run_dir={FLAGS.run_dir}: no such directory")
    base = _run_export_dir(FLAGS.run_dir)
    if not os.path.isdir(base):
        raise ValueError(f"--run_dir={FLAGS.run_dir}: no exported generator ({base} does not exist; tfgan.train "
                         f"exports when training ends)")
    return None, labels


def _run_export_dir(run_dir: str) -> str:
    """The export base directory of a run: `export.export_dir` of its config.json, else <run_dir>/export."""
    config = os.path.join(run_dir, "config.json")
    if os.path.exists(config):
        with open(config) as f:
            configured = json.load(f).get("export", {}).get("export_dir")
        if configured:
            return configured
    return os.path.join(run_dir, "export")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:
        path, labels = _checked_args()
    except ValueError as e:
        return errors.report(e)
    startup.import_tensorflow_quietly(show=FLAGS["verbosity"].present)
    from tfgan import export, sampling
    try:
        if path is None:
            base = _run_export_dir(FLAGS.run_dir)
            if FLAGS.version is None:
                path = export.latest_export(base)
            else:
                path = export.version_path(base, FLAGS.version)
                if not os.path.isdir(path):
                    versions = export.list_versions(base)
                    raise ValueError(f"--version={FLAGS.version}: no export {path}; versions there: "
                                     f"{', '.join(map(str, versions)) or 'none'}")
        model = sampling.ExportedGenerator(path)
        samples, rows = sampling.generate(model, FLAGS.num, FLAGS.seed, labels, FLAGS.interpolate, FLAGS.truncation)
        sampling.write(FLAGS.out, samples, model.meta["kind"], rows, bool(FLAGS.interpolate), FLAGS.frame_ms)
    except Exception as e:  # noqa: BLE001 - every expected failure becomes one line; others propagate
        return errors.report(e)
    what = f"{samples.shape[0]} x {samples.shape[1]} interpolation frames" if FLAGS.interpolate \
        else f"{len(samples)} samples"
    print(f"wrote {FLAGS.out}: {what} from {path}")
    return 0


def run():
    cli.run(main, "tfgan.sample", SUMMARY, GROUPS)


if __name__ == "__main__":
    run()
