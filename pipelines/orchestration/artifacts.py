"""Typed artifacts: what components consume and produce, after TFX's standard artifacts.

An artifact is a directory (`uri`) plus a type, properties and a content fingerprint, recorded in the
metadata store. It is PENDING while its producer writes it and LIVE once the producer's execution is
published; only LIVE artifacts are ever consumed, so a crash never leaves a half artifact that looks valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

# Types (TFX names where TFX has one).
EXAMPLES = "Examples"
EXAMPLE_STATISTICS = "ExampleStatistics"
SCHEMA = "Schema"
EXAMPLE_ANOMALIES = "ExampleAnomalies"
MODEL = "Model"
MODEL_RUN = "ModelRun"
MODEL_EVALUATION = "ModelEvaluation"
MODEL_BLESSING = "ModelBlessing"
INFRA_BLESSING = "InfraBlessing"
PUSHED_MODEL = "PushedModel"
TYPES = (EXAMPLES, EXAMPLE_STATISTICS, SCHEMA, EXAMPLE_ANOMALIES, MODEL, MODEL_RUN, MODEL_EVALUATION,
         MODEL_BLESSING, INFRA_BLESSING, PUSHED_MODEL)

# States (MLMD's Artifact.State).
PENDING, LIVE, ABANDONED = "PENDING", "LIVE", "ABANDONED"

# Where a Model artifact keeps its SavedModel (TFX's layout).
SERVING_MODEL_DIR = "Format-Serving"


@dataclasses.dataclass
class Artifact:
    """One artifact.

    Attributes:
      type: one of TYPES.
      uri: its directory.
      properties: JSON values the producer recorded (e.g. blessed, pushed_version, counts).
      id: its id in the metadata store (None until registered).
      state: PENDING, LIVE or ABANDONED.
      fingerprint: sha256 of its content, set when published.
    """

    type: str
    uri: str
    properties: dict = dataclasses.field(default_factory=dict)
    id: int | None = None
    state: str = PENDING
    fingerprint: str | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> "Artifact":
        return cls(**value)


def content_fingerprint(uri: str) -> str:
    """sha256 over the relative paths and bytes of every file under `uri` (sorted): equal content, equal
    fingerprint, wherever the directory lives."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(uri):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, uri).encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()
