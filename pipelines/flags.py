"""The pipeline's absl flags, defined in one place from the typed configs' fields and defaults.

Only entry points (`tfgan.train`) call `define_flags` and `config_from_flags`; the library never reads flags.
Each flag is named after its config field, so errors about a config field name the flag a user typed.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

from pipelines import config as cfg
from tfgan import choices

# Each enum flag's choices are the library's own list (tfgan.choices), so flags, validation and the library
# agree by construction.
_ENUMS = {
    "architecture": choices.ARCHITECTURES,
    "feature_extractor": choices.FEATURE_EXTRACTORS,
    "prior": choices.PRIORS,
    "output_activation": choices.OUTPUT_ACTIVATIONS,
    "d_norm": choices.NORMS,
    "conditioning": choices.CONDITIONINGS,
    "loss": choices.LOSSES,
    "optimizer": choices.OPTIMIZERS,
    "unrolled_gradient": choices.UNROLLED_GRADIENTS,
    "pack_batch": choices.PACK_BATCHES,
    "lr_schedule": choices.LR_SCHEDULES,
    "mixed_precision": choices.PRECISION_POLICIES,
    "strategy": choices.STRATEGIES,
    "isolation": cfg.ISOLATIONS,
    "runner": cfg.RUNNERS,
}

# Choices of list flags (each element must be one of them), from the library's lists like _ENUMS.
_LIST_CHOICES = {
    "penalties": choices.PENALTIES,
    "augment": choices.AUGMENTS,
}

# Lower bounds (inclusive) of numeric flags; upper bounds where they exist.
_BOUNDS = {
    "image_size": (0, None), "channels": (0, 4), "shuffle_buffer": (0, None),
    "latent_dim": (1, None), "g_base_filters": (1, None), "d_base_filters": (1, None), "kernel_size": (1, None),
    "d_dropout": (0.0, 0.99), "minibatch_features": (0, None),
    "label_smoothing": (0.0, 0.99), "critic_steps": (1, None), "weight_clip": (0.0, None),
    "gp_weight": (0.0, None), "gp_target": (1e-6, None), "r1_gamma": (0.0, None), "unrolled_steps": (0, 100),
    "ema_decay": (0.0, 0.999999), "pack": (1, 64), "eval_every": (0, None), "eval_num_samples": (10, None),
    "d_learning_rate": (0.0, None), "g_learning_rate": (0.0, None), "beta1": (0.0, 0.9999), "beta2": (0.0, 0.9999),
    "steps": (1, None), "batch_size": (1, None), "seed": (0, 2**31 - 1), "log_every": (1, None),
    "checkpoint_every": (1, None), "keep_checkpoints": (1, None), "sample_every": (1, None),
    "num_samples": (1, 100_000), "num_logical_cpus": (0, 64), "steps_per_execution": (0, 100_000),
    "intra_op_threads": (0, 1024), "inter_op_threads": (0, 1024),
    "serving_max_samples": (1, 2**31 - 1),
    "eval_percent": (1, 50), "statistics_max_examples": (0, None), "evaluator_num_samples": (10, 1_000_000),
    "infra_max_load_seconds": (0.1, None), "infra_timeout_seconds": (1.0, None),
}

_HELP = {
    "dataset": "Real data: digits (embedded, no download), mnist (IDX files in --data_dir), folder (images in "
               "--data_dir), tfds:<name> (TFDS data set in --data_dir), gaussian_1d, ring8 or grid25 (toys).",
    "data_dir": "Directory of the data (IDX files, an image folder, or a TFDS data_dir).",
    "download": "Let TFDS download and prepare a missing data set (needs network; offline it retries for minutes).",
    "image_size": "Resize images to this size (0: the data set's own).",
    "channels": "Convert images to this many channels (0: the data set's own).",
    "shuffle_buffer": "Shuffle buffer size (0: no shuffling).",
    "conditional": "Condition generator and discriminator on the class label.",
    "architecture": "Network family: dcgan (convolutional) or mlp (the original GAN's, and for toy data).",
    "latent_dim": "Size of the latent vector z.",
    "prior": "Latent prior: normal N(0, I) or uniform U[-1, 1].",
    "output_activation": "Generator output: tanh (data in [-1, 1]), sigmoid ([0, 1]) or linear (toy data).",
    "g_base_filters": "DCGAN generator: filters of its last hidden layer (doubling towards the input).",
    "d_base_filters": "DCGAN discriminator: filters of its first convolution (doubling with depth).",
    "kernel_size": "DCGAN convolution kernel size.",
    "g_hidden": "MLP generator hidden widths.",
    "d_hidden": "MLP discriminator hidden widths.",
    "g_batch_norm": "MLP generator: batch norm after each hidden layer.",
    "d_norm": "Discriminator normalisation: none, batch, layer or spectral.",
    "d_dropout": "Discriminator dropout rate after each hidden layer.",
    "conditioning": "Conditional discriminator: concat (label embedding as input) or projection.",
    "minibatch_features": "Minibatch discrimination features in the discriminator (0: off).",
    "minibatch_stddev": "Minibatch standard-deviation feature map in the DCGAN discriminator.",
    "loss": "Loss pair: minimax, non_saturating, wasserstein, hinge or least_squares.",
    "label_smoothing": "One-sided label smoothing of the real target (minimax / non_saturating only).",
    "critic_steps": "Discriminator updates per generator update; each uses its own real minibatch.",
    "weight_clip": "Clip discriminator weights to [-c, c] after each update (WGAN); 0: off.",
    "penalties": "Discriminator penalties: gp (WGAN-GP gradient penalty), r1 (R1 on real data); empty: none.",
    "gp_weight": "Gradient penalty weight lambda.",
    "gp_target": "Gradient penalty target norm.",
    "gp_one_sided": "Penalise only gradient norms above the target.",
    "r1_gamma": "R1 penalty weight gamma (the penalty is gamma/2 E||grad D(x)||^2).",
    "unrolled_steps": "Unrolled GAN: discriminator look-ahead steps before each generator update (0: off).",
    "unrolled_gradient": "Unrolled GAN generator gradient: second_order (through the look-ahead discriminator "
                         "updates, Metz et al. 2017 eq. 12; about 2x a first-order step's time) or first_order (at the "
                         "look-ahead discriminator only).",
    "ema_decay": "Exponential moving average of generator weights for sampling and export (0: off; e.g. 0.999).",
    "ema_rampup": "Ramp the EMA decay up as min(ema_decay, (1 + t) / (10 + t)) at step t, so that the average "
                  "forgets the random initialisation (tf.train.ExponentialMovingAverage's num_updates).",
    "augment": "DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every discriminator input, "
               "real and generated, in both updates: any of color, translation, cutout (e.g. translation,cutout "
               "for digits); empty: none.",
    "pack": "PacGAN (Lin et al. 2018): the discriminator judges this many samples at once, concatenated along the "
            "channels (images) or features (points); 1: off. Must divide the per-replica batch.",
    "pack_batch": "PacGAN: what --batch_size counts: samples (batch_size / pack packs per discriminator update) or "
                  "packs (batch_size packs, pack x batch_size samples per update, as Lin et al.'s code).",
    "optimizer": "Optimizer of both networks: adam, rmsprop or sgd.",
    "lr_schedule": "Learning rates over training: constant, or linear (each network's rate decays linearly to 0 over "
                   "its updates in --steps; a resumed run continues the schedule).",
    "d_learning_rate": "Discriminator learning rate.",
    "g_learning_rate": "Generator learning rate.",
    "beta1": "Adam beta_1.",
    "beta2": "Adam beta_2.",
    "run_dir": "Run directory: flags, checkpoints, TensorBoard logs, samples, export. Reusing it resumes. Default: "
               "runs/<name> for --flagfile=<name>.cfg, else runs/<dataset>_<architecture>.",
    "steps": "Total training steps (generator updates); a resumed run stops at the same step.",
    "batch_size": "Global minibatch size of one discriminator update (split across replicas).",
    "seed": "Seed of data shuffling, the noise stream and network initialisation.",
    "log_every": "Steps between progress lines and scalar summaries.",
    "checkpoint_every": "Steps between checkpoints.",
    "keep_checkpoints": "Checkpoints kept.",
    "sample_every": "Steps between sample grids (PNG and TensorBoard).",
    "num_samples": "Samples in each grid.",
    "mixed_precision": "Keras mixed-precision policy: none (float32), auto (mixed_bfloat16 on a CPU with native bf16 "
                       "(AVX512-BF16/AMX) and no GPU, else float32), mixed_bfloat16 or mixed_float16.",
    "strategy": "tf.distribute strategy: default (one device), mirrored (local GPUs) or multi_worker (TF_CONFIG).",
    "num_logical_cpus": "Split the CPU into this many logical devices (try a mirrored strategy without GPUs).",
    "steps_per_execution": "Most train steps run per tf.function call (0: auto, as many as take about 0.1 s). Calls end "
                           "at every log, checkpoint, sample and evaluation step, so results equal one step per call.",
    "intra_op_threads": "Threads that share one TensorFlow kernel (0: one per core). 1 speeds up models of small "
                        "kernels, such as the 2-D toys (1.1-1.5x on 2 cores). Another setting may sum in another "
                        "order: results agree to rounding, and repeat exactly with the same setting.",
    "inter_op_threads": "Threads that run independent TensorFlow kernels at once (0: one per core).",
    "resume_from": "Start from this checkpoint instead of --run_dir's latest: a step of a checkpoint in --run_dir, or "
                   "a checkpoint path (e.g. another run's runs/x/checkpoints/ckpt-200, to continue it with other "
                   "settings in a new --run_dir). Learning rates are taken from the flags, not the checkpoint.",
    "eval_every": "Steps between evaluations during training (0: none).",
    "eval_metrics": "Metrics evaluated during training: fid, is, kid, precision_recall (prd: its former name), "
                    "stacked_modes (images) or modes, w1 (toys); "
                    "empty: the defaults for the data.",
    "best_metric": "Keep the checkpoint with the best value of this metric in <run_dir>/best: a result of "
                   "--eval_metrics with a direction (e.g. fid, is, precision, modes, high_quality, w1; the table is "
                   "tfgan.evaluation.RESULT_KEYS).",
    "eval_num_samples": "Generated samples per evaluation.",
    "feature_extractor": "Features for image metrics: mnist (shipped classifier) or inception (--inception_weights).",
    "inception_weights": "Local InceptionV3 weights file (keras.applications format) for --feature_extractor=inception.",
    "export": "Export the generator as a SavedModel when training ends.",
    "export_dir": "SavedModel base directory (default: <run_dir>/export); versions are training steps.",
    "serving_max_samples": "The most samples one request to the exported SavedModel may ask for (num_samples, "
                           "labels or latents rows); larger requests get an InvalidArgument error.",
    "export_tflite": "Also convert the generator to TFLite: <export_dir>/<version>.tflite (latents -> samples).",
    "tflite_quantize": "With --export_tflite: dynamic-range quantisation (int8 weights), about 4x smaller.",
    "pipeline_name": "Name of the pipeline in the run record (one pipeline root may hold one pipeline).",
    "pipeline_root": "Where the pipeline's artifacts go: <root>/<Component>/<output>/<execution id>/. Default: "
                     "runs/pipeline_<name> for --flagfile=<name>.cfg, else runs/pipeline_<dataset>_<architecture>.",
    "serving_dir": "Where the Pusher puts blessed models: <serving_dir>/<version>/ (a TF Serving base path). "
                   "Default: runs/serving/<name> for --flagfile=<name>.cfg, else runs/serving/<dataset>_<architecture>.",
    "metadata_path": "The SQLite run record (default <pipeline_root>/metadata.sqlite).",
    "enable_cache": "Reuse a component's earlier outputs when its code, parameters and inputs are unchanged.",
    "components": "Run only these components (e.g. Evaluator,InfraValidator,Pusher); their inputs come from the "
                  "latest LIVE outputs of the others in the run record. Empty: all.",
    "isolation": "in_process: executors run in this process; process: each in a fresh Python process, with "
                 "artifact URIs in and out (as another orchestrator would run them).",
    "eval_percent": "Share of the data held out for evaluation (by a hash of each example) where the data set has "
                    "no held-out split of its own.",
    "statistics_max_examples": "Examples per split that StatisticsGen reads (0: all; N: a sample of about N chosen "
                               "by a hash of each record).",
    "beam_pipeline_args": "Apache Beam options for ExampleGen and StatisticsGen, passed to Beam unchanged, e.g. "
                          "\"--runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2\" "
                          "or a FlinkRunner / SparkRunner / DataflowRunner with its options. Empty: DirectRunner in "
                          "this process.",
    "schema_path": "A curated schema.json (e.g. an inferred one, edited) that new data is validated against; by "
                   "default the schema first inferred in this pipeline root.",
    "base_model": "Warm-start the Trainer's networks from a Model artifact directory of this pipeline, or "
                  "latest_blessed.",
    "bless_thresholds": "Value thresholds a model must meet to be blessed, e.g. fid<=15,is>=8.5 or modes>=8.",
    "bless_change_thresholds": "Allowed regression against the latest blessed model, per metric: fid:2 (absolute) "
                               "or fid:10% (relative).",
    "evaluator_num_samples": "Generated samples the Evaluator scores against the eval split.",
    "infra_max_load_seconds": "InfraValidator: the longest a model may take to load in the serving loader.",
    "infra_timeout_seconds": "InfraValidator: the longest its whole check may take.",
    "runner": "local: the local runner with its run record (caching, resuming, lineage); kfp_local: compile the "
              "pipeline to a Kubeflow Pipelines v2 spec and run it here with kfp.local (every task runs; no run "
              "record). `python -m tfgan.pipeline compile --output=pipeline.yaml` writes the spec for a cluster.",
    "image": "Container image every task of a compiled Kubeflow Pipelines spec runs in: the repository's Dockerfile "
             "built and pushed where the cluster pulls from (e.g. REGISTRY/tfgan:0.1.0).",
}

_INT_LISTS = ("g_hidden", "d_hidden")

SECTIONS = cfg.SECTIONS
TRAIN_SECTIONS = ("data", "model", "gan", "train", "eval", "export")   # python -m tfgan.train

# The headings of `--help`, one per config section, in this order.
SECTION_TITLES = {"data": "data", "model": "model", "gan": "loss, penalties and optimiser", "train": "training",
                  "eval": "evaluation during training", "export": "export", "pipeline": "pipeline"}

# Flags whose default depends on other flags (see `resolve_default_dirs`): "" on the command line means derived.
_DERIVED = ("run_dir", "pipeline_root", "serving_dir")


def help_groups(sections=tuple(SECTIONS)) -> tuple:
    """((heading, (flag name, ...)), ...) of the given config sections, for a command's `--help`."""
    return tuple((SECTION_TITLES[name], tuple(f.name for f in dataclasses.fields(SECTIONS[name])))
                 for name in sections)


def default_dir_name(flagfile: str | None, dataset: str, architecture: str) -> str:
    """The name of a run's default directories: the flagfile's name without .cfg (configs/quickstart.cfg ->
    quickstart), else <dataset>_<architecture> (tfds:mnist, dcgan -> tfds_mnist_dcgan), so that runs of
    different configs never share a directory by default."""
    if flagfile:
        return os.path.splitext(os.path.basename(flagfile))[0]
    return f"{dataset.replace(':', '_').replace('/', '_')}_{architecture}"


def resolve_default_dirs(fv: flags.FlagValues = flags.FLAGS, flagfile: str | None = None) -> None:
    """Fills in --run_dir, --pipeline_root and --serving_dir where they are empty (not given), from the
    command-line flagfile's name or the data set and architecture (`default_dir_name`)."""
    if "dataset" not in fv or "architecture" not in fv:
        return
    name = default_dir_name(flagfile, fv["dataset"].value, fv["architecture"].value)
    pipeline_name = name[len("pipeline_"):] if name.startswith("pipeline_") else name
    derived = {"run_dir": os.path.join("runs", name),
               "pipeline_root": os.path.join("runs", f"pipeline_{pipeline_name}"),
               "serving_dir": os.path.join("runs", "serving", pipeline_name)}
    for flag, value in derived.items():
        if flag in fv and not fv[flag].value:
            fv[flag].value = value


def _define(field: dataclasses.Field, default, fv: flags.FlagValues):
    name, help_text = field.name, _HELP[field.name]
    if name in _DERIVED:
        default = ""
    if name in _ENUMS:
        flags.DEFINE_enum(name, default, _ENUMS[name], help_text, flag_values=fv)
    elif isinstance(default, bool):
        flags.DEFINE_bool(name, default, help_text, flag_values=fv)
    elif isinstance(default, tuple):
        flags.DEFINE_list(name, [str(v) for v in default], help_text, flag_values=fv)
        if name in _LIST_CHOICES:
            choices = _LIST_CHOICES[name]
            flags.register_validator(name, lambda values, choices=choices: all(v in choices for v in values),
                                     message=f"each value must be one of {', '.join(choices)}", flag_values=fv)
    elif isinstance(default, int):
        lo, hi = _BOUNDS.get(name, (None, None))
        flags.DEFINE_integer(name, default, help_text, lower_bound=lo, upper_bound=hi, flag_values=fv)
    elif isinstance(default, float):
        lo, hi = _BOUNDS.get(name, (None, None))
        flags.DEFINE_float(name, default, help_text, lower_bound=lo, upper_bound=hi, flag_values=fv)
    else:
        flags.DEFINE_string(name, default, help_text, flag_values=fv)


def define_flags(fv: flags.FlagValues = flags.FLAGS, sections=tuple(SECTIONS)) -> None:
    """Defines one flag per field of the given config sections, with the dataclass default."""
    for name in sections:
        kind = SECTIONS[name]
        defaults = kind()
        for field in dataclasses.fields(kind):
            _define(field, getattr(defaults, field.name), fv)


def config_from_flags(fv: flags.FlagValues = flags.FLAGS) -> cfg.PipelineConfig:
    """Builds and validates the typed config from parsed flags.

    Raises:
      ValueError: a value, or a combination of values, is not allowed; the message names the flag(s).
    """
    resolve_default_dirs(fv)  # a no-op after the commands' parser, which knows the flagfile
    sections = {}
    for section, kind in SECTIONS.items():
        if not all(f.name in fv for f in dataclasses.fields(kind)):
            continue  # a command without this section's flags: its defaults
        values = {}
        for field in dataclasses.fields(kind):
            value = fv[field.name].value
            if field.name in _INT_LISTS:
                try:
                    value = tuple(int(v) for v in value)
                except ValueError:
                    raise ValueError(f"--{field.name}={','.join(value)}: expected a comma-separated list of "
                                     f"positive integers") from None
            elif isinstance(value, list):
                value = tuple(value)
            values[field.name] = value
        sections[section] = kind(**values)
    config = cfg.PipelineConfig(**sections)
    cfg.validate(config, pipeline=all(f.name in fv for f in dataclasses.fields(cfg.PipelineSettings)))
    return config
