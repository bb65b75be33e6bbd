"""Which digits a generator makes: the MNIST classifier's class shares of its samples.

    python benchmarks/class_histogram.py runs/quickstart/export/1500 [more SavedModel version dirs...]
        [--num_samples=10000] [--json=out.json]

For each export: `num_samples` samples drawn as the evaluate command draws them (a conditional export with the
labels 0..9 in turn, so a balanced request), the share of each class by the shipped classifier's argmax, the
smallest and largest share, and, for a conditional export, how often the classifier reads the label asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def class_shares(export: str, num_samples: int, seed: int = 0) -> dict:
    import numpy as np

    from tfgan import evaluation
    from tfgan.features import load_feature_extractor

    generate, meta = evaluation.saved_model_generator(export)
    images = np.concatenate(list(evaluation.generated_batches(generate, num_samples, 500, seed)))
    predicted = load_feature_extractor("mnist").predict(images)
    shares = np.bincount(predicted, minlength=10) / len(predicted)
    result = {"export": export, "num_samples": int(len(predicted)), "shares": [round(float(s), 4) for s in shares],
              "min_share": float(shares.min()), "max_share": float(shares.max())}
    if meta["num_classes"]:
        # generated_batches asks each request for labels (start + i) % num_classes within 500-sample batches
        asked = np.concatenate([np.arange(min(500, num_samples - s)) % meta["num_classes"]
                                for s in range(0, num_samples, 500)])
        result["label_agreement"] = float(np.mean(asked == predicted))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="+", help="SavedModel version directories written by tfgan.train")
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    rows = []
    for export in args.exports:
        row = class_shares(export, args.num_samples)
        rows.append(row)
        shares = " ".join(f"{i}:{100 * s:.1f}%" for i, s in enumerate(row["shares"]))
        extra = f" | label agreement {100 * row['label_agreement']:.1f}%" if "label_agreement" in row else ""
        print(f"{export}: {shares} | min {100 * row['min_share']:.1f}% max {100 * row['max_share']:.1f}%{extra}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
