"""Typed configuration of a pipeline run. Flags are translated into these in `pipelines.flags`; the stages
and the library only ever see these dataclasses."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex

from tfgan import choices


@dataclasses.dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"
    data_dir: str = ""
    download: bool = False
    image_size: int = 0          # 0: the data set's own size
    channels: int = 0            # 0: the data set's own channels
    shuffle_buffer: int = 10_000
    conditional: bool = False


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    architecture: str = "dcgan"              # dcgan | mlp
    latent_dim: int = 100
    prior: str = "normal"
    output_activation: str = "tanh"          # tanh | sigmoid | linear (toy data)
    g_base_filters: int = 64
    d_base_filters: int = 64
    kernel_size: int = 4
    g_hidden: tuple = (256, 512, 1024)
    d_hidden: tuple = (1024, 512, 256)
    g_batch_norm: bool = True
    d_norm: str = "none"
    d_dropout: float = 0.0
    conditioning: str = "projection"
    minibatch_features: int = 0
    minibatch_stddev: bool = False


@dataclasses.dataclass(frozen=True)
class GANConfig:
    loss: str = "non_saturating"
    label_smoothing: float = 0.0
    critic_steps: int = 1
    weight_clip: float = 0.0                 # 0: no clipping
    penalties: tuple = ()                    # of "gp", "r1"
    gp_weight: float = 10.0
    gp_target: float = 1.0
    gp_one_sided: bool = False
    r1_gamma: float = 10.0
    unrolled_steps: int = 0                  # 0: plain alternating updates
    unrolled_gradient: str = "second_order"  # second_order (Metz et al. eq. 12) | first_order
    ema_decay: float = 0.0                   # 0: no EMA generator
    ema_rampup: bool = True                  # decay min(ema_decay, (1 + t) / (10 + t)) at step t
    augment: tuple = ()                      # DiffAugment policy: of "color", "translation", "cutout"
    pack: int = 1                            # PacGAN: samples per discriminator example
    pack_batch: str = "samples"              # PacGAN: --batch_size counts samples | packs (Lin et al.'s code)
    optimizer: str = "adam"                  # adam | rmsprop | sgd
    lr_schedule: str = "constant"            # constant | linear (to 0 at the last step)
    d_learning_rate: float = 2e-4
    g_learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    run_dir: str = "runs/quickstart"
    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    sample_every: int = 500
    num_samples: int = 64
    mixed_precision: str = "none"            # none | auto | mixed_bfloat16 | mixed_float16
    strategy: str = "default"                # default | mirrored | multi_worker
    num_logical_cpus: int = 0
    steps_per_execution: int = 0             # 0: auto (about 0.1 s of steps per call)
    intra_op_threads: int = 0                # 0: TensorFlow's choice (one per core)
    inter_op_threads: int = 0                # 0: TensorFlow's choice (one per core)
    resume_from: str = ""                    # "": the run directory's latest checkpoint; a step or a checkpoint path


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    eval_every: int = 0                      # 0: no evaluation during training
    eval_metrics: tuple = ()                 # empty: the defaults for the data kind
    best_metric: str = ""                    # keep the best checkpoint by this metric ("": do not keep)
    eval_num_samples: int = 2000
    feature_extractor: str = "mnist"         # mnist | inception
    inception_weights: str = ""


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    export: bool = True
    export_dir: str = ""                     # "": <run_dir>/export
    serving_max_samples: int = 1024          # the most samples one serving request may ask for
    export_tflite: bool = False
    tflite_quantize: bool = False


# The pipeline's components in run order, and where their executors run: for flags, validation, the
# pipeline and the runner alike (this module imports nothing heavy).
COMPONENT_NAMES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Trainer", "Evaluator",
                   "InfraValidator", "Pusher")
ISOLATIONS = ("in_process", "process")
# Who runs the pipeline: the local runner with its SQLite run record, or the compiled Kubeflow Pipelines spec
# on this machine through kfp.local (`python -m tfgan.pipeline compile` writes the spec for a cluster).
RUNNERS = ("local", "kfp_local")


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    """The TFX-style pipeline's own settings (python -m tfgan.pipeline)."""

    pipeline_name: str = "tfgan"
    pipeline_root: str = "runs/pipeline"     # artifacts: <root>/<Component>/<output>/<execution id>/
    serving_dir: str = "runs/serving"        # the Pusher's destination: <serving_dir>/<version>/
    metadata_path: str = ""                  # "": <pipeline_root>/metadata.sqlite
    enable_cache: bool = True
    components: tuple = ()                   # empty: all; else run only these (upstream from the run record)
    isolation: str = "in_process"            # in_process | process (each executor in its own process)
    eval_percent: int = 10                   # eval split share where the data has no held-out split
    statistics_max_examples: int = 0         # 0: every example; N: a deterministic sample of about N per split
    beam_pipeline_args: str = ""             # ExampleGen's and StatisticsGen's Beam options, passed unchanged
    schema_path: str = ""                    # a curated schema.json to validate against
    base_model: str = ""                     # warm start: a Model artifact directory, or latest_blessed
    bless_thresholds: tuple = ()             # e.g. fid<=15, modes>=8
    bless_change_thresholds: tuple = ()      # e.g. fid:2 or fid:10%: allowed regression against the baseline
    evaluator_num_samples: int = 2000
    infra_max_load_seconds: float = 60.0
    infra_timeout_seconds: float = 300.0
    runner: str = "local"                    # local | kfp_local
    image: str = "tfgan:0.1.0"               # the container image a compiled KFP spec names (the Dockerfile's)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    gan: GANConfig = GANConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    export: ExportConfig = ExportConfig()
    pipeline: PipelineSettings = PipelineSettings()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PipelineConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict) -> "PipelineConfig":
        parts = {f.name: f.type for f in dataclasses.fields(cls)}
        kinds = SECTIONS
        built = {}
        for name, values in raw.items():
            if name not in parts:
                raise ValueError(f"unknown config section {name!r}")
            kind = kinds[name]
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"unknown {name} config keys: {', '.join(sorted(unknown))}")
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            built[name] = kind(**values)
        return cls(**built)


CONFIG_FILE = "config.json"   # the resolved config, saved in every run directory


def load_run_config(run_dir: str) -> "PipelineConfig":
    """The config saved in a run directory by the train command.

    Raises:
      FileNotFoundError: `run_dir` holds no config.json (it is no run directory).
      ValueError: the file is not a config of this version.
    """
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: --run_dir must be a directory written by tfgan.train")
    with open(path) as f:
        try:
            return PipelineConfig.from_json(f.read())
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a tfgan run config ({e})") from None


SECTIONS = {"data": DataConfig, "model": ModelConfig, "gan": GANConfig, "train": TrainConfig, "eval": EvalConfig,
            "export": ExportConfig, "pipeline": PipelineSettings}


def validate(config: PipelineConfig, pipeline: bool = False) -> None:
    """Checks combinations that single-flag checks cannot, before any work starts and before TensorFlow is
    imported (everything here reads `tfgan.choices` and the file system only).

    Args:
      config: the config.
      pipeline: also check the pipeline's own settings (the pipeline command).

    Raises:
      ValueError: naming the flag(s), the value(s) and what is allowed.
    """
    d, m, g, t = config.data, config.model, config.gan, config.train
    if not choices.is_dataset(d.dataset):
        raise ValueError(f"--dataset={d.dataset!r}: must be one of {', '.join(choices.DATASETS)} or tfds:<name>")
    points = d.dataset in choices.TOYS
    if d.dataset in ("mnist", "folder"):
        if not d.data_dir:
            raise ValueError(f"--dataset={d.dataset} reads local files: set --data_dir")
        if not os.path.isdir(d.data_dir):
            raise ValueError(f"--data_dir={d.data_dir!r}: no such directory")
    if points and m.architecture != "mlp":
        raise ValueError(f"--architecture={m.architecture} needs image data, but --dataset={d.dataset} gives "
                         f"points: use --architecture=mlp")
    if points and m.output_activation != "linear":
        raise ValueError(f"--output_activation={m.output_activation} cannot reach the support of --dataset="
                         f"{d.dataset}: use --output_activation=linear")
    if not points and m.output_activation == "linear":
        raise ValueError("--output_activation=linear is for toy data; images need tanh or sigmoid")
    if (d.dataset == "stacked_mnist" or d.dataset.startswith(choices.TFDS_PREFIX)) and d.data_dir \
            and not d.download and not os.path.isdir(d.data_dir):
        raise ValueError(f"--data_dir={d.data_dir!r}: no such directory (or add --download to let TFDS fetch "
                         f"--dataset={d.dataset} into it)")
    if m.architecture == "dcgan" and not points:
        size = d.image_size or (28 if d.dataset in choices.NATIVE_28 else 0)
        if size:  # else the data set's own size, checked once the data is open
            try:
                choices.upsampling_plan(size)
            except ValueError as e:
                raise ValueError(f"--image_size={size}: {e}") from None
    if m.minibatch_stddev and m.architecture != "dcgan":
        raise ValueError("--minibatch_stddev exists for --architecture=dcgan only")
    if g.label_smoothing and g.loss not in ("minimax", "non_saturating"):
        raise ValueError(f"--label_smoothing={g.label_smoothing} applies to --loss=minimax or non_saturating, "
                         f"not --loss={g.loss}")
    if any(w < 1 for w in m.g_hidden + m.d_hidden) or not m.g_hidden or not m.d_hidden:
        raise ValueError(f"--g_hidden / --d_hidden must be non-empty lists of positive widths; got "
                         f"{list(m.g_hidden)} / {list(m.d_hidden)}")
    if d.conditional and points and d.dataset == "gaussian_1d":
        raise ValueError("--conditional needs labelled data; --dataset=gaussian_1d has a single class")
    unknown = [p for p in g.penalties if p not in choices.PENALTIES]
    if unknown or len(set(g.penalties)) != len(g.penalties):
        raise ValueError(f"--penalties={','.join(g.penalties)}: each must be one of {', '.join(choices.PENALTIES)}, "
                         f"at most once")
    if g.penalties and m.d_norm == "batch":
        raise ValueError(f"--penalties={','.join(g.penalties)} with --d_norm=batch: batch norm makes each score "
                         f"depend on the whole batch, which the per-example gradient penalty assumes it does not; "
                         f"use --d_norm=none, layer or spectral")
    if g.penalties and (m.minibatch_features or m.minibatch_stddev):
        raise ValueError(f"--penalties={','.join(g.penalties)} cannot be combined with --minibatch_features or "
                         f"--minibatch_stddev (they couple the examples of a batch)")
    unknown = [a for a in g.augment if a not in choices.AUGMENTS]
    if unknown or len(set(g.augment)) != len(g.augment):
        raise ValueError(f"--augment={','.join(g.augment)}: each must be one of {', '.join(choices.AUGMENTS)}, at "
                         f"most once")
    if g.augment and points:
        raise ValueError(f"--augment={','.join(g.augment)} transforms images; --dataset={d.dataset} gives points")
    if g.pack > 1 and d.conditional:
        raise ValueError(f"--pack={g.pack} packs unlabelled samples; it cannot be combined with --conditional")
    if g.pack_batch not in choices.PACK_BATCHES:
        raise ValueError(f"--pack_batch={g.pack_batch}: must be one of {', '.join(choices.PACK_BATCHES)}")
    replica_batch = t.batch_size // t.num_logical_cpus if t.num_logical_cpus else t.batch_size
    if g.pack_batch == "samples" and replica_batch % g.pack:
        raise ValueError(f"--pack={g.pack} must divide the per-replica batch ({replica_batch} of --batch_size="
                         f"{t.batch_size}) into whole packs (or --pack_batch=packs: --batch_size packs of "
                         f"{g.pack} samples)")
    if g.ema_decay and not 0.0 < g.ema_decay < 1.0:
        raise ValueError(f"--ema_decay={g.ema_decay}: must be in (0, 1), or 0 for no EMA")
    e = config.eval
    kind = "points" if points else "image"
    allowed = choices.POINT_METRICS if points else choices.IMAGE_METRICS
    bad = [n for n in choices.canonical_metric_names(e.eval_metrics) if n not in allowed]
    if bad:
        raise ValueError(f"--eval_metrics={','.join(e.eval_metrics)}: for {'toy' if points else 'image'} data each "
                         f"must be one of {', '.join(allowed)}")
    names = choices.canonical_metric_names(e.eval_metrics) or choices.default_metrics(
        kind, (choices.TOY_DIMS[d.dataset],) if points else ())
    if e.best_metric:
        ranked = choices.rankable_keys(names)
        if e.best_metric not in ranked:
            raise ValueError(f"--best_metric={e.best_metric}: must be a result of --eval_metrics="
                             f"{','.join(names)}{' (the defaults)' if not e.eval_metrics else ''}, one of "
                             f"{', '.join(ranked)}")
        if not e.eval_every:
            raise ValueError(f"--best_metric={e.best_metric} needs --eval_every > 0")
    if e.feature_extractor not in choices.FEATURE_EXTRACTORS:
        raise ValueError(f"--feature_extractor={e.feature_extractor}: must be one of "
                         f"{', '.join(choices.FEATURE_EXTRACTORS)}")
    if not points and e.feature_extractor == "inception" and not e.inception_weights and (e.eval_every or pipeline):
        raise ValueError("--feature_extractor=inception needs --inception_weights (a local InceptionV3 weights file; "
                         "weights are not downloaded)")
    if not points and d.dataset in choices.NATIVE_28 and e.eval_every:
        native = 3 if d.dataset == "stacked_mnist" else 1
        shape = (d.image_size or 28, d.image_size or 28, d.channels or native)
        try:
            choices.check_feature_extractor_fits(e.feature_extractor, [n for n in names if n != "stacked_modes"], shape)
        except ValueError as err:
            raise ValueError(str(err).replace("--metrics=", "--eval_metrics=")) from None
    if e.inception_weights and not os.path.isfile(e.inception_weights):
        raise ValueError(f"--inception_weights={e.inception_weights}: no such file")
    if t.resume_from:
        _check_resume_from(t.resume_from, t.run_dir)
    if t.num_logical_cpus and t.strategy != "mirrored":
        raise ValueError(f"--num_logical_cpus={t.num_logical_cpus} applies to --strategy=mirrored, not "
                         f"--strategy={t.strategy}")
    if t.num_logical_cpus and t.batch_size % t.num_logical_cpus:
        raise ValueError(f"--batch_size={t.batch_size} must be divisible by the {t.num_logical_cpus} replicas "
                         f"of --num_logical_cpus")
    if pipeline:
        _validate_pipeline(config.pipeline, names)


def _validate_pipeline(p: PipelineSettings, metric_names) -> None:
    """The pipeline's own flags: component names, thresholds (and that the Evaluator measures their metric)."""
    from pipelines.thresholds import parse_change_thresholds, parse_value_thresholds
    bad = [c for c in p.components if c not in COMPONENT_NAMES]
    if bad:
        raise ValueError(f"--components={','.join(p.components)}: each must be one of {', '.join(COMPONENT_NAMES)}")
    measured = {k for n in metric_names for k in choices.METRIC_KEYS[n]}
    for threshold in parse_value_thresholds(p.bless_thresholds) + parse_change_thresholds(p.bless_change_thresholds):
        if threshold.metric not in measured:
            raise ValueError(f"--bless_thresholds / --bless_change_thresholds: {threshold.metric} is not measured by "
                             f"the Evaluator's metrics ({','.join(metric_names)}; set --eval_metrics)")
    try:
        shlex.split(p.beam_pipeline_args)
    except ValueError as e:
        raise ValueError(f"--beam_pipeline_args={p.beam_pipeline_args!r}: {e} (quote it as a shell would)") from None
    if p.schema_path and not os.path.isfile(p.schema_path):
        raise ValueError(f"--schema_path={p.schema_path}: no such file")
    if p.runner != "local":
        check_kfp(p, f"--runner={p.runner}")


def check_kfp(p: PipelineSettings, what: str) -> None:
    """Settings that only the local runner can honour, refused for a KFP spec (`what`: the flag or command)."""
    if p.base_model:
        raise ValueError(f"--base_model={p.base_model} is resolved from the local run record, which {what} does not "
                         f"have: leave --base_model empty (or use --runner=local)")
    if p.components:
        raise ValueError(f"--components={','.join(p.components)} reuses outputs from the local run record, which "
                         f"{what} does not have: leave --components empty (or use --runner=local)")


def _check_resume_from(resume_from: str, run_dir: str) -> None:
    """--resume_from names an existing checkpoint: a step of one in --run_dir, or a checkpoint path."""
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    path = os.path.join(ckpt_dir, f"ckpt-{int(resume_from)}") if resume_from.isdigit() else resume_from
    if os.path.exists(path + ".index"):
        return
    names = sorted((n[:-len(".index")] for n in (os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else [])
                    if n.startswith("ckpt-") and n.endswith(".index")), key=lambda n: int(n[5:]))
    raise ValueError(f"--resume_from={resume_from}: no checkpoint {path} (in {ckpt_dir}: {', '.join(names) or 'none'}); "
                     f"give the step of one of those or a checkpoint path such as runs/<name>/checkpoints/ckpt-<step>")
