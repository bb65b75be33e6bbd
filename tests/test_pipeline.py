"""The train command: flag validation, shipped configs, and an end-to-end run that is interrupted, resumed,
exported and reloaded in a fresh process."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from absl import flags
from conftest import REPO, SHARED_MNIST

from pipelines import flags as pipeline_flags

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.cfg")))
ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="2")


def _parse(*args):
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", *args])
    return pipeline_flags.config_from_flags(fv)


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_every_shipped_config_parses_and_validates(path, monkeypatch):
    if "--data_dir=../shared/data/mnist" in open(path).read() and not os.path.isdir(SHARED_MNIST):
        pytest.skip(f"{os.path.basename(path)} reads ../shared/data/mnist, which is absent")
    monkeypatch.chdir(REPO)  # configs use paths relative to the repository root
    config = _parse(f"--flagfile={path}")
    assert config.train.steps > 0


def test_at_least_the_documented_configs_ship():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"quickstart.cfg", "mnist_mlp.cfg", "mnist_dcgan.cfg", "toy_gaussian_1d.cfg", "toy_ring8.cfg",
            "toy_grid25.cfg"} <= names


@pytest.mark.parametrize("args, message", [
    (["--loss=minmax"], r"flag --loss=minmax: value should be one of <minimax\|non_saturating"),
    (["--batch_size=0"], r"flag --batch_size=0: 0 is not a positive integer"),
    (["--mixed_precision=fp8"], r"flag --mixed_precision=fp8: value should be one of <none\|auto\|mixed_bfloat16"),
    (["--d_learning_rate=-1"], r"flag --d_learning_rate=-1"),
    (["--critic_steps=0"], r"flag --critic_steps=0"),
])
def test_single_flag_errors_name_flag_value_and_allowed(args, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        _parse(*args)


@pytest.mark.parametrize("args, message", [
    (["--dataset=imagenet"], r"--dataset='imagenet': must be one of digits, mnist, stacked_mnist, folder, .* or tfds:<name>"),
    (["--dataset=mnist"], r"--dataset=mnist reads local files: set --data_dir"),
    (["--dataset=mnist", "--data_dir=/no/such/dir"], r"--data_dir='/no/such/dir': no such directory"),
    (["--dataset=ring8"], r"--architecture=dcgan needs image data, but --dataset=ring8 gives points"),
    (["--dataset=ring8", "--architecture=mlp"], r"--output_activation=tanh cannot reach .* use --output_activation=linear"),
    (["--image_size=50"], r"--image_size=50: image_size must be s \* 2\^m"),
    (["--loss=hinge", "--label_smoothing=0.1"], r"--label_smoothing=0.1 applies to --loss=minimax or non_saturating"),
    (["--g_hidden=256,x"], r"--g_hidden=256,x: expected a comma-separated list"),
    (["--strategy=mirrored", "--num_logical_cpus=2", "--batch_size=63"], r"--batch_size=63 must be divisible"),
])
def test_cross_flag_errors_name_the_flags(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(*args)


def _train(run_dir, *extra, **kwargs):
    cmd = [sys.executable, "-m", "tfgan.train", "--dataset=digits", "--architecture=dcgan", "--latent_dim=8",
           "--g_base_filters=8", "--d_base_filters=8", "--batch_size=16", "--log_every=50",
           "--checkpoint_every=25", "--sample_every=200", "--num_samples=16", f"--run_dir={run_dir}", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kwargs)


def test_flag_choices_are_the_library_choices():
    """Flags are validated before TensorFlow is imported, so `pipelines.flags` keeps its own copies of the
    library's choice lists: each copy must equal the list the library checks against."""
    from tfgan import distribute, losses, networks
    from tfgan import random as tfgan_random

    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    library = {"mixed_precision": distribute.PRECISION_POLICIES, "strategy": distribute.STRATEGY_NAMES,
               "prior": tfgan_random.PRIORS, "loss": losses.LOSS_NAMES, "d_norm": networks.NORMS,
               "conditioning": networks.CONDITIONINGS, "output_activation": networks.OUTPUT_ACTIVATIONS}
    for name, choices in library.items():
        assert tuple(fv[name].parser.enum_values) == tuple(choices), name
    # List flags whose elements are checked against a choice list.
    from tfgan import augment, penalties
    assert pipeline_flags._LIST_CHOICES == {"penalties": penalties.PENALTY_NAMES, "augment": augment.AUGMENT_POLICIES}
    with pytest.raises(flags.IllegalFlagValueError, match=r"flag --augment=.*each value must be one of color, "):
        _parse("--augment=translation,flip")


def test_bad_flag_fails_before_any_work(tmp_path):
    proc = _train(str(tmp_path / "run"), "--dataset=ring8")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "error: --architecture=dcgan needs image data" in out
    assert not (tmp_path / "run").exists()


def test_interrupt_resume_export_reload(tmp_path):
    run_dir = str(tmp_path / "run")
    steps = "--steps=600"
    # auto: bfloat16 training where the CPU has it; the export must compute in float32 either way.
    proc = _train(run_dir, steps, "--mixed_precision=auto")
    deadline = time.time() + 240
    while not glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index")):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted at step" in out and "Run the same command to resume" in out
    stopped_at = int(out.split("interrupted at step ")[1].split(";")[0])
    assert 0 < stopped_at < 600

    proc = _train(run_dir, steps, "--mixed_precision=auto")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert f"at step {stopped_at}" in out and "resumed from" in out
    assert "step 600/600" in out and "steps/s" in out and "ETA" in out
    result = json.load(open(os.path.join(run_dir, "result.json")))
    assert result["step"] == 600
    saved_model = result["saved_model"]
    assert saved_model == os.path.join(run_dir, "export", "600")
    assert os.path.exists(result["sample_grid"])
    for name in ("config.json", "flags.txt"):
        assert os.path.exists(os.path.join(run_dir, name))
    assert glob.glob(os.path.join(run_dir, "tensorboard", "train", "events.out.tfevents.*"))
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(os.path.join(run_dir, "tensorboard", "train"),
                                             size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])  # TF2 summaries are stored as tensors
    assert {"losses/d_loss", "losses/g_loss", "dynamics/d_real", "dynamics/d_fake", "dynamics/d_accuracy",
            "steps_per_sec", "step/d_loss", "step/d_real", "step/d_fake", "step/d_accuracy", "samples"} <= tags, tags
    per_step = [e.step for e in acc.Tensors("step/d_fake")]
    assert len(per_step) >= 600 - stopped_at and max(per_step) == 600  # every step of the resumed part

    # A fresh process loads the SavedModel the way model servers do and sends requests to every signature.
    script = f"""
from tfgan import serving
report = serving.validate_export({saved_model!r}, (28, 28, 1))
assert report.ok, report.problems
print("SERVES OK", sorted(report.request_seconds))
"""
    reload = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=120)
    assert "SERVES OK ['generate_from_latents', 'generate_png', 'serving_default']" in reload.stdout, \
        reload.stderr[-3000:]

    cli = subprocess.run(["saved_model_cli", "show", "--dir", saved_model, "--all"], env=ENV, capture_output=True,
                         text=True, timeout=120)
    if cli.returncode != 0 and "No such file" in cli.stderr:
        pytest.skip("saved_model_cli is not on PATH")
    for text in ("signature_def['serving_default']", "signature_def['generate_from_latents']",
                 "signature_def['generate_png']", "num_samples", "seed", "images"):
        assert text in cli.stdout

    # Reusing the run directory with another architecture is refused before any work.
    proc = _train(run_dir, steps, "--mixed_precision=auto", "--g_base_filters=16")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "holds a run with different --g_base_filters" in out


def _fingerprint(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_rerunning_a_finished_run_changes_nothing_and_completes_what_a_kill_left_out(tmp_path):
    run_dir = tmp_path / "run"
    args = ("--steps=8", "--export_tflite")
    out, _ = _train(str(run_dir), *args).communicate(timeout=300)
    assert "SavedModel:" in out, out
    version, result = run_dir / "export" / "8", run_dir / "result.json"
    grid, tflite = run_dir / "samples" / "step_0000008.png", run_dir / "export" / "8.tflite"
    before = {p: _fingerprint(p) for p in (version, version / "saved_model.pb", result, grid, tflite)}
    text = result.read_text()
    assert json.loads(text)["metrics"]["d_loss"] > 0

    proc = _train(str(run_dir), *args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "already at step 8 of 8" in out, out
    assert {p: _fingerprint(p) for p in before} == before  # not deleted, not rewritten
    assert result.read_text() == text

    # What a kill after the last checkpoint but before the final hooks leaves: no grid, no export, no record.
    import shutil
    grid.unlink()
    tflite.unlink()
    shutil.rmtree(version)
    result.unlink()
    proc = _train(str(run_dir), *args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert grid.exists() and tflite.exists() and (version / "saved_model.pb").exists()
    record = json.loads(result.read_text())
    assert record["saved_model"] == str(version) and record["step"] == 8 and record["sample_grid"] == str(grid)


def test_resumed_pipeline_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    """MLP with dropout on the shuffled digits: network weights, optimizer state, the noise stream, dropout
    masks and the data stream all continue across a stop at step 190 (inside the second epoch of 187 steps)."""
    import numpy as np
    import tensorflow as tf

    from pipelines import stages
    from pipelines.config import DataConfig, ExportConfig, ModelConfig, PipelineConfig, TrainConfig

    def config(run_dir, steps):
        return PipelineConfig(
            data=DataConfig("digits", shuffle_buffer=2000),
            model=ModelConfig(architecture="mlp", latent_dim=8, g_hidden=(16,), d_hidden=(16,), d_dropout=0.3),
            train=TrainConfig(run_dir=str(tmp_path / run_dir), steps=steps, batch_size=32, log_every=100,
                              checkpoint_every=1000, sample_every=1000, num_samples=4),
            export=ExportConfig(export=False))

    ingested = stages.ingest(config("a", 200).data)
    stages.train(config("a", 200), ingested)
    stages.train(config("b", 190), ingested)
    resumed = stages.train(config("b", 200), ingested)
    assert resumed.step == 200

    def variables(run):
        reader = tf.train.load_checkpoint(str(tmp_path / run / "checkpoints"))
        return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
                if n.endswith("VARIABLE_VALUE") and not n.startswith("save_counter")}

    want, got = variables("a"), variables("b")
    assert want.keys() == got.keys() and len(want) > 30
    assert any(n.startswith("random_states/") for n in want)  # the dropout layer's seed state
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
