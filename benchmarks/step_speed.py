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
from tfgan.distribute import set_threads  # noqa: E402
from tfgan.losses import get_loss_pair  # noqa: E402
from tfgan.model import GAN  # noqa: E402
from tfgan.penalties import get_penalty  # noqa: E402
from tfgan.trainer import make_train_function  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardware  # noqa: E402
import keras_examples  # noqa: E402

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
    steps_per_call: int = 1    # train steps per tf.function call (the Trainer's steps_per_execution)


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
    Setup("toy_mlp_chunked", "same as toy_mlp, 100 steps per call", toy_mlp, "ring8", 256, 1000,
          baseline="toy_mlp", steps_per_call=100),
    Setup("toy_gp_chunked", "toy_mlp_wgan_gp, 100 steps per call", lambda: toy_mlp("wasserstein", ("gp",), 5),
          "ring8", 256, 300, baseline="toy_mlp_wgan_gp", steps_per_call=100),
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
            self.train_fn(self.iterator, 1)["d_loss"].numpy()
            self.first_step_seconds = time.perf_counter() - start
            self.step(warmup)
        self.rates: list[float] = []

    def step(self, n: int) -> dict:
        result, per_call = {}, self.setup.steps_per_call
        for _ in range(max(1, n // per_call)):  # calls of `per_call` steps, each read back, as the Trainer does
            result = {k: float(v[-1]) for k, v in self.train_fn(self.iterator, per_call).items()}
        if not all(map(math.isfinite, (result["d_loss"], result["g_loss"]))):
            raise RuntimeError(f"{self.setup.name}: non-finite loss {result}; its timing would mean nothing")
        return result

    def time_round(self, steps: int) -> None:
        steps = max(1, steps // self.setup.steps_per_call) * self.setup.steps_per_call
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
    parser.add_argument("--compare", action="store_true",
                        help=f"tfgan vs plain Keras GANs on the Keras examples' networks; setups: "
                             f"{', '.join(WORKLOADS)} (default: both)")
    parser.add_argument("--scaling", action="store_true", help="step time against batch size and image size")
    parser.add_argument("--intra_op_threads", type=int, default=0,
                        help="threads per kernel for this process, as the train flag (0: TensorFlow's choice); "
                             "thread pools are per process, so compare settings in separate runs")
    parser.add_argument("--inter_op_threads", type=int, default=0, help="threads running independent kernels")
    args = parser.parse_args()
    set_threads(args.intra_op_threads, args.inter_op_threads)  # before the first op
    if args.compare:
        unknown = [n for n in args.setups if n not in WORKLOADS]
        if unknown:
            parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
        return compare(args.setups or list(WORKLOADS), args.rounds, args.scale, min(args.warmup, 1))
    if args.scaling:
        return scaling(args.rounds, min(args.warmup, 1))
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
          f"{len(gpus)} GPU(s); default strategy on {'GPU' if gpus else 'CPU'} ({len(cpus)} logical CPU device(s)); "
          f"threads intra-op {args.intra_op_threads or 'auto'}, inter-op {args.inter_op_threads or 'auto'}",
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



# --- --compare: tfgan against plain Keras GANs in the style of the Keras examples ----------------------------

@dataclasses.dataclass
class Workload:
    name: str
    description: str
    batch: int
    critic_steps: int
    steps: int                       # timed steps per round
    keras_model: Callable[[], keras.Model]
    tfgan_model: Callable[[], GAN]
    source: Callable[[], object]
    output_range: tuple


def _wgan_gp_workload() -> Workload:
    def keras_model():
        keras.utils.set_random_seed(0)
        model = keras_examples.KerasWGANGP(keras_examples.wgan_critic(), keras_examples.wgan_generator(), d_steps=3)
        model.compile(d_optimizer=_adam(1e-4, 0.5, 0.9), g_optimizer=_adam(1e-4, 0.5, 0.9))
        return model

    def tfgan_model():
        keras.utils.set_random_seed(0)
        gan = GAN(keras_examples.wgan_generator(), keras_examples.wgan_critic(), keras_examples.WGAN_LATENT,
                  loss=get_loss_pair("wasserstein"), penalties=[get_penalty("gp")], critic_steps=3)
        gan.compile(d_optimizer=_adam(1e-4, 0.5, 0.9), g_optimizer=_adam(1e-4, 0.5, 0.9))
        return gan

    return Workload("wgan_gp_28", "WGAN-GP 28x28x1, batch 64, 3 critic updates + 1 generator update", 64, 3, 3,
                    keras_model, tfgan_model, lambda: get_source("digits"), (-1.0, 1.0))


def _dcgan_workload() -> Workload:
    def keras_model():
        keras.utils.set_random_seed(0)
        model = keras_examples.KerasDCGAN(keras_examples.dcgan_discriminator(), keras_examples.dcgan_generator())
        model.compile(d_optimizer=_adam(1e-4, 0.9), g_optimizer=_adam(1e-4, 0.9))
        return model

    def tfgan_model():
        keras.utils.set_random_seed(0)
        # tfgan's losses take logits: the same discriminator without its final sigmoid (same work).
        gan = GAN(keras_examples.dcgan_generator(), keras_examples.dcgan_discriminator(logits=True),
                  keras_examples.DCGAN_LATENT, loss=get_loss_pair("non_saturating"))
        gan.compile(d_optimizer=_adam(1e-4, 0.9), g_optimizer=_adam(1e-4, 0.9))
        return gan

    return Workload("dcgan_64", "DCGAN 64x64x3, batch 32, the Keras DCGAN example's networks", 32, 1, 2,
                    keras_model, tfgan_model, lambda: get_source("digits", image_size=64, channels=3), (0.0, 1.0))


WORKLOADS = {"wgan_gp_28": _wgan_gp_workload, "dcgan_64": _dcgan_workload}


class Timed:
    """One side of a comparison: a train function stepped on an iterator, with its step FLOPs."""

    def __init__(self, label: str, policy: str, step: Callable[[], None], flops: float, batch: int, steps: int):
        self.label, self.policy, self.step, self.flops, self.batch, self.steps = label, policy, step, flops, batch, steps
        self.seconds: list[float] = []

    def time_round(self):
        with global_policy(self.policy):
            start = time.perf_counter()
            for _ in range(self.steps):
                self.step()
            self.seconds.append((time.perf_counter() - start) / self.steps)

    @property
    def s_per_step(self) -> float:
        return statistics.median(self.seconds)


def _keras_side(w: Workload, warmup: int) -> Timed:
    with global_policy("float32"):
        model = w.keras_model()
        ds = make_dataset(w.source(), w.batch, output_range=w.output_range, seed=0).map(lambda e: e["x"])
        iterator = iter(ds)
        model.make_train_function()
        train = model.train_function  # what fit() calls once per step

        def step():
            logs = train(iterator)
            float(logs["d_loss"])  # read back, like fit's progress bar / callbacks

        flops = hardware.traced_flops(tf.function(model.train_step), ds.element_spec, batch=w.batch)
        for _ in range(1 + warmup):
            step()
    return Timed("plain Keras", "float32", step, flops, w.batch, w.steps)


def _tfgan_side(w: Workload, policy: str, warmup: int, log_dir: str) -> Timed:
    with global_policy(policy):
        gan = w.tfgan_model()
        ds = make_dataset(w.source(), w.batch, critic_steps=w.critic_steps, output_range=w.output_range, seed=0)
        strategy = tf.distribute.get_strategy()
        iterator = iter(strategy.experimental_distribute_dataset(ds))
        train = make_train_function(gan, strategy, tf.summary.create_file_writer(os.path.join(log_dir, policy)))

        def step():  # what the Trainer does for steps of > 0.1 s: one step per call, metrics read back
            result = train(iterator, 1)
            if not math.isfinite(float(result["d_loss"][-1])):
                raise RuntimeError(f"{w.name} {policy}: non-finite loss")

        flops = hardware.traced_flops(tf.function(gan.train_step), ds.element_spec, batch=w.batch)
        for _ in range(1 + warmup):
            step()
    return Timed(f"tfgan {'bf16' if 'bfloat16' in policy else 'fp32'}", policy, step, flops, w.batch, w.steps)


def compare(names, rounds: int, scale: float, warmup: int) -> None:
    """Plain Keras float32 vs tfgan float32 vs tfgan mixed_bfloat16, interleaved with the ceilings."""
    ceilings = hardware.Ceilings()
    sides: dict[str, list[Timed]] = {}
    with tempfile.TemporaryDirectory(prefix="step_speed_") as log_dir:
        for name in names:
            w = WORKLOADS[name]()
            w.steps = max(1, round(w.steps * scale))
            print(f"building and warming up {name} ...", flush=True)
            sides[name] = [_keras_side(w, warmup), _tfgan_side(w, "float32", warmup, log_dir),
                           _tfgan_side(w, "mixed_bfloat16", warmup, log_dir)]
        for r in range(rounds):
            ceilings.measure()
            for name in names:
                for side in sides[name]:
                    side.time_round()
            print(f"round {r + 1}/{rounds} done", flush=True)
    print(f"\nceilings (median of {rounds} rounds, GFLOP/s): matmul 4096^3 float32 "
          f"{ceilings.gflops('matmul_float32'):.0f}, bfloat16 {ceilings.gflops('matmul_bfloat16'):.0f}; "
          f"conv 5x5 stride 2 [64,32,32,128]->256 float32 {ceilings.gflops('conv_float32'):.0f}, "
          f"bfloat16 {ceilings.gflops('conv_bfloat16'):.0f}")
    header = (f"{'workload':<11} {'side':<12} {'s/step':>7} {'images/s':>9} {'GFLOP/step':>10} {'GFLOP/s':>8} "
              f"{'x conv ceil':>11} {'x Keras':>8} {'spread':>7}")
    print(header)
    print("-" * len(header))
    for name in names:
        keras_side = sides[name][0]
        for side in sides[name]:
            dtype = "bfloat16" if "bfloat16" in side.policy else "float32"
            achieved = side.flops / side.s_per_step / 1e9
            spread = (max(side.seconds) - min(side.seconds)) / side.s_per_step
            print(f"{name:<11} {side.label:<12} {side.s_per_step:>7.3f} {side.batch / side.s_per_step:>9.1f} "
                  f"{side.flops / 1e9:>10.1f} {achieved:>8.0f} {achieved / ceilings.gflops('conv_' + dtype):>11.2f} "
                  f"{keras_side.s_per_step / side.s_per_step:>8.2f} {100 * spread:>6.0f}%")
    print("\nimages/s: generator batch / (s/step); x conv ceil: achieved GFLOP/s over the convolution ceiling of the "
          "step's compute dtype; x Keras: the plain Keras float32 step time over this side's (higher is faster).")


# --- --scaling: how a step grows with the batch and the image size --------------------------------------------

def scaling(rounds: int, warmup: int) -> None:
    """tfgan's DCGAN (quickstart networks, 64 base filters) at batch 64..512 (28x28) and image 28..128 (batch 32).

    Each point times about 3 s of steps per round (at least one step), interleaved with the ceilings."""
    points = [(28, b) for b in (64, 128, 256, 512)] + [(64, 32), (128, 32), (28, 32)]
    ceilings = hardware.Ceilings()
    runs = []
    with tempfile.TemporaryDirectory(prefix="step_speed_") as log_dir:
        for size, batch in points:
            for policy in ("float32", "mixed_bfloat16"):
                w = Workload(f"dcgan_{size}_b{batch}", "", batch, 1, 1, None, None,
                             lambda size=size: get_source("digits", image_size=size), (-1.0, 1.0))

                def build(size=size):
                    keras.utils.set_random_seed(0)
                    g = networks.dcgan_generator(64, size, 1, 64, 4, "tanh")
                    d = networks.dcgan_discriminator(size, 1, 64, 4)
                    gan = GAN(g, d, 64, loss=get_loss_pair("non_saturating"))
                    gan.compile(d_optimizer=_adam(2e-4), g_optimizer=_adam(2e-4))
                    return gan

                w.tfgan_model = build
                print(f"building {w.name} {policy} ...", flush=True)
                side = _tfgan_side(w, policy, warmup, log_dir)
                with global_policy(policy):  # about 3 s of steps per round
                    start = time.perf_counter()
                    side.step()
                    side.steps = max(1, min(50, round(3.0 / (time.perf_counter() - start))))
                runs.append((size, batch, side))
        for r in range(rounds):
            ceilings.measure()
            for _, _, side in runs:
                side.time_round()
            print(f"round {r + 1}/{rounds} done", flush=True)
    print(f"\nconv ceiling GFLOP/s: float32 {ceilings.gflops('conv_float32'):.0f}, "
          f"bfloat16 {ceilings.gflops('conv_bfloat16'):.0f}")
    header = f"{'image':>5} {'batch':>5} {'side':<10} {'s/step':>7} {'ms/image':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} {'x ceil':>6}"
    print(header)
    print("-" * len(header))
    for size, batch, side in runs:
        dtype = "bfloat16" if "bfloat16" in side.policy else "float32"
        achieved = side.flops / side.s_per_step / 1e9
        print(f"{size:>5} {batch:>5} {side.label:<10} {side.s_per_step:>7.3f} {1000 * side.s_per_step / batch:>8.2f} "
              f"{side.flops / 1e9:>10.1f} {achieved:>8.0f} {achieved / ceilings.gflops('conv_' + dtype):>6.2f}")


if __name__ == "__main__":
    main()
