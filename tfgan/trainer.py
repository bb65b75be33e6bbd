"""A step-based training loop around `GAN.train_step`: one code path for one device, MirroredStrategy and
MultiWorkerMirroredStrategy (whose `model.fit` does not work in Keras 3.15).

It restores the latest checkpoint (or a chosen one) before the first step, runs several train steps per
`tf.function` call, writes TensorBoard scalars, prints progress, runs periodic hooks (sample grids,
evaluation), checkpoints with `tf.train.CheckpointManager`, and stops on a non-finite loss. A checkpoint is
written only when every variable it holds is finite, so the last one kept is always good.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgan.model import GAN


class NonFiniteLossError(RuntimeError):
    """A loss or a checkpointed variable became NaN or Inf; the run stopped without saving the corrupted state.

    Attributes:
      step: the step at which it was seen.
      parts: what was non-finite: loss names ("d_loss") or checkpoint items ("d_optimizer", "generator").
      last_good: the newest checkpoint known to hold only finite values, or None.
    """

    def __init__(self, message: str, step: int | None = None, parts: Sequence[str] = (),
                 last_good: str | None = None):
        super().__init__(message)
        self.step, self.parts, self.last_good = step, tuple(parts), last_good


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
    """A function `train(iterator, num_steps=1)` that runs up to `num_steps` train steps in ONE tf.function call.

    Each step, inside an in-graph loop, resets the metric trackers, runs `gan.train_step` on every replica on
    the iterator's next batch, and reads the trackers in cross-replica context, where Keras' sync-on-read
    metric variables are summed over replicas, so the values are global-batch means (inside the replica step
    they would be each replica's own). With a summary `writer` the step's metrics are written in the graph as
    "step/<metric>" at the step's number. The loop stops after the first step whose `d_loss` or `g_loss` is
    not finite, so that step's update is the last one applied.

    Running several steps per call (like Keras' `steps_per_execution`, but also with several replicas) removes
    the per-call cost (function dispatch, reading results back, a summary flush), a large share of a small
    model's step; the steps themselves are the same ops on the same values as with one step per call.
    `num_steps` is fed as a tensor: any count reuses one trace.

    Returns:
      `train(iterator, num_steps=1) -> dict`: metric name -> float32 tensor [k] of the k steps run, in order;
      k == num_steps unless a loss became non-finite at the k-th step.
    """
    names = [m.name for m in gan.metrics]

    def one_step(iterator):
        for m in gan.metrics:
            m.reset_state()
        strategy.run(gan.train_step, args=(next(iterator),))
        results = {m.name: tf.cast(m.result(), tf.float32) for m in gan.metrics}
        if writer is not None:  # the default writer's step is the step counter, read after this step's update
            with tf.compat.v1.name_scope(None):  # tags as given, not under the loop's "while/" scope
                for name, value in results.items():
                    tf.summary.scalar(f"step/{name}", value)
        return results

    @tf.function
    def train_steps(iterator, num_steps):
        def keep_going(i, finite, arrays):
            return tf.logical_and(i < num_steps, finite)

        def body(i, finite, arrays):
            results = one_step(iterator)
            arrays = {k: arrays[k].write(i, results[k]) for k in names}
            finite = tf.logical_and(tf.math.is_finite(results["d_loss"]), tf.math.is_finite(results["g_loss"]))
            return i + 1, finite, arrays

        arrays = {k: tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[]) for k in names}
        # Entering the writer's context outside the loop: leaving it flushes the writer, once per call.
        with writer.as_default(step=gan.step_counter) if writer is not None else contextlib.nullcontext():
            _, _, arrays = tf.while_loop(keep_going, body, (tf.constant(0), tf.constant(True), arrays))
        return {k: a.stack() for k, a in arrays.items()}

    def train(iterator, num_steps: int = 1) -> dict:
        return train_steps(iterator, tf.constant(num_steps, tf.int32))

    return train


class Trainer:
    """Trains a compiled `GAN` for a number of steps with checkpoints, summaries and hooks.

    Several train steps run per `tf.function` call (`make_train_function`). A call never crosses a
    boundary: it ends at every multiple of `log_every`, `checkpoint_every` and each hook's `every`, and at
    `total_steps`, whatever step the run resumed from. Progress lines, hooks, checkpoints and the NaN guard
    therefore see exactly the steps they see with one step per call, and the weights and per-step metrics
    are the same (`tests/test_trainer.py` checks both).

    Args:
      gan: the compiled model, created (with its optimizers) inside `strategy.scope()`.
      strategy: the distribution strategy the model was created under.
      run_dir: where checkpoints (`checkpoints/`) and TensorBoard logs (`tensorboard/`) go.
      log_dir: TensorBoard logs elsewhere (default `<run_dir>/tensorboard`).
      started: `time.perf_counter()` when the command started; the first call's report then says how long
        start-up took (imports, data, building, tracing) until the first step was done.
      total_steps: the step at which training ends (a resumed run stops at the same step).
      log_every: steps between progress lines and scalar summaries.
      checkpoint_every: steps between checkpoints.
      keep_checkpoints: checkpoints kept by the manager.
      hooks: periodic hooks (sample grids, evaluation).
      out: where progress lines go.
      steps_per_execution: the most train steps one call runs. 0 (auto): as many as take about
        `AUTO_CALL_SECONDS` (measured on the previous call; with several workers, the workers' mean, agreed
        by an all-reduce before each call), at most `AUTO_MAX_STEPS`: small models lose their per-call
        overhead, large ones keep one or a few steps per call, and an interrupt (Ctrl-C, SIGTERM) is served
        within a fraction of a second.
      resume_from: restore this checkpoint instead of the run directory's latest: a step number (the
        checkpoint `ckpt-<step>` of `run_dir`) or a checkpoint path (e.g. another run's
        `.../checkpoints/ckpt-200`, to continue it with other settings in a new run directory). The
        optimizers' learning rates stay those they were built with, not the checkpoint's.

    Raises:
      ValueError: steps_per_execution < 0.
    """

    AUTO_CALL_SECONDS = 0.1
    AUTO_MAX_STEPS = 1000

    def __init__(self, gan: GAN, strategy: tf.distribute.Strategy, run_dir: str, total_steps: int, *,
                 log_every: int = 100, checkpoint_every: int = 500, keep_checkpoints: int = 3,
                 hooks: Sequence[Hook] = (), out=None, log_dir: str | None = None, steps_per_execution: int = 0,
                 resume_from: str | int | None = None, started: float | None = None):
        if steps_per_execution < 0:
            raise ValueError(f"steps_per_execution must be >= 0 (0: auto), got {steps_per_execution}")
        self.gan, self.strategy, self.run_dir = gan, strategy, run_dir
        self.started = started
        self.total_steps, self.log_every, self.checkpoint_every = total_steps, log_every, checkpoint_every
        self.steps_per_execution = steps_per_execution
        self.resume_from = None if resume_from in (None, "") else str(resume_from)
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
        self.last_good_checkpoint = None   # the newest checkpoint known to hold only finite values
        self._train_fn = None
        self._state = StateCheck(gan.checkpoint_items())
        self._auto_steps = 1               # auto mode: steps of the next call, from the last call's speed
        self._agree = None                 # multi-worker auto mode: the workers' common step count

    @property
    def step(self) -> int:
        return int(self.gan.step_counter.numpy())

    # --- checkpoints ---------------------------------------------------------------------------------------

    def restore(self) -> int:
        """Restores `resume_from`, else the latest checkpoint if there is one; returns the step training continues
        from.

        Raises:
          ValueError: `resume_from` names no checkpoint.
          NonFiniteLossError: the checkpoint holds NaN/Inf (written by an older version); the message names the
            earlier checkpoints that are finite.
        """
        path = self._resume_path()
        if not path:
            return self.step
        rates = self._learning_rates()
        self.checkpoint.restore(path).assert_existing_objects_matched()
        for optimizer, rate in rates:  # a resumed run uses the rates it was configured with
            optimizer.learning_rate = rate
        bad = self._state.non_finite()
        if bad:
            good = [p for p in self.manager.checkpoints if p != path and checkpoint_is_finite(p)]
            raise NonFiniteLossError(
                f"checkpoint {path} (step {self.step}) holds non-finite values ({describe_variables(bad)}): "
                f"resuming it would fail at once. Finite checkpoints: "
                f"{', '.join(good) if good else 'none in ' + self.manager.directory}; resume from one with "
                f"resume_from (its step or path).", step=self.step, parts=sorted({p for p, _ in bad}),
                last_good=good[-1] if good else None)
        self.last_good_checkpoint = path
        return self.step

    def _resume_path(self) -> str | None:
        if self.resume_from is None:
            return self.manager.latest_checkpoint
        if self.resume_from.isdigit():
            path = os.path.join(self.manager.directory, f"ckpt-{int(self.resume_from)}")
        else:
            path = self.resume_from
        if not tf.io.gfile.exists(path + ".index"):
            existing = ", ".join(os.path.basename(p) for p in self.manager.checkpoints) or "none"
            raise ValueError(f"resume_from={self.resume_from}: no checkpoint {path} (checkpoints in "
                             f"{self.manager.directory}: {existing}); give a step of one of them or a checkpoint "
                             f"path such as runs/<name>/checkpoints/ckpt-<step>")
        return path

    def _learning_rates(self) -> list:
        """(optimizer, its learning rate) for both optimizers whose rate is a variable (not a schedule)."""
        rates = []
        for name in ("d_optimizer", "g_optimizer"):
            optimizer = getattr(self.gan, name, None)
            rate = getattr(optimizer, "learning_rate", None)
            if isinstance(rate, (tf.Variable, keras.Variable)):
                rates.append((optimizer, float(rate.numpy())))
        return rates

    def save(self) -> str:
        """Saves a checkpoint at the current step if EVERY variable it holds is finite.

        Raises:
          NonFiniteLossError: some checkpointed variable (weights, optimizer slots, EMA copy...) is NaN/Inf;
            nothing is saved and the last good checkpoint is kept.
        """
        bad = self._state.non_finite()
        if bad:
            raise NonFiniteLossError(
                f"non-finite values at step {self.step} in {describe_variables(bad)}; not saved, training "
                f"stopped. {self._kept()}", step=self.step, parts=sorted({p for p, _ in bad}),
                last_good=self.last_good_checkpoint)
        path = self.manager.save(checkpoint_number=self.step)
        self.last_good_checkpoint = path
        return path

    def _kept(self) -> str:
        if self.last_good_checkpoint:
            return f"The last good checkpoint is kept: {self.last_good_checkpoint}."
        return "No good checkpoint was saved before."

    # --- training ------------------------------------------------------------------------------------------

    def _make_train_fn(self):
        return make_train_function(self.gan, self.strategy, self.writer if self.chief else None)

    def _steps_per_call(self) -> int:
        if self.steps_per_execution:
            return self.steps_per_execution
        if getattr(self.strategy.extended, "_num_workers", 1) > 1:
            return self._agreed(self._auto_steps)
        return self._auto_steps

    def _agreed(self, steps: int) -> int:
        """The workers' mean of their own `steps`, the same on every worker: each worker times its own calls,
        and workers whose calls ran different step counts would wait for each other's collectives forever."""
        if self._agree is None:
            strategy = self.strategy

            def replica_mean(value):
                return tf.distribute.get_replica_context().all_reduce("MEAN", tf.identity(value))

            @tf.function
            def agree(value):
                return strategy.experimental_local_results(strategy.run(replica_mean, args=(value,)))[0]

            self._agree = agree
        return max(1, int(self._agree(tf.constant(float(steps))).numpy()))

    def _next_stop(self, step: int) -> int:
        """The first step after `step` at which the Python loop must run: a log, hook or checkpoint step or the end."""
        everies = [self.log_every, self.checkpoint_every] + [hook.every for hook in self.hooks]
        return min([self.total_steps] + [(step // every + 1) * every for every in everies])

    def fit(self, dataset: tf.data.Dataset | Callable[[int], tf.data.Dataset]) -> dict:
        """Trains from the restored step to `total_steps`; returns the last logged metrics.

        Args:
          dataset: batches for `GAN.train_step`, or a function of the step training continues from that
            returns them (e.g. `tfgan.data.make_dataset(..., start_step=step)`): a resumed
            run then sees the batches an uninterrupted run would.

        Raises:
          NonFiniteLossError: a loss, or a variable to be checkpointed, became NaN/Inf. Nothing non-finite is
            saved: the checkpoint directory keeps the last good state.
        """
        start = self.restore()
        if start >= self.total_steps:
            self._print(f"already at step {start} of {self.total_steps}: nothing to train")
            return {}
        if start:
            self._print(f"resumed from {self.last_good_checkpoint} at step {start}")
        if callable(dataset):
            dataset = dataset(start)
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        self._train_fn = self._train_fn or self._make_train_fn()
        logs, step = {}, start
        # sums/count: metric means over the log window; timed: steps timed in the window (not the first call's,
        # which include tracing).
        sums, count, timed, window_start, run_start, first_step = {}, 0, 0, time.perf_counter(), None, start
        try:
            while step < self.total_steps:
                call_start = time.perf_counter()
                values = {k: v.numpy() for k, v in
                          self._train_fn(iterator, min(self._steps_per_call(), self._next_stop(step) - step)).items()}
                ran = len(values["d_loss"])
                self._check_losses(step, values)
                step += ran
                now = time.perf_counter()
                if run_start is None:  # the first call includes tracing: time the rest
                    run_start = window_start = now
                    first_step = step
                    since = f"; {now - self.started:.1f}s after the command started" if self.started else ""
                    self._print(f"first {ran} step{'s' if ran > 1 else ''} in {now - call_start:.1f}s (tracing "
                                f"included){since}")
                else:
                    timed += ran
                    self._auto_steps = max(1, min(self.AUTO_MAX_STEPS,
                                                  int(self.AUTO_CALL_SECONDS * ran / max(now - call_start, 1e-9))))
                count += ran
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + float(np.sum(v, dtype=np.float64))
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
            bad = self._state.non_finite()
            if bad:
                self._print(f"interrupted at step {self.step}; not saved: non-finite values in "
                            f"{describe_variables(bad)}. {self._kept()}")
            else:
                path = self.manager.save(checkpoint_number=self.step)
                self.last_good_checkpoint = path
                again = "Run the same command" + (" without resume_from" if self.resume_from else "")
                self._print(f"interrupted at step {self.step}; saved {path}. {again} to resume.")
            raise
        self.save()
        for hook in self.hooks:
            hook.fn(step)
        self.writer.flush()
        if run_start is not None and step > first_step:
            logs["mean_steps_per_sec"] = (step - first_step) / (time.perf_counter() - run_start)
        return logs

    def _check_losses(self, step: int, values: dict) -> None:
        """Raises NonFiniteLossError naming the first step (after `step`) of `values` with a NaN/Inf loss."""
        finite = np.isfinite(values["d_loss"]) & np.isfinite(values["g_loss"])
        if finite.all():
            return
        i = int(np.argmin(finite))
        name = "d_loss" if not np.isfinite(values["d_loss"][i]) else "g_loss"
        raise NonFiniteLossError(
            f"{name} became {values[name][i]} at step {step + i + 1}; training stopped. {self._kept()} "
            f"Try a lower learning rate, float32 instead of a mixed precision policy, or a penalty/normalisation "
            f"that bounds the discriminator.", step=step + i + 1, parts=[name], last_good=self.last_good_checkpoint)

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


# --- finiteness of what a checkpoint holds ---------------------------------------------------------------------

def checkpoint_variables(items: dict) -> list[tuple[str, tf.Variable]]:
    """(item name, variable) for every floating-point variable of `tf.train.Checkpoint(**items)`'s items:
    models (weights and other state), optimizers (slots, learning rate), bare variables and lists of them."""
    found, seen = [], set()

    def add(name, variables):
        for v in variables:
            if id(v) not in seen and tf.as_dtype(v.dtype).is_floating:
                seen.add(id(v))
                found.append((name, v))

    for name, item in items.items():
        if isinstance(item, (keras.Model, keras.optimizers.Optimizer)):
            add(name, item.variables)
        elif isinstance(item, (list, tuple)):
            add(name, item)
        elif isinstance(item, (tf.Variable, keras.Variable)):
            add(name, [item])
    return found


class StateCheck:
    """Whether every floating-point variable of a checkpoint's items is finite, in ONE tf.function call (one
    fused pass over all variables, not a Python loop reading each one back)."""

    def __init__(self, items: dict):
        self.variables = checkpoint_variables(items)
        variables = [v for _, v in self.variables]

        @tf.function
        def finite():
            if not variables:
                return tf.ones([0], tf.bool)
            return tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in variables])

        self._finite = finite

    def non_finite(self) -> list[tuple[str, str]]:
        """(item name, variable path) of every variable holding a NaN or Inf; empty when all are finite."""
        flags = self._finite().numpy()
        if flags.all():
            return []
        return [(name, getattr(v, "path", None) or v.name) for (name, v), ok in zip(self.variables, flags) if not ok]


def describe_variables(bad: list[tuple[str, str]], limit: int = 3) -> str:
    """'d_optimizer (adam/dense_kernel_momentum, ... and 4 more)' for the non-finite variables of each item."""
    by_item: dict[str, list[str]] = {}
    for item, path in bad:
        by_item.setdefault(item, []).append(path)
    parts = []
    for item, paths in by_item.items():
        more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
        parts.append(f"{item} ({', '.join(paths[:limit])}{more})")
    return "; ".join(parts)


def checkpoint_is_finite(path: str) -> bool:
    """Whether every floating-point tensor stored in the checkpoint at `path` is finite (read from disk)."""
    reader = tf.train.load_checkpoint(path)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating and not np.all(np.isfinite(reader.get_tensor(name))):
            return False
    return True
