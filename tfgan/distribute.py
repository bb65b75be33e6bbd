"""Everything that depends on how many replicas run a step, in one place.

Keras optimizers all-reduce gradients with SUM across replicas. A replica therefore divides the SUM of its
per-example losses by the GLOBAL batch size: the summed gradients are then exactly the gradient of the
global-batch mean, whatever the number of replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfgan import choices


def replica_info() -> tuple[int, tf.Tensor | int]:
    """(number of replicas in sync, this replica's id); (1, 0) outside any strategy or in cross-replica code."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        return 1, 0
    return ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group


def global_batch_size(per_replica_batch) -> tf.Tensor:
    """The global batch size of a step whose replicas each see `per_replica_batch` examples."""
    replicas, _ = replica_info()
    return tf.cast(per_replica_batch, tf.float32) * replicas


def global_mean(per_example: tf.Tensor) -> tf.Tensor:
    """This replica's share of the global-batch mean: sum(per_example) / global batch size.

    Summing this over replicas (what the optimizer's all-reduce does to gradients) gives the mean over the
    global batch. On one device it is the plain mean.

    Args:
      per_example: [batch] values of this replica.
    """
    per_example = tf.cast(per_example, tf.float32)
    return tf.reduce_sum(per_example) / global_batch_size(tf.shape(per_example)[0])


def replica_share(value: tf.Tensor) -> tf.Tensor:
    """This replica's share of a loss every replica computes whole (regularisers): value / replicas.

    Summed over replicas by the gradients' all-reduce, the shares give the loss once, as Keras scales
    `model.losses` (`keras.losses.loss.scale_loss_for_distribution`). On one device it is the value.
    """
    replicas, _ = replica_info()
    return value / tf.cast(replicas, value.dtype) if replicas > 1 else value


def replica_slice(global_tensor: tf.Tensor, per_replica_batch) -> tf.Tensor:
    """Rows [r*b, (r+1)*b) of a tensor drawn for the whole global batch, r = this replica's id.

    Random inputs (noise, interpolation weights) are drawn for the GLOBAL batch from a seed shared by all
    replicas, and each replica keeps its own rows: every replica gets different values, and a step on R
    replicas sees exactly the values one device would see for the same global batch.
    """
    _, replica_id = replica_info()
    start = tf.cast(replica_id, tf.int32) * per_replica_batch
    return global_tensor[start:start + per_replica_batch]


PRECISION_POLICIES = choices.PRECISION_POLICIES


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16), so oneDNN runs bf16 fast.

    Without these instructions bfloat16 is emulated and slower than float32. False where `cpuinfo` cannot
    be read (not Linux).
    """
    try:
        with open(cpuinfo) as f:
            flags = {word for line in f if line.startswith("flags") for word in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(policy: str) -> str:
    """The Keras dtype policy for a precision setting.

    Args:
      policy: "none" (float32), "mixed_bfloat16", "mixed_float16", or "auto": mixed_bfloat16 when training
        runs on a CPU with native bfloat16 and no GPU is visible, else float32. Variables stay float32 in
        every mixed policy; losses, penalties and metrics are computed in float32.

    Raises:
      ValueError: unknown policy.
    """
    if policy not in PRECISION_POLICIES:
        raise ValueError(f"precision policy must be one of {', '.join(PRECISION_POLICIES)}; got {policy!r}")
    if policy == "auto":
        native = not tf.config.list_physical_devices("GPU") and cpu_has_native_bf16()
        return "mixed_bfloat16" if native else "float32"
    return "float32" if policy == "none" else policy


STRATEGY_NAMES = choices.STRATEGIES


def make_strategy(name: str = "default", num_logical_cpus: int = 0) -> tf.distribute.Strategy:
    """Builds a tf.distribute strategy.

    Args:
      name: "default" (one device), "mirrored" (all local GPUs, or `num_logical_cpus` CPU replicas), or
        "multi_worker" (MultiWorkerMirroredStrategy; reads the cluster from the TF_CONFIG variable).
      num_logical_cpus: when > 0, split the CPU into this many logical devices first (tests, and trying a
        multi-replica setup without GPUs). Must be called before TensorFlow initialises its devices.

    Raises:
      ValueError: unknown name, or multi_worker without TF_CONFIG.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGY_NAMES)}; got {name!r}")
    if num_logical_cpus > 0:
        split_cpu(num_logical_cpus)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = None
        if num_logical_cpus > 0 and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("strategy 'multi_worker' needs the TF_CONFIG environment variable describing the cluster")
    json.loads(os.environ["TF_CONFIG"])  # fail early on malformed JSON
    return tf.distribute.MultiWorkerMirroredStrategy()


def split_cpu(n: int) -> None:
    """Splits the physical CPU into `n` logical devices (idempotent when already split that way)."""
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == n:
        return
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def set_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Sets TensorFlow's thread pools for this process: `intra_op` threads share one kernel's work (a matmul,
    a convolution), `inter_op` threads run independent kernels at once. 0 leaves TensorFlow's choice (one per
    core). Kernels too small to split well, such as the 2-D toys' 128-wide matmuls, run faster with one
    intra-op thread and the cores spread over independent kernels. A kernel split over another number of
    threads may sum in another order, so results agree with another setting to rounding (which a GAN's
    dynamics can amplify over a run); with the same settings a run repeats exactly.

    Must be called before TensorFlow runs its first op; calling it again with the values in force is a no-op.

    Raises:
      ValueError: a negative count, or TensorFlow already runs with other values.
    """
    for name, value in (("intra_op", intra_op), ("inter_op", inter_op)):
        if value < 0:
            raise ValueError(f"{name} threads must be >= 0 (0: TensorFlow's choice); got {value}")
    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        raise ValueError(f"thread pools (intra_op {intra_op}, inter_op {inter_op}) can only be set before "
                         f"TensorFlow runs its first op in this process") from None

