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

from pipelines.config import DataConfig, ExportConfig, GANConfig, ModelConfig, PipelineConfig
from tfgan import distribute, networks
from tfgan.data import DataSpec, Source, get_source, make_dataset
from tfgan.export import ExportSpec, export_generator
from tfgan.losses import get_loss_pair
from tfgan.model import GAN, UnrolledGAN
from tfgan.penalties import get_penalty
from tfgan.trainer import Hook, Trainer
from tfgan.visualize import SampleWriter

CONFIG_FILE = "config.json"
FLAGS_FILE = "flags.txt"
RESULT_FILE = "result.json"


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
                  ema_decay=c.ema_decay or None, seed=config.train.seed)
    if c.unrolled_steps:
        gan = UnrolledGAN(g, d, config.model.latent_dim, unrolled_steps=c.unrolled_steps, **kwargs)
    else:
        gan = GAN(g, d, config.model.latent_dim, **kwargs)
    gan.compile(d_optimizer=build_optimizer(config.gan, config.gan.d_learning_rate),
                g_optimizer=build_optimizer(config.gan, config.gan.g_learning_rate))
    return gan


def set_precision(policy: str) -> None:
    keras.mixed_precision.set_global_policy("float32" if policy == "none" else policy)


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
    _check_run_dir(t.run_dir, config)
    tf.io.gfile.makedirs(t.run_dir)
    with tf.io.gfile.GFile(os.path.join(t.run_dir, CONFIG_FILE), "w") as f:
        f.write(config.to_json())
    if flags_text:
        with tf.io.gfile.GFile(os.path.join(t.run_dir, FLAGS_FILE), "w") as f:
            f.write(flags_text)

    set_precision(t.mixed_precision)
    with strategy.scope():
        gan = build_gan(config, spec, replicas)
    dataset = make_dataset(ingested.source, t.batch_size, critic_steps=config.gan.critic_steps,
                           output_range=output_range(config.model), shuffle_buffer=config.data.shuffle_buffer,
                           seed=t.seed, cache=_fits_in_memory(spec))
    trainer = Trainer(gan, strategy, t.run_dir, t.steps, log_every=t.log_every,
                      checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints, out=out)
    sampler = SampleWriter(gan, spec.kind, output_range(config.model), os.path.join(t.run_dir, "samples"),
                           trainer.writer if trainer.chief else None, num_samples=t.num_samples,
                           seed=t.seed + 1234, data=_toy_reference(ingested))
    if trainer.chief:
        trainer.hooks.append(Hook(t.sample_every, sampler))
    params = gan.generator.count_params(), gan.discriminator.count_params()
    print(f"training {config.model.architecture} GAN on {spec.name} {spec.shape}: generator {params[0]:,} "
          f"parameters, discriminator {params[1]:,}; {replicas} replica(s), batch {t.batch_size}, "
          f"{t.steps} steps", file=out, flush=True)
    start = time.perf_counter()
    metrics = trainer.fit(dataset)
    trained = Trained(t.run_dir, trainer.step, trainer.manager.latest_checkpoint, sampler.last_path, metrics,
                      time.perf_counter() - start)
    return trained


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
    set_precision(config.train.mixed_precision)
    num_classes = spec.num_classes if config.data.conditional else 0
    generator, _ = build_networks(config.model, spec, num_classes, sync_batch_norm=False)
    step = tf.Variable(0, dtype=tf.int64)
    # The EMA generator, when there is one, is what samples and exports use.
    key = "ema_generator" if config.gan.ema_decay else "generator"
    tf.train.Checkpoint(**{key: generator, "step_counter": step}).restore(latest).expect_partial()
    export_dir = config.export.export_dir or os.path.join(run_dir, "export")
    spec_out = ExportSpec(config.model.latent_dim, config.model.prior, output_range(config.model), num_classes,
                          spec.kind)
    version = int(step.numpy())
    return Exported(export_generator(generator, spec_out, export_dir, version), version)


# --- the whole pipeline ------------------------------------------------------------------------------------

def run(config: PipelineConfig, flags_text: str = "", out=None) -> dict:
    """ingest -> train -> export; prints and returns where everything is."""
    out = out or sys.stdout
    ingested = ingest(config.data)
    trained = train(config, ingested, flags_text=flags_text, out=out)
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
