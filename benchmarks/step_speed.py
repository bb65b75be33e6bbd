"""Training steps per second of representative setups, measured in one process through the real training code.

    python benchmarks/step_speed.py                       # every setup, 3 interleaved rounds
    python benchmarks/step_speed.py --rounds 5 --scale 2  # longer timings (steps per round x 2)
    python benchmarks/step_speed.py dcgan_fp32 dcgan_bf16 # a subset (the reference is always run)

Each setup builds a compiled `tfgan.model.GAN` and its `tfgan.data.make_dataset` pipeline, and steps it with
`tfgan.trainer.make_train_function` over a distributed iterator, exactly as `Trainer.fit` does: the same
per-step summary writer, and the step's metrics read back to Python after every step (the Trainer's NaN
guard does that). Checkpoints and hooks are left out.

All setups are built and warmed up first (tracing and the first steps are not timed); then the timed
rounds run the setups one after the other, `rounds` times, so that a change in the load of a shared machine
touches every setup alike. The table reports the median over rounds of steps/s, the real examples a step
consumes (batch x critic steps), and two ratios of steps/s: to the reference (DCGAN 28x28, batch 64,
float32) and to the setup's own baseline (the same model with one thing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # each setup's train function traces once; no retracing warnings

from tfgan import networks  # noqa: E402
from tfgan.data import get_source, make_dataset  # noqa: E402
from tfgan.losses import get_loss_pair  # noqa: E402
from tfgan.model import GAN  # noqa: E402
from tfgan.penalties import get_penalty  # noqa: E402
from tfgan.trainer import make_train_function  # noqa: E402

REFERENCE = "dcgan_fp32"


@dataclasses.dataclass
class Setup:
    name: str
    description: str
    build: Callable[[], GAN]
    dataset: str
    batch_size: int
    steps: int                 # timed steps per round (before --scale)
    baseline: str | None = None
    policy: str = "float32"
    jit: bool = False


# --- models --------------------------------------------------------------------------------------------------

def _adam(lr, beta1=0.5, beta2=0.999):
    return keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2)


def dcgan(loss="non_saturating", penalties=(), critic_steps=1) -> GAN:
    """The quickstart DCGAN (configs/quickstart.cfg): latent 64, 64 base filters, 28x28x1."""
    keras.utils.set_random_seed(0)
    g = networks.dcgan_generator(64, 28, 1, 64, 4, "tanh")
    d = networks.dcgan_discriminator(28, 1, 64, 4)
    gan = GAN(g, d, 64, loss=get_loss_pair(loss), penalties=[get_penalty(p) for p in penalties],
              critic_steps=critic_steps)
    wgan_gp = loss == "wasserstein"
    gan.compile(d_optimizer=_adam(1e-4, 0.5, 0.9) if wgan_gp else _adam(2e-4),
                g_optimizer=_adam(1e-4, 0.5, 0.9) if wgan_gp else _adam(2e-4))
    return gan


def toy_mlp(loss="non_saturating", penalties=(), critic_steps=1) -> GAN:
    """The ring MLP of configs/toy_ring8.cfg: latent 16, hidden (128, 128), no batch norm, linear output."""
    keras.utils.set_random_seed(0)
    g = networks.mlp_generator(16, (2,), (128, 128), "linear", batch_norm=False)
    d = networks.mlp_discriminator((2,), (128, 128), dropout=0.0)
    gan = GAN(g, d, 16, loss=get_loss_pair(loss), penalties=[get_penalty(p) for p in penalties],
              critic_steps=critic_steps)
    gan.compile(d_optimizer=_adam(1e-3), g_optimizer=_adam(1e-3))
    return gan


SETUPS = [
    Setup(REFERENCE, "DCGAN 28x28, batch 64, float32 (reference)", dcgan, "digits", 64, 60),
    Setup("dcgan_bf16", "same, mixed_bfloat16 policy", dcgan, "digits", 64, 60, baseline=REFERENCE,
          policy="mixed_bfloat16"),
    Setup("dcgan_wgan_gp", "same, WGAN-GP, 5 critic steps", lambda: dcgan("wasserstein", ("gp",), 5), "digits",
          64, 12, baseline=REFERENCE),
    Setup("dcgan_jit", "same as reference, train_step jit_compile=True", dcgan, "digits", 64, 60,
          baseline=REFERENCE, jit=True),
    Setup("toy_mlp", "ring8 MLP 128x128, batch 256", toy_mlp, "ring8", 256, 1000),
    Setup("toy_mlp_wgan_gp", "same, WGAN-GP, 5 critic steps", lambda: toy_mlp("wasserstein", ("gp",), 5),
          "ring8", 256, 300, baseline="toy_mlp"),
    Setup("toy_mlp_jit", "same as toy_mlp, train_step jit_compile=True", toy_mlp, "ring8", 256, 1000,
          baseline="toy_mlp", jit=True),
]


# --- running -------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def global_policy(name: str):
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


class Runner:
    """One setup: its model, iterator and train function, warmed up."""

    def __init__(self, setup: Setup, log_dir: str, warmup: int):
        self.setup = setup
        strategy = tf.distribute.get_strategy()
        with global_policy(setup.policy):
            self.gan = setup.build()
            if setup.jit:
                # XLA-compile the model's own train_step; make_train_function calls it inside its tf.function.
                self.gan.train_step = tf.function(self.gan.train_step, jit_compile=True)
            dataset = make_dataset(get_source(setup.dataset), setup.batch_size,
                                   critic_steps=self.gan.critic_steps, seed=0)
            self.iterator = iter(strategy.experimental_distribute_dataset(dataset))
            writer = tf.summary.create_file_writer(os.path.join(log_dir, setup.name))
            self.train_fn = make_train_function(self.gan, strategy, writer)
            start = time.perf_counter()
            self.step(1)
            self.first_step_seconds = time.perf_counter() - start
            self.step(warmup)
        self.rates: list[float] = []

    def step(self, n: int) -> dict:
        result = {}
        for _ in range(n):
            result = {k: float(v) for k, v in self.train_fn(self.iterator).items()}  # as Trainer.fit does
        if not all(map(math.isfinite, (result["d_loss"], result["g_loss"]))):
            raise RuntimeError(f"{self.setup.name}: non-finite loss {result}; its timing would mean nothing")
        return result

    def time_round(self, steps: int) -> None:
        with global_policy(self.setup.policy):
            start = time.perf_counter()
            self.step(steps)
            self.rates.append(steps / (time.perf_counter() - start))

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("setups", nargs="*", help=f"subset of: {', '.join(s.name for s in SETUPS)}")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per setup (median reported)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every setup's timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the first (traced) one")
    args = parser.parse_args()
    known = {s.name: s for s in SETUPS}
    unknown = [n for n in args.setups if n not in known]
    if unknown:
        parser.error(f"unknown setup(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    wanted = set(args.setups or known) | {REFERENCE}
    wanted |= {known[n].baseline for n in list(wanted) if known[n].baseline}
    setups = [s for s in SETUPS if s.name in wanted]

    cpus = tf.config.list_logical_devices("CPU")
    gpus = tf.config.list_logical_devices("GPU")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {os.cpu_count()} CPU cores, "
          f"{len(gpus)} GPU(s); default strategy on {'GPU' if gpus else 'CPU'} ({len(cpus)} logical CPU device(s))",
          flush=True)
    runners = {}
    with tempfile.TemporaryDirectory(prefix="step_speed_") as log_dir:
        for setup in setups:
            print(f"building and warming up {setup.name} ...", flush=True)
            runners[setup.name] = Runner(setup, log_dir, args.warmup)
        for r in range(args.rounds):
            for setup in setups:
                runners[setup.name].time_round(max(1, round(setup.steps * args.scale)))
            print(f"round {r + 1}/{args.rounds} done", flush=True)

    ref = runners[REFERENCE].rate
    header = (f"{'setup':<16} {'description':<46} {'ex/step':>7} {'steps/s':>8} {'ms/step':>8} {'spread':>7} "
              f"{'x ref':>6} {'x base':>7}  first step s")
    print()
    print(header)
    print("-" * len(header))
    for setup in setups:
        run = runners[setup.name]
        examples = setup.batch_size * run.gan.critic_steps
        spread = (max(run.rates) - min(run.rates)) / run.rate  # (max - min) / median over rounds
        base = f"{run.rate / runners[setup.baseline].rate:7.2f}" if setup.baseline else f"{'':>7}"
        print(f"{setup.name:<16} {setup.description:<46} {examples:>7} {run.rate:>8.1f} {1000 / run.rate:>8.1f} "
              f"{100 * spread:>6.0f}% {run.rate / ref:>6.2f} {base}  {run.first_step_seconds:.1f}")
    print(f"\nx ref: steps/s over {REFERENCE}'s; x base: over the baseline's "
          + ", ".join(f"{s.name} -> {s.baseline}" for s in setups if s.baseline) + ".")
    print("spread: (max - min) / median of steps/s over the rounds; ex/step: real examples one step consumes.")


if __name__ == "__main__":
    main()
