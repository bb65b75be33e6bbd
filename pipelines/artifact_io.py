"""Reading and writing the content of each artifact type: the one place that knows the files inside an
artifact's directory, shared by the executors that produce and consume it."""

from __future__ import annotations

import dataclasses
import json
import os

from pipelines.orchestration.artifacts import SERVING_MODEL_DIR, Artifact
from tfgan import fileio

EXAMPLES_FILE = "examples.json"
STATISTICS_FILE = "statistics.json"
SCHEMA_FILE = "schema.json"
ANOMALIES_FILE = "anomalies.json"
EVALUATION_FILE = "metrics.json"
BLESSING_FILE = "blessing.json"
PUSHED_FILE = "pushed.json"
BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
INFRA_BLESSED, INFRA_NOT_BLESSED = "INFRA_BLESSED", "INFRA_NOT_BLESSED"


def write_json(artifact: Artifact, name: str, value) -> str:
    return fileio.write_json_atomic(os.path.join(artifact.uri, name), value)


def read_json(artifact: Artifact, name: str):
    path = os.path.join(artifact.uri, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{artifact.type} artifact {artifact.uri} has no {name}") from None


def write_marker(artifact: Artifact, name: str, text: str = "") -> str:
    """An empty-or-short file whose name is the verdict (TFX's BLESSED / NOT_BLESSED convention)."""
    return fileio.write_atomic(os.path.join(artifact.uri, name), text)


def serving_model_path(model: Artifact) -> str:
    """The SavedModel of a Model artifact."""
    return os.path.join(model.uri, SERVING_MODEL_DIR)


def open_examples(examples: Artifact):
    """The data an Examples artifact describes: a `tfgan.data.Source` with splits "train" and "eval".

    The artifact records how to open the source (name, directory, size, channels) and which part of which
    of its splits is each of ours (see ExampleGen).
    """
    from tfgan.data import get_source
    from tfgan.data.sources import resplit

    record = read_json(examples, EXAMPLES_FILE)
    s = record["source"]
    source = get_source(s["dataset"], data_dir=s["data_dir"] or None, image_size=s["image_size"],
                        channels=s["channels"])
    assignment = {name: (part["source_split"], tuple(part["buckets"]) if part["buckets"] else None)
                  for name, part in record["splits"].items()}
    split = resplit(source, assignment)
    counts = {name: part["count"] for name, part in record["splits"].items() if part.get("count") is not None}
    spec = dataclasses.replace(split.spec, split_sizes=tuple(counts.items()), num_examples=counts.get("train"))
    return dataclasses.replace(split, spec=spec)
