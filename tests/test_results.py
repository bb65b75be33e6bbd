"""The published-results command, shortened: the same train and evaluate commands per headline config, a few
steps and 200 samples, and the table it prints."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.mark.slow  # an end-to-end run of the command: python -m pytest -m slow
def test_results_command_trains_evaluates_and_tabulates_each_headline(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/results.py", "quickstart", "ring8", "--smoke",
                           f"--work_dir={tmp_path}"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "results.json") as f:
        record = json.load(f)
    assert set(record["results"]) == {"quickstart", "ring8"} and record["machine"]["cores"] == os.cpu_count()
    quickstart, = record["results"]["quickstart"]
    ring, = record["results"]["ring8"]
    assert quickstart["steps"] == 4 and ring["steps"] == 20 and quickstart["num_samples"] == 200
    assert quickstart["metrics"]["fid"] > 0 and 1 <= quickstart["metrics"]["is"] <= 10
    assert 0 <= ring["metrics"]["modes"] <= 8 and 0 <= ring["metrics"]["high_quality"] <= 1
    table = proc.stdout[proc.stdout.index("| config |"):]
    for row in ("| quickstart (`quickstart.cfg`, 1 seed) | 4 |", "| MNIST FID | ", "| ring8 (`toy_ring8_pacgan.cfg`",
                "| high quality % |", "PacGAN2 95.6"):
        assert row in table, table
    again = subprocess.run([sys.executable, "benchmarks/results.py", "--table", str(tmp_path / "results.json")],
                           cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.endswith(table), again.stdout + again.stderr


def test_unknown_headline_is_refused_naming_the_choices():
    proc = subprocess.run([sys.executable, "benchmarks/results.py", "cifar"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown headline config(s) cifar; choose among quickstart, ring8" in proc.stderr
