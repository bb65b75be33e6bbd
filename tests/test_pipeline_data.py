"""ExampleGen and StatisticsGen on Apache Beam: the snapshot holds exactly the source's examples, the
statistics match NumPy, DirectRunner in process and with two worker processes agree, and a partial run
never consumes Examples whose source changed."""

import io
import json
import os

import numpy as np
import pytest
from conftest import REPO
from test_tfx_pipeline import _config, _digits, _write_idx

from pipelines import artifact_io
from pipelines import pipeline as tfx_pipeline
from pipelines.components.data_validation import StatisticsGen
from pipelines.components.example_gen import ExampleGen
from pipelines.orchestration import metadata as md
from pipelines.orchestration.runner import LocalDagRunner, Pipeline, PipelineError

MULTI_PROCESSING = "--direct_running_mode=multi_processing --direct_num_workers=2"


def _ingest(tmp_path, data, beam_args, name):
    example_gen = ExampleGen(dataset="mnist", data_dir=str(data), image_size=0, channels=0, download=False,
                             eval_percent=20, beam_pipeline_args=beam_args)
    statistics = StatisticsGen(examples=example_gen.outputs["examples"], max_examples=0, beam_pipeline_args=beam_args)
    result = LocalDagRunner(out=io.StringIO()).run(Pipeline(name, str(tmp_path / name), [example_gen, statistics]))
    examples = result.outputs["ExampleGen"]["examples"][0]
    with open(os.path.join(result.outputs["StatisticsGen"]["statistics"][0].uri, "statistics.json")) as f:
        return examples, json.load(f)


def _snapshot(examples, split):
    batches = list(artifact_io.examples_dataset(examples, split).batch(1000).as_numpy_iterator())
    return np.concatenate([b["x"] for b in batches]), np.concatenate([b["label"] for b in batches])


def _check_against_numpy(examples, stats, x, y):
    """The snapshot is the source's examples, split without loss or duplication; the statistics of both
    splits together are NumPy's over the source."""
    xs, ys = zip(*(_snapshot(examples, s) for s in artifact_io.SPLITS))
    snap = np.round(np.concatenate(xs) * 255).astype(np.uint8)[..., 0]
    labels = np.concatenate(ys)
    order = lambda images, labels: sorted(zip((im.tobytes() for im in images), labels.tolist()))  # noqa: E731
    assert order(snap, labels) == order(x, y)
    splits = stats["splits"]
    assert [splits[s]["count"] for s in artifact_io.SPLITS] == [len(v) for v in ys]
    assert min(len(v) for v in ys) > 0
    pixels = x.astype(np.float64) / 255.0
    counts = np.array([splits[s]["count"] for s in artifact_io.SPLITS], np.float64)
    mean = sum(splits[s]["mean"][0] * n for s, n in zip(artifact_io.SPLITS, counts)) / counts.sum()
    assert mean == pytest.approx(pixels.mean(), rel=1e-9)
    assert min(splits[s]["min"][0] for s in artifact_io.SPLITS) == pixels.min()
    assert max(splits[s]["max"][0] for s in artifact_io.SPLITS) == pixels.max()
    eval_pixels = xs[1].astype(np.float64)
    assert splits["eval"]["std"][0] == pytest.approx(eval_pixels.std(), rel=1e-6)
    histogram = np.sum([splits[s]["label_counts"] for s in artifact_io.SPLITS], axis=0)
    assert histogram.tolist() == np.bincount(y, minlength=10).tolist()


@pytest.fixture
def train_only_idx(tmp_path):
    """300 digits with no test files: ExampleGen splits them by a hash of each record."""
    x, y, _, _ = _digits(300, 0)
    _write_idx(tmp_path / "idx", x, y, "train")
    return tmp_path / "idx", x, y


def test_the_snapshot_and_statistics_match_the_source(tmp_path, train_only_idx):
    data, x, y = train_only_idx
    examples, stats = _ingest(tmp_path, data, "", "in_process")
    _check_against_numpy(examples, stats, x, y)
    files = artifact_io.split_files(examples, "train")
    assert [os.path.basename(f) for f in files] == [f"data-0000{i}-of-00004.tfrecord" for i in range(4)]
    assert examples.fingerprint == examples.properties["fingerprint"]


@pytest.mark.slow
def test_beam_in_process_and_with_two_worker_processes_agree(tmp_path, train_only_idx, monkeypatch):
    data, x, y = train_only_idx
    monkeypatch.setenv("PYTHONPATH", REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))  # for the workers
    one, one_stats = _ingest(tmp_path, data, "", "in_process")
    two, two_stats = _ingest(tmp_path, data, MULTI_PROCESSING, "multi_processing")
    _check_against_numpy(two, two_stats, x, y)
    assert two.fingerprint == one.fingerprint
    assert two.properties["counts"] == one.properties["counts"]
    for split in artifact_io.SPLITS:
        a, b = one_stats["splits"][split], two_stats["splits"][split]
        assert a["count"] == b["count"] and a["label_counts"] == b["label_counts"], split
        for key in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, err_msg=f"{split} {key}")


UPSTREAM = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator"]


def test_a_partial_run_refuses_examples_whose_source_changed(tmp_path, train_only_idx):
    data, x, y = train_only_idx
    definition = lambda: tfx_pipeline.create_pipeline(_config(  # noqa: E731
        "--dataset=mnist", f"--data_dir={data}", f"--pipeline_root={tmp_path / 'root'}"))
    runner = LocalDagRunner(out=io.StringIO())
    first = runner.run(definition(), only=UPSTREAM)
    assert first.status == "COMPLETE"
    x = x.copy()
    x[0, 0, 0] = 255 - x[0, 0, 0]  # one pixel of one image
    _write_idx(data, x, y, "train")
    with pytest.raises(PipelineError, match=r"Trainer: the latest Examples from ExampleGen \(execution 1\) no longer "
                                            r"matches its source \(the data changed since\); run ExampleGen and the "
                                            r"components after it first"):
        runner.run(definition(), only=["Trainer"])
    again = runner.run(definition(), only=UPSTREAM)  # re-ingests: a new snapshot, validated again
    assert {r.component: r.status for r in again.components} == {c: md.COMPLETE for c in UPSTREAM}
    new, old = again.outputs["ExampleGen"]["examples"][0], first.outputs["ExampleGen"]["examples"][0]
    assert new.fingerprint != old.fingerprint
    cached = runner.run(definition(), only=UPSTREAM)
    assert {r.component: r.status for r in cached.components} == {c: md.CACHED for c in UPSTREAM}
