"""The train command: flag validation, shipped configs, and an end-to-end run that is interrupted, resumed,
exported and reloaded in a fresh process."""

import glob
import json
import re
import os
import signal
import subprocess
import sys
import time

import pytest
from absl import flags
from conftest import REPO

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
    (["--steps_per_execution=-1"], r"flag --steps_per_execution=-1: -1 is not an integer in the range \[0, 100000\]"),
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
    (["--resume_from=/no/such/ckpt-3"], r"--resume_from=/no/such/ckpt-3: no checkpoint /no/such/ckpt-3 \(in .*: none\)"),
    (["--run_dir=/no/such/run", "--resume_from=12"], r"--resume_from=12: no checkpoint /no/such/run/checkpoints/ckpt-12"),
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
    """One list per choice, in tfgan.choices: the library modules, the flags and validation all read it."""
    from tfgan import choices, distribute, evaluation, losses, networks, penalties
    from tfgan import random as tfgan_random
    from tfgan.data import toy

    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    library = {"mixed_precision": distribute.PRECISION_POLICIES, "strategy": distribute.STRATEGY_NAMES,
               "prior": tfgan_random.PRIORS, "loss": losses.LOSS_NAMES, "d_norm": networks.NORMS,
               "conditioning": networks.CONDITIONINGS, "output_activation": networks.OUTPUT_ACTIVATIONS,
               "optimizer": choices.OPTIMIZERS, "architecture": choices.ARCHITECTURES,
               "lr_schedule": choices.LR_SCHEDULES}
    for name, values in library.items():
        assert tuple(fv[name].parser.enum_values) == tuple(values), name
    assert penalties.PENALTY_NAMES is choices.PENALTIES and evaluation.RESULT_KEYS is choices.RESULT_KEYS
    from tfgan import augment
    assert augment.AUGMENT_POLICIES is choices.AUGMENTS
    # List flags whose elements are checked against a choice list, when the flags are parsed.
    assert pipeline_flags._LIST_CHOICES == {"penalties": choices.PENALTIES, "augment": choices.AUGMENTS}
    with pytest.raises(flags.IllegalFlagValueError, match=r"flag --augment=.*each value must be one of color, "):
        _parse("--augment=translation,flip")
    assert tuple(toy.TOYS) == choices.TOYS and {k: v().dim for k, v in toy.TOYS.items()} == choices.TOY_DIMS


def test_a_command_line_is_validated_without_importing_tensorflow():
    script = """
import sys
from absl import flags
from pipelines import flags as pipeline_flags
fv = flags.FlagValues()
pipeline_flags.define_flags(fv)
fv(["train", "--flagfile=configs/pipeline_quickstart.cfg"])
pipeline_flags.config_from_flags(fv)
fv(["train", "--dataset=ring8"])
try:
    pipeline_flags.config_from_flags(fv)
except ValueError as e:
    print("refused:", e)
assert "tensorflow" not in sys.modules, "validation imported TensorFlow"
print("NO TENSORFLOW")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert "NO TENSORFLOW" in proc.stdout and "refused: --architecture=dcgan needs image data" in proc.stdout, \
        proc.stdout + proc.stderr[-2000:]


def test_bad_flag_fails_before_any_work(tmp_path):
    proc = _train(str(tmp_path / "run"), "--dataset=ring8")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "error: --architecture=dcgan needs image data" in out
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # an end-to-end run of the command: python -m pytest -m slow
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


@pytest.mark.slow  # an end-to-end run of the command: python -m pytest -m slow
def test_a_second_run_into_a_locked_run_directory_stops_at_once_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    first = _train(str(run_dir), "--steps=400")
    deadline = time.time() + 120
    while not glob.glob(str(run_dir / "checkpoints" / "ckpt-*.index")):
        assert first.poll() is None and time.time() < deadline, first.communicate()[0]
        time.sleep(0.05)
    start = time.perf_counter()
    second = _train(str(run_dir), "--steps=400")
    out, _ = second.communicate(timeout=60)
    took = time.perf_counter() - start
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert second.returncode == 2, out
    assert f"run directory {run_dir} is locked by pid {first.pid} on " in out and "since " in out, out
    assert "Traceback" not in out and "oneDNN" not in out and took < 20
    # Once the holder is gone (here: it saved and exited), the same command resumes.
    third = _train(str(run_dir), "--steps=60")
    out, _ = third.communicate(timeout=300)
    assert third.returncode == 0 and "resumed from" in out or "already at step" in out, out


@pytest.mark.parametrize("layout", ["run_dir_is_a_file", "parent_is_a_file"])
def test_file_system_errors_are_one_line(tmp_path, layout):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    run_dir = blocker if layout == "run_dir_is_a_file" else blocker / "run"
    proc = _train(str(run_dir), "--steps=5")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 5, out
    lines = [line for line in out.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(blocker) in lines[0], out


def test_start_up_notices_stay_off_the_terminal(tmp_path):
    proc = _train(str(tmp_path / "run"), "--steps=2", "--log_every=1", "--noexport")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard"):
        assert noise not in out, out
    assert re.search(r"first 1 step in [0-9.]+s \(tracing included\); [0-9.]+s after the command started", out), out


def test_huge_learning_rate_keeps_a_finite_checkpoint_and_says_how_to_resume(tmp_path):
    """--d_learning_rate=1e6: Adam's moments overflow within two steps. No checkpoint holding an Inf is written;
    the message names the step, the learning-rate flags and --resume_from; resuming that checkpoint in a new
    run directory with a sane rate trains on."""
    import numpy as np
    import tensorflow as tf

    from pipelines import stages
    from pipelines.config import GANConfig, ModelConfig, PipelineConfig, TrainConfig
    from tfgan.trainer import NonFiniteLossError

    def config(run_dir, lr, resume_from=""):
        return PipelineConfig(
            model=ModelConfig(latent_dim=8, g_base_filters=8, d_base_filters=8),
            gan=GANConfig(d_learning_rate=lr),
            train=TrainConfig(run_dir=str(tmp_path / run_dir), steps=6, batch_size=16, log_every=1,
                              checkpoint_every=1, sample_every=100, num_samples=4, resume_from=resume_from))

    ingested = stages.ingest(config("a", 1e6).data)
    with pytest.raises(NonFiniteLossError) as error:
        stages.train(config("a", 1e6), ingested, out=open(os.devnull, "w"))
    e = error.value
    message = str(e)
    assert f"at step {e.step}" in message and e.step < 6
    assert "--d_learning_rate=1e+06" in message and "--g_learning_rate=0.0002" in message
    assert f"--resume_from={e.last_good}" in message
    reader = tf.train.load_checkpoint(e.last_good)
    names = [n for n, d in reader.get_variable_to_dtype_map().items() if d.is_floating]
    assert any(n.startswith("d_optimizer/") for n in names) and any(n.startswith("g_optimizer/") for n in names)
    for name in names:
        assert np.all(np.isfinite(reader.get_tensor(name))), name
    saved = sorted(glob.glob(str(tmp_path / "a" / "checkpoints" / "ckpt-*.index")))
    assert len(saved) == e.step - 1  # one per step before it, none at or after it

    resumed = stages.train(config("b", 1e-4, resume_from=e.last_good), ingested, out=open(os.devnull, "w"))
    assert resumed.step == 6


def test_linear_lr_schedule_decays_each_network_over_its_updates_and_survives_resume(tmp_path, monkeypatch):
    import tensorflow as tf
    from pipelines import task
    from tfgan.data import get_source
    from tfgan.trainer import Trainer

    monkeypatch.chdir(REPO)  # configs use paths relative to the repository root
    config = _parse("--flagfile=configs/toy_ring8.cfg", "--steps=10", "--critic_steps=2", "--lr_schedule=linear",
                    "--d_learning_rate=1e-3", "--g_learning_rate=4e-4", "--mixed_precision=none")
    gan = task.build_gan(config, get_source("ring8").spec)
    rate = lambda opt: float(tf.convert_to_tensor(opt.learning_rate))
    assert rate(gan.d_optimizer) == pytest.approx(1e-3) and rate(gan.g_optimizer) == pytest.approx(4e-4)
    gan.d_optimizer.iterations.assign(5)   # D applies critic_steps=2 updates per step: 20 in all
    gan.g_optimizer.iterations.assign(5)   # G: one per step, 10 in all
    assert rate(gan.d_optimizer) == pytest.approx(1e-3 * 15 / 20) and rate(gan.g_optimizer) == pytest.approx(2e-4)
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 10, checkpoint_every=1)
    trainer.save()
    resumed = task.build_gan(config, get_source("ring8").spec)
    Trainer(resumed, tf.distribute.get_strategy(), str(tmp_path), 10).restore()
    assert rate(resumed.g_optimizer) == pytest.approx(2e-4)  # the schedule continues where it stopped
    gan.g_optimizer.iterations.assign(50)
    assert rate(gan.g_optimizer) == 0.0


def test_thread_pools_are_set_before_tensorflow_starts_and_runs_repeat_exactly(tmp_path):
    """--intra_op_threads (the toy configs ship 1) is in force when training starts, and two runs with the same
    settings end with the same weights and optimizer state, bit for bit. (Another thread count may sum in
    another order: results then agree to rounding, which chaotic GAN dynamics can amplify.)"""
    import numpy as np
    import tensorflow as tf

    weights = []
    for attempt in range(2):
        run_dir = str(tmp_path / f"run{attempt}")
        cmd = [sys.executable, "-m", "tfgan.train", "--flagfile=configs/toy_ring8_wgan_gp.cfg", "--steps=60",
               "--log_every=30", "--checkpoint_every=60", "--sample_every=60", "--export=false",
               "--intra_op_threads=1", "--inter_op_threads=2", f"--run_dir={run_dir}"]
        proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "threads intra-op 1, inter-op 2" in proc.stdout, proc.stdout[-2000:]
        reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")))
        weights.append({k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
                        if k.startswith(("d_optimizer/_", "g_optimizer/_")) and "iterations" not in k})
    assert len(weights[0]) >= 20 and weights[0].keys() == weights[1].keys()
    for key, value in weights[0].items():
        np.testing.assert_array_equal(value, weights[1][key], err_msg=key)


def test_thread_pools_cannot_change_once_tensorflow_runs():
    from tfgan.distribute import set_threads
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # the runtime is up
    current = tf.config.threading.get_intra_op_parallelism_threads()
    set_threads(current, 0)  # the values in force: nothing to do
    other = current + 3
    with pytest.raises(ValueError, match=rf"thread pools \(intra_op {other}, inter_op 0\) can only be set before "
                                         r"TensorFlow runs its first op"):
        set_threads(other, 0)
    with pytest.raises(ValueError, match="intra_op threads must be >= 0"):
        set_threads(-1)
