"""Mode coverage of each GAN variant on the 2-D ring and grid after a fixed step budget.

    python benchmarks/toy_modes.py                      # every configs/toy_ring8*.cfg and toy_grid25*.cfg
    python benchmarks/toy_modes.py --steps 2000 configs/toy_ring8_wgan_gp.cfg

Prints, per config: modes captured (a mode counts when a sample lies within 3 std of it), the fraction of
high-quality samples (within 3 std of some mode), the reverse KL of the mode histogram to uniform, the final
discriminator loss and the wall time.
"""

import argparse
import contextlib
import glob
import io
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from pipelines import flags as pipeline_flags  # noqa: E402
from pipelines import stages  # noqa: E402
from tfgan.data import get_toy  # noqa: E402
from tfgan.metrics import mode_coverage  # noqa: E402


def evaluate(path, steps, samples, seed):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    run_dir = tempfile.mkdtemp(prefix="toy_modes_")
    args = [f"--flagfile={path}", f"--run_dir={run_dir}", f"--seed={seed}", "--sample_every=1000000"]
    if steps:
        args.append(f"--steps={steps}")
    fv(["bench", *args])
    config = pipeline_flags.config_from_flags(fv)
    stages.apply_threads(config)  # the toy configs' threads, as the train command sets them (the first config's)
    ingested = stages.ingest(config.data)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        trained = stages.train(config, ingested)
    wall = time.perf_counter() - start
    gan_points = _generate(config, ingested, run_dir, samples)
    mixture = get_toy(config.data.dataset)
    cov = mode_coverage(gan_points, mixture.centers, mixture.std)
    return dict(config=os.path.basename(path), steps=config.train.steps, modes=cov.num_modes_captured,
                total=cov.num_modes, hq=cov.high_quality_fraction, rkl=cov.reverse_kl,
                d_loss=trained.metrics.get("d_loss", float("nan")), seconds=wall)


def _generate(config, ingested, run_dir, n):
    exported = stages.export(config, ingested.spec, run_dir)
    from tfgan.evaluation import saved_model_generator
    generate, _ = saved_model_generator(exported.path)  # requests of at most the export's max_samples
    return generate(n, 7)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*")
    parser.add_argument("--steps", type=int, default=0, help="override every config's --steps")
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    configs = args.configs or sorted(glob.glob("configs/toy_ring8*.cfg") + glob.glob("configs/toy_grid25*.cfg"))
    print(f"{'config':<28} {'steps':>6} {'modes':>7} {'high-q %':>9} {'rev KL':>7} {'D loss':>8} {'time s':>7}")
    for path in configs:
        r = evaluate(path, args.steps, args.samples, args.seed)
        print(f"{r['config']:<28} {r['steps']:>6} {r['modes']:>3}/{r['total']:<3} {100 * r['hq']:>9.1f} "
              f"{r['rkl']:>7.3f} {r['d_loss']:>8.3f} {r['seconds']:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
