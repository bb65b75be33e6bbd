"""The library never reads flags: only entry-point modules (those run with `python -m`) import absl.flags."""

import ast
import glob
import os

from conftest import REPO

ENTRY_POINTS = {"train.py", "evaluate.py", "train_classifier.py", "sample.py"}


def _imports_absl_flags(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "absl" and any(a.name == "flags" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("absl.flags"):
            return True
        if isinstance(node, ast.Import) and any(a.name.startswith("absl.flags") for a in node.names):
            return True
    return False


def test_library_modules_do_not_import_absl_flags():
    offenders = [os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "tfgan", "**", "*.py"), recursive=True)
                 if os.path.basename(p) not in ENTRY_POINTS and _imports_absl_flags(p)]
    assert not offenders, f"library modules importing absl.flags: {offenders}"


def test_the_check_detects_an_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from absl import app, flags\n")
    assert _imports_absl_flags(str(bad))
