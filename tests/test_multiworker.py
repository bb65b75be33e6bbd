"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train one model through the train command."""

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import REPO


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_train_export_and_agree(tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run_dir = str(tmp_path / "run")
    procs = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        cmd = [sys.executable, "-m", "tfgan.train", f"--flagfile={os.path.join(REPO, 'configs', 'toy_ring8.cfg')}",
               "--strategy=multi_worker", "--steps=40", "--log_every=20", "--checkpoint_every=20",
               "--sample_every=40", "--batch_size=64", f"--run_dir={run_dir}"]
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    chief_out = outs[0]
    assert "2 replica(s)" in chief_out and "step 40/40" in chief_out and "SavedModel" in chief_out
    result = json.load(open(os.path.join(run_dir, "result.json")))
    assert result["step"] == 40 and os.path.isdir(result["saved_model"])
    assert "SavedModel" not in outs[1]  # only the chief exports
