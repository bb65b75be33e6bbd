"""ExampleGen: opens the data source, splits it into train and eval deterministically, and fingerprints
the input so that a changed file is noticed.

Inputs: none.  Parameters: dataset, data_dir, image_size, channels, download, eval_percent.
Output: examples (Examples): examples.json with how to open the source, the split of each part, counts,
the data spec and the input fingerprint.

Splits: the data set's own held-out split where it has one (MNIST's and the embedded digits' "test",
TFDS "test", fresh draws for toys); otherwise `eval_percent` % of "train" chosen by a hash of each
example's content (the same example always lands in the same split, whatever the read order).
The artifact describes the data rather than copying it: consumers re-open the source through
`artifact_io.open_examples`.
"""

from __future__ import annotations

import hashlib
import os

from pipelines import artifact_io
from pipelines.orchestration.artifacts import EXAMPLES
from pipelines.orchestration import component
from tfgan.data.sources import ASSETS, HASH_BUCKETS


def split_assignment(splits: tuple, eval_percent: int) -> dict:
    """{"train": part, "eval": part} with part = {"source_split", "buckets" (or None)}."""
    if "test" in splits:
        return {"train": {"source_split": "train", "buckets": None},
                "eval": {"source_split": "test", "buckets": None}}
    if not 0 < eval_percent < HASH_BUCKETS:
        raise ValueError(f"--eval_percent={eval_percent}: must be in [1, {HASH_BUCKETS - 1}]")
    return {"train": {"source_split": "train", "buckets": [eval_percent, HASH_BUCKETS]},
            "eval": {"source_split": "train", "buckets": [0, eval_percent]}}


def data_fingerprint(params: dict) -> str:
    """sha256 of what the data set is made of: file sizes and contents for files (embedded digits, IDX
    files, image folders), the prepared data set's name, version and files for TFDS, the name for toys."""
    digest = hashlib.sha256()
    dataset, data_dir = params["dataset"], params["data_dir"]
    digest.update(f"{dataset}|{params['image_size']}|{params['channels']}\0".encode())
    files = []
    if dataset == "digits" or (dataset == "stacked_mnist" and not data_dir):
        files = [os.path.join(ASSETS, "digits.npz")]
    elif dataset in ("mnist", "stacked_mnist", "folder"):
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


class Executor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        from tfgan.data import get_source
        from tfgan.data.sources import resplit

        p = exec_properties
        data_dir = os.path.abspath(p["data_dir"]) if p["data_dir"] else ""
        source = get_source(p["dataset"], data_dir=data_dir or None, image_size=p["image_size"],
                            channels=p["channels"], download=p["download"])
        parts = split_assignment(source.spec.splits, p["eval_percent"])
        split = resplit(source, {k: (v["source_split"], tuple(v["buckets"]) if v["buckets"] else None)
                                 for k, v in parts.items()})
        for name, part in parts.items():
            part["count"] = split.spec.size(name)
            if part["count"] is None and source.spec.size(part["source_split"]) is not None:
                part["count"] = int(split.dataset(name).reduce(0, lambda n, _: n + 1).numpy())
        examples = output_dict["examples"][0]
        spec = source.spec
        record = {
            "source": {"dataset": p["dataset"], "data_dir": data_dir, "image_size": spec.shape[0]
                       if spec.kind == "image" else 0, "channels": spec.shape[-1] if spec.kind == "image" else 0},
            "splits": parts,
            "spec": {"name": spec.name, "kind": spec.kind, "shape": list(spec.shape),
                     "num_classes": spec.num_classes},
            "fingerprint": data_fingerprint(p),
        }
        artifact_io.write_json(examples, artifact_io.EXAMPLES_FILE, record)
        examples.properties.update(split_names=list(parts), counts={k: v["count"] for k, v in parts.items()},
                                   data_fingerprint=record["fingerprint"], dataset=p["dataset"],
                                   shape=list(spec.shape), kind=spec.kind)


class ExampleGen(component.Component):
    OUTPUTS = {"examples": EXAMPLES}
    PARAMETERS = ("dataset", "data_dir", "image_size", "channels", "download", "eval_percent")
    EXECUTOR = Executor

    def driver_fingerprint(self, exec_properties):
        return data_fingerprint(exec_properties)

    def summary(self, outputs):
        p = outputs["examples"][0].properties
        counts = ", ".join(f"{k} {v if v is not None else 'stream'}" for k, v in p.get("counts", {}).items())
        return f"{p.get('dataset')} {tuple(p.get('shape', ()))}: {counts}"
