"""Evaluation during training (history, best checkpoint), the evaluate command, and its pictures."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from conftest import REPO

from pipelines import flags as pipeline_flags
from pipelines import stages
from tfgan import evaluation, metrics
from tfgan.data import get_source, get_toy

ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")


def _config(*args):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", *args])
    return pipeline_flags.config_from_flags(fv)


def test_training_evaluation_keeps_history_and_best_checkpoint_then_evaluate_command(tmp_path, capsys):
    run_dir = str(tmp_path / "ring")
    config = _config(f"--flagfile={os.path.join(REPO, 'configs', 'toy_ring8.cfg')}", f"--run_dir={run_dir}",
                     "--steps=300", "--eval_every=100", "--best_metric=w1", "--eval_num_samples=500",
                     "--log_every=100", "--sample_every=150")
    result = stages.run(config)
    history = [json.loads(line) for line in open(os.path.join(run_dir, "eval_history.jsonl"))]
    assert [r["step"] for r in history] == [100, 200, 300]  # every 100 steps and at the end
    assert all({"modes", "w1", "high_quality", "reverse_kl"} <= set(r) for r in history)
    best = json.load(open(os.path.join(run_dir, "best", "best.json")))
    assert best["value"] == min(r["w1"] for r in history)
    assert os.path.exists(best["checkpoint"] + ".index")
    assert "eval at step 100" in capsys.readouterr().out

    proc = subprocess.run([sys.executable, "-m", "tfgan.evaluate", f"--run_dir={run_dir}", "--num_samples=1000"],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out_dir = os.path.join(run_dir, "eval", "300")
    record = json.load(open(os.path.join(out_dir, "metrics.json")))
    assert record["saved_model"] == result["saved_model"] and record["step"] == 300
    # The command evaluated the exported generator: the same numbers as the SavedModel evaluated here (seed 0).
    generate, _ = evaluation.saved_model_generator(result["saved_model"])
    expected = evaluation.evaluate_samples(generate, get_source("ring8"), ["modes", "w1"], 1000)
    # W1 within 1%: the real points' shuffle depends on TensorFlow's global seed, which stages.run set here.
    assert record["metrics"] == pytest.approx(expected, rel=1e-2)
    assert {k: v for k, v in record["metrics"].items() if k != "w1"} == {k: v for k, v in expected.items()
                                                                        if k != "w1"}
    # W1 in 2-D compares equal-size sets: 1,000 of the 20,000 real points with the 1,000 generated.
    assert (record["num_samples"], record["num_real"]) == (1000, 1000)
    # And they are the metrics of what it generates, as computed from the samples themselves.
    samples = np.concatenate(list(evaluation.generated_batches(generate, 1000, 500, 0)))
    coverage = metrics.mode_coverage(samples, get_toy("ring8").centers, get_toy("ring8").std)
    assert record["metrics"]["modes"] == coverage.num_modes_captured
    assert record["metrics"]["high_quality"] == pytest.approx(coverage.high_quality_fraction)
    for name in ("scatter.png", "curves.png"):
        assert open(os.path.join(out_dir, name), "rb").read(4) == b"\x89PNG"
    assert any(f.startswith("events") for f in os.listdir(os.path.join(run_dir, "tensorboard", "eval")))

    bad = subprocess.run([sys.executable, "-m", "tfgan.evaluate", f"--run_dir={run_dir}", "--metrics=fid"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--metrics=fid" in bad.stderr and "modes, w1" in bad.stderr


def _digits_source(n):
    """The first n embedded digits as a source (a real set smaller than the generated one)."""
    from tfgan.data import DataSpec, Source
    digits = get_source("digits")
    spec = DataSpec("few_digits", "image", digits.spec.shape, digits.spec.num_classes, n)
    return Source(spec, lambda split, seed: digits.dataset(split, seed).take(n))


def test_image_evaluation_of_an_exported_generator(tmp_path):
    run_dir = str(tmp_path / "digits")
    config = _config("--dataset=digits", "--latent_dim=8", "--g_base_filters=8", "--d_base_filters=8",
                     "--batch_size=16", "--steps=20", "--log_every=10", f"--run_dir={run_dir}")
    result = stages.run(config)
    ingested = stages.ingest(config.data)
    extractor = stages.load_extractor("image", "mnist")
    evaluated = stages.evaluate(config, ingested, result["saved_model"], ["fid", "is", "kid", "prd"], 300, extractor)
    m = evaluated.metrics
    # 20 steps make blobs, far from the digits: real digits score FID ~3 and IS ~9.2 on this path
    # (test_image_metrics_of_real_and_one_digit_generators).
    assert m["fid"] > 50 and m["is"] < 6 and m["recall"] < 0.5, m
    assert np.isfinite(m["kid"]) and m["kid"] > 1
    for name in ("samples", "real_vs_fake", "metrics"):
        assert os.path.exists(evaluated.files[name])
    record = json.load(open(evaluated.files["metrics"]))
    assert (record["num_samples"], record["num_real"]) == (300, 300)

    # A real set smaller than asked for: the record says how many real images the metrics saw.
    few = stages.Ingested(_digits_source(120), _digits_source(120).spec)
    evaluated = stages.evaluate(config, few, result["saved_model"], ["fid"], 200, extractor,
                                out_dir=str(tmp_path / "few"))
    record = json.load(open(evaluated.files["metrics"]))
    assert (record["num_samples"], record["num_real"]) == (200, 120)
    assert (record["metrics"]["num_fake"], record["metrics"]["num_real"]) == (200, 120)


def test_image_metrics_of_real_and_one_digit_generators():
    """A generator returning real digits scores like real data; one returning a single digit class scores
    IS ~1 and low recall although each of its samples is a real digit (so precision stays high)."""
    source = get_source("digits")
    batch = next(iter(source.dataset("train", 0).batch(6000)))
    images, labels = batch["x"].numpy(), batch["label"].numpy()
    pool, pool_labels = images[:3000], labels[:3000]  # the evaluation's real set is drawn from all 6,000

    def sampler(pool):
        def generate(n, seed):
            return pool[np.random.default_rng(seed).choice(len(pool), n, replace=len(pool) < n)]
        return generate

    from tfgan.features import load_feature_extractor
    extractor = load_feature_extractor("mnist")
    real = evaluation.evaluate_samples(sampler(pool), source, ["fid", "is", "prd"], 500, extractor)
    # IS over splits of 100 samples: ~9.2 measured (9.74 on 10k test digits, BUILD.md); the maximum is 10.
    assert real["fid"] < 5.0 and 8.8 < real["is"] < 9.6, real
    assert real["precision"] > 0.8 and real["recall"] > 0.8, real
    one = evaluation.evaluate_samples(sampler(pool[pool_labels == 3]), source, ["fid", "is", "prd"], 500,
                                      extractor)
    assert one["is"] < 1.2 and one["fid"] > 200 and one["recall"] < 0.2 and one["precision"] > 0.8, one
    alone = evaluation.evaluate_samples(sampler(images), source, ["is"], 500, extractor)
    assert (alone["num_fake"], alone["num_real"]) == (500, 0)  # IS alone reads no real data


def test_real_count_is_recorded_when_the_source_holds_fewer():
    def generate(n, seed):
        return np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype(np.float32)

    from tfgan.features import load_feature_extractor
    m = evaluation.evaluate_samples(generate, _digits_source(150), ["fid", "kid"], 400,
                                    load_feature_extractor("mnist"), batch_size=100)
    assert (m["num_fake"], m["num_real"]) == (400, 150)
    ring = get_toy("ring8")
    m = evaluation.point_metrics(ring.sample(300, seed=1)[0], ring, ["modes", "w1"], real=ring.sample(70)[0])
    assert (m["num_fake"], m["num_real"]) == (300, 70)


def _transport_w1(a, wa, b, wb):
    """W1 between discrete distributions (points a with weights wa, points b with weights wb) as the linear
    programme min <C, P> over couplings P >= 0 with row sums wa and column sums wb."""
    from scipy.optimize import linprog
    from scipy.spatial.distance import cdist
    n, m = len(a), len(b)
    rows = np.kron(np.eye(n), np.ones((1, m)))   # sum_j P_ij = wa_i
    cols = np.kron(np.ones((1, n)), np.eye(m))   # sum_i P_ij = wb_j
    result = linprog(cdist(a, b).ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([wa, wb]),
                     bounds=(0, None), method="highs")
    assert result.status == 0
    return result.fun


def test_w1_of_2d_points_sees_joint_structure():
    """A generator covering only the grid's 5 diagonal modes has the data's marginals (each coordinate uniform
    over the 5 values), so the mean of the two marginal W1s is 0; the 2-D W1 is the cost of moving 4/5 of the
    mass onto the diagonal, here against a linear programme over the 25 modes and the 5 diagonal modes."""
    from tfgan.metrics import empirical_w1
    grid = get_toy("grid25")
    centers = grid.centers.astype(np.float64)
    diagonal = centers[np.isclose(centers[:, 0], centers[:, 1])]
    assert len(diagonal) == 5
    real = np.repeat(centers, 8, axis=0)           # 200 points, 8 on each mode
    fake = np.repeat(diagonal, 40, axis=0)         # 200 points, 40 on each diagonal mode
    marginal_mean = np.mean([empirical_w1(fake[:, d], real[:, d]) for d in range(2)])
    assert marginal_mean == pytest.approx(0.0, abs=1e-12)  # what the old metric saw
    expected = _transport_w1(centers, np.full(25, 1 / 25), diagonal, np.full(5, 1 / 5))
    assert expected > 1.0
    m = evaluation.point_metrics(fake, grid, ["w1"], real=real)
    assert m["w1"] == pytest.approx(expected, rel=1e-9) and m["num_real"] == 200
    # Shuffled rows and a sample of the data (not exactly 8 per mode) change nothing / little.
    rng = np.random.default_rng(0)
    assert evaluation.point_metrics(rng.permutation(fake), grid, ["w1"], real=rng.permutation(real))["w1"] == \
        pytest.approx(expected, rel=1e-9)
    sampled = evaluation.point_metrics(fake[rng.permutation(200)], grid, ["w1"])
    assert sampled["num_real"] == 200 and sampled["w1"] == pytest.approx(expected, rel=0.15)


def test_point_metrics_on_exact_and_collapsed_samplers():
    ring = get_toy("ring8")
    exact = ring.sample(5000, seed=3)[0]
    m = evaluation.point_metrics(exact, ring, ["modes", "w1"])
    # W1 between two 1,000-point samples of the ring: the modes' counts differ by ~sqrt(1000 / 8) = 11 points
    # between the sets, moved ~1.5 to a neighbouring mode: ~0.08 (0.077 here).
    assert m["modes"] == 8 and m["high_quality"] > 0.97 and m["w1"] < 0.15
    collapsed = np.repeat(ring.centers[:1], 5000, axis=0).astype(np.float32)
    m = evaluation.point_metrics(collapsed, ring, ["modes", "w1"])
    # All mass on mode 0: W1 is about the mean distance from mode 0 to the 8 modes, 2.51 for radius 2.
    assert m["modes"] == 1 and m["w1"] > 2.0


# The direction of every metric a best checkpoint can be kept by, written down here independently of the library.
DIRECTIONS = {"fid": "lower", "kid": "lower", "is": "higher", "precision": "higher", "recall": "higher",
              "stacked_modes": "higher", "stacked_kl": "lower", "modes": "higher", "high_quality": "higher",
              "reverse_kl": "lower", "w1": "lower"}
DATA_ARGS = {"image": [],
             "ring8": ["--dataset=ring8", "--architecture=mlp", "--output_activation=linear"],
             "gaussian_1d": ["--dataset=gaussian_1d", "--architecture=mlp", "--output_activation=linear"]}


def _accepted_best_metrics():
    """Every --best_metric the config validation accepts, over data kinds and --eval_metrics lists."""
    accepted = set()
    candidates = set(evaluation.RESULT_KEYS) | set(evaluation.METRIC_NAMES) | {"psnr"}
    for data, args in DATA_ARGS.items():
        kind = "image" if data == "image" else "points"
        lists = [[]] + [[n] for n in (evaluation.IMAGE_METRICS if kind == "image" else evaluation.POINT_METRICS)]
        for names in lists:
            for key in candidates:
                metric_args = [f"--eval_metrics={','.join(names)}"] if names else []
                try:
                    _config(*args, *metric_args, "--eval_every=10", f"--best_metric={key}")
                except ValueError:
                    continue
                accepted.add(key)
                assert key in (evaluation.rankable_keys(names) if names else evaluation.rankable_keys(
                    evaluation.default_metrics(kind, (1,) if data == "gaussian_1d" else (2,)))), (data, names, key)
    return accepted


def test_best_metric_direction():
    accepted = _accepted_best_metrics()
    # Validation accepts exactly the metrics with a known direction: spreads and counts (is_std, num_modes,
    # num_real, ...) and names that are not result keys (prd, psnr) are refused.
    assert accepted == set(DIRECTIONS)
    for metric in sorted(accepted):
        better, worse = (1.0, 2.0) if DIRECTIONS[metric] == "lower" else (2.0, 1.0)
        assert evaluation.is_improvement(metric, better, worse), metric
        assert not evaluation.is_improvement(metric, worse, better), metric
        assert not evaluation.is_improvement(metric, better, better), metric   # a tie keeps the old best
        assert evaluation.is_improvement(metric, worse, None), metric          # anything beats nothing
        assert not evaluation.is_improvement(metric, float("nan"), None), metric
    for name in ("is_std", "num_modes", "num_real", "prd", "psnr"):
        with pytest.raises(ValueError, match=f"metric '{name}' .*a best metric must be one of fid, is"):
            evaluation.is_improvement(name, 1.0, 2.0)


def test_every_result_key_has_a_table_entry_and_ranks_real_data_above_a_broken_generator():
    """The metric functions return exactly the table's keys, and on a good and a bad sample set each metric
    with a direction prefers the good one (real data against noise images / a 2-mode blurred sampler)."""
    from tfgan.features import load_feature_extractor
    extractor = load_feature_extractor("mnist")
    source = get_source("digits")
    real = np.concatenate(list(evaluation.real_batches(source, 1000, 500, seed=1)))
    noise = np.random.default_rng(0).uniform(size=(500, 28, 28, 1)).astype(np.float32)

    def image_results(fake):
        out = evaluation.image_metrics(iter([fake]), iter([real[500:]]), extractor, ["fid", "is", "kid", "prd"])
        stacked = np.concatenate([fake[np.random.default_rng(c).permutation(len(fake))] for c in range(3)], -1)
        out.update(evaluation.image_metrics(iter([stacked]), None, extractor, ["stacked_modes"]))
        return out

    ring = get_toy("ring8")
    two_modes = ring.centers[np.arange(4000) % 2] + 0.1 * np.random.default_rng(0).standard_normal((4000, 2))
    good = {**image_results(real[:500]), **evaluation.point_metrics(ring.sample(4000, seed=2)[0], ring,
                                                                     ["modes", "w1"])}
    bad = {**image_results(noise), **evaluation.point_metrics(two_modes.astype(np.float32), ring, ["modes", "w1"])}
    produced = set(good) | set(evaluation.COUNT_KEYS)
    assert produced == set(evaluation.RESULT_KEYS)
    assert {k for names in evaluation.METRIC_KEYS.values() for k in names} | set(evaluation.COUNT_KEYS) == produced
    for key, direction in evaluation.RESULT_KEYS.items():
        if direction:
            assert evaluation.is_improvement(key, good[key], bad[key]), (key, good[key], bad[key])


def test_eval_flag_validation():
    with pytest.raises(ValueError, match="--eval_metrics=fid: for toy data each must be one of modes, w1"):
        _config("--dataset=ring8", "--architecture=mlp", "--output_activation=linear", "--eval_metrics=fid")
    with pytest.raises(ValueError, match="--best_metric=fid needs --eval_every > 0"):
        _config("--best_metric=fid")
    with pytest.raises(ValueError, match="--feature_extractor=inception needs --inception_weights"):
        _config("--eval_every=10", "--feature_extractor=inception")


def test_prd_is_an_alias_of_precision_recall():
    """The improved precision/recall metric is named precision_recall; its former name prd still works."""
    from tfgan import choices
    assert "prd" not in choices.IMAGE_METRICS and "precision_recall" in choices.IMAGE_METRICS
    assert choices.check_metric_names(["fid", "prd"], "image") == ["fid", "precision_recall"]
    assert choices.rankable_keys(["prd"]) == choices.rankable_keys(["precision_recall"]) == ("precision", "recall")
    assert "precision_recall" in choices.default_metrics("image", (28, 28, 1))


def test_precision_recall_compares_sets_of_equal_size():
    """With 300 real and 500 generated feature rows, precision/recall sees the first 300 of each, as the paper's
    equal-size sets; the same pool, and the metric computed directly on those rows, agree."""
    from tfgan.metrics import precision_recall

    class Identity:
        def features_and_probabilities(self, batch):
            flat = batch.reshape(len(batch), -1)
            return flat, np.full((len(batch), 10), 0.1)

    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 2, 2, 1))
    fake = rng.normal(0.5, 1.0, size=(500, 2, 2, 1))
    out = evaluation.image_metrics(iter([fake]), iter([real]), Identity(), ["prd"])
    want = precision_recall(real.reshape(300, -1), fake[:300].reshape(300, -1))
    assert (out["precision"], out["recall"]) == (want.precision, want.recall)
