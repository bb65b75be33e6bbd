"""ExampleGen: reads the data source once and writes a snapshot of it, split into train and eval, with a
fingerprint of what was written (after TFX's ExampleGen). Every component after it reads the snapshot only.

Inputs: none.  Parameters: dataset, data_dir, image_size, channels, download, eval_percent,
beam_pipeline_args.
Output: examples (Examples): `Split-train/` and `Split-eval/` TFRecord files of tf.train.Example (the
record format is `artifact_io`'s), and examples.json with the spec, the counts, the source fingerprint
(of the files read) and the records' fingerprint (the artifact's fingerprint in the run record).

One Apache Beam pipeline (DirectRunner in this process unless --beam_pipeline_args says otherwise):
read each split of the source -> assign each record to train or eval -> WriteToTFRecord per split, and
a fingerprint and count per split with CombinePerKey. The fingerprint is a multiset hash of the records,
so it does not depend on how the runner ordered or sharded them.

Splits: the data set's own held-out split where it has one (MNIST's and the embedded digits' "test",
TFDS "test", the toys' second draw); otherwise `eval_percent` % of "train" chosen by a hash of each
record (the same example always lands in the same split, whatever the read order), as TFX does.
Endless sources (Stacked MNIST draws fresh triples forever) are snapshotted as a fixed sample: the first
STREAM_SNAPSHOT examples of each split (60,000 train, 10,000 eval). The toys likewise: the first 20,000
points of the source's fixed train draw and 10,000 of its second draw (TOY_SNAPSHOT), the same points
the train command's toy data begins with.
"""

from __future__ import annotations

import hashlib
import json
import os

from pipelines import artifact_io
from pipelines.orchestration import component
from pipelines.orchestration.artifacts import EXAMPLES
from tfgan.data.sources import ASSETS, HASH_BUCKETS, holds_idx

STREAM_SNAPSHOT = {"train": 60_000, "test": 10_000}   # endless sources: the first so many of each split
TOY_SNAPSHOT = {"train": 20_000, "test": 10_000}       # toys: the first so many of each split's fixed draw
NUM_SHARDS = 4     # TFRecord files per split


def split_of(record: bytes, source_split: str, has_test: bool, eval_percent: int) -> str:
    """Which of our splits a record of `source_split` goes to."""
    if has_test:
        return "eval" if source_split == "test" else "train"
    bucket = int.from_bytes(hashlib.sha256(record).digest()[:8], "big") % HASH_BUCKETS
    return "eval" if bucket < eval_percent else "train"


def data_fingerprint(params: dict) -> str:
    """sha256 of what the data set is made of: file sizes and contents for files (embedded digits, IDX
    files, image folders), the prepared data set's name, version and files for TFDS, the name for toys."""
    digest = hashlib.sha256()
    dataset, data_dir = params["dataset"], params["data_dir"]
    digest.update(f"{dataset}|{params['image_size']}|{params['channels']}\0".encode())
    files = []
    if dataset == "digits" or (dataset == "stacked_mnist" and not data_dir):
        files = [os.path.join(ASSETS, "digits.npz")]
    elif dataset in ("mnist", "stacked_mnist", "folder") or (dataset.startswith("tfds:") and holds_idx(data_dir)):
        files = sorted(os.path.join(root, f) for root, _, names in os.walk(data_dir) for f in names)
    elif dataset.startswith("tfds:"):
        import tensorflow_datasets as tfds
        builder = tfds.builder(dataset[5:], data_dir=data_dir or None)
        digest.update(f"{builder.info.full_name}\0".encode())
        prepared = builder.data_dir
        files = sorted(os.path.join(root, f) for root, _, names in os.walk(prepared) for f in names)
    for path in files:
        digest.update(f"{os.path.relpath(path, data_dir or ASSETS)}|{os.path.getsize(path)}\0".encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _open_source(p: dict):
    from tfgan.data import get_source
    return get_source(p["dataset"], data_dir=p["data_dir"] or None, image_size=p["image_size"],
                      channels=p["channels"], download=p["download"])


def read_source_split(source_split: str, p: dict):
    """Yields (our split, serialized record) for every example of one split of the source (in a Beam worker)."""
    import numpy as np
    import tensorflow as tf

    source = _open_source(p)
    has_test = "test" in source.spec.splits
    ds = source.dataset(source_split, seed=0)
    limits = TOY_SNAPSHOT if source.spec.kind == "points" else STREAM_SNAPSHOT
    if source.spec.kind == "points" or source.spec.size(source_split) is None:
        ds = ds.take(limits.get(source_split, limits["test"]))
    if source.spec.kind == "image":  # 8-bit pixels, converted in the tf.data pipeline's threads
        ds = ds.map(lambda e: {"x": tf.cast(tf.round(e["x"] * 255.0), tf.uint8), "label": e["label"]},
                    num_parallel_calls=tf.data.AUTOTUNE)
    for batch in ds.batch(1024).prefetch(2).as_numpy_iterator():
        for x, label in zip(batch["x"], batch["label"]):
            record = artifact_io.encode_example(np.asarray(x), int(label))
            yield split_of(record, source_split, has_test, p["eval_percent"]), record


def build(pipeline, p: dict, source_splits: tuple, out_uri: str, result_dir: str):
    """The Beam graph: source splits -> records -> Split-<name>/ TFRecords and a fingerprint per split."""
    import apache_beam as beam

    from pipelines import beam_support

    records = (pipeline | "SourceSplits" >> beam.Create(list(source_splits))
               | "Read" >> beam.FlatMap(read_source_split, p))
    parts = records | "Split" >> beam.Partition(lambda r, n: artifact_io.SPLITS.index(r[0]), len(artifact_io.SPLITS))
    for split, part in zip(artifact_io.SPLITS, parts):
        (part | f"Records{split}" >> beam.Values()
         | f"Write{split}" >> beam.io.WriteToTFRecord(os.path.join(out_uri, f"Split-{split}", "data"),
                                                       file_name_suffix=".tfrecord", num_shards=NUM_SHARDS))
    fingerprints = (records | "Fingerprint" >> beam.CombinePerKey(beam_support.FingerprintFn())
                    | "Named" >> beam.Map(lambda kv: {"split": kv[0], **kv[1]}))
    beam_support.write_result(fingerprints, result_dir)


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        import apache_beam as beam

        from pipelines import beam_support

        p = dict(exec_properties, data_dir=os.path.abspath(exec_properties["data_dir"])
                 if exec_properties["data_dir"] else "")
        if not 0 < p["eval_percent"] < HASH_BUCKETS:
            raise ValueError(f"--eval_percent={p['eval_percent']}: must be in [1, {HASH_BUCKETS - 1}]")
        options = beam_support.pipeline_options(p["beam_pipeline_args"])
        source = _open_source(p)  # here too: a bad source fails with its own message before Beam starts
        spec = source.spec
        examples = output_dict["examples"][0]
        result_dir = os.path.join(examples.uri, ".beam_result")
        with beam.Pipeline(options=options) as pipeline:
            build(pipeline, p, ("train", "test") if "test" in spec.splits else ("train",), examples.uri, result_dir)
        found = {r["split"]: r for r in beam_support.read_result(result_dir)}
        splits = {k: found.get(k, {"count": 0, "digest": "0" * 64}) for k in artifact_io.SPLITS}
        empty = [k for k, v in splits.items() if not v["count"]]
        if empty:
            raise ValueError(f"--dataset={p['dataset']}: the {' and '.join(empty)} split of the snapshot is empty "
                             f"(too little data for --eval_percent={p['eval_percent']}?)")
        fingerprint = hashlib.sha256(json.dumps(
            {"spec": [spec.kind, list(spec.shape), spec.num_classes], "splits": splits}, sort_keys=True).encode()
        ).hexdigest()
        counts = {k: v["count"] for k, v in splits.items()}
        record = {
            "spec": {"name": spec.name, "kind": spec.kind, "shape": list(spec.shape), "num_classes": spec.num_classes},
            "counts": counts,
            "splits": splits,
            "source": {"dataset": p["dataset"], "data_dir": p["data_dir"], "splits": list(spec.splits)},
            "source_fingerprint": data_fingerprint(p),
            "fingerprint": fingerprint,
        }
        artifact_io.write_json(examples, artifact_io.EXAMPLES_FILE, record)
        examples.fingerprint = fingerprint
        examples.properties.update(split_names=list(artifact_io.SPLITS), counts=counts, dataset=p["dataset"],
                                   data_fingerprint=record["source_fingerprint"], fingerprint=fingerprint,
                                   shape=list(spec.shape), kind=spec.kind, num_classes=spec.num_classes)


class ExampleGen(component.Component):
    OUTPUTS = {"examples": EXAMPLES}
    PARAMETERS = ("dataset", "data_dir", "image_size", "channels", "download", "eval_percent", "beam_pipeline_args")
    EXECUTOR = Executor

    def driver_fingerprint(self, exec_properties):
        return data_fingerprint(exec_properties)

    def summary(self, outputs):
        p = outputs["examples"][0].properties
        counts = ", ".join(f"{k} {v}" for k, v in p.get("counts", {}).items())
        return f"{p.get('dataset')} {tuple(p.get('shape', ()))}: {counts}"
