"""A step-based training loop around `GAN.train_step`: one code path for one device, MirroredStrategy and
MultiWorkerMirroredStrategy (whose `model.fit` does not work in Keras 3.15).

It restores the latest checkpoint before the first step, writes TensorBoard scalars, prints progress,
runs periodic hooks (sample grids, evaluation), checkpoints with `tf.train.CheckpointManager` and stops on
a non-finite loss keeping the last good checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Callable, Sequence

import tensorflow as tf

from tfgan.model import GAN


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf; the run stopped without saving the corrupted state."""


@dataclasses.dataclass
class Hook:
    """A function called every `every` steps (and once at the end) with the step number."""

    every: int
    fn: Callable[[int], None]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the process that owns the run directory (always, except on non-chief multi-worker workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def make_train_function(gan: GAN, strategy: tf.distribute.Strategy, writer=None):
    """A tf.function running one `gan.train_step` per replica on the next batch of a distributed iterator.

    Returns this step's metrics: the trackers are reset before the step, and read after the replicas
    finish, in cross-replica context, where Keras' sync-on-read metric variables are summed over replicas,
    so the values are global-batch means (inside the replica step they would be each replica's own).
    With a summary `writer`, the step's metrics are written in the graph under "step/" (training dynamics
    at every step, at the cost of one summary op per metric).
    """

    @tf.function
    def train_fn(iterator):
        for m in gan.metrics:
            m.reset_state()
        strategy.run(gan.train_step, args=(next(iterator),))
        results = {m.name: m.result() for m in gan.metrics}
        if writer is not None:
            with writer.as_default(step=gan.step_counter):
                for name, value in results.items():
                    tf.summary.scalar(f"step/{name}", value)
        return results

    return train_fn


class Trainer:
    """Trains a compiled `GAN` for a number of steps with checkpoints, summaries and hooks.

    Args:
      gan: the compiled model, created (with its optimizers) inside `strategy.scope()`.
      strategy: the distribution strategy the model was created under.
      run_dir: where checkpoints (`checkpoints/`) and TensorBoard logs (`tensorboard/`) go.
      log_dir: TensorBoard logs elsewhere (default `<run_dir>/tensorboard`).
      total_steps: the step at which training ends (a resumed run stops at the same step).
      log_every: steps between progress lines and scalar summaries.
      checkpoint_every: steps between checkpoints.
      keep_checkpoints: checkpoints kept by the manager.
      hooks: periodic hooks (sample grids, evaluation).
      out: where progress lines go.
    """

    def __init__(self, gan: GAN, strategy: tf.distribute.Strategy, run_dir: str, total_steps: int, *,
                 log_every: int = 100, checkpoint_every: int = 500, keep_checkpoints: int = 3,
                 hooks: Sequence[Hook] = (), out=None, log_dir: str | None = None):
        self.gan, self.strategy, self.run_dir = gan, strategy, run_dir
        self.total_steps, self.log_every, self.checkpoint_every = total_steps, log_every, checkpoint_every
        self.hooks = list(hooks)
        self.out = out or sys.stdout
        self.chief = is_chief(strategy)
        ckpt_dir = os.path.join(run_dir, "checkpoints")
        if not self.chief:  # every worker must save (collective ops); only the chief's copy is kept
            ckpt_dir = os.path.join(run_dir, f"worker_tmp_{strategy.cluster_resolver.task_id}")
        self.checkpoint = tf.train.Checkpoint(**gan.checkpoint_items())
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=keep_checkpoints,
                                                  step_counter=gan.step_counter)
        log_dir = os.path.join(log_dir or os.path.join(run_dir, "tensorboard"), "train")
        self.writer = tf.summary.create_file_writer(log_dir) if self.chief else tf.summary.create_noop_writer()
        self._train_fn = None

    @property
    def step(self) -> int:
        return int(self.gan.step_counter.numpy())

    def restore(self) -> int:
        """Restores the latest checkpoint if there is one; returns the step training continues from."""
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return self.step

    def save(self) -> str | None:
        """Saves a checkpoint at the current step if all weights are finite, else raises NonFiniteLossError."""
        if not self._weights_finite():
            raise NonFiniteLossError(
                f"non-finite weights at step {self.step}; not saved. Last good checkpoint: "
                f"{self.manager.latest_checkpoint}")
        return self.manager.save(checkpoint_number=self.step)

    def _weights_finite(self) -> bool:
        return all(bool(tf.reduce_all(tf.math.is_finite(v)).numpy())
                   for v in self.gan.generator.weights + self.gan.discriminator.weights
                   if tf.as_dtype(v.dtype).is_floating)

    def _make_train_fn(self):
        return make_train_function(self.gan, self.strategy, self.writer if self.chief else None)

    def fit(self, dataset: tf.data.Dataset | Callable[[int], tf.data.Dataset]) -> dict:
        """Trains from the restored step to `total_steps`; returns the last logged metrics.

        Args:
          dataset: batches for `GAN.train_step`, or a function of the step training continues from that
            returns them (e.g. `tfgan.data.make_dataset(..., start_step=step)`): a resumed
            run then sees the batches an uninterrupted run would.

        Raises:
          NonFiniteLossError: a loss became NaN/Inf. The checkpoint directory keeps the last good state.
        """
        start = self.restore()
        if start >= self.total_steps:
            self._print(f"already at step {start} of {self.total_steps}: nothing to train")
            return {}
        if start:
            self._print(f"resumed from {self.manager.latest_checkpoint} at step {start}")
        if callable(dataset):
            dataset = dataset(start)
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        self._train_fn = self._train_fn or self._make_train_fn()
        logs, step = {}, start
        # sums/count: metric means over the log window; timed: steps timed in the window (not the first, traced one).
        sums, count, timed, window_start, run_start, first_step = {}, 0, 0, time.perf_counter(), None, start
        try:
            while step < self.total_steps:
                result = {k: float(v) for k, v in self._train_fn(iterator).items()}
                step += 1
                bad = [k for k in ("d_loss", "g_loss") if not math.isfinite(result[k])]
                if bad:
                    raise NonFiniteLossError(
                        f"{bad[0]} became {result[bad[0]]} at step {step}; training stopped. The last good "
                        f"checkpoint is kept: {self.manager.latest_checkpoint or 'none yet'}. Try a lower "
                        f"learning rate, or a penalty/normalisation that bounds the discriminator.")
                if run_start is None:  # the first step includes tracing: time the rest
                    run_start = window_start = time.perf_counter()
                    first_step = step
                else:
                    timed += 1
                count += 1
                for k, v in result.items():
                    sums[k] = sums.get(k, 0.0) + v
                if step % self.log_every == 0 or step == self.total_steps:
                    rate = timed / max(time.perf_counter() - window_start, 1e-9) if timed else float("nan")
                    logs = {k: v / count for k, v in sums.items()}
                    logs["steps_per_sec"] = rate
                    self._log(step, logs, (self.total_steps - step) / rate if rate > 0 else float("nan"))
                    sums, count, timed, window_start = {}, 0, 0, time.perf_counter()
                for hook in self.hooks:
                    if step % hook.every == 0 and step != self.total_steps:
                        hook.fn(step)
                if step % self.checkpoint_every == 0 and step != self.total_steps:
                    self.save()
        except KeyboardInterrupt:
            if self._weights_finite():
                path = self.manager.save(checkpoint_number=self.step)
                self._print(f"interrupted at step {self.step}; saved {path}. Run the same command to resume.")
            raise
        self.save()
        for hook in self.hooks:
            hook.fn(step)
        self.writer.flush()
        if run_start is not None and step > first_step:
            logs["mean_steps_per_sec"] = (step - first_step) / (time.perf_counter() - run_start)
        return logs

    def _log(self, step, logs, eta):
        with self.writer.as_default(step=step):
            for k, v in logs.items():
                tf.summary.scalar(k if k == "steps_per_sec" else f"losses/{k}" if "loss" in k
                                  else f"dynamics/{k}", v)
        parts = [f"step {step}/{self.total_steps}"]
        names = {"d_real": "D(x)", "d_fake": "D(G(z))", "d_accuracy": "D acc"}
        parts += [f"{names.get(k, k)} {v:.4g}" for k, v in logs.items() if k != "steps_per_sec"]
        parts.append(f"{logs['steps_per_sec']:.1f} steps/s")
        if math.isfinite(eta):
            parts.append(f"ETA {format_duration(eta)}")
        self._print(" | ".join(parts))

    def _print(self, message):
        if self.chief:
            print(message, file=self.out, flush=True)


