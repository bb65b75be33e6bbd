"""The TFX-style pipeline: caching, the blessing gate, the infra check, atomic pushes, lineage, schema
anomalies, resuming after kill -9, and components run in processes of their own."""

import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags
from conftest import REPO

from pipelines import flags as pipeline_flags
from pipelines import pipeline as tfx_pipeline
from pipelines.components import infra_validator, pusher
from pipelines.orchestration import metadata as md
from pipelines.orchestration.artifacts import MODEL, Artifact
from pipelines.orchestration.runner import LocalDagRunner, Pipeline

ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")
TINY_IMAGES = ("--architecture=dcgan", "--latent_dim=8", "--g_base_filters=8", "--d_base_filters=8",
               "--batch_size=16", "--steps=10", "--log_every=10", "--checkpoint_every=10", "--sample_every=10",
               "--num_samples=16", "--evaluator_num_samples=100", "--eval_metrics=fid,is")


def _config(*args):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["pipeline", *args])
    return pipeline_flags.config_from_flags(fv)


def _run(*args, only=None, isolation="in_process"):
    """Runs the pipeline in this process; returns ({component: status}, result, progress text)."""
    out = io.StringIO()
    definition = tfx_pipeline.create_pipeline(_config(*args))
    result = LocalDagRunner(out=out, isolation=isolation).run(definition, only=only)
    return {r.component: r.status for r in result.components}, result, out.getvalue()


def _write_idx(directory, images, labels, split="train"):
    """MNIST-format IDX files (uncompressed) for uint8 images [N, H, W] and labels [N]."""
    import struct
    os.makedirs(directory, exist_ok=True)
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    with open(os.path.join(directory, names[0]), "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", *images.shape) + images.tobytes())
    with open(os.path.join(directory, names[1]), "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, 1) + struct.pack(">I", len(labels)) + labels.tobytes())


def _digits(n_train=256, n_test=64):
    with np.load(os.path.join(REPO, "tfgan", "data", "assets", "digits.npz")) as f:
        return (f["images"][:n_train, ..., 0], f["labels"][:n_train].astype(np.uint8),
                f["test_images"][:n_test, ..., 0], f["test_labels"][:n_test].astype(np.uint8))


def _idx_data(directory):
    x, y, tx, ty = _digits()
    _write_idx(directory, x, y, "train")
    _write_idx(directory, tx, ty, "test")


ALL = tfx_pipeline.COMPONENT_NAMES
UPSTREAM = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator")
DOWNSTREAM = ("Trainer", "Evaluator", "InfraValidator", "Pusher")


def test_caching_matrix(tmp_path):
    data = tmp_path / "idx"
    _idx_data(data)
    base = (*TINY_IMAGES, "--dataset=mnist", f"--data_dir={data}", f"--pipeline_root={tmp_path / 'root'}",
            f"--serving_dir={tmp_path / 'serving'}")
    ran, result, text = _run(*base)
    assert ran == {c: md.COMPLETE for c in ALL}, text
    assert result.status == "COMPLETE" and "[Pusher] done" in text

    start = time.perf_counter()
    ran, _, text = _run(*base)  # same inputs: everything is reused
    assert ran == {c: md.CACHED for c in ALL}, text
    assert time.perf_counter() - start < 30

    ran, _, text = _run(*base, "--g_learning_rate=3e-4")  # a training flag: the Trainer and what follows
    assert {c: ran[c] for c in UPSTREAM} == {c: md.CACHED for c in UPSTREAM}, text
    assert {c: ran[c] for c in DOWNSTREAM} == {c: md.COMPLETE for c in DOWNSTREAM}, text

    x, y, tx, ty = _digits()
    x = x.copy()
    x[0, 0, 0] = 255 - x[0, 0, 0]  # one pixel of one training image
    _write_idx(data, x, y, "train")
    ran, _, text = _run(*base, "--g_learning_rate=3e-4")  # a changed data file: everything
    assert ran == {c: md.COMPLETE for c in ALL}, text

    store = md.MetadataStore(str(tmp_path / "root" / "metadata.sqlite"))
    evaluation = [a for a in store.artifacts("ModelEvaluation", "LIVE")][0]
    store.close()
    shutil.rmtree(evaluation.uri)  # a deleted artifact: its producer runs again
    ran, _, text = _run(*base, "--g_learning_rate=3e-4")
    assert ran["Evaluator"] == md.COMPLETE and all(ran[c] == md.CACHED for c in UPSTREAM + ("Trainer",)), text
    assert os.path.isdir(evaluation.uri.rsplit("/", 1)[0])

    ran, _, _ = _run(*base, "--g_learning_rate=3e-4", "--noenable_cache")
    assert ran == {c: md.COMPLETE for c in ALL}

    runs = tfx_pipeline.list_runs(md.MetadataStore(str(tmp_path / "root" / "metadata.sqlite")))
    assert [r["status"] for r in runs] == ["COMPLETE"] * 6
    assert runs[1]["executions"] == {md.CACHED: 8}


RING = (f"--flagfile={os.path.join(REPO, 'configs', 'toy_ring8.cfg')}", "--log_every=500", "--sample_every=5000",
        "--checkpoint_every=5000", "--evaluator_num_samples=2000", "--bless_thresholds=modes>=7",
        "--bless_change_thresholds=high_quality:0.05")


@pytest.mark.slow  # an end-to-end run of the command: python -m pytest -m slow
def test_the_gate_pushes_only_blessed_models_that_do_not_regress(tmp_path):
    root, serving = f"--pipeline_root={tmp_path / 'root'}", f"--serving_dir={tmp_path / 'serving'}"
    ran, result, text = _run(*RING, root, serving, "--steps=5")  # barely trained: fails the value threshold
    pushed = result.outputs["Pusher"]["pushed_model"][0].properties
    assert not pushed["pushed"] and "Evaluator: modes" in pushed["reasons"][0] and "fails modes>=7" in text, text
    assert not os.listdir(tmp_path / "serving") if os.path.isdir(tmp_path / "serving") else True

    ran, result, text = _run(*RING, root, serving, "--steps=3000")
    pushed = result.outputs["Pusher"]["pushed_model"][0].properties
    assert pushed["pushed"], text
    first, blessed_model = pushed["pushed_destination"], result.outputs["Trainer"]["model"][0].uri
    assert os.listdir(tmp_path / "serving") == [os.path.basename(first)]
    metrics = result.outputs["Evaluator"]["evaluation"][0].properties["metrics"]

    # Worse than the blessed baseline: enough modes, far fewer high-quality samples (trained less).
    ran, result, text = _run(*RING, root, serving, "--steps=800")
    evaluation = json.load(open(os.path.join(result.outputs["Evaluator"]["evaluation"][0].uri, "metrics.json")))
    assert evaluation["baseline_model"] == blessed_model
    assert evaluation["baseline"]["high_quality"] == pytest.approx(metrics["high_quality"])
    pushed = result.outputs["Pusher"]["pushed_model"][0].properties
    worse = evaluation["metrics"]["high_quality"] < metrics["high_quality"] - 0.05
    assert worse, (evaluation["metrics"], metrics)
    assert not pushed["pushed"] and "worse than the baseline" in pushed["reasons"][0], pushed
    assert os.listdir(tmp_path / "serving") == [os.path.basename(first)]  # the blessed version stays alone

    # Lineage: from the pushed model back to the data fingerprint and the flags that made it.
    store = md.MetadataStore(str(tmp_path / "root" / "metadata.sqlite"))
    tree = tfx_pipeline.lineage(store, first)
    examples = store.artifacts("Examples", "LIVE")[0]
    assert "Pusher execution" in tree and "Trainer execution" in tree and "ExampleGen execution" in tree
    assert examples.properties["data_fingerprint"][:16] in tree and "--steps=3000" in tree
    assert "--steps=800" not in tree  # the pushed model's own flags, not the last run's


def test_schema_anomalies_stop_the_pipeline_before_training(tmp_path):
    data = tmp_path / "idx"
    x, y, tx, ty = _digits(128, 32)
    _write_idx(data, x // 2, y, "train")  # pixels up to 127: the schema's range ends near 0.5
    _write_idx(data, tx // 2, ty, "test")
    base = (*TINY_IMAGES, "--dataset=mnist", f"--data_dir={data}", f"--pipeline_root={tmp_path / 'root'}",
            f"--serving_dir={tmp_path / 'serving'}", "--components=ExampleGen,StatisticsGen,SchemaGen,ExampleValidator")
    ran, result, _ = _run(*base)
    assert result.status == "COMPLETE"
    _write_idx(data, x, y, "train")  # full-range pixels
    _write_idx(data, tx, ty, "test")
    ran, result, text = _run(*base[:-1])
    assert result.status == "STOPPED" and "Trainer" not in ran, text
    assert "range: values span [0, 1]" in result.reason and "accept it with --schema_path=" in result.reason
    _write_idx(data, x[:, :14, :14].copy(), y, "train")  # another shape
    _write_idx(data, tx[:, :14, :14].copy(), ty, "test")
    ran, result, _ = _run(*base[:-1])
    assert result.status == "STOPPED" and "shape: examples have shape [14, 14, 1]; the schema expects [28, 28, 1]" \
        in result.reason
    # Accepting the new data with the inferred schema it names lets the pipeline go on.
    accepted = result.reason.split("--schema_path=")[1].split(" ")[0]
    ran, result, _ = _run(*base, f"--schema_path={accepted}")
    assert result.status == "COMPLETE" and ran["ExampleValidator"] == md.COMPLETE


def test_the_infra_validator_rejects_a_corrupted_model_and_a_lost_input(tmp_path):
    import keras
    import tensorflow as tf

    from tfgan import export, networks
    keras.utils.set_random_seed(0)
    generator = networks.dcgan_generator(8, 28, 1, 8)
    good = export.write_saved_model(generator, export.ExportSpec(8, "normal", (-1.0, 1.0)), str(tmp_path / "good"), 1)

    def check(path):
        return infra_validator.check_in_fresh_process(path, (28, 28, 1), 60, 120, str(tmp_path / "report.json"))

    assert check(good)["problems"] == []
    corrupted = str(tmp_path / "corrupted")
    shutil.copytree(good, corrupted)
    data = glob.glob(os.path.join(corrupted, "variables", "variables.data-*"))[0]
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    assert check(corrupted)["problems"]
    lost = str(tmp_path / "lost")
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", lambda num_samples: {"images": generator(tf.zeros([num_samples, 8]))},
                         input_signature=[tf.TensorSpec([], tf.int32)])
    archive.write_out(lost, verbose=False)
    shutil.copytree(os.path.join(good, "assets.extra"), os.path.join(lost, "assets.extra"))
    problems = check(lost)["problems"]
    assert "serving_default: input seed is missing" in problems, problems


_PUSH_SCRIPT = """
import sys
from pipelines.components.pusher import push
print(push(sys.argv[1], sys.argv[2]), flush=True)
"""


def test_a_killed_push_leaves_no_partial_version_and_versions_only_grow(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"x" * 1000)
    (model / "variables.bin").write_bytes(os.urandom(1 << 20) * 400)  # 400 MiB: the copy takes a while
    serving = tmp_path / "serving"
    version, path = pusher.push(str(tmp_path / "model"), str(serving))
    (model / "variables.bin").write_bytes(os.urandom(1 << 20) * 400)
    proc = subprocess.Popen([sys.executable, "-c", _PUSH_SCRIPT, str(model), str(serving)], env=ENV)
    deadline = time.time() + 60
    while not [n for n in os.listdir(serving) if n.startswith(".")]:
        assert time.time() < deadline and proc.poll() is None, "the push finished before it could be killed"
        time.sleep(0.005)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    visible = [n for n in os.listdir(serving) if not n.startswith(".")]
    assert visible == [str(version)]  # the earlier version, and no partial one
    assert os.path.getsize(os.path.join(path, "variables.bin")) == 400 << 20
    newer, newer_path = pusher.push(str(model), str(serving))
    assert newer > version and sorted(os.listdir(serving)) == sorted([str(version), str(newer)])  # stale temp gone
    assert os.path.getsize(os.path.join(newer_path, "variables.bin")) == 400 << 20


def _pipeline_cmd(*args):
    return [sys.executable, "-m", "tfgan.pipeline", *args]


@pytest.mark.slow  # an end-to-end run of the command: python -m pytest -m slow
def test_killed_pipeline_resumes_with_cache_hits_and_the_trainer_checkpoint(tmp_path):
    root = tmp_path / "root"
    args = (*TINY_IMAGES[:5], "--steps=300", "--log_every=100", "--checkpoint_every=20", "--sample_every=300",
            "--evaluator_num_samples=100", "--eval_metrics=fid", f"--pipeline_root={root}",
            f"--serving_dir={tmp_path / 'serving'}")
    proc = subprocess.Popen(_pipeline_cmd(*args), cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 240
    while not glob.glob(str(root / "Trainer" / "model" / "*" / "checkpoints" / "ckpt-*.index")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0]
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(_pipeline_cmd(*args), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for name in UPSTREAM:
        assert f"[{name}] cached" in out, out
    assert "[Trainer] resuming execution" in out and "resumed from" in out and "step 300/300" in out, out
    assert "pushed model:" in out
    runs = subprocess.run(_pipeline_cmd("runs", f"--pipeline_root={root}"), cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=120)
    lines = runs.stdout.strip().splitlines()
    assert runs.returncode == 0 and len(lines) == 3 and "FAILED" in lines[1] and "COMPLETE" in lines[2], runs.stdout


def test_components_run_in_processes_of_their_own(tmp_path):
    from pipelines.components.data_validation import StatisticsGen
    from pipelines.components.example_gen import ExampleGen
    from tfgan.data.toy import get_toy
    example_gen = ExampleGen(dataset="ring8", data_dir="", image_size=0, channels=0, download=False, eval_percent=10,
                             beam_pipeline_args="")
    statistics = StatisticsGen(examples=example_gen.outputs["examples"], max_examples=0, beam_pipeline_args="")
    definition = Pipeline("p", str(tmp_path / "root"), [statistics, example_gen])
    result = LocalDagRunner(out=io.StringIO(), isolation="process").run(definition)
    stats = json.load(open(os.path.join(result.outputs["StatisticsGen"]["statistics"][0].uri, "statistics.json")))
    assert result.outputs["ExampleGen"]["examples"][0].properties["counts"] == {"train": 20_000, "eval": 10_000}
    # The snapshot holds the first 20,000 points of the toy source's fixed train draw (seed 0).
    points, labels = get_toy("ring8").sample(100_000, seed=0)
    points, labels = points[:20_000].astype(np.float64), labels[:20_000]
    train = stats["splits"]["train"]
    assert train["count"] == 20_000 and train["shape"] == [2]
    np.testing.assert_allclose(train["mean"], points.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(train["std"], points.std(0), rtol=1e-6)
    np.testing.assert_allclose(train["min"], points.min(0), rtol=1e-6)
    np.testing.assert_allclose(train["max"], points.max(0), rtol=1e-6)
    assert train["label_counts"] == np.bincount(labels, minlength=8).tolist()


def test_a_second_runner_is_refused_while_one_holds_the_root(tmp_path):
    from tfgan.locks import DirectoryLock, DirectoryLockedError
    definition = tfx_pipeline.create_pipeline(_config(f"--pipeline_root={tmp_path}"))
    with DirectoryLock(str(tmp_path), "pipeline root"):
        with pytest.raises(DirectoryLockedError, match=rf"pipeline root {tmp_path} is locked by pid {os.getpid()}"):
            LocalDagRunner(out=io.StringIO()).run(definition)


def test_partial_runs_reuse_upstream_artifacts_and_name_what_is_missing(tmp_path):
    base = ("--dataset=ring8", "--architecture=mlp", "--output_activation=linear", "--steps=20",
            "--g_hidden=16", "--d_hidden=16", "--batch_size=32", "--log_every=10", "--sample_every=20",
            "--checkpoint_every=20", "--evaluator_num_samples=200", f"--pipeline_root={tmp_path / 'root'}",
            f"--serving_dir={tmp_path / 'serving'}")
    from pipelines.orchestration.runner import PipelineError
    with pytest.raises(PipelineError, match="Evaluator: no LIVE Examples from ExampleGen .* run ExampleGen first"):
        _run(*base, only=["Evaluator"])
    ran, _, _ = _run(*base, only=list(UPSTREAM) + ["Trainer"])
    assert set(ran) == set(UPSTREAM) | {"Trainer"}
    ran, result, _ = _run(*base, only=["Evaluator", "InfraValidator", "Pusher"])
    assert ran == {"Evaluator": md.COMPLETE, "InfraValidator": md.COMPLETE, "Pusher": md.COMPLETE}
    model = result.outputs["Pusher"]["pushed_model"][0]
    assert model.properties["model_id"] is not None


def test_base_model_warm_starts_the_trainer(tmp_path, capsys):
    base = ("--dataset=ring8", "--architecture=mlp", "--output_activation=linear", "--g_hidden=16", "--d_hidden=16",
            "--batch_size=32", "--log_every=10", "--sample_every=20", "--checkpoint_every=20",
            f"--pipeline_root={tmp_path / 'root'}", f"--serving_dir={tmp_path / 'serving'}")
    only = list(UPSTREAM) + ["Trainer"]
    _, first, _ = _run(*base, "--steps=20", only=only)
    model_dir = first.outputs["Trainer"]["model"][0].uri
    _, second, text = _run(*base, "--steps=21", f"--base_model={model_dir}", only=only)
    assert "warm start: network weights from " + os.path.join(model_dir, "checkpoints", "ckpt-20") \
        in capsys.readouterr().out
    import tensorflow as tf
    z = tf.constant(np.random.default_rng(0).normal(size=(256, 100)).astype(np.float32))

    def samples(result):
        path = os.path.join(result.outputs["Trainer"]["model"][0].uri, "Format-Serving")
        return tf.saved_model.load(path).signatures["generate_from_latents"](latents=z)["samples"].numpy()

    moved = np.abs(samples(second) - samples(first)).mean()
    spread = np.abs(samples(first) - samples(first).mean(0)).mean()
    assert moved < 0.05 * spread, (moved, spread)  # one step from the base model, not a fresh initialisation
    with pytest.raises(Exception, match="not a LIVE Model artifact"):
        _run(*base, "--steps=22", f"--base_model={tmp_path}", only=only)
    assert MODEL == "Model" and isinstance(Artifact(MODEL, "x"), Artifact)
