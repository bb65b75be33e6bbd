"""Pipeline stages with explicit inputs and outputs: ingest -> train -> export.

Each stage is a plain function of typed configs and the previous stage's artifact, callable on its own:
`export` restores the generator from the run directory's latest checkpoint, so it can run after a
training job that was interrupted, resumed or run elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from pipelines.config import CONFIG_FILE, DataConfig, PipelineConfig
from pipelines.task import (
    build_gan,
    generator_classes,
    output_range,
    restore_generator,
    set_precision,
)
from tfgan import choices, distribute, evaluation, fileio, visualize
from tfgan.data import DataSpec, Source, get_source, make_dataset
from tfgan.data.toy import get_toy
from tfgan.export import (
    ExportExistsError,
    ExportSpec,
    export_tflite,
    is_complete_export,
    version_path,
    write_saved_model,
)
from tfgan.model import GAN
from tfgan.trainer import Hook, NonFiniteLossError, Trainer, is_chief
from tfgan.visualize import SampleWriter

FLAGS_FILE = "flags.txt"
RESULT_FILE = "result.json"
EVAL_HISTORY = "eval_history.jsonl"


# --- artifacts ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Ingested:
    """Output of `ingest`: the data source and what it produces."""

    source: Source
    spec: DataSpec


@dataclasses.dataclass(frozen=True)
class Trained:
    """Output of `train`: where the run lives and how it ended."""

    run_dir: str
    step: int
    checkpoint: str
    sample_grid: str | None
    metrics: dict
    wall_seconds: float
    chief: bool = True


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """Output of `evaluate`: the metrics and the files written."""

    metrics: dict
    files: dict


@dataclasses.dataclass(frozen=True)
class Exported:
    """Output of `export`: the SavedModel version directory (and TFLite file)."""

    path: str
    version: int
    tflite: str | None = None
    reused: bool = False                     # the version existed already and was left as it was


# --- ingest ------------------------------------------------------------------------------------------------

def ingest(data: DataConfig) -> Ingested:
    """Opens the data source, checking that its files exist and decode (errors name the file)."""
    source = get_source(data.dataset, data_dir=data.data_dir or None, image_size=data.image_size,
                        channels=data.channels, download=data.download)
    if data.conditional and source.spec.num_classes < 2:
        raise ValueError(f"--conditional needs labelled data; --dataset={data.dataset} has "
                         f"{source.spec.num_classes} classes")
    return Ingested(source, source.spec)


# --- train -------------------------------------------------------------------------------------------------

def apply_threads(config: PipelineConfig, out=None) -> None:
    """Sets --intra_op_threads / --inter_op_threads. In a process where TensorFlow already runs with other
    pools (the library called from a notebook or a test) they stay as they are, with a note: threads set speed,
    not what is trained."""
    try:
        distribute.set_threads(config.train.intra_op_threads, config.train.inter_op_threads)
    except ValueError as e:
        print(f"note: {e}; this run keeps the process's current threads", file=out or sys.stdout)


def _threads() -> str:
    """', threads intra-op N, inter-op M' where set (0: TensorFlow's choice, one per core)."""
    intra, inter = (tf.config.threading.get_intra_op_parallelism_threads(),
                    tf.config.threading.get_inter_op_parallelism_threads())
    return f", threads intra-op {intra or 'auto'}, inter-op {inter or 'auto'}" if intra or inter else ""


def _check_run_dir(run_dir: str, config: PipelineConfig) -> None:
    """A run directory is reused only by the same experiment (training length and logging may change)."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        saved = PipelineConfig.from_json(f.read())
    differing = [f"--{k}" for section in ("data", "model", "gan")
                 for k, v in dataclasses.asdict(getattr(config, section)).items()
                 if getattr(getattr(saved, section), k) != (tuple(v) if isinstance(v, list) else v)]
    differing += [f"--{k}" for k in ("batch_size", "seed", "mixed_precision")
                  if getattr(saved.train, k) != getattr(config.train, k)]
    if differing:
        raise ValueError(f"--run_dir={run_dir} holds a run with different {', '.join(differing)}; its checkpoints "
                         f"cannot be resumed with these settings. Use a new --run_dir.")


def _toy_reference(ingested: Ingested, n: int = 2000) -> np.ndarray | None:
    if ingested.spec.kind != "points":
        return None
    batch = next(iter(ingested.source.dataset("train", seed=1).batch(n)))
    return batch["x"].numpy()


def train(config: PipelineConfig, ingested: Ingested, strategy: tf.distribute.Strategy | None = None,
          flags_text: str = "", out=None, log_dir: str | None = None, warm_start: str | None = None,
          started: float | None = None) -> Trained:
    """Trains (or resumes) the GAN in `config.train.run_dir` up to `config.train.steps`.

    Args:
      config: the validated pipeline config.
      ingested: the `ingest` stage's output.
      strategy: a strategy to use (default: built from `config.train.strategy`).
      flags_text: the resolved flags (flagfile format), saved beside the run for reproduction.
      out: stream for progress lines (default stdout).
      log_dir: TensorBoard logs there instead of `<run_dir>/tensorboard`.
      warm_start: a checkpoint whose network weights (not optimizer state, not the step) start a run that
        has no checkpoint of its own yet.
      started: `time.perf_counter()` when the command started, to report start-up time at the first step.

    Raises:
      ValueError: settings that do not fit (batch size vs replicas, run directory of another experiment).
      tfgan.trainer.NonFiniteLossError: a loss or a variable became NaN/Inf (the last good checkpoint is kept);
        the message says which flags to change and how to resume from a good checkpoint.
    """
    out = out or sys.stdout
    t, spec = config.train, ingested.spec
    strategy = strategy or distribute.make_strategy(t.strategy, t.num_logical_cpus)
    replicas = strategy.num_replicas_in_sync
    if t.batch_size % replicas:
        raise ValueError(f"--batch_size={t.batch_size} must be divisible by the {replicas} replicas in sync")
    chief = is_chief(strategy)
    if chief:  # other workers of a multi-worker run leave the run directory to the chief
        _check_run_dir(t.run_dir, config)
        tf.io.gfile.makedirs(t.run_dir)
        fileio.write_atomic(os.path.join(t.run_dir, CONFIG_FILE), config.to_json())
        if flags_text:
            fileio.write_atomic(os.path.join(t.run_dir, FLAGS_FILE), flags_text)

    precision = set_precision(t.mixed_precision)
    with strategy.scope():
        gan = build_gan(config, spec, replicas)
    # Built once the trainer knows the step it resumes from: a resumed run continues the data stream.
    def dataset(start_step: int) -> tf.data.Dataset:
        rows = choices.samples_per_update(t.batch_size, config.gan.pack, config.gan.pack_batch)
        return make_dataset(ingested.source, rows, critic_steps=config.gan.critic_steps,
                            output_range=output_range(config.model), shuffle_buffer=config.data.shuffle_buffer,
                            seed=t.seed, cache=_fits_in_memory(spec), start_step=start_step)

    trainer = Trainer(gan, strategy, t.run_dir, t.steps, log_every=t.log_every,
                      checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints, out=out,
                      log_dir=log_dir, steps_per_execution=t.steps_per_execution,
                      resume_from=t.resume_from or None, started=started)
    if warm_start and not trainer.manager.latest_checkpoint:
        warm_start_networks(gan, warm_start)
        print(f"warm start: network weights from {warm_start}", file=out, flush=True)
    sampler = SampleWriter(gan, spec.kind, output_range(config.model), os.path.join(t.run_dir, "samples"),
                           trainer.writer if trainer.chief else None, num_samples=t.num_samples,
                           seed=t.seed + 1234, data=_toy_reference(ingested))
    if trainer.chief:
        trainer.hooks.append(Hook(t.sample_every, sampler))
        if spec.kind == "points" and spec.shape == (1,):
            figure = visualize.Figure1D(gan, get_toy(spec.name), os.path.join(t.run_dir, "figure1.png"),
                                        trainer.writer)
            trainer.hooks.append(Hook(t.sample_every, figure))
    if config.eval.eval_every:
        trainer.hooks.append(Hook(config.eval.eval_every, TrainingEvaluator(config, ingested, gan, trainer)))
    params = gan.generator.count_params(), gan.discriminator.count_params()
    print(f"training {config.model.architecture} GAN on {spec.name} {spec.shape}: generator {params[0]:,} "
          f"parameters, discriminator {params[1]:,}; {replicas} replica(s), batch {t.batch_size}, "
          f"{t.steps} steps, {precision}{_threads()}", file=out, flush=True)
    start = time.perf_counter()
    try:
        metrics = trainer.fit(dataset)
    except NonFiniteLossError as e:
        raise NonFiniteLossError(f"{e}\n{_non_finite_advice(config, precision, e)}", e.step, e.parts,
                                 e.last_good) from None
    grid = sampler.path(trainer.step)
    if trainer.chief and not tf.io.gfile.exists(grid):  # a run stopped between its last checkpoint and its
        sampler(trainer.step)                            # final hooks: draw the final grid now
    trained = Trained(t.run_dir, trainer.step, trainer.manager.latest_checkpoint,
                      grid if tf.io.gfile.exists(grid) else None, metrics, time.perf_counter() - start, chief)
    return trained


def warm_start_networks(gan: GAN, checkpoint: str) -> None:
    """Loads the generator's and discriminator's (and EMA generator's) weights from `checkpoint`.

    Raises:
      ValueError: the checkpoint does not hold every variable of these networks (other model flags).
    """
    items = {"generator": gan.generator, "discriminator": gan.discriminator}
    if gan.ema_generator is not None:
        items["ema_generator"] = gan.ema_generator
    status = tf.train.Checkpoint(**items).restore(checkpoint).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        raise ValueError(f"the base model {checkpoint} does not match these model flags (its networks differ); "
                         f"warm-start from a model trained with the same --architecture and sizes") from None


def _non_finite_advice(config: PipelineConfig, precision: str, error: NonFiniteLossError) -> str:
    """What to change, in flags, after a NaN/Inf stopped training, and how to continue from a good checkpoint."""
    g = config.gan
    lines = [f"What to change: lower the learning rates (--d_learning_rate={g.d_learning_rate:g}, "
             f"--g_learning_rate={g.g_learning_rate:g})"
             + (f", or train in float32 (--mixed_precision=none instead of {precision})"
                if precision != "float32" else "") + "."]
    if error.last_good:
        lines.append(f"To continue from the last finite checkpoint with new settings: --run_dir=<a new directory> "
                     f"--resume_from={error.last_good} (or the path of an earlier one in "
                     f"{os.path.join(config.train.run_dir, 'checkpoints')}, if that one already went astray).")
    else:
        lines.append("No finite checkpoint exists: start again with the new settings.")
    return "\n".join(lines)


def load_extractor(kind: str, name: str, inception_weights: str = ""):
    """The feature extractor for image metrics (None for toy points)."""
    if kind != "image":
        return None
    from tfgan.features import load_feature_extractor
    return load_feature_extractor(name, inception_weights or None)


class TrainingEvaluator:
    """Evaluates the generator every N steps during training; keeps the best checkpoint by one metric.

    Appends {"step", metrics...} to `<run_dir>/eval_history.jsonl`, writes `eval/<metric>` scalars, and,
    with a best metric, saves a checkpoint to `<run_dir>/best/` (one kept) with `best.json` beside it
    whenever the metric improves. The best value survives a resume (read back from best.json).
    """

    def __init__(self, config: PipelineConfig, ingested: Ingested, gan: GAN, trainer: Trainer):
        e, spec = config.eval, ingested.spec
        self.config, self.ingested, self.trainer = config, ingested, trainer
        self.names = list(e.eval_metrics) or evaluation.default_metrics(spec.kind, spec.shape)
        self.extractor = load_extractor(spec.kind, e.feature_extractor, e.inception_weights)
        self.generate = evaluation.gan_generator(gan, spec.kind, output_range(config.model))
        self.best_dir = os.path.join(config.train.run_dir, "best")
        self.best_manager = tf.train.CheckpointManager(trainer.checkpoint, self.best_dir, max_to_keep=1)
        self.best = None
        best_file = os.path.join(self.best_dir, "best.json")
        if tf.io.gfile.exists(best_file):
            with tf.io.gfile.GFile(best_file) as f:
                self.best = json.load(f)["value"]

    def __call__(self, step: int) -> dict:
        e = self.config.eval
        result = evaluation.evaluate_samples(self.generate, self.ingested.source, self.names, e.eval_num_samples,
                                             self.extractor, seed=10_000)
        record = {"step": step, **result}
        if not self.trainer.chief:
            return record
        with tf.io.gfile.GFile(os.path.join(self.config.train.run_dir, EVAL_HISTORY), "a") as f:
            f.write(json.dumps(record) + "\n")
        with self.trainer.writer.as_default(step=step):
            for k, v in result.items():
                tf.summary.scalar(f"eval/{k}", v)
        text = " | ".join(f"{k} {v:.4g}" for k, v in result.items())
        metric = e.best_metric
        if metric and metric in result and evaluation.is_improvement(metric, result[metric], self.best):
            self.best = result[metric]
            path = self.best_manager.save(checkpoint_number=step)
            with tf.io.gfile.GFile(os.path.join(self.best_dir, "best.json"), "w") as f:
                json.dump({"metric": metric, "value": self.best, "step": step, "checkpoint": path}, f)
            text += f" | new best {metric}"
        self.trainer._print(f"eval at step {step}: {text}")
        return record


def _fits_in_memory(spec: DataSpec, limit_bytes: int = 2 << 30) -> bool:
    return bool(spec.num_examples) and spec.num_examples * int(np.prod(spec.shape)) * 4 < limit_bytes


# --- export ------------------------------------------------------------------------------------------------

def export(config: PipelineConfig, spec: DataSpec, run_dir: str | None = None) -> Exported:
    """Restores the generator from the run's latest checkpoint and writes a SavedModel version (and TFLite).

    A version that exists already is left untouched (exports are immutable: a server may be serving it);
    a version missing its TFLite file gets one beside it.

    Raises:
      FileNotFoundError: the run directory has no checkpoint.
      ValueError: the checkpoint does not hold every variable of the generator the config describes.
      tfgan.export.ExportExistsError: the version directory exists but is not a complete export.
    """
    run_dir = run_dir or config.train.run_dir
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if not latest:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(run_dir, 'checkpoints')}: nothing to export")
    export_dir = config.export.export_dir or os.path.join(run_dir, "export")
    version = checkpoint_step(latest)
    tflite = tflite_path(export_dir, version, config.export.tflite_quantize) if config.export.export_tflite else None
    return export_checkpoint(config, spec, latest, version_path(export_dir, version), tflite)


def export_checkpoint(config: PipelineConfig, spec: DataSpec, checkpoint: str, path: str,
                      tflite: str | None = None) -> Exported:
    """The one export, for the train command and the pipeline's Trainer alike: the generator of `checkpoint`
    as a SavedModel at `path` (version = the checkpoint's step) and, where `tflite` names a file, as TFLite.

    A complete SavedModel at `path` is left untouched (exports are immutable: a server may be serving it);
    one missing its TFLite file gets it.

    Raises:
      ValueError: the checkpoint does not hold every variable of the generator the config describes.
      tfgan.export.ExportExistsError: `path` exists but is not a complete export.
    """
    version = checkpoint_step(checkpoint)
    if is_complete_export(path) and (tflite is None or tf.io.gfile.exists(tflite)):
        return Exported(path, version, tflite, reused=True)
    if tf.io.gfile.exists(path) and not is_complete_export(path):
        raise ExportExistsError(f"{path} exists but is not a complete tfgan export; move it away and run again")
    generator = restore_generator(config, spec, checkpoint)
    spec_out = ExportSpec(config.model.latent_dim, config.model.prior, output_range(config.model),
                          generator_classes(config, spec), spec.kind, config.export.serving_max_samples)
    reused = tf.io.gfile.exists(path)
    if not reused:
        write_saved_model(generator, spec_out, path, version)
    if tflite and not tf.io.gfile.exists(tflite):
        export_tflite(generator, spec_out, tflite, quantize=config.export.tflite_quantize)
    return Exported(path, version, tflite, reused)


def checkpoint_step(checkpoint: str) -> int:
    """The training step a checkpoint holds (its step counter)."""
    return int(tf.train.load_variable(checkpoint, "step_counter/.ATTRIBUTES/VARIABLE_VALUE"))


def tflite_path(export_dir: str, version: int, quantize: bool = False) -> str:
    """`<export_dir>/<version>.tflite` (`.dynamic_range.tflite` quantised): beside the version, which TF
    Serving ignores (it loads integer directory names only)."""
    return os.path.join(export_dir, f"{int(version)}{'.dynamic_range' if quantize else ''}.tflite")


# --- evaluate ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EvalProtocol:
    """How a generator is measured, the same for the evaluate command and the pipeline's Evaluator: `num_samples`
    generated samples (drawn from `seed`) against up to `num_samples` real examples of `real_split` (for toys,
    up to 20,000 real points), shuffled with `seed + 1`."""

    real_split: str
    num_samples: int
    seed: int = 0

    def describe(self, num_real: int | None = None) -> str:
        real = f"{num_real} real examples" if num_real is not None else "real examples"
        return (f"protocol: {self.num_samples} generated samples (seed {self.seed}) against {real} of the "
                f"{self.real_split!r} split")


def held_out_split(spec: DataSpec) -> str:
    """The real split metrics compare against: the data held out from training (a snapshot's "eval", which is the
    source's "test" where it has one; a source's "test"), or "train" for data with nothing held out."""
    for split in ("eval", "test"):
        if split in spec.splits:
            return split
    return "train"


def measure(generate, source: Source, names, protocol: EvalProtocol, extractor=None) -> dict:
    """The metrics `names` of `generate` under `protocol` (`tfgan.evaluation.evaluate_samples`)."""
    return evaluation.evaluate_samples(generate, source, names, protocol.num_samples, extractor, seed=protocol.seed,
                                       real_split=protocol.real_split)


def evaluate(config: PipelineConfig, ingested: Ingested, saved_model: str, metrics=None, num_samples: int = 10_000,
             extractor=None, out_dir: str | None = None, seed: int = 0, out=None,
             real_data: str = "held_out") -> Evaluated:
    """Evaluates an exported generator against the held-out data (`held_out_split`, as the pipeline's Evaluator)
    or, with `real_data="train"`, the training split; writes metrics.json and plots.

    Files in `out_dir` (default `<run_dir>/eval/<version>`): metrics.json, samples.png, and
    real_vs_fake.png (images) or scatter.png / histogram.png (toys), curves.png (the training-time
    evaluation history, if any). Metrics and pictures also go to `<run_dir>/tensorboard/eval`.
    """
    out = out or sys.stdout
    spec = ingested.spec
    generate, meta = evaluation.saved_model_generator(saved_model)
    step = int(meta.get("version", 0))
    names = list(metrics or evaluation.default_metrics(spec.kind, spec.shape))
    evaluation.check_metric_names(names, spec.kind)
    run_dir = config.train.run_dir
    out_dir = out_dir or os.path.join(run_dir, "eval", str(step))
    tf.io.gfile.makedirs(out_dir)
    start = time.perf_counter()
    if real_data not in choices.REAL_DATA:
        raise ValueError(f"real_data must be one of {', '.join(choices.REAL_DATA)}; got {real_data!r}")
    protocol = EvalProtocol(held_out_split(spec) if real_data == "held_out" else "train", num_samples, seed)
    result = measure(generate, ingested.source, names, protocol, extractor)
    files, pictures = {}, {}
    if spec.kind == "image":
        fake = generate(64, seed + 99)
        real = next(evaluation.real_batches(ingested.source, 64, 64, seed=seed + 98))
        pictures["samples"] = visualize.image_grid(fake)
        pictures["real_vs_fake"] = visualize.real_vs_fake_grid(real, fake)
    else:
        points = generate(min(num_samples, 5000), seed + 99)
        mixture = get_toy(spec.name)
        if spec.shape == (2,):
            pictures["scatter"] = visualize.decode_png(visualize.density_scatter_png(points, mixture, f"step {step}"))
        else:
            data = mixture.sample(len(points), seed=seed + 98)[0]
            pictures["histogram"] = visualize.decode_png(visualize.scatter_png(points, data, f"step {step}"))
    history_path = os.path.join(run_dir, EVAL_HISTORY)
    if tf.io.gfile.exists(history_path):
        with tf.io.gfile.GFile(history_path) as f:
            history = [json.loads(line) for line in f if line.strip()]
        if history:
            pictures["curves"] = visualize.decode_png(visualize.curves_png(history, "evaluation during training"))
    for name, picture in pictures.items():
        files[name] = os.path.join(out_dir, f"{name}.png")
        visualize.write_png(files[name], picture)
    # The counts the metrics saw: a source may hold fewer real examples than asked for.
    record = {"step": step, "saved_model": saved_model, "num_samples": result["num_fake"],
              "num_real": result["num_real"], "real_split": protocol.real_split, "seed": seed, "metrics": result,
              "seconds": round(time.perf_counter() - start, 1)}
    files["metrics"] = os.path.join(out_dir, "metrics.json")
    with tf.io.gfile.GFile(files["metrics"], "w") as f:
        json.dump(record, f, indent=2)
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard", "eval"))
    with writer.as_default(step=step):
        for k, v in result.items():
            tf.summary.scalar(f"eval/{k}", v)
        for name, picture in pictures.items():
            tf.summary.image(name, picture[None])
    writer.flush()
    print(protocol.describe(result["num_real"]), file=out)
    print(f"evaluated {saved_model} on {result['num_fake']} samples ({result['num_real']} real): " +
          " | ".join(f"{k} {v:.4g}" for k, v in result.items()), file=out)
    for name, path in files.items():
        print(f"  {name}: {path}", file=out)
    return Evaluated(result, files)


# --- the whole pipeline ------------------------------------------------------------------------------------

def run(config: PipelineConfig, flags_text: str = "", out=None, started: float | None = None) -> dict:
    """ingest -> train -> export; prints and returns where everything is.

    Re-running a finished run changes nothing that exists: the export version and `result.json` stay as
    they are (byte for byte); what a kill before the end left missing (the final sample grid, the export,
    the TFLite file, result.json) is produced.
    """
    out = out or sys.stdout
    apply_threads(config, out)  # before any op
    ingested = ingest(config.data)
    trained = train(config, ingested, flags_text=flags_text, out=out, started=started)
    if not trained.chief:
        return {"run_dir": trained.run_dir, "step": trained.step, "chief": False}
    path = os.path.join(trained.run_dir, RESULT_FILE)
    previous = {}
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f)
    result = dict(previous, run_dir=trained.run_dir, step=trained.step, checkpoint=trained.checkpoint,
                  sample_grid=trained.sample_grid,
                  tensorboard=f"tensorboard --logdir {os.path.join(trained.run_dir, 'tensorboard')}")
    if trained.metrics or "metrics" not in previous:  # a re-run that trained nothing keeps the run's figures
        result.update(metrics=trained.metrics, train_seconds=round(trained.wall_seconds, 1))
    if result != previous:  # recorded before the export, so that a kill during the export keeps the figures
        fileio.write_json_atomic(path, result)
        previous = dict(result)
    if config.export.export:
        exported = export(config, ingested.spec)
        result["saved_model"] = exported.path
        if exported.tflite:
            result["tflite"] = exported.tflite
    if result != previous:
        fileio.write_json_atomic(path, result)
    print(f"\ndone: step {trained.step} in {trained.wall_seconds:.0f}s", file=out)
    print(f"  run directory: {trained.run_dir}", file=out)
    print(f"  sample grid:   {trained.sample_grid}", file=out)
    print(f"  TensorBoard:   {result['tensorboard']}", file=out)
    if "saved_model" in result:
        print(f"  SavedModel:    {result['saved_model']}  "
              f"(saved_model_cli show --dir {result['saved_model']} --all)", file=out)
        print(f"  samples:       python -m tfgan.sample --saved_model={result['saved_model']} --out=samples.png",
              file=out)
    if result.get("tflite"):
        print(f"  TFLite:        {result['tflite']}", file=out)
    out.flush()
    return result
