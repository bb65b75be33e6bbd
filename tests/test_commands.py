"""How commands end: one line and an exit code by kind for every expected failure, a traceback for bugs."""

import errno

import pytest
import tensorflow as tf

from pipelines.commands import errors, startup
from tfgan.locks import DirectoryLock, DirectoryLockedError


@pytest.mark.parametrize("error, code, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/srv/runs/x"), 5, ["/srv/runs/x: Permission denied",
                                                                          "no permission"]),
    (OSError(errno.ENOSPC, "No space left on device", "/r/checkpoints/ckpt-3_temp"), 5,
     ["ckpt-3_temp: No space left on device", "the disk is full", "resume"]),
    (OSError(errno.EROFS, "Read-only file system", "/ro/run"), 5, ["/ro/run: Read-only file system", "writable"]),
    (FileExistsError(errno.EEXIST, "File exists", "/r/file"), 5, ["/r/file: File exists", "a file is in the way"]),
    (tf.errors.ResourceExhaustedError(None, None, "/r/ckpt-9_temp/part-0; No space left on device"), 5,
     ["No space left on device", "the disk is full"]),
    (tf.errors.PermissionDeniedError(None, None, "/r/events.out; Permission denied"), 5, ["/r/events.out"]),
    (ValueError("--data_dir='/x': no such directory\nmore"), 2, ["--data_dir='/x': no such directory"]),
    (FileNotFoundError("no checkpoint in /r/checkpoints"), 2, ["no checkpoint in /r/checkpoints"]),
])
def test_expected_failures_are_one_line_with_their_exit_code(error, code, words, capsys):
    assert errors.report(error) == code
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and line.startswith("error: ")
    for word in words:
        assert word in line, line


def test_bugs_keep_their_traceback():
    with pytest.raises(KeyError):
        errors.report(KeyError("a bug"))
    assert errors.classify(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")) is None


def test_a_lock_names_its_holder_and_is_released_with_it(tmp_path):
    with DirectoryLock(str(tmp_path), "run directory") as held:
        assert held.holder()["pid"] > 0
        with pytest.raises(DirectoryLockedError, match=rf"run directory {tmp_path} is locked by pid \d+ on .* since "):
            DirectoryLock(str(tmp_path), "run directory").acquire()
    with DirectoryLock(str(tmp_path), "run directory"):  # released: free again
        pass


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}', True),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}', False),
    ('{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}', False),
    ('{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', True),
])
def test_the_chief_is_known_without_tensorflow(tf_config, chief):
    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    assert startup.is_chief_process(environ) is chief


# --- every command, run as a user runs it ------------------------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from absl import flags  # noqa: E402

from conftest import REPO  # noqa: E402
from pipelines import flags as pipeline_flags  # noqa: E402
from pipelines.commands import cli  # noqa: E402
from tfgan import choices  # noqa: E402

MISSING = "/nonexistent/tfgan-test"

# (command and arguments, words the one line must hold). EMPTY is replaced by an empty directory. Each fails
# before TensorFlow is imported (the test makes importing it an error).
BAD_INPUTS = [
    # train: a missing data directory, an empty run directory to resume from, out-of-range and unknown values
    (["tfgan.train", "--dataset=mnist", f"--data_dir={MISSING}"], [f"--data_dir='{MISSING}': no such directory"]),
    (["tfgan.train", "--run_dir=EMPTY", "--resume_from=5"], ["--resume_from=5: no checkpoint", "none"]),
    (["tfgan.train", "--steps=0"], ["--steps=0", "positive"]),
    (["tfgan.train", "--pack=65"], ["--pack=65"]),
    (["tfgan.train", "--loss=foo"], ["--loss=foo", "minimax"]),
    (["tfgan.train", "--bogus_flag=1"], ["bogus_flag"]),
    (["tfgan.train", "--flagfile=" + MISSING + ".cfg"], ["Unable to open flagfile", MISSING]),
    (["tfgan.train", "stray"], ["unexpected arguments: stray"]),
    # evaluate
    (["tfgan.evaluate", f"--run_dir={MISSING}"], [f"--run_dir={MISSING}: no such directory"]),
    (["tfgan.evaluate", "--run_dir=EMPTY"], ["config.json does not exist", "--run_dir"]),
    (["tfgan.evaluate", "--run_dir=EMPTY", "--num_samples=1"], ["--num_samples=1"]),
    (["tfgan.evaluate", "--run_dir=EMPTY", "--feature_extractor=vgg"], ["--feature_extractor=vgg", "inception"]),
    (["tfgan.evaluate"], ["--run_dir"]),
    # sample
    (["tfgan.sample", f"--run_dir={MISSING}", "--out=x.png"], [f"--run_dir={MISSING}: no such directory"]),
    (["tfgan.sample", "--run_dir=EMPTY", "--out=x.png"], ["--run_dir=", "no exported generator"]),
    (["tfgan.sample", "--run_dir=EMPTY", "--out=x.png", "--num=0"], ["--num=0"]),
    (["tfgan.sample", "--run_dir=EMPTY", "--out=x.bmp"], ["--out=x.bmp", ".png"]),
    (["tfgan.sample", "--run_dir=EMPTY", "--out=x.png", "--bogus_flag=1"], ["bogus_flag"]),
    # pipeline and its subcommands
    (["tfgan.pipeline", "--dataset=mnist", f"--data_dir={MISSING}"], [f"--data_dir='{MISSING}': no such directory"]),
    (["tfgan.pipeline", "--run_dir=EMPTY", "--resume_from=5"], ["--resume_from=5: no checkpoint"]),
    (["tfgan.pipeline", "--eval_percent=0"], ["--eval_percent=0"]),
    (["tfgan.pipeline", "--isolation=thread"], ["--isolation=thread", "in_process"]),
    (["tfgan.pipeline", "runs", f"--pipeline_root={MISSING}"], [f"no run record at {MISSING}/metadata.sqlite"]),
    (["tfgan.pipeline", "runs", "--pipeline_root=EMPTY"], ["no run record at", "metadata.sqlite"]),
    (["tfgan.pipeline", "lineage", MISSING, f"--pipeline_root={MISSING}"], ["no run record at"]),
    (["tfgan.pipeline", "lineage", "EMPTY", "--pipeline_root=EMPTY"], ["no run record at"]),
    (["tfgan.pipeline", "lineage"], ["usage: tfgan.pipeline"]),
    (["tfgan.pipeline", "serve"], ["unknown command 'serve'"]),
    (["tfgan.pipeline", "runs", "--bogus_flag=1"], ["bogus_flag"]),
]


def _env_without_tensorflow(tmp_path):
    """An environment where `import tensorflow` fails: an error that passes there was found before TF starts."""
    fake = tmp_path / "no_tf" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    path = os.pathsep.join([str(fake.parent), REPO, os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="2")


def test_every_command_answers_bad_input_in_one_line_with_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _env_without_tensorflow(tmp_path)
    procs = []
    for args, words in BAD_INPUTS:  # all at once: each is a Python start-up and an absl parse
        argv = [a.replace("EMPTY", str(empty)) for a in args]
        procs.append((argv, words, subprocess.Popen([sys.executable, "-m", *argv], cwd=tmp_path, env=env,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for argv, words, proc in procs:
        out, err = proc.communicate(timeout=120)
        where = " ".join(argv)
        assert proc.returncode == 2, (where, proc.returncode, err)
        assert out == "" and err.count("\n") == 1 and err.startswith("error: "), (where, err)
        assert "Traceback" not in err and "FATAL" not in err, (where, err)
        for word in words:
            assert word in err, (where, word, err)
    assert list(empty.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize("command, headings, listed", [
    ("tfgan.train", ["data:", "model:", "loss, penalties and optimiser:", "training:", "export:"],
     ["--dataset=digits", "--loss=non_saturating", "--steps=1000", "--[no]export  (default: true)",
      "--penalties=  (default: none)"]),
    ("tfgan.pipeline", ["pipeline:", "data:", "training:"], ["--components=  (default: none)", "--eval_percent=10"]),
    ("tfgan.evaluate", ["what to evaluate:", "metrics:"], ["--num_samples=10000", "--feature_extractor=mnist"]),
    ("tfgan.sample", ["which export:", "samples:", "output:"], ["--num=64", "--frame_ms=80"]),
])
def test_help_lists_the_command_flags_by_group_with_defaults(command, headings, listed, tmp_path):
    proc = subprocess.run([sys.executable, "-m", command, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          env=_env_without_tensorflow(tmp_path), timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    text = proc.stdout
    assert text.startswith(f"usage: python -m {command}")
    positions = [text.index(f"\n{h}\n") for h in headings]
    assert positions == sorted(positions)  # in the documented order
    for line in listed:
        assert f"\n  {line}" in text, line
    assert "--logtostderr" not in text and "--only_check_args" not in text  # absl's own: under --helpfull


def test_default_run_dir_comes_from_the_flagfile_else_the_data_and_architecture(monkeypatch):
    def parsed(*args):
        fv = flags.FlagValues()
        pipeline_flags.define_flags(fv)
        cli.parse_flags(["tfgan.train", *args], "tfgan.train", "", (), pipeline_flags.resolve_default_dirs, fv=fv)
        return pipeline_flags.config_from_flags(fv)

    monkeypatch.chdir(REPO)
    quickstart = parsed("--flagfile=configs/quickstart.cfg", "--run_dir=")
    bare = parsed("--steps=2")
    assert quickstart.train.run_dir == os.path.join("runs", "quickstart")
    assert bare.train.run_dir == os.path.join("runs", "digits_dcgan")
    assert bare.pipeline.pipeline_root == os.path.join("runs", "pipeline_digits_dcgan")
    assert bare.pipeline.serving_dir == os.path.join("runs", "serving", "digits_dcgan")
    assert parsed("--dataset=tfds:mnist", "--architecture=mlp").train.run_dir == os.path.join("runs", "tfds_mnist_mlp")
    assert parsed("--run_dir=/tmp/mine").train.run_dir == "/tmp/mine"  # an explicit one wins
    piped = parsed("--flagfile=configs/toy_ring8.cfg", "--pipeline_root=", "--serving_dir=")
    assert (piped.pipeline.pipeline_root, piped.pipeline.serving_dir) == (
        os.path.join("runs", "pipeline_toy_ring8"), os.path.join("runs", "serving", "toy_ring8"))


@pytest.mark.parametrize("extractor, names, shape, words", [
    ("mnist", ["fid", "is"], (32, 32, 3), ["--metrics=fid,is", "32x32x3", "--feature_extractor=inception",
                                          "--inception_weights=FILE"]),
    ("mnist", ["kid"], (28, 28, 3), ["28x28x3", "--metrics=stacked_modes"]),
    ("mnist", ["prd"], (64, 64, 1), ["64x64x1"]),
    ("inception", ["stacked_modes"], (28, 28, 1), ["stacked_modes", "28x28x1"]),
])
def test_metrics_that_would_mean_nothing_are_refused(extractor, names, shape, words):
    with pytest.raises(ValueError) as raised:
        choices.check_feature_extractor_fits(extractor, names, shape)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("extractor, names, shape", [
    ("mnist", ["fid", "is", "kid", "prd"], (28, 28, 1)), ("mnist", ["stacked_modes"], (28, 28, 3)),
    ("inception", ["fid", "is"], (32, 32, 3)),
])
def test_metrics_that_mean_something_pass(extractor, names, shape):
    choices.check_feature_extractor_fits(extractor, names, shape)


def test_nothing_shipped_names_a_folder_outside_the_repository():
    """A user's clone has no ../shared: configs, docs, code and flag help must not depend on it."""
    import glob
    shipped = [os.path.join(REPO, name) for name in ("README.md", "BUILD.md", "setup.py")]
    for folder, pattern in (("configs", "*.cfg"), ("tfgan", "**/*.py"), ("tfgan", "**/*.md"), ("pipelines", "**/*.py"),
                            ("benchmarks", "*.*"), ("scripts", "*.*")):
        shipped += glob.glob(os.path.join(REPO, folder, pattern), recursive=True)
    naming = [os.path.relpath(p, REPO) for p in shipped if os.path.isfile(p) and "../shared" in open(p).read()]
    assert naming == []
    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    assert [name for name in fv if "../shared" in f"{fv[name].default} {fv[name].help}"] == []


def test_evaluate_refuses_mnist_metrics_of_images_that_are_not_digits(tmp_path):
    """The issue's case: a 32x32 RGB folder run scored with the MNIST classifier printed numbers."""
    import dataclasses

    import numpy as np

    from pipelines import config as cfg
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        png = tf.io.encode_png(np.full((32, 32, 3), 40 * i, np.uint8)).numpy()
        (images / f"{i}.png").write_bytes(png)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = cfg.PipelineConfig(data=dataclasses.replace(cfg.DataConfig(), dataset="folder", data_dir=str(images)))
    (run_dir / cfg.CONFIG_FILE).write_text(config.to_json())
    proc = subprocess.run([sys.executable, "-m", "tfgan.evaluate", f"--run_dir={run_dir}"], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    for word in ("--metrics=fid,is,kid,precision_recall with --feature_extractor=mnist", "32x32x3",
                 "--feature_extractor=inception --inception_weights=FILE"):
        assert word in proc.stderr, proc.stderr
