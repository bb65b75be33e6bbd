"""StatisticsGen, SchemaGen and ExampleValidator: know the data, write down what it must look like, and
stop the pipeline before any training when new data breaks that.

StatisticsGen   examples -> statistics: per split, count, shape, dtype, value range / mean / std (per
                channel for images, per coordinate for points), label histogram. An Apache Beam pipeline
                over the snapshot (--beam_pipeline_args); max_examples > 0 measures a deterministic
                sample of about that many records per split (chosen by a hash of each record).
SchemaGen       statistics -> schema: kind, shape, dtype, value range, classes, inferred from "train".
ExampleValidator statistics + schema (+ the reference schema) -> anomalies; a gate: anomalies stop the
                pipeline with a report naming each one.

"Inferred once, then checked": the schema that new data is checked against is the FIRST schema this
pipeline root ever inferred (resolved from the run record), or a curated file (--schema_path). SchemaGen
infers from the current data every time, so the two differ exactly when the data changed shape, range or
classes, and the anomaly report names the new inferred schema to accept the change with --schema_path.
"""

from __future__ import annotations

import hashlib
import os

import apache_beam as beam
import numpy as np

from pipelines import artifact_io
from pipelines.orchestration import component
from pipelines.orchestration.artifacts import EXAMPLE_ANOMALIES, EXAMPLE_STATISTICS, LIVE, SCHEMA

RANGE_TOLERANCE = 1e-3


# --- StatisticsGen -----------------------------------------------------------------------------------------
# One Apache Beam pipeline over the snapshot's TFRecords: per split, CombinePerKey with MomentsFn gives the
# count and each feature's (channel's / coordinate's) mean, std, min and max; CombinePerKey(sum) over
# (split, label) gives the class histogram.

class MomentsFn(beam.CombineFn):
    """count, shape and per-channel sum / sum of squares / min / max of examples x [..., C] (float64)."""

    def create_accumulator(self):
        return {"count": 0}

    def add_input(self, acc, x):
        flat = x.reshape(-1, x.shape[-1])
        if not acc["count"]:
            acc = {"count": 0, "shape": list(x.shape), "values": 0, "sum": np.zeros(flat.shape[1]),
                   "sum_sq": np.zeros(flat.shape[1]), "min": flat.min(0), "max": flat.max(0)}
        acc["count"] += 1
        acc["values"] += len(flat)
        acc["sum"] = acc["sum"] + flat.sum(0)
        acc["sum_sq"] = acc["sum_sq"] + np.square(flat).sum(0)
        acc["min"], acc["max"] = np.minimum(acc["min"], flat.min(0)), np.maximum(acc["max"], flat.max(0))
        return acc

    def merge_accumulators(self, accumulators):
        merged = {"count": 0}
        for acc in accumulators:
            if not acc["count"]:
                continue
            if not merged["count"]:
                merged = dict(acc)
                continue
            merged = {"count": merged["count"] + acc["count"], "shape": merged["shape"],
                      "values": merged["values"] + acc["values"], "sum": merged["sum"] + acc["sum"],
                      "sum_sq": merged["sum_sq"] + acc["sum_sq"], "min": np.minimum(merged["min"], acc["min"]),
                      "max": np.maximum(merged["max"], acc["max"])}
        return merged

    def extract_output(self, acc):
        if not acc["count"]:
            return {"count": 0}
        mean = acc["sum"] / acc["values"]
        std = np.sqrt(np.maximum(acc["sum_sq"] / acc["values"] - np.square(mean), 0.0))
        return {"count": acc["count"], "shape": acc["shape"], "dtype": "float32", "min": acc["min"].tolist(),
                "max": acc["max"].tolist(), "mean": mean.tolist(), "std": std.tolist()}


def _sampled(record: bytes, count: int, max_examples: int) -> bool:
    from pipelines.beam_support import record_digest
    return record_digest(record) % count < max_examples


def read_split_file(item, counts: dict, max_examples: int):
    """Yields (split, x, label) for the records of one (split, file), or of its sample (max_examples)."""
    split, path = item
    for record in artifact_io.read_records(path):
        if not max_examples or max_examples >= counts[split] or _sampled(record, counts[split], max_examples):
            yield (split, *artifact_io.decode_example(record))


def build_statistics(pipeline, examples, max_examples: int, result_dir: str) -> None:
    """The Beam graph: every (split, file) -> records -> moments per split and counts per (split, label).

    One element per file, read whole by one worker, and one read for all splits: with
    --direct_running_mode=multi_processing, Beam 2.77 lost records when each split was read on its own
    (beam.io.ReadFromTFRecord, then per-file reads) and the splits were Flattened (MNIST: 1,631 and 5,107 of
    10,000 eval records counted); this graph counted every record (the executor checks the counts).
    """
    from pipelines import beam_support

    files = [(split, path) for split in artifact_io.SPLITS for path in artifact_io.split_files(examples, split)]
    decoded = (pipeline | "Files" >> beam.Create(files) | "Spread" >> beam.Reshuffle()
               | "Read" >> beam.FlatMap(read_split_file, dict(examples.properties["counts"]), max_examples))
    moments = (decoded | "X" >> beam.Map(lambda e: (e[0], e[1])) | "Moments" >> beam.CombinePerKey(MomentsFn())
               | "MomentsOut" >> beam.Map(lambda kv: {"split": kv[0], "moments": kv[1]}))
    labels = (decoded | "Labels" >> beam.Map(lambda e: ((e[0], e[2]), 1)) | "Histogram" >> beam.CombinePerKey(sum)
              | "HistogramOut" >> beam.Map(lambda kv: {"split": kv[0][0], "label": kv[0][1], "count": kv[1]}))
    beam_support.write_result(moments, result_dir, "Moments")
    beam_support.write_result(labels, result_dir, "Labels")


def split_statistics(results: list, split: str, num_classes: int) -> dict:
    """One split's statistics from the pipeline's results."""
    stats = next((r["moments"] for r in results if r.get("split") == split and "moments" in r), {"count": 0})
    histogram = {r["label"]: r["count"] for r in results if r.get("split") == split and "label" in r}
    labels = np.zeros(max(num_classes, max(histogram, default=-1) + 1, 1), np.int64)
    for label, n in histogram.items():
        if label >= 0:
            labels[label] = n
    return dict(stats, label_counts=labels.tolist()) if stats["count"] else stats


class StatisticsExecutor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        from pipelines import beam_support

        examples = input_dict["examples"][0]
        record = artifact_io.read_json(examples, artifact_io.EXAMPLES_FILE)
        spec = record["spec"]
        options = beam_support.pipeline_options(exec_properties["beam_pipeline_args"])
        statistics = output_dict["statistics"][0]
        result_dir = os.path.join(statistics.uri, ".beam_result")
        cap = exec_properties["max_examples"]
        with beam.Pipeline(options=options) as pipeline:
            build_statistics(pipeline, examples, cap, result_dir)
        results = beam_support.read_result(result_dir)
        result = {"kind": spec["kind"], "num_classes": spec["num_classes"], "splits": {}}
        for split in artifact_io.SPLITS:
            result["splits"][split] = split_statistics(results, split, spec["num_classes"])
            result["splits"][split]["sampled"] = sampled = bool(cap) and cap < record["counts"][split]
            counted = result["splits"][split]["count"]
            if not sampled and counted != record["counts"][split]:  # a runner that drops or repeats records
                raise RuntimeError(f"StatisticsGen counted {counted} records in the {split} split of {examples.uri}; "
                                   f"ExampleGen wrote {record['counts'][split]}")
        artifact_io.write_json(statistics, artifact_io.STATISTICS_FILE, result)
        statistics.properties["counts"] = {k: v["count"] for k, v in result["splits"].items()}


class StatisticsGen(component.Component):
    INPUTS = {"examples": "Examples"}
    OUTPUTS = {"statistics": EXAMPLE_STATISTICS}
    PARAMETERS = ("max_examples", "beam_pipeline_args")
    EXECUTOR = StatisticsExecutor

    def summary(self, outputs):
        return ", ".join(f"{k} {v}" for k, v in outputs["statistics"][0].properties.get("counts", {}).items())


# --- SchemaGen ---------------------------------------------------------------------------------------------

def infer_schema(statistics: dict) -> dict:
    """What the data must look like, from the "train" split's statistics.

    Images: the observed value range (pixels in [0, 1]: MNIST-like data spans all of it; data that never
    used the top half of the range is told apart from data that does). Points: the observed range widened
    by a quarter of its span on each side (a fresh draw of a Gaussian mixture goes a little beyond a finite
    sample). Classes: those seen in "train".
    """
    train = statistics["splits"]["train"]
    if not train.get("count"):
        raise ValueError("the train split is empty: no schema can be inferred")
    lo, hi = min(train["min"]), max(train["max"])
    if statistics["kind"] != "image":
        margin = 0.25 * (hi - lo)
        lo, hi = lo - margin, hi + margin
    labels = [i for i, n in enumerate(train["label_counts"]) if n]
    return {"kind": statistics["kind"], "feature": "x", "shape": train["shape"], "dtype": train["dtype"],
            "range": [float(lo), float(hi)], "num_classes": statistics["num_classes"], "labels": labels}


class SchemaExecutor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        statistics = artifact_io.read_json(input_dict["statistics"][0], artifact_io.STATISTICS_FILE)
        schema = output_dict["schema"][0]
        artifact_io.write_json(schema, artifact_io.SCHEMA_FILE, infer_schema(statistics))


class SchemaGen(component.Component):
    INPUTS = {"statistics": EXAMPLE_STATISTICS}
    OUTPUTS = {"schema": SCHEMA}
    EXECUTOR = SchemaExecutor


# --- ExampleValidator --------------------------------------------------------------------------------------

def anomalies(statistics: dict, schema: dict) -> list[dict]:
    """What in the statistics breaks the schema: [{"split", "field", "description"}]."""
    found = []

    def add(split, field, description):
        found.append({"split": split, "field": field, "description": description})

    if statistics["kind"] != schema["kind"]:
        add("*", "kind", f"the data are {statistics['kind']}s; the schema expects {schema['kind']}s")
        return found
    lo, hi = schema["range"]
    tol = RANGE_TOLERANCE * max(1.0, hi - lo)
    for split, s in statistics["splits"].items():
        if not s.get("count"):
            add(split, "count", "the split is empty")
            continue
        if s["shape"] != schema["shape"]:
            add(split, "shape", f"examples have shape {s['shape']}; the schema expects {schema['shape']}")
        if s["dtype"] != schema["dtype"]:
            add(split, "dtype", f"examples are {s['dtype']}; the schema expects {schema['dtype']}")
        if min(s["min"]) < lo - tol or max(s["max"]) > hi + tol:
            add(split, "range", f"values span [{min(s['min']):.4g}, {max(s['max']):.4g}]; the schema allows "
                                f"[{lo:.4g}, {hi:.4g}]")
        seen = [i for i, n in enumerate(s["label_counts"]) if n]
        unseen = sorted(set(seen) - set(schema["labels"]))
        if unseen:
            add(split, "label", f"classes {unseen[:10]} are not in the schema's {len(schema['labels'])} classes")
    return found


def read_schema_file(path: str) -> dict:
    import json
    try:
        with open(path) as f:
            schema = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"--schema_path={path}: no such file") from None
    except ValueError as e:
        raise ValueError(f"--schema_path={path}: not a JSON schema ({e})") from None
    missing = {"kind", "shape", "dtype", "range", "labels"} - set(schema)
    if missing:
        raise ValueError(f"--schema_path={path}: missing keys {', '.join(sorted(missing))}")
    return schema


class ValidatorExecutor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        statistics = artifact_io.read_json(input_dict["statistics"][0], artifact_io.STATISTICS_FILE)
        if exec_properties["schema_path"]:
            schema, source = read_schema_file(exec_properties["schema_path"]), exec_properties["schema_path"]
        else:
            reference = input_dict["reference_schema"][0]
            schema = artifact_io.read_json(reference, artifact_io.SCHEMA_FILE)
            source = os.path.join(reference.uri, artifact_io.SCHEMA_FILE)
        current = os.path.join(input_dict["schema"][0].uri, artifact_io.SCHEMA_FILE)
        found = anomalies(statistics, schema)
        report = output_dict["anomalies"][0]
        artifact_io.write_json(report, artifact_io.ANOMALIES_FILE,
                               {"anomalies": found, "schema": source, "inferred_schema": current})
        report.properties.update(anomaly_count=len(found), schema=source, inferred_schema=current)


class ExampleValidator(component.Component):
    INPUTS = {"statistics": EXAMPLE_STATISTICS, "schema": SCHEMA}
    OPTIONAL_INPUTS = {"reference_schema": SCHEMA}
    OUTPUTS = {"anomalies": EXAMPLE_ANOMALIES}
    PARAMETERS = ("schema_path",)
    EXECUTOR = ValidatorExecutor

    def resolve_inputs(self, store, pipeline_context, inputs):
        """reference_schema: the first schema inferred in this pipeline root (this run's, the first time)."""
        earlier = [a for a in store.artifacts(SCHEMA, LIVE, context=pipeline_context) if os.path.isdir(a.uri)]
        return inputs | {"reference_schema": [earlier[-1]] if earlier else inputs["schema"]}

    def driver_fingerprint(self, exec_properties):
        path = exec_properties["schema_path"]
        if not path:
            return None
        if not os.path.isfile(path):
            return f"missing:{path}"
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def stop_reason(self, outputs):
        report = outputs["anomalies"][0]
        if not report.properties.get("anomaly_count"):
            return None
        found = artifact_io.read_json(report, artifact_io.ANOMALIES_FILE)["anomalies"]
        listed = "; ".join(f"{a['split']} {a['field']}: {a['description']}" for a in found[:6])
        return (f"{len(found)} anomal{'y' if len(found) == 1 else 'ies'} in the data against the schema "
                f"{report.properties['schema']}: {listed}. Nothing was trained. If the change is intended, "
                f"accept it with --schema_path={report.properties['inferred_schema']} (or a fresh --pipeline_root)")

    def summary(self, outputs):
        n = outputs["anomalies"][0].properties.get("anomaly_count", 0)
        return "no anomalies" if not n else f"{n} anomalies"
