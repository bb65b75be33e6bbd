"""The layers stay apart: the library (tfgan/) never reads flags and never imports the pipeline; the
`python -m tfgan.<command>` modules are two-line entry points into pipelines/commands; components never
import each other."""

import ast
import glob
import os

from conftest import REPO

# `python -m tfgan.X` entry points: each only imports its command from pipelines.commands.
SHIMS = {"train.py", "evaluate.py", "sample.py", "pipeline.py"}
# Standalone maintenance command of the library (no pipeline): may read flags.
FLAG_READERS = {"train_classifier.py"}


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names += [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _reads_flags(path):
    return any(n == "absl.flags" or n.startswith("absl.flags.") for n in _imports(path))


def _imports_pipelines(path):
    return any(n == "pipelines" or n.startswith("pipelines.") for n in _imports(path))


def _library_modules():
    return [p for p in glob.glob(os.path.join(REPO, "tfgan", "**", "*.py"), recursive=True)
            if not (os.path.dirname(p) == os.path.join(REPO, "tfgan") and os.path.basename(p) in SHIMS)]


def test_library_modules_neither_read_flags_nor_import_the_pipeline():
    flags = [os.path.relpath(p, REPO) for p in _library_modules()
             if os.path.basename(p) not in FLAG_READERS and _reads_flags(p)]
    assert not flags, f"library modules importing absl.flags: {flags}"
    upward = [os.path.relpath(p, REPO) for p in _library_modules() if _imports_pipelines(p)]
    assert not upward, f"library modules importing pipelines: {upward}"


def test_entry_points_are_two_line_shims():
    for name in SHIMS:
        path = os.path.join(REPO, "tfgan", name)
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        command = name[:-3]
        assert isinstance(body[0], ast.ImportFrom) and body[0].module == f"pipelines.commands.{command}", name
        assert len(body) == 2 and isinstance(body[1], ast.If), f"{name} should only import and run its command"


def test_components_do_not_import_each_other():
    components = glob.glob(os.path.join(REPO, "pipelines", "components", "*.py"))
    for path in components:
        others = [n for n in _imports(path) if n.startswith("pipelines.components")]
        assert not others, f"{os.path.relpath(path, REPO)} imports {others}: executors never look each other up"


def test_the_checks_detect_what_they_forbid(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from absl import app, flags\nfrom pipelines.stages import run\n")
    assert _reads_flags(str(bad)) and _imports_pipelines(str(bad))
    good = tmp_path / "good.py"
    good.write_text("import numpy as np\nfrom tfgan import export\n")
    assert not _reads_flags(str(good)) and not _imports_pipelines(str(good))
