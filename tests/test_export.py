"""Exports run in the loader model servers use: every export kind, every signature, guarded inputs, TFLite
parity, immutable versions, and the sampling command."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from conftest import REPO

from pipelines import flags as pipeline_flags
from pipelines import stages
from tfgan import export, networks, sampling, serving

ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")
LATENT = 8
TINY_RUN = ("--dataset=digits", "--latent_dim=8", "--g_base_filters=8", "--d_base_filters=8", "--batch_size=16",
            "--steps=4", "--log_every=2", "--checkpoint_every=2", "--sample_every=4", "--num_samples=16")


def _config(*args):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", *args])
    return pipeline_flags.config_from_flags(fv)


def _image_generator(num_classes=0):
    keras.utils.set_random_seed(1)
    return networks.dcgan_generator(LATENT, 28, 1, 8, num_classes=num_classes)


def _toy_generator(dim):
    keras.utils.set_random_seed(2)
    return networks.mlp_generator(LATENT, (dim,), hidden=(16,), output_activation="linear", batch_norm=True)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{kind: (version directory, one sample's shape)} for every kind of export the project writes."""
    root = tmp_path_factory.mktemp("exports")
    made = {
        "image": (export.export_generator(_image_generator(), export.ExportSpec(LATENT, "normal", (-1.0, 1.0)),
                                          str(root / "image"), 3), (28, 28, 1)),
        "conditional": (export.export_generator(
            _image_generator(10), export.ExportSpec(LATENT, "normal", (-1.0, 1.0), num_classes=10),
            str(root / "conditional"), 3), (28, 28, 1)),
        "toy_2d": (export.export_generator(_toy_generator(2), export.ExportSpec(LATENT, "uniform", (None, None),
                                                                                 kind="points"),
                                           str(root / "toy_2d"), 3), (2,)),
        "toy_1d": (export.export_generator(_toy_generator(1), export.ExportSpec(LATENT, "normal", (None, None),
                                                                                 kind="points"),
                                           str(root / "toy_1d"), 3), (1,)),
    }
    # Through the pipeline: an EMA generator, and a model trained under mixed_bfloat16 (exported in float32).
    for kind, extra in (("ema", ["--ema_decay=0.9"]), ("bf16", ["--mixed_precision=mixed_bfloat16"])):
        result = stages.run(_config(*TINY_RUN, f"--run_dir={root / kind}", *extra))
        made[kind] = (result["saved_model"], (28, 28, 1))
    keras.mixed_precision.set_global_policy("float32")
    return made


def _requests(meta, n=3, seed=5):
    """Inputs for every signature of an export."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, meta["latent_dim"])).astype(np.float32)
    if meta["num_classes"]:
        labels = (np.arange(n) * 3 % meta["num_classes"]).astype(np.int32)
        request = {"labels": labels, "seed": np.int64(seed)}
        latents = {"latents": z, "labels": labels}
    else:
        request = {"num_samples": np.int32(n), "seed": np.int64(seed)}
        latents = {"latents": z}
    sigs = {"serving_default": request, "generate_from_latents": latents}
    if meta["kind"] == "image":
        sigs["generate_png"] = request
    return sigs


_SESSION_SCRIPT = """
import json, sys, numpy as np
from tfgan import export, serving
jobs = json.load(open(sys.argv[1]))
reports = {}
for kind, job in jobs.items():
    report = serving.validate_export(job["path"], tuple(job["shape"]))
    reports[kind] = {"problems": report.problems, "load_seconds": report.load_seconds}
    with serving.SessionModel(job["path"]) as model:
        for sig, inputs in job["requests"].items():
            feeds = {k: np.load(v) for k, v in inputs.items()}
            np.savez(f"{job['out']}_{sig}.npz", **model.run(sig, **feeds))
json.dump(reports, open(sys.argv[2], "w"))
"""


def test_every_export_kind_runs_in_the_session_loader_like_tf_saved_model_load(exports, tmp_path):
    jobs, expected = {}, {}
    for kind, (path, shape) in exports.items():
        meta = export.read_export_metadata(path)
        assert meta["signatures"] == sorted(_requests(meta))
        inputs = {}
        for sig, request in _requests(meta).items():
            inputs[sig] = {}
            for key, value in request.items():
                inputs[sig][key] = str(tmp_path / f"{kind}_{sig}_{key}.npy")
                np.save(inputs[sig][key], value)
        jobs[kind] = {"path": path, "shape": shape, "requests": inputs, "out": str(tmp_path / kind)}
        loaded = tf.saved_model.load(path)
        expected[kind] = {sig: {k: v.numpy() for k, v in loaded.signatures[sig](
            **{k: tf.constant(v) for k, v in request.items()}).items()} for sig, request in _requests(meta).items()}
    json.dump(jobs, open(tmp_path / "jobs.json", "w"))
    proc = subprocess.run([sys.executable, "-c", _SESSION_SCRIPT, str(tmp_path / "jobs.json"),
                           str(tmp_path / "reports.json")], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = json.load(open(tmp_path / "reports.json"))
    for kind, (path, shape) in exports.items():
        assert reports[kind]["problems"] == [], (kind, reports[kind])
        meta = export.read_export_metadata(path)
        out = "images" if meta["kind"] == "image" else "samples"
        for sig, want in expected[kind].items():
            got = dict(np.load(f"{tmp_path / kind}_{sig}.npz", allow_pickle=True))
            assert sorted(got) == sorted(want), (kind, sig)
            for key in want:
                assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape, (kind, sig, key)
                if key == "png_bytes":
                    assert list(got[key]) == list(want[key])
                else:
                    np.testing.assert_allclose(got[key], want[key], atol=1e-6, err_msg=f"{kind} {sig} {key}")
            if out in got:
                assert got[out].shape == (3, *shape)
                if meta["kind"] == "image":
                    assert 0.0 <= got[out].min() and got[out].max() <= 1.0
                    assert got[out].std() > 0  # not a constant picture
        if "png_bytes" in expected[kind].get("generate_png", {}):
            images = expected[kind]["serving_default"]["images"]
            decoded = np.stack([tf.io.decode_png(b).numpy() for b in expected[kind]["generate_png"]["png_bytes"]])
            np.testing.assert_array_equal(decoded, np.round(images * 255).astype(np.uint8))


def test_serving_default_draws_the_latents_of_the_seed(exports):
    path, _ = exports["image"]
    fn = tf.saved_model.load(path).signatures["serving_default"]
    out = fn(num_samples=tf.constant(5), seed=tf.constant(11, tf.int64))
    np.testing.assert_array_equal(out["latents"].numpy(), sampling.sample_latents(5, LATENT, "normal", 11))
    other = fn(num_samples=tf.constant(5), seed=tf.constant(12, tf.int64))["latents"].numpy()
    assert not np.allclose(other, out["latents"].numpy())


def test_bf16_and_ema_exports_compute_in_float32(exports):
    for kind in ("bf16", "ema"):
        path, _ = exports[kind]
        graph = tf.saved_model.load(path).signatures["generate_from_latents"].graph.as_graph_def()
        dtypes = {node.attr["T"].type for f in graph.library.function for node in f.node_def if "T" in node.attr}
        assert tf.bfloat16.as_datatype_enum not in dtypes, kind


def test_saved_model_cli_run_serves_every_signature(exports, tmp_path):
    """The command-line tool itself, in fresh processes, on the unconditional image export."""
    path, _ = exports["image"]
    loaded = tf.saved_model.load(path).signatures
    np.save(tmp_path / "latents.npy", np.ones((2, LATENT), np.float32))
    inputs = {"serving_default": ["--input_exprs", "num_samples=4;seed=3"],
              "generate_png": ["--input_exprs", "num_samples=4;seed=3"],
              "generate_from_latents": ["--inputs", f"latents={tmp_path / 'latents.npy'}"]}
    for sig, feed in inputs.items():
        out_dir = tmp_path / sig
        proc = subprocess.run(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                               sig, *feed, "--outdir", str(out_dir)],
                              env=ENV, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        if sig == "generate_from_latents":
            want = loaded[sig](latents=tf.ones((2, LATENT)))
        else:
            want = loaded[sig](num_samples=tf.constant(4), seed=tf.constant(3, tf.int64))
        for key, value in want.items():
            got = np.load(out_dir / f"{key}.npy", allow_pickle=True)
            if key == "png_bytes":
                assert [bytes(b) for b in got] == list(value.numpy())
            else:
                np.testing.assert_allclose(got, value.numpy(), atol=1e-6)


# --- bad requests ------------------------------------------------------------------------------------------

BAD_UNCONDITIONAL = [
    ("serving_default", {"num_samples": -1}, r"num_samples must be in \[0, 1024\]"),
    ("serving_default", {"num_samples": 1025}, r"num_samples must be in \[0, 1024\]"),
    ("serving_default", {"num_samples": 10**7}, r"num_samples must be in \[0, 1024\].*10000000"),
    ("generate_png", {"num_samples": 5000}, r"num_samples must be in \[0, 1024\]"),
    ("generate_from_latents", {"latents": np.zeros((2, LATENT + 1), np.float32)},
     rf"latents must have shape \[N, {LATENT}\]; got width\] \[{LATENT + 1}\]"),
    ("generate_from_latents", {"latents": np.zeros((1025, LATENT), np.float32)}, r"latents must have at most 1024"),
    ("generate_from_latents", {"latents": np.full((2, LATENT), np.nan, np.float32)}, r"latents must be finite"),
]
BAD_CONDITIONAL = [
    ("serving_default", {"labels": np.array([1, -1], np.int32)}, r"labels must be integers in \[0, 10\).*-1"),
    ("serving_default", {"labels": np.array([10, 3], np.int32)}, r"labels must be integers in \[0, 10\).*10"),
    ("generate_png", {"labels": np.array([12], np.int32)}, r"labels must be integers in \[0, 10\)"),
    ("serving_default", {"labels": np.zeros(1025, np.int32)}, r"labels must hold at most 1024"),
    ("generate_from_latents", {"latents": np.zeros((2, LATENT), np.float32), "labels": np.array([0, 99], np.int32)},
     r"labels must be integers in \[0, 10\)"),
    ("generate_from_latents", {"latents": np.zeros((2, LATENT), np.float32), "labels": np.array([0], np.int32)},
     r"labels and latents must have the same number of rows"),
    ("generate_from_latents", {"latents": np.zeros((1, 3), np.float32), "labels": np.array([0], np.int32)},
     rf"latents must have shape \[N, {LATENT}\]"),
]


def _fill(sig, bad, conditional):
    defaults = {"seed": np.int64(1)}
    if sig != "generate_from_latents":
        return defaults | bad
    return bad


@pytest.mark.parametrize("kind, cases", [("image", BAD_UNCONDITIONAL), ("conditional", BAD_CONDITIONAL)])
def test_bad_requests_are_refused_naming_the_input_in_both_loaders(exports, kind, cases):
    path, _ = exports[kind]
    loaded = tf.saved_model.load(path).signatures
    with serving.SessionModel(path) as model:  # the server's path
        for sig, bad, message in cases:
            inputs = _fill(sig, bad, kind == "conditional")
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                model.run(sig, **inputs)
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                loaded[sig](**{k: tf.constant(v) for k, v in inputs.items()})


def test_wrong_dtypes_are_refused_by_the_signature(exports):
    sig = tf.saved_model.load(exports["image"][0]).signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        sig["serving_default"](num_samples=tf.constant(2.5), seed=tf.constant(1, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
        sig["generate_from_latents"](latents=tf.zeros((2, LATENT), tf.float64))


def test_max_samples_is_recorded_and_enforced(tmp_path):
    spec = export.ExportSpec(LATENT, "normal", (-1.0, 1.0), max_samples=16)
    path = export.export_generator(_image_generator(), spec, str(tmp_path), 1)
    assert export.read_export_metadata(path)["max_samples"] == 16
    fn = tf.saved_model.load(path).signatures["serving_default"]
    assert fn(num_samples=tf.constant(16), seed=tf.constant(0, tf.int64))["images"].shape[0] == 16
    assert fn(num_samples=tf.constant(0), seed=tf.constant(0, tf.int64))["images"].shape[0] == 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_samples must be in \[0, 16\]"):
        fn(num_samples=tf.constant(17), seed=tf.constant(0, tf.int64))


def test_the_validator_reports_a_corrupted_model_and_a_lost_input(exports, tmp_path):
    import shutil
    path, shape = exports["image"]
    assert serving.validate_export(path, shape).ok
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    data = next(p for p in (broken / "variables").iterdir() if "data" in p.name)
    data.write_bytes(b"\0" * data.stat().st_size)
    report = serving.validate_export(str(broken), shape)
    assert not report.ok and any(p.startswith(("load:", "serving_default")) for p in report.problems), report
    # A signature without its seed input (an export made by other code).
    spec = export.ExportSpec(LATENT, "normal", (-1.0, 1.0))
    generator = _image_generator()
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", lambda num_samples: {"images": generator(
        tf.zeros([num_samples, LATENT]))}, input_signature=[tf.TensorSpec([], tf.int32)])
    lost = tmp_path / "lost"
    archive.write_out(str(lost), verbose=False)
    shutil.copytree(os.path.join(path, "assets.extra"), lost / "assets.extra")
    report = serving.validate_export(str(lost), shape)
    assert "serving_default: input seed is missing" in report.problems
    assert "signature generate_from_latents is missing" in report.problems
    assert serving.contract_problems(serving.SessionModel(path).signatures, spec, shape) == []


def test_a_version_is_never_rewritten(tmp_path):
    spec = export.ExportSpec(LATENT, "normal", (-1.0, 1.0))
    path = export.export_generator(_image_generator(), spec, str(tmp_path), 7)
    before = os.stat(path)
    with pytest.raises(export.ExportExistsError, match="never rewritten"):
        export.export_generator(_image_generator(), spec, str(tmp_path), 7)
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert export.list_versions(str(tmp_path)) == [7] and not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# --- TFLite ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_classes", [0, 10])
def test_tflite_matches_the_saved_model(tmp_path, num_classes):
    generator = _image_generator(num_classes)
    spec = export.ExportSpec(LATENT, "normal", (-1.0, 1.0), num_classes=num_classes)
    saved = export.export_generator(generator, spec, str(tmp_path / "sm"), 1)
    z = np.random.default_rng(0).normal(size=(6, LATENT)).astype(np.float32)
    labels = np.arange(6, dtype=np.int32) if num_classes else None
    inputs = {"latents": tf.constant(z)} | ({"labels": tf.constant(labels)} if num_classes else {})
    want = tf.saved_model.load(saved).signatures["generate_from_latents"](**inputs)["images"].numpy()
    flat = export.export_tflite(generator, spec, str(tmp_path / "g.tflite"))
    got = export.run_tflite(flat, z, labels)
    diff = float(np.abs(got - want).max())
    print(f"TFLite float32 max abs difference: {diff:.3g}")
    assert got.shape == want.shape and diff < 1e-5
    small = export.export_tflite(generator, spec, str(tmp_path / "q.tflite"), quantize=True)
    quantized = export.run_tflite(small, z, labels)
    assert os.path.getsize(small) < 0.7 * os.path.getsize(flat)  # a tiny model: the fixed overhead weighs
    int8 = [t for t in export.tflite_interpreter(small).get_tensor_details() if t["dtype"] == np.int8]
    assert int8, "dynamic-range quantisation stored no int8 weights"
    assert float(np.abs(quantized - want).max()) < 0.1 and not np.array_equal(quantized, got)


def test_tflite_conversion_failure_names_the_op(tmp_path):
    class Unsupported(keras.layers.Layer):
        def call(self, x):
            return tf.cast(tf.strings.to_number(tf.strings.as_string(x)), x.dtype)

    z = keras.Input((LATENT,))
    generator = keras.Model(z, Unsupported()(keras.layers.Dense(4)(z)))
    spec = export.ExportSpec(LATENT, "normal", (None, None), kind="points")
    with pytest.raises(export.TFLiteConversionError, match=r"TFLite conversion failed on ops .*tf\.AsString"):
        export.export_tflite(generator, spec, str(tmp_path / "x.tflite"))
    assert not os.path.exists(tmp_path / "x.tflite")


# --- sampling ----------------------------------------------------------------------------------------------

def test_slerp_and_truncation():
    a = np.array([[1.0, 0.0], [2.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.0], [0.0, 2.0]], np.float32)
    path = sampling.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[:, 0], a, atol=1e-6)
    np.testing.assert_allclose(path[:, -1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), [[1] * 5, [2] * 5], atol=1e-5)  # stays on the arc
    np.testing.assert_allclose(path[0, 2], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)  # 45 degrees half way
    straight = sampling.lerp(a, b, np.array([0.5]))
    np.testing.assert_allclose(straight[0, 0], [0.5, 0.5])
    parallel = sampling.slerp(a, 2 * a, np.array([0.5]))  # omega = 0: falls back to lerp
    np.testing.assert_allclose(parallel[:, 0], 1.5 * a, atol=1e-6)
    z = sampling.sample_latents(500, 16, "normal", 3, truncation=0.5)
    assert np.abs(z).max() <= 0.5 and np.abs(z).mean() > 0.2
    plain = sampling.sample_latents(500, 16, "normal", 3)
    assert np.abs(plain).max() > 2
    kept = np.abs(plain) <= 0.5
    np.testing.assert_array_equal(z[kept], plain[kept])  # entries inside [-T, T] are kept, others redrawn
    with pytest.raises(ValueError, match="truncation must be > 0"):
        sampling.sample_latents(5, 4, "normal", 0, truncation=-1)


def _legacy_export(generator, path):
    """An export in the layout of earlier tfgan versions: a tf.Module saved with tf.saved_model.save,
    metadata without max_samples (loads in Python, not in the session loader)."""

    class Legacy(tf.Module):
        def __init__(self):
            super().__init__()
            self.generator = generator
            self.from_latents = tf.function(lambda latents: {"images": tf.clip_by_value(
                (self.generator(latents, training=False) + 1) / 2, 0, 1)},
                input_signature=[tf.TensorSpec([None, LATENT], tf.float32, name="latents")])

    module = Legacy()
    tf.saved_model.save(module, path, signatures={"serving_default": module.from_latents,
                                                  "generate_from_latents": module.from_latents})
    os.makedirs(os.path.join(path, "assets.extra"))
    json.dump({"latent_dim": LATENT, "prior": "normal", "output_range": [-1.0, 1.0], "num_classes": 0,
               "kind": "image", "version": 100, "signatures": ["generate_from_latents", "serving_default"]},
              open(os.path.join(path, "assets.extra", "tfgan_export.json"), "w"))


def _sample(*args):
    return subprocess.run([sys.executable, "-m", "tfgan.sample", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=180)


def test_sample_command_pictures_numbers_interpolations(exports, tmp_path):
    path, _ = exports["image"]
    proc = _sample(f"--saved_model={path}", f"--out={tmp_path / 'x.npy'}", "--num=6", "--seed=4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    want = tf.saved_model.load(path).signatures["serving_default"](num_samples=tf.constant(6),
                                                                   seed=tf.constant(4, tf.int64))["images"]
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), want.numpy(), atol=1e-6)
    run_dir = os.path.dirname(os.path.dirname(exports["ema"][0]))
    proc = _sample(f"--run_dir={run_dir}", f"--out={tmp_path / 'walk.gif'}", "--interpolate=5", "--num=3",
                   "--truncation=1.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    from PIL import Image
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 5 and gif.size == (28 + 4, 3 * 30 + 2)  # each frame: the 3 rows' current image
    for args, message in [(("--out=x.jpg",), "--out=x.jpg: must end in .png, .gif, .npy"),
                          (("--out=x.gif",), "add --interpolate"),
                          ((f"--saved_model={path}", "--run_dir=x", "--out=x.png"), "exactly one of"),
                          ((f"--run_dir={run_dir}", "--version=3", "--out=x.png"), "--version=3: no export")]:
        if not any(a.startswith(("--saved_model", "--run_dir")) for a in args):
            args = (f"--saved_model={path}", *args)
        proc = _sample(*args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_sampling_conditional_rows_toys_and_old_exports(exports, tmp_path):
    cond = sampling.ExportedGenerator(exports["conditional"][0])
    samples, rows = sampling.generate(cond, 20)
    assert rows == 10 and samples.shape == (20, 28, 28, 1)
    walk, rows = sampling.generate(cond, 4, labels=[2, 7], interpolate=4)
    assert rows == 2 and walk.shape == (2, 4, 28, 28, 1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\); got \[10\]"):
        sampling.generate(cond, 4, labels=[10])
    toy = sampling.ExportedGenerator(exports["toy_2d"][0])
    points, _ = sampling.generate(toy, 50, interpolate=6)
    assert points.shape == (50, 6, 2)
    for name, (samples, interpolated) in {"p.png": (points[:, 0], False), "paths.png": (points, True),
                                          "p.gif": (points, True)}.items():
        sampling.write(str(tmp_path / name), samples, "points", None, interpolated)
        assert (tmp_path / name).stat().st_size > 1000
    legacy = str(tmp_path / "old_run" / "export" / "100")
    _legacy_export(_image_generator(), legacy)
    old = sampling.ExportedGenerator(legacy)
    assert old.meta["max_samples"] == export.DEFAULT_MAX_SAMPLES
    with serving.SessionModel(legacy) as model:  # the layout model servers could not run
        with pytest.raises(tf.errors.FailedPreconditionError, match="Could not find variable"):
            model.run("generate_from_latents", latents=np.zeros((1, LATENT), np.float32))
    x, _ = sampling.generate(old, 5, truncation=1.0)
    assert x.shape == (5, 28, 28, 1) and 0 <= x.min() and x.max() <= 1
    proc = _sample(f"--run_dir={tmp_path / 'old_run'}", "--version=100", "--out=" + str(tmp_path / "old.png"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert open(tmp_path / "old.png", "rb").read(4) == b"\x89PNG"
