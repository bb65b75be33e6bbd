"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train one model through the train command."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, free_port


@pytest.mark.slow
def test_two_workers_train_export_and_agree(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run_dir = str(tmp_path / "run")
    procs = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        cmd = [sys.executable, "-m", "tfgan.train", f"--flagfile={os.path.join(REPO, 'configs', 'toy_ring8.cfg')}",
               "--strategy=multi_worker", "--steps=40", "--log_every=20", "--checkpoint_every=20",
               "--sample_every=40", "--batch_size=64", f"--run_dir={run_dir}",
               # State the all-reduce of gradients does not keep equal: batch statistics, dropout seeds.
               "--g_batch_norm", "--d_dropout=0.2"]
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
    # Both workers trained the same model: every variable of their final checkpoints is equal (the other
    # worker saves to a temporary directory, as every worker must take part in saving).
    chief_ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    worker_ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, "worker_tmp_1"))
    assert chief_ckpt.endswith("ckpt-40") and worker_ckpt.endswith("ckpt-40")
    chief, worker = tf.train.load_checkpoint(chief_ckpt), tf.train.load_checkpoint(worker_ckpt)
    names = sorted(name for name, _ in tf.train.list_variables(chief_ckpt) if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert names == sorted(name for name, _ in tf.train.list_variables(worker_ckpt)
                           if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    for name in names:
        np.testing.assert_array_equal(chief.get_tensor(name), worker.get_tensor(name), err_msg=name)
    # And the steps from 20 to 40 changed the weights the workers agree on.
    earlier = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", "ckpt-20"))
    weights = [name for name in names if "/_trainable_variables/" in name]  # both networks' weights
    assert weights and any(not np.array_equal(earlier.get_tensor(n), chief.get_tensor(n)) for n in weights)
