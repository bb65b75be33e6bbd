"""What the Beam components (ExampleGen, StatisticsGen) share: pipeline options from `--beam_pipeline_args`,
an order-independent fingerprint, and getting a small result back from a pipeline.

`--beam_pipeline_args="--runner=FlinkRunner --flink_master=host:8081"` is split as a shell would split it
and given to Beam unchanged, so the same component runs on DirectRunner here (the default: in this
process) and on Flink, Spark or Dataflow elsewhere (whose workers need tfgan installed, and whose
artifact URIs must be paths every worker can reach).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shlex
import shutil

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

_MODULUS = 1 << 256


def pipeline_options(beam_pipeline_args: str) -> PipelineOptions:
    """Beam options from the flag's text (empty: DirectRunner in this process).

    Raises:
      ValueError: text a shell could not split (unbalanced quotes).
    """
    try:
        args = shlex.split(beam_pipeline_args or "")
    except ValueError as e:
        raise ValueError(f"--beam_pipeline_args={beam_pipeline_args!r}: {e}") from None
    return PipelineOptions(args)


def record_digest(record: bytes) -> int:
    return int.from_bytes(hashlib.sha256(record).digest(), "big")


class FingerprintFn(beam.CombineFn):
    """(count, fingerprint) of a set of records: the sum of their sha256 digests modulo 2^256, a multiset
    hash, so the result is the same whatever order or shards the records come in."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, accumulator, record):
        return accumulator[0] + 1, (accumulator[1] + record_digest(record)) % _MODULUS

    def merge_accumulators(self, accumulators):
        count, total = 0, 0
        for c, t in accumulators:
            count, total = count + c, (total + t) % _MODULUS
        return count, total

    def extract_output(self, accumulator):
        return {"count": accumulator[0], "digest": f"{accumulator[1]:064x}"}


def write_result(pcoll, directory: str, label: str = "Result"):
    """Writes a PCollection of JSON values to text files `<label>*.jsonl` under `directory` (read back, with
    those of other labels, by read_result)."""
    return (pcoll | f"{label}ToJson" >> beam.Map(lambda v: json.dumps(v, sort_keys=True))
            | f"{label}Write" >> beam.io.WriteToText(os.path.join(directory, label.lower()), file_name_suffix=".jsonl"))


def read_result(directory: str) -> list:
    """The values `write_result` wrote, then the directory removed."""
    values = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path) as f:
            values += [json.loads(line) for line in f if line.strip()]
    shutil.rmtree(directory, ignore_errors=True)
    return values
