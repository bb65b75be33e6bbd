"""Why a digits GAN plateaus: per checkpoint of a run, what the generator makes and what the discriminator knows.

    python benchmarks/digits_diagnose.py --run_dir=runs/quickstart [--num_samples=2000] [--json=out.json]

For each checkpoint kept in `<run_dir>` (train with `--keep_checkpoints=N --checkpoint_every=S` to keep a curve):
  - fid / is of the sampling generator (the EMA copy with its batch-norm statistics re-estimated, as exported) and
    of the raw generator, `num_samples` generated against as many training digits (MNIST classifier features);
  - fid_ema_raw_stats: the EMA weights with the raw generator's moving statistics (what skipping the re-estimation
    would give);
  - the class histogram of the samples (the classifier's argmax), min and max class share;
  - the discriminator's mean D(x) (sigmoid of its output) and accuracy on training digits, on held-out digits of
    the same source (the data set's test split) and on generated samples: a gap between training and held-out
    digits is the discriminator memorising its training set.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", required=True)
    parser.add_argument("--num_samples", type=int, default=2000)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from pipelines import stages, task
    from pipelines.config import load_run_config
    from tfgan import evaluation, metrics as M
    from tfgan.features import load_feature_extractor
    from tfgan.model import estimate_batch_norm_statistics
    from tfgan.random import sample_latents

    config = load_run_config(args.run_dir)
    ingested = stages.ingest(config.data)
    source, spec = ingested.source, ingested.spec
    task.set_precision("none")
    gan = task.build_gan(config, spec)
    extractor = load_feature_extractor("mnist")
    n = args.num_samples
    lo, hi = task.output_range(config.model)

    def real(split):
        images = np.concatenate(list(evaluation.real_batches(source, n, 500, split, seed=1)))
        return images  # in [0, 1]

    train_real, heldout_real = real("train"), real("test")
    f_train, _ = extractor.features_and_probabilities(train_real)
    z = sample_latents(n, config.model.latent_dim, config.model.prior, 7)

    def to_unit(x):
        return (np.asarray(x, np.float32) - lo) / (hi - lo)

    def scores(generator):
        fake = np.clip(to_unit(generator(z, training=False)), 0, 1)
        f, p = extractor.features_and_probabilities(fake)
        fid = M.frechet_distance_from_activations(f, f_train)
        is_mean, _ = M.inception_score(p, splits=10)
        hist = np.bincount(p.argmax(1), minlength=10) / len(p)
        return fake, float(fid), float(is_mean), hist

    def d_stats(images01):
        x = tf.constant(images01 * (hi - lo) + lo, tf.float32)
        out = np.concatenate([np.asarray(gan.discriminator(x[i:i + 500], training=False), np.float32)
                              for i in range(0, len(x), 500)]).reshape(-1)
        return float(np.mean(1 / (1 + np.exp(-out)))), float(np.mean(out > 0))

    paths = sorted(p[:-len(".index")] for p in glob.glob(os.path.join(args.run_dir, "checkpoints", "*.index")))
    if not paths:
        paths = sorted(p[:-len(".index")] for p in glob.glob(os.path.join(args.run_dir, "**", "ckpt-*.index"),
                                                             recursive=True))
    rows = []
    for path in sorted(paths, key=lambda p: int(p.rsplit("-", 1)[1])):
        tf.train.Checkpoint(**gan.checkpoint_items()).restore(path).expect_partial()
        step = int(path.rsplit("-", 1)[1])
        row = {"step": step}
        if gan.ema_generator is not None:
            raw_stats = [v.numpy() for v in gan.generator.weights]
            # EMA weights with the raw generator's moving statistics
            ema = gan.ema_generator
            for ev, rv in zip(ema.weights, gan.generator.weights):
                if not ev.trainable:
                    ev.assign(rv)
            _, row["fid_ema_raw_stats"], _, _ = scores(ema)
            estimate_batch_norm_statistics(ema, config.model.latent_dim, config.model.prior, 0)
            fake, row["fid"], row["is"], hist = scores(ema)
            del raw_stats
        else:
            fake, row["fid"], row["is"], hist = scores(gan.generator)
        _, row["fid_raw"], row["is_raw"], _ = scores(gan.generator)
        row["class_min"], row["class_max"] = float(hist.min()), float(hist.max())
        row["classes"] = [round(float(h), 3) for h in hist]
        row["dx_train"], row["acc_train"] = d_stats(train_real)
        row["dx_heldout"], row["acc_heldout"] = d_stats(heldout_real)
        row["dgz"], acc_fake_real = d_stats(fake)
        row["acc_fake"] = 1 - acc_fake_real
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"run_dir": args.run_dir, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
