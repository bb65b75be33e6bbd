"""Steps/s of shipped configs through the train command, against another checkout, interleaved.

    python benchmarks/shipped_speed.py --baseline /path/to/old/checkout                 # toy ring configs
    python benchmarks/shipped_speed.py --baseline ../old --rounds 3 configs/toy_grid25.cfg

Runs `python -m tfgan.train --flagfile=<config>` (no export, a fresh run directory each time) from this
checkout and from the baseline checkout, alternately, `--rounds` times per config, exactly as a user would
(sample hooks, checkpoints and summaries included), and reads the trainer's progress lines. Reports per
config and checkout the median over rounds of: the training steps/s (the mean of the progress lines'
window rates), the command's wall time, and the ratio of this checkout to the baseline.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIGS = ["configs/toy_ring8.cfg", "configs/toy_ring8_wgan_gp.cfg"]


def run_once(checkout: str, config: str, run_dir: str, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=checkout, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "tfgan.train", f"--flagfile={os.path.join(REPO, config)}", f"--run_dir={run_dir}",
           "--export=false", *extra]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    rates = [float(m) for m in re.findall(r"\| ([0-9.]+) steps/s", out)]
    train = float(re.search(r"done: step \d+ in (\d+)s", out).group(1))
    return {"rate": statistics.mean(rates), "wall": wall, "train": train}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=DEFAULT_CONFIGS)
    parser.add_argument("--baseline", required=True, help="another checkout of the project (e.g. git worktree of main)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--extra", default="", help="extra flags for both, comma-separated (e.g. --steps=2000)")
    args = parser.parse_args()
    extra = [e for e in args.extra.split(",") if e]
    results = {}
    with tempfile.TemporaryDirectory(prefix="shipped_speed_") as tmp:
        for r in range(args.rounds):
            for config in args.configs:
                for label, checkout in (("baseline", os.path.abspath(args.baseline)), ("this", REPO)):
                    run_dir = os.path.join(tmp, f"{label}_{r}_{os.path.basename(config)}")
                    results.setdefault((config, label), []).append(run_once(checkout, config, run_dir, extra))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\n{'config':<28} {'checkout':<9} {'steps/s':>8} {'train s':>8} {'wall s':>7} {'x steps/s':>9} {'x wall':>7}")
    for config in args.configs:
        base = results[(config, "baseline")]
        for label in ("baseline", "this"):
            runs = results[(config, label)]
            rate, wall = statistics.median(x["rate"] for x in runs), statistics.median(x["wall"] for x in runs)
            train = statistics.median(x["train"] for x in runs)
            print(f"{os.path.basename(config):<28} {label:<9} {rate:>8.1f} {train:>8.0f} {wall:>7.1f} "
                  f"{rate / statistics.median(x['rate'] for x in base):>9.2f} "
                  f"{statistics.median(x['wall'] for x in base) / wall:>7.2f}")


if __name__ == "__main__":
    main()
