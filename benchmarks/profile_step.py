"""Op statistics of training steps from the TensorFlow profiler: where a step's time goes, by kernel and dtype.

    python benchmarks/profile_step.py                       # WGAN-GP (Keras example networks), float32 and bf16
    python benchmarks/profile_step.py --setup toy_mlp --steps 200
    python benchmarks/profile_step.py --top 25

Each (setup, precision) is built, warmed up (the first call traces), then `--steps` steps run under
`tf.profiler.experimental` (host tracer level 2). The trace (XPlane) is read directly: every TensorFlow op
event on the executor threads is named `<node>:<kernel>`; its duration is the kernel's wall time, including
the intra-op threads it waits for. Events are summed per (kernel, dtype), where the dtype is the node's `T`
(or `dtype` / `DstT`) attribute in the graphs TensorFlow ran after Grappler (from the run metadata), and
divided by the steps. With 2 cores, two ops can run at once, so the column can add up to more than the step.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.eager import context  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import step_speed  # noqa: E402
from tfgan.data import get_source, make_dataset  # noqa: E402
from tfgan.trainer import make_train_function  # noqa: E402

SETUPS = {"wgan_gp_28": lambda: step_speed.WORKLOADS["wgan_gp_28"](),
          "dcgan_64": lambda: step_speed.WORKLOADS["dcgan_64"]()}


def _toy_workload():
    w = step_speed.Workload("toy_mlp", "", 256, 1, 1, None, step_speed.toy_mlp, lambda: get_source("ring8"),
                            (None, None))
    return w


SETUPS["toy_mlp"] = _toy_workload


def node_dtypes(run_metadata) -> dict:
    """node name -> dtype name, from the post-optimisation graphs of every function run."""
    dtypes = {}
    for fg in run_metadata.function_graphs:
        graphs = list(fg.partition_graphs) + [fg.post_optimization_graph]
        for g in graphs:
            for fn in [g] + list(g.library.function):
                nodes = fn.node if hasattr(fn, "node") else fn.node_def
                for node in nodes:
                    for key in ("T", "dtype", "DstT", "Tparams"):
                        if key in node.attr and node.attr[key].type:
                            dtypes[node.name] = tf.dtypes.as_dtype(node.attr[key].type).name
                            break
    return dtypes


def op_stats(xspace_path: str, dtypes: dict, steps: int) -> list:
    xs = xplane_pb2.XSpace()
    with open(xspace_path, "rb") as f:
        xs.ParseFromString(f.read())
    total, count = collections.Counter(), collections.Counter()
    for plane in xs.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute") and line.name != "python":
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name or name.startswith("Iterator"):
                    continue  # executor and tf.data bookkeeping, not kernels
                node, kernel = name.rsplit(":", 1)
                kernel = kernel.strip()
                if kernel.startswith("__inference") or kernel in ("Run", "Process"):
                    continue  # the enclosing function call
                leaf = node.rsplit("/", 1)[-1]
                dtype = dtypes.get(leaf) or dtypes.get(node) or "-"
                key = (kernel, dtype)
                total[key] += event.duration_ps / 1e9  # ms
                count[key] += 1
    return sorted(((k, total[k] / steps, count[k] / steps) for k in total), key=lambda r: -r[1])


def profile(name: str, policy: str, steps: int, warmup: int, top: int, log_root: str) -> None:
    w = SETUPS[name]()
    with step_speed.global_policy(policy):
        gan = w.tfgan_model()
        ds = make_dataset(w.source(), w.batch, critic_steps=gan.critic_steps, output_range=w.output_range, seed=0)
        strategy = tf.distribute.get_strategy()
        iterator = iter(strategy.experimental_distribute_dataset(ds))
        train = make_train_function(gan, strategy, tf.summary.create_file_writer(os.path.join(log_root, "tb")))
        per_call = steps if name == "toy_mlp" else 1
        context.context().enable_run_metadata()  # before the first call: the graphs are recorded when built
        for _ in range(1 + warmup):
            train(iterator, per_call)["d_loss"].numpy()
        start = time.perf_counter()
        for _ in range(max(1, steps // per_call)):
            train(iterator, per_call)["d_loss"].numpy()
        unprofiled = (time.perf_counter() - start) / steps
        log_dir = os.path.join(log_root, f"{name}_{policy}")
        tf.profiler.experimental.start(log_dir)
        start = time.perf_counter()
        for _ in range(max(1, steps // per_call)):
            train(iterator, per_call)["d_loss"].numpy()
        profiled = (time.perf_counter() - start) / steps
        tf.profiler.experimental.stop()
        run_metadata = context.context().export_run_metadata()
        context.context().disable_run_metadata()
    path = sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.xplane.pb")))[-1]
    rows = op_stats(path, node_dtypes(run_metadata), steps)
    busy = sum(r[1] for r in rows)
    print(f"\n{name} {policy}: {1000 * unprofiled:.1f} ms/step unprofiled, {1000 * profiled:.1f} profiled; "
          f"op time {busy:.1f} ms/step")
    print(f"{'kernel':<34} {'dtype':<9} {'ms/step':>8} {'% ops':>6} {'calls':>6}")
    for (kernel, dtype), ms, calls in rows[:top]:
        print(f"{kernel:<34} {dtype:<9} {ms:>8.2f} {100 * ms / busy:>6.1f} {calls:>6.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", default="wgan_gp_28", choices=sorted(SETUPS))
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    keras.config.disable_interactive_logging()
    with tempfile.TemporaryDirectory(prefix="profile_step_") as log_root:
        for policy in args.policies.split(","):
            profile(args.setup, policy, args.steps, args.warmup, args.top, log_root)


if __name__ == "__main__":
    main()
