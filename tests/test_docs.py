"""The documents run as written: every `python -m tfgan...` line of README.md and BUILD.md, and README's Python
blocks.

Each document's commands run in its own scratch directory holding a copy of `configs/` (a fresh clone's view:
relative paths such as `runs/quickstart` land there), in the order the document gives them, so a command that
reads a run directory reads the one an earlier command of the same document trained. The commands are the
documents' own lines with these changes, each printed beside the command:

- step counts divided by 1,000 (at least 1): a training command (`tfgan.train`, a `tfgan.pipeline` run) gets
  `--steps=` its documented steps (its own `--steps`, else its flagfile's) / 1,000 appended; `--version=N` and
  `export/N` of a command become N / 1,000 for N >= 1,000. So `--steps=6000` after the quickstart's 4,000 still
  trains on to a later step, and `--version=4000` still names the earlier export;
- `tfgan.evaluate` gets `--num_samples=200` and a pipeline run `--evaluator_num_samples=200` with no blessing
  thresholds (a model trained for 4 steps is then blessed and pushed, so the lineage command has a pushed
  version: `<version>` is replaced by it);
- placeholders: `/path/to/mnist` is the real MNIST IDX directory where the tests have it (else the command is
  skipped, saying so), `/path/to/images` a folder of 16 small PNGs in two class subfolders written here;
- not run, each with its reason: a command that downloads (`--download`: needs network) or reads the
  InceptionV3 weights file (downloaded on a machine with network).

`--help` exits through absl's usage path; its line must print the help and no traceback.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import MNIST_DIR, REPO

DOCS = ("README.md", "BUILD.md")
STEP_SCALE = 1000
COMMANDS = ("train", "evaluate", "sample", "pipeline", "train_classifier")
INCEPTION = "/path/to/inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
PLACEHOLDERS = ("/path/to/mnist", "/path/to/images", INCEPTION, "<version>")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, MPLBACKEND="Agg")


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the ```<language> blocks of a markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def documented_commands(doc: str) -> list[str]:
    """Every `python -m tfgan...` command of a document's bash blocks, in order, without trailing comments
    (continuation lines joined; `a && b` gives each tfgan part)."""
    with open(os.path.join(REPO, doc)) as f:
        text = f.read()
    commands = []
    for block in fenced_blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = re.sub(r"\s+#.*$", "", part).strip()
                if part.startswith("python -m tfgan"):
                    commands.append(part)
    return commands


def _command_name(command: str) -> str:
    return command.split()[2].split(".", 1)[1]


def _flagfile_steps(path: str, workspace: str) -> int | None:
    """The last --steps of a flagfile, nested --flagfile lines read in place."""
    steps = None
    with open(os.path.join(workspace, path)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("--flagfile="):
                steps = _flagfile_steps(line.split("=", 1)[1], workspace) or steps
            elif line.startswith("--steps="):
                steps = int(line.split("=", 1)[1])
    return steps


def _trains(command: str) -> bool:
    name, words = _command_name(command), command.split()
    if name == "train":
        return "--help" not in words and "--helpfull" not in words
    return name == "pipeline" and not any(w in ("runs", "lineage") for w in words[3:])


def _scaled(n: int) -> int:
    return max(1, n // STEP_SCALE)


def as_run(command: str, workspace: str) -> tuple[str | None, str]:
    """(the command line to run, or None; what was changed or why it is not run)."""
    if "--download" in command.split():
        return None, "not run: downloads (needs network)"
    if INCEPTION in command:
        return None, "not run: needs the InceptionV3 weights file (downloaded on a machine with network)"
    notes = []
    if "/path/to/mnist" in command:
        if not os.path.exists(os.path.join(MNIST_DIR, "train-images-idx3-ubyte.gz")):
            return None, f"not run: the MNIST IDX files are not at {MNIST_DIR}"
        command = command.replace("/path/to/mnist", MNIST_DIR)
        notes.append("MNIST IDX files from the tests' data")
    if "/path/to/images" in command:
        command = command.replace("/path/to/images", _image_folder(workspace))
        notes.append("16 PNGs in 2 classes")
    if "<version>" in command:
        served = os.path.join(workspace, "runs", "serving", "quickstart")
        versions = sorted(os.listdir(served)) if os.path.isdir(served) else []
        command = command.replace("<version>", versions[-1] if versions else "<no pushed version>")
    command = re.sub(r"--version=(\d+)", lambda m: f"--version={_scaled(int(m.group(1)))}" if int(m.group(1)) >= STEP_SCALE
                     else m.group(0), command)
    command = re.sub(r"export/(\d+)", lambda m: f"export/{_scaled(int(m.group(1)))}" if int(m.group(1)) >= STEP_SCALE
                     else m.group(0), command)
    extra = []
    if _trains(command):
        steps = re.findall(r"--steps=(\d+)", command)
        if steps:
            n = int(steps[-1])
        else:
            flagfile = re.search(r"--flagfile=(\S+)", command)
            n = _flagfile_steps(flagfile.group(1), workspace) if flagfile else None
        if n:
            extra.append(f"--steps={_scaled(n)}")
    if _command_name(command) == "evaluate":
        extra.append("--num_samples=200")
    if _command_name(command) == "pipeline" and _trains(command):
        extra += ["--evaluator_num_samples=200", "--bless_thresholds=", "--bless_change_thresholds="]
    if extra:
        notes.append(" ".join(extra))
    return " ".join([command] + extra), "; ".join(notes)


def _image_folder(workspace: str) -> str:
    folder = os.path.join(workspace, "images")
    if not os.path.isdir(folder):
        from PIL import Image
        rng = np.random.default_rng(0)
        for label in ("cats", "dogs"):
            os.makedirs(os.path.join(folder, label))
            for i in range(8):
                pixels = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, label, f"{i}.png"))
    return folder


def make_workspace(tmp_path_factory, name: str) -> str:
    workspace = str(tmp_path_factory.mktemp(name))
    shutil.copytree(os.path.join(REPO, "configs"), os.path.join(workspace, "configs"))
    return workspace


def run_documented(commands, workspace: str, timeout: int = 600) -> list[tuple]:
    """Runs each command in `workspace` through bash; prints and returns (command, run line, note, rc, seconds,
    output tail) for each, rc None for a command not run."""
    results = []
    for command in commands:
        line, note = as_run(command, workspace)
        if line is None:
            results.append((command, None, note, None, 0.0, ""))
            print(f"[--] {command}   ({note})", flush=True)
            continue
        start = time.perf_counter()
        proc = subprocess.run(["bash", "-c", line], cwd=workspace, env=ENV, capture_output=True, text=True,
                              timeout=timeout)
        seconds = time.perf_counter() - start
        output = proc.stdout + proc.stderr
        results.append((command, line, note, proc.returncode, seconds, output[-3000:]))
        print(f"[{proc.returncode:2d}] {seconds:5.0f}s {command}" + (f"   (+ {note})" if note else ""), flush=True)
    return results


def _failures(results) -> list[str]:
    bad = []
    for command, line, note, rc, seconds, output in results:
        if rc is None:
            continue
        helps = "--help" in command.split() or "--helpfull" in command.split()
        ok = (rc in (0, 1) and output.strip()) if helps else rc == 0
        if not ok or "Traceback (most recent call last)" in output:
            bad.append(f"{line}\n  exit {rc}:\n{output}")
    return bad


# --- cheap checks ---------------------------------------------------------------------------------------------

def test_every_documented_command_is_a_tfgan_command_with_known_placeholders():
    for doc in DOCS:
        commands = documented_commands(doc)
        assert len(commands) >= 5, (doc, commands)
        for command in commands:
            assert _command_name(command) in COMMANDS, command
            assert os.path.isfile(os.path.join(REPO, "tfgan", _command_name(command) + ".py")), command
            unknown = set(re.findall(r"/path/to/\S+|<[a-z_]+>", command)) - set(PLACEHOLDERS)
            assert not unknown, f"{command}: placeholders {unknown} unknown to tests/test_docs.py"
            flagfile = re.search(r"--flagfile=(\S+)", command)
            assert not flagfile or os.path.isfile(os.path.join(REPO, flagfile.group(1))), command
        with open(os.path.join(REPO, doc)) as f:
            assert "../shared" not in f.read(), f"{doc} names ../shared, which a user's clone does not have"


def test_commands_are_extracted_and_scaled_as_documented(tmp_path):
    readme = documented_commands("README.md")
    assert readme[0] == "python -m tfgan.train --flagfile=configs/quickstart.cfg"   # after `pip install ... &&`
    shutil.copytree(os.path.join(REPO, "configs"), tmp_path / "configs")
    line, _ = as_run("python -m tfgan.train --flagfile=configs/mnist_dcgan_long.cfg --dataset=digits", str(tmp_path))
    assert line.endswith("--steps=6"), line         # nested flagfile (quickstart's 1500), then its own 6000
    line, _ = as_run("python -m tfgan.sample --run_dir=runs/q --version=4000 --saved_model=runs/q/export/6000",
                     str(tmp_path))
    assert line == "python -m tfgan.sample --run_dir=runs/q --version=4 --saved_model=runs/q/export/6", line
    assert as_run("python -m tfgan.pipeline runs --pipeline_root=runs/p", str(tmp_path))[0].endswith("runs/p")


# --- the documents, run --------------------------------------------------------------------------------------

def test_readme_quickstart_commands_run(tmp_path_factory):
    """README's quickstart section: train (4 steps), evaluate, sample, as a new user types them."""
    readme = documented_commands("README.md")
    quickstart = [c for c in readme if "runs/quickstart" in c or c.endswith("configs/quickstart.cfg")]
    assert [_command_name(c) for c in quickstart][:3] == ["train", "evaluate", "sample"], quickstart
    workspace = make_workspace(tmp_path_factory, "readme_quickstart")
    results = run_documented(quickstart, workspace)
    assert not _failures(results), "\n\n".join(_failures(results))
    assert os.path.isfile(os.path.join(workspace, "digits.png")) and os.path.isfile(os.path.join(workspace, "walk.gif"))


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_every_documented_command_runs(doc, tmp_path_factory):
    workspace = make_workspace(tmp_path_factory, doc.split(".")[0].lower())
    results = run_documented(documented_commands(doc), workspace)
    assert not _failures(results), "\n\n".join(_failures(results))
    assert sum(rc is not None for _, _, _, rc, _, _ in results) >= len(results) - 4, results


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(tmp_path):
    """README's ```python blocks, run one after another in one process as a notebook runs its cells."""
    with open(os.path.join(REPO, "README.md")) as f:
        blocks = fenced_blocks(f.read(), "python")
    assert len(blocks) >= 2
    script = tmp_path / "readme_blocks.py"
    script.write_text("\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert os.path.isfile(tmp_path / "runs" / "notebook" / "export" / "200" / "saved_model.pb")
    assert os.path.isfile(tmp_path / "runs" / "notebook_trainer" / "checkpoints" / "checkpoint")
