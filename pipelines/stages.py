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

import keras
import numpy as np
import tensorflow as tf

from pipelines.config import (
    DataConfig,
    GANConfig,
    ModelConfig,
    PipelineConfig,
)
from tfgan import distribute, evaluation, networks, visualize
from tfgan.data import DataSpec, Source, get_source, make_dataset
from tfgan.data.toy import get_toy
from tfgan.export import ExportSpec, export_generator
from tfgan.losses import get_loss_pair
from tfgan.model import GAN, UnrolledGAN, estimate_batch_norm_statistics
from tfgan.penalties import get_penalty
from tfgan.trainer import Hook, Trainer, is_chief
from tfgan.visualize import SampleWriter

CONFIG_FILE = "config.json"
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
    """Output of `export`: the SavedModel version directory."""

    path: str
    version: int


# --- ingest ------------------------------------------------------------------------------------------------

def ingest(data: DataConfig) -> Ingested:
    """Opens the data source, checking that its files exist and decode (errors name the file)."""
    source = get_source(data.dataset, data_dir=data.data_dir or None, image_size=data.image_size,
                        channels=data.channels, download=data.download)
    if data.conditional and source.spec.num_classes < 2:
        raise ValueError(f"--conditional needs labelled data; --dataset={data.dataset} has "
                         f"{source.spec.num_classes} classes")
    return Ingested(source, source.spec)


# --- building the model ------------------------------------------------------------------------------------

def output_range(model: ModelConfig) -> tuple:
    return networks.OUTPUT_RANGES[model.output_activation]


def build_networks(model: ModelConfig, spec: DataSpec, num_classes: int, sync_batch_norm: bool):
    """(generator, discriminator) for the data's shape."""
    if model.architecture == "mlp":
        g = networks.mlp_generator(model.latent_dim, spec.shape, model.g_hidden, model.output_activation,
                                   batch_norm=model.g_batch_norm, sync_batch_norm=sync_batch_norm,
                                   num_classes=num_classes)
        d = networks.mlp_discriminator(spec.shape, model.d_hidden, dropout=model.d_dropout, norm=model.d_norm,
                                       num_classes=num_classes, conditioning=model.conditioning,
                                       minibatch_features=model.minibatch_features,
                                       sync_batch_norm=sync_batch_norm)
        return g, d
    size, _, channels = spec.shape
    g = networks.dcgan_generator(model.latent_dim, size, channels, model.g_base_filters, model.kernel_size,
                                 model.output_activation, sync_batch_norm=sync_batch_norm,
                                 num_classes=num_classes)
    d = networks.dcgan_discriminator(size, channels, model.d_base_filters, model.kernel_size, norm=model.d_norm,
                                     dropout=model.d_dropout, num_classes=num_classes,
                                     conditioning=model.conditioning,
                                     minibatch_features=model.minibatch_features,
                                     minibatch_stddev=model.minibatch_stddev, sync_batch_norm=sync_batch_norm)
    return g, d


def build_optimizer(gan: GANConfig, learning_rate: float) -> keras.optimizers.Optimizer:
    if gan.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=gan.beta1, beta_2=gan.beta2)
    if gan.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    return keras.optimizers.SGD(learning_rate)


def build_gan(config: PipelineConfig, spec: DataSpec, replicas: int = 1) -> GAN:
    """The compiled GAN; call inside the strategy's scope."""
    keras.utils.set_random_seed(config.train.seed)
    num_classes = spec.num_classes if config.data.conditional else 0
    g, d = build_networks(config.model, spec, num_classes, sync_batch_norm=replicas > 1)
    c = config.gan
    penalties = [get_penalty(name, c.gp_weight, c.gp_target, c.gp_one_sided, c.r1_gamma) for name in c.penalties]
    kwargs = dict(loss=get_loss_pair(c.loss, c.label_smoothing), penalties=penalties, critic_steps=c.critic_steps,
                  prior=config.model.prior, num_classes=num_classes, weight_clip=c.weight_clip or None,
                  ema_decay=c.ema_decay or None, ema_rampup=c.ema_rampup, seed=config.train.seed)
    if c.unrolled_steps:
        gan = UnrolledGAN(g, d, config.model.latent_dim, unrolled_steps=c.unrolled_steps, **kwargs)
    else:
        gan = GAN(g, d, config.model.latent_dim, **kwargs)
    gan.compile(d_optimizer=build_optimizer(config.gan, config.gan.d_learning_rate),
                g_optimizer=build_optimizer(config.gan, config.gan.g_learning_rate))
    return gan


def set_precision(policy: str) -> str:
    """Sets the global Keras dtype policy for a --mixed_precision value and returns the policy's name."""
    resolved = distribute.resolve_precision(policy)
    keras.mixed_precision.set_global_policy(resolved)
    return resolved


# --- train -------------------------------------------------------------------------------------------------

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
          flags_text: str = "", out=None) -> Trained:
    """Trains (or resumes) the GAN in `config.train.run_dir` up to `config.train.steps`.

    Args:
      config: the validated pipeline config.
      ingested: the `ingest` stage's output.
      strategy: a strategy to use (default: built from `config.train.strategy`).
      flags_text: the resolved flags (flagfile format), saved beside the run for reproduction.
      out: stream for progress lines (default stdout).

    Raises:
      ValueError: settings that do not fit (batch size vs replicas, run directory of another experiment).
      tfgan.trainer.NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint is kept).
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
        with tf.io.gfile.GFile(os.path.join(t.run_dir, CONFIG_FILE), "w") as f:
            f.write(config.to_json())
        if flags_text:
            with tf.io.gfile.GFile(os.path.join(t.run_dir, FLAGS_FILE), "w") as f:
                f.write(flags_text)

    precision = set_precision(t.mixed_precision)
    with strategy.scope():
        gan = build_gan(config, spec, replicas)
    # Built once the trainer knows the step it resumes from: a resumed run continues the data stream.
    def dataset(start_step: int) -> tf.data.Dataset:
        return make_dataset(ingested.source, t.batch_size, critic_steps=config.gan.critic_steps,
                            output_range=output_range(config.model), shuffle_buffer=config.data.shuffle_buffer,
                            seed=t.seed, cache=_fits_in_memory(spec), start_step=start_step)

    trainer = Trainer(gan, strategy, t.run_dir, t.steps, log_every=t.log_every,
                      checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints, out=out)
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
          f"{t.steps} steps, {precision}", file=out, flush=True)
    start = time.perf_counter()
    metrics = trainer.fit(dataset)
    trained = Trained(t.run_dir, trainer.step, trainer.manager.latest_checkpoint, sampler.last_path, metrics,
                      time.perf_counter() - start, chief)
    return trained


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
    """Restores the generator from the run's latest checkpoint and writes a SavedModel version.

    Raises:
      FileNotFoundError: the run directory has no checkpoint.
    """
    run_dir = run_dir or config.train.run_dir
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if not latest:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(run_dir, 'checkpoints')}: nothing to export")
    # Variables are float32 under every policy: the export computes in float32, whatever the training used,
    # so it serves on any machine.
    set_precision("none")
    num_classes = spec.num_classes if config.data.conditional else 0
    generator, _ = build_networks(config.model, spec, num_classes, sync_batch_norm=False)
    step = tf.Variable(0, dtype=tf.int64)
    # The EMA generator, when there is one, is what samples and exports use, with its batch-norm statistics
    # estimated for its weights by the function the in-training samples use (GAN.sampling_generator).
    key = "ema_generator" if config.gan.ema_decay else "generator"
    tf.train.Checkpoint(**{key: generator, "step_counter": step}).restore(latest).expect_partial()
    if config.gan.ema_decay:
        estimate_batch_norm_statistics(generator, config.model.latent_dim, config.model.prior, num_classes)
    export_dir = config.export.export_dir or os.path.join(run_dir, "export")
    spec_out = ExportSpec(config.model.latent_dim, config.model.prior, output_range(config.model), num_classes,
                          spec.kind)
    version = int(step.numpy())
    return Exported(export_generator(generator, spec_out, export_dir, version), version)


# --- evaluate ----------------------------------------------------------------------------------------------

def latest_export(export_dir: str) -> str:
    """The highest integer version directory under `export_dir`."""
    versions = [int(v) for v in tf.io.gfile.listdir(export_dir) if v.strip("/").isdigit()] \
        if tf.io.gfile.isdir(export_dir) else []
    if not versions:
        raise FileNotFoundError(f"no SavedModel version under {export_dir}")
    return os.path.join(export_dir, str(max(versions)))


def evaluate(config: PipelineConfig, ingested: Ingested, saved_model: str, metrics=None, num_samples: int = 10_000,
             extractor=None, out_dir: str | None = None, seed: int = 0, out=None) -> Evaluated:
    """Evaluates an exported generator against the run's data; writes metrics.json and plots.

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
    result = evaluation.evaluate_samples(generate, ingested.source, names, num_samples, extractor, seed=seed)
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
              "num_real": result["num_real"], "metrics": result,
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
    print(f"evaluated {saved_model} on {result['num_fake']} samples ({result['num_real']} real): " +
          " | ".join(f"{k} {v:.4g}" for k, v in result.items()), file=out)
    for name, path in files.items():
        print(f"  {name}: {path}", file=out)
    return Evaluated(result, files)


def load_run_config(run_dir: str) -> PipelineConfig:
    """The config saved in a run directory by `train`."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} does not exist: --run_dir must be a directory written by tfgan.train")
    with tf.io.gfile.GFile(path) as f:
        return PipelineConfig.from_json(f.read())


# --- the whole pipeline ------------------------------------------------------------------------------------

def run(config: PipelineConfig, flags_text: str = "", out=None) -> dict:
    """ingest -> train -> export; prints and returns where everything is."""
    out = out or sys.stdout
    ingested = ingest(config.data)
    trained = train(config, ingested, flags_text=flags_text, out=out)
    if not trained.chief:
        return {"run_dir": trained.run_dir, "step": trained.step, "chief": False}
    result = {"run_dir": trained.run_dir, "step": trained.step, "checkpoint": trained.checkpoint,
              "sample_grid": trained.sample_grid, "metrics": trained.metrics,
              "train_seconds": round(trained.wall_seconds, 1),
              "tensorboard": f"tensorboard --logdir {os.path.join(trained.run_dir, 'tensorboard')}"}
    if config.export.export:
        exported = export(config, ingested.spec)
        result["saved_model"] = exported.path
    with tf.io.gfile.GFile(os.path.join(trained.run_dir, RESULT_FILE), "w") as f:
        json.dump(result, f, indent=2)
    print(f"\ndone: step {trained.step} in {trained.wall_seconds:.0f}s", file=out)
    print(f"  run directory: {trained.run_dir}", file=out)
    print(f"  sample grid:   {trained.sample_grid}", file=out)
    print(f"  TensorBoard:   {result['tensorboard']}", file=out)
    if "saved_model" in result:
        print(f"  SavedModel:    {result['saved_model']}  "
              f"(saved_model_cli show --dir {result['saved_model']} --all)", file=out, flush=True)
    return result
