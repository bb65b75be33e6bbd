"""The published results: each headline config trained for its budget over several seeds and evaluated by its
benchmark's protocol, in a table beside its reference and its target.

    python benchmarks/results.py                                # every headline config, seeds 0, 1, 2
    python benchmarks/results.py quickstart ring8 --seeds 0     # a subset
    python benchmarks/results.py --smoke                        # seconds: a few steps, few samples (the test)

Each run is the user's own two commands, in fresh processes, from the repository root:

    python -m tfgan.train --flagfile=<config> --run_dir=<work_dir>/<name>/seed<s> --seed=<s>
    python -m tfgan.evaluate --run_dir=... --metrics=<protocol's metrics> --num_samples=<protocol's count>

so the wall time of a run is the train command's, start-up, sample grids and export included. The table gives,
per config: the training steps, the wall time and the training steps/s (mean +- std over seeds), each metric as
mean +- std, its target (with the project issue that set it) and its reference by the same protocol: for
the MNIST rows real digits in the generated digits' place (for the quickstart: the 10,000 MNIST test digits
against the 6,000 embedded ones, `benchmarks/embedded_reference.py`; for full MNIST: the 10,000 test digits
against 10,000 training digits, `tfgan/assets/README.md`), for the toys and Stacked MNIST the published
figures of the PacGAN paper's tables (Lin et al. 2018). It also records the machine: CPU model,
cores, and the load average before and after (other jobs on a shared machine slow the runs down; steps/s
shows by how much). The first seed's sample grid (images) or scatter over the data density (2-D toys), drawn
by the evaluate command, is copied to `--figures` (docs/results/<name>.png), and every figure to
`<work_dir>/results.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str          # result key in metrics.json
    label: str        # column heading
    scale: float      # shown as value * scale (percentages)
    fmt: str
    anchor: str       # the reference by the same protocol: real data's own score, or the published figure(s)
    target: str = ""  # what this config is to reach, with the project issue that set it, e.g. ">= 8.8 (issue 18)"


@dataclasses.dataclass(frozen=True)
class Headline:
    config: str
    what: str
    metrics: tuple          # of Metric
    eval_metrics: str       # --metrics of the evaluate command
    num_samples: int        # --num_samples of the evaluate command
    smoke_steps: int = 4
    figure: str = "samples"  # samples (images) or scatter (2-D toys)

    def flag(self, name: str):
        """The value the train command reads for --name from this config (nested --flagfile lines included)."""
        from absl import flags

        from pipelines import flags as pipeline_flags
        fv = flags.FlagValues()
        pipeline_flags.define_flags(fv)
        fv(["results", f"--flagfile={self.config}"])  # config paths are relative to the repository root
        return fv[name].value

    def reads_mnist(self) -> bool:
        """Whether the config trains on full MNIST (MNIST itself or Stacked MNIST), which --mnist_dir can supply."""
        dataset = self.flag("dataset")
        return dataset in ("mnist", "tfds:mnist") or dataset.startswith("stacked_mnist")

    def missing_data(self, mnist_dir: str = "") -> str:
        """Why the config cannot run here ("" when it can): the local data directory it reads is absent."""
        path = mnist_dir if mnist_dir and self.reads_mnist() else self.flag("data_dir")
        if path and not os.path.isdir(os.path.join(ROOT, path)):
            return f"{self.config} reads {path}, which is absent"
        return ""


HEADLINES = {
    "quickstart": Headline(
        "configs/quickstart.cfg", "embedded digits, MNIST classifier, 10k samples vs the 6,000 digits",
        (Metric("is", "MNIST IS", 1, "{:.2f}", "real digits 9.70 (the 6,000 embedded)", ">= 8.8 (issue 18)"),
         Metric("fid", "MNIST FID", 1, "{:.1f}", "real digits 1.00 (MNIST test 10k vs the 6,000)",
                "<= 10 (issue 18)")),
        "fid,is", 10_000),
    "ring8": Headline(
        "configs/toy_ring8_pacgan.cfg", "8-Gaussian ring, 2,500 samples (VEEGAN/PacGAN protocol)",
        (Metric("modes", "modes", 1, "{:.2f}", "PacGAN2 7.9; GAN 6.3", ">= 8 (issue 11)"),
         Metric("high_quality", "high quality %", 100, "{:.1f}", "PacGAN2 95.6; GAN 98.2", ">= 90 (issue 11)"),
         Metric("reverse_kl", "reverse KL", 1, "{:.3f}", "PacGAN2 0.07; GAN 0.45")),
        "modes", 2500, smoke_steps=20, figure="scatter"),
    "grid25": Headline(
        "configs/toy_grid25_pacgan.cfg", "25-Gaussian grid, 2,500 samples (VEEGAN/PacGAN protocol)",
        (Metric("modes", "modes", 1, "{:.2f}", "PacGAN4 24.8; WGAN-GP 24.2; VEEGAN 24.6",
                ">= 24 (issue 11)"),
         Metric("high_quality", "high quality %", 100, "{:.1f}", "PacGAN4 93.6; WGAN-GP 28.7; VEEGAN 40",
                ">= 80 (issue 11)"),
         Metric("reverse_kl", "reverse KL", 1, "{:.3f}", "PacGAN4 0.04")),
        "modes", 2500, smoke_steps=20, figure="scatter"),
    "stacked_mnist": Headline(
        "configs/stacked_mnist_pacgan.cfg", "Stacked MNIST, 26,000 samples, MNIST classifier per channel",
        (Metric("stacked_modes", "modes", 1, "{:.1f}", "PacDCGAN2 1000; WGAN-GP 995; DCGAN 99",
                ">= 990 (issue 11)"),
         Metric("stacked_kl", "KL", 1, "{:.3f}", "PacDCGAN2 0.06; WGAN-GP 0.148; DCGAN 3.4",
                "<= 0.2 (issue 11)")),
        "stacked_modes", 26_000),
    "mnist": Headline(
        "configs/mnist_dcgan_long.cfg", "full MNIST, MNIST classifier, 10k samples vs 10k training digits",
        (Metric("is", "MNIST IS", 1, "{:.2f}", "real digits 9.74 (MNIST test, 10k)", ">= 9.3 (issue 18)"),
         Metric("fid", "MNIST FID", 1, "{:.2f}", "real digits 0.48 (MNIST test 10k vs train 10k)",
                "<= 5 (issue 18)")),
        "fid,is", 10_000),
}


# CPU features that change training speed several-fold between machines sold under one model name: native
# bfloat16 (`--mixed_precision=auto` trains in bf16 only with one of the first two), AVX-512, AVX2.
SPEED_FEATURES = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def machine() -> dict:
    cpu, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.readlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
        flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "cpu_features": [name for name in SPEED_FEATURES if name in flags]}


def describe(info: dict) -> str:
    """'<cpu> (<speed features>), <n> cores'; records written before features were recorded give none."""
    features = info.get("cpu_features")
    listed = f" ({', '.join(features) or 'none of ' + ', '.join(SPEED_FEATURES)})" if features is not None else ""
    return f"{info['cpu']}{listed}, {info['cores']} cores"


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _run(cmd: list[str], log: str) -> float:
    """Runs a command from the repository root, output to `log`; returns its wall time. Raises on failure."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if code:
        with open(log) as f:
            tail = "".join(f.readlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}; the end of {log}:\n{tail}")
    return wall


def run_one(name: str, headline: Headline, seed: int, work_dir: str, steps: int = 0, num_samples: int = 0,
            mnist_dir: str = "") -> dict:
    """Trains and evaluates one seed of one headline config; returns its figures."""
    run_dir = os.path.join(work_dir, name, f"seed{seed}")
    if os.path.exists(run_dir):
        shutil.rmtree(run_dir)  # a fresh run: the table reports whole runs, not resumed ones
    os.makedirs(os.path.dirname(run_dir), exist_ok=True)
    train = [sys.executable, "-m", "tfgan.train", f"--flagfile={headline.config}", f"--run_dir={run_dir}",
             f"--seed={seed}"]
    if mnist_dir and headline.reads_mnist():
        train.append(f"--data_dir={os.path.abspath(mnist_dir)}")
    if steps:
        train += [f"--steps={steps}", f"--sample_every={steps}", f"--checkpoint_every={steps}", f"--log_every={steps}",
                  "--eval_every=0", "--best_metric=", "--eval_metrics="]
    load_before = load()
    wall = _run(train, run_dir + ".train.log")
    with open(os.path.join(run_dir, "result.json")) as f:
        trained = json.load(f)
    # The published protocols compare with the training data (FID against the training digits).
    evaluate = [sys.executable, "-m", "tfgan.evaluate", f"--run_dir={run_dir}", f"--metrics={headline.eval_metrics}",
                f"--num_samples={num_samples or headline.num_samples}", "--real_data=train"]
    _run(evaluate, run_dir + ".eval.log")
    (metrics_file,) = glob.glob(os.path.join(run_dir, "eval", "*", "metrics.json"))
    with open(metrics_file) as f:
        evaluated = json.load(f)
    figure = os.path.join(os.path.dirname(metrics_file), f"{headline.figure}.png")
    return {"seed": seed, "steps": trained["step"], "wall_s": wall, "train_s": trained.get("train_seconds"),
            "steps_per_s": trained.get("metrics", {}).get("mean_steps_per_sec"), "metrics": evaluated["metrics"],
            "num_samples": evaluated["num_samples"], "num_real": evaluated["num_real"], "figure": figure,
            "load": [load_before, load()]}


def _mean_std(values) -> tuple[float, float]:
    import numpy as np
    values = np.asarray([v for v in values if v is not None], np.float64)
    if not len(values):
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _pm(values, fmt="{:.1f}", scale=1.0) -> str:
    mean, std = _mean_std([None if v is None else v * scale for v in values])
    return f"{fmt.format(mean)} ± {fmt.format(std)}"


def table(results: dict) -> str:
    """A markdown table: one row per config and metric."""
    lines = ["| config | steps | wall s | steps/s | metric | tfgan (mean ± std) | target (set by) "
             "| reference: real data / published |",
             "|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        headline = HEADLINES[name]
        steps = sorted({r["steps"] for r in runs})
        for i, m in enumerate(headline.metrics):
            first = i == 0
            lines.append("| " + " | ".join([
                f"{name} (`{os.path.basename(headline.config)}`, {len(runs)} seed{'s' * (len(runs) > 1)})" if first
                else "",
                "/".join(map(str, steps)) if first else "",
                _pm([r["wall_s"] for r in runs], "{:.0f}") if first else "",
                _pm([r["steps_per_s"] for r in runs], "{:.1f}") if first else "",
                m.label, _pm([r["metrics"].get(m.key) for r in runs], m.fmt, m.scale), m.target, m.anchor]) + " |")
    return "\n".join(lines)


def print_table(paths) -> dict:
    """Prints the machines and one table for the results.json files of earlier runs (in headline order)."""
    results, machines = {}, []
    for path in paths:
        with open(path) as f:
            record = json.load(f)
        info = record["machine"]
        machines.append(f"`{info['command']}` ({info['started']}; {describe(info)}, load "
                        f"{info['load_start']:.2f} -> {info['load_end']:.2f})")
        results.update(record["results"])
    results = {name: results[name] for name in HEADLINES if name in results}
    print("\n".join(machines) + "\n")
    print(table(results))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"headline configs (default: all): {', '.join(HEADLINES)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--work_dir", default="runs/results", help="run directories and results.json")
    parser.add_argument("--figures", default="docs/results", help="where the first seed's picture is copied")
    parser.add_argument("--steps", type=int, default=0, help="override every config's steps (0: the config's)")
    parser.add_argument("--num_samples", type=int, default=0, help="override the protocol's sample count")
    parser.add_argument("--mnist_dir", default="",
                        help="the MNIST IDX files (or a prepared TFDS data_dir) for the configs that train on full "
                             "MNIST (mnist, stacked_mnist); without it they get MNIST as their config says "
                             "(TFDS downloads it where there is a network)")
    parser.add_argument("--table", nargs="+", metavar="RESULTS_JSON",
                        help="train nothing: print one table from the results.json files of earlier runs")
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps, 200 samples, one seed, nothing copied to --figures: checks the command")
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table)
    names = args.names or list(HEADLINES)
    unknown = [n for n in names if n not in HEADLINES]
    if unknown:
        parser.error(f"unknown headline config(s) {', '.join(unknown)}; choose among {', '.join(HEADLINES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.chdir(ROOT)
    work_dir = os.path.abspath(args.work_dir)
    info = dict(machine(), load_start=load(), started=time.strftime("%Y-%m-%d %H:%M:%S"),
                command=" ".join(["python", "benchmarks/results.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"# {info['command']}\n# {describe(info)}, load average {info['load_start']:.2f}",
          flush=True)
    results = {}
    for name in names:
        headline = HEADLINES[name]
        missing = headline.missing_data(args.mnist_dir)
        if missing:
            print(f"{name}: skipped: {missing}", flush=True)
            continue
        steps = headline.smoke_steps if args.smoke else args.steps
        num_samples = 200 if args.smoke else args.num_samples
        runs = []
        for seed in seeds[:1] if args.smoke else seeds:
            r = run_one(name, headline, seed, work_dir, steps, num_samples, args.mnist_dir)
            figures = " | ".join(f"{m.label} {m.fmt.format(r['metrics'][m.key] * m.scale)}" for m in headline.metrics)
            print(f"{name} seed {seed}: {r['steps']} steps in {r['wall_s']:.0f} s ({r['steps_per_s'] or 0:.1f} "
                  f"steps/s, load {r['load'][0]:.1f} -> {r['load'][1]:.1f}) | {figures}", flush=True)
            runs.append(r)
        results[name] = runs
        if not args.smoke and args.figures:
            os.makedirs(args.figures, exist_ok=True)
            shutil.copyfile(runs[0]["figure"], os.path.join(args.figures, f"{name}.png"))
    info["load_end"] = load()
    with open(os.path.join(work_dir, "results.json"), "w") as f:
        json.dump({"machine": info, "results": results}, f, indent=2)
    print(f"\n{describe(info)}; load average {info['load_start']:.2f} at the start, "
          f"{info['load_end']:.2f} at the end\n")
    print(table(results))
    return results


if __name__ == "__main__":
    main()
