"""Where the time from the train command to its first training step goes, phase by phase.

    python benchmarks/startup.py                                  # configs/toy_ring8.cfg and quickstart.cfg
    python benchmarks/startup.py configs/mnist_dcgan.cfg --rounds 3
    python benchmarks/startup.py --checkout /path/to/old/checkout # the same phases of another checkout

Each run is a fresh process that does what `python -m tfgan.train --flagfile=<config>` does up to the end of
its first train call (one step: `--steps=1`, no export, a new run directory), with a clock around each
phase: interpreter start, `import tensorflow`, the other imports (keras, tfgan, pipelines), flag parsing
and validation, `ingest`, strategy and precision, building and compiling the GAN, the Trainer (checkpoint
manager, summary writer), sample hooks (sample writer, toy reference points), restore, the input
pipeline, and the first call (tracing plus the first step). The median over `--rounds` processes is
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import json, os, sys, time
T0 = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
phases = {}
def mark(name, start):
    phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
s = time.perf_counter(); import tensorflow as tf; mark("import tensorflow", s)
s = time.perf_counter()
import keras
from absl import flags
from pipelines import flags as pipeline_flags
from pipelines import stages
import tfgan.trainer as trainer_mod
mark("other imports", s)
s = time.perf_counter()
pipeline_flags.define_flags()
flags.FLAGS(["train", "--flagfile=" + sys.argv[1], "--steps=1", "--export=false", "--run_dir=" + sys.argv[2]])
config = pipeline_flags.config_from_flags(flags.FLAGS)
mark("flags and validation", s)

def timed(owner, attr, name, first_only=False):
    fn = getattr(owner, attr)
    state = {"done": False}
    def wrapper(*a, **k):
        if first_only and state["done"]:
            return fn(*a, **k)
        state["done"] = True
        s = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            mark(name, s)
    setattr(owner, attr, wrapper)

timed(stages, "ingest", "ingest (open the data source)")
timed(stages.distribute, "make_strategy", "strategy")
timed(stages, "set_precision", "precision policy")
timed(stages, "build_gan", "build and compile the GAN")
timed(stages, "Trainer", "Trainer (checkpoint manager, writer)")
timed(stages, "SampleWriter", "sample writer")
timed(stages, "_toy_reference", "toy reference points")
timed(stages, "make_dataset", "input pipeline")
timed(trainer_mod.Trainer, "restore", "restore")
orig = trainer_mod.Trainer._make_train_fn
def make(self):
    fn = orig(self)
    state = {"first": True}
    def first(*a, **k):
        if not state["first"]:
            return fn(*a, **k)
        state["first"] = False
        s = time.perf_counter()
        out = fn(*a, **k)
        {key: v.numpy() for key, v in out.items()}
        mark("first call (trace + 1 step)", s)
        phases["_to_first_step"] = time.perf_counter() - T0
        raise SystemExit(0)
    return first
trainer_mod.Trainer._make_train_fn = make
s = time.perf_counter()
try:
    stages.train(config, stages.ingest(config.data), out=open(os.devnull, "w"))
except SystemExit:
    pass
phases["_in_process"] = time.perf_counter() - T0
print("PHASES " + json.dumps(phases))
'''


def run_once(checkout: str, config: str, run_dir: str) -> dict:
    env = dict(os.environ, PYTHONPATH=checkout, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, os.path.join(REPO, config), run_dir], cwd=checkout, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    line = [x for x in out.stdout.splitlines() if x.startswith("PHASES ")]
    if not line:
        raise RuntimeError(out.stderr[-3000:])
    phases = json.loads(line[0][len("PHASES "):])
    phases["interpreter start and exit"] = wall - phases.pop("_in_process")
    phases["_total"] = wall
    return phases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=["configs/toy_ring8.cfg", "configs/quickstart.cfg"])
    parser.add_argument("--checkout", default=REPO, help="the checkout whose start-up is measured")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import tempfile
    for config in args.configs:
        runs = []
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="startup_") as tmp:
                runs.append(run_once(os.path.abspath(args.checkout), config, os.path.join(tmp, "run")))
        names = [k for k in runs[0] if not k.startswith("_")]
        print(f"\n{config} ({args.checkout}), median of {args.rounds} processes:")
        for name in names:
            print(f"  {name:<40} {statistics.median(r.get(name, 0.0) for r in runs):6.2f} s")
        print(f"  {'command to first step (wall)':<40} {statistics.median(r['_to_first_step'] for r in runs):6.2f} s "
              f"after the interpreter; whole process {statistics.median(r['_total'] for r in runs):.2f} s")


if __name__ == "__main__":
    main()
