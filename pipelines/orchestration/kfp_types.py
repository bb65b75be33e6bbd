"""The pipeline's artifact types as Kubeflow Pipelines (KFP v2) artifact classes.

KFP's own types where one means the same thing (system.Dataset, system.Model, system.Metrics) and
system.Artifact for the rest: KFP 2.17 accepts schema titles of the `system` and `google` namespaces
only, so the project's own type names (after TFX's) travel in each artifact's metadata (TYPE_KEY), and the
consumer's entrypoint refuses an artifact of another type. The connections themselves are type-checked
when the pipeline is declared (`Component.__init__`), before either runner sees them.

On KFP an artifact's properties travel as its metadata, a protobuf Struct that turns every int into a
float; they are therefore kept exactly as one JSON string (PROPERTIES_KEY), beside a readable copy of the
scalar ones for the KFP UI.
"""

from __future__ import annotations

from kfp import dsl

from pipelines.orchestration import artifacts

PROPERTIES_KEY = "tfgan_properties"     # the artifact's properties, JSON text (exact)
TYPE_KEY = "tfgan_type"                 # the project's type name, checked by the consumer
FINGERPRINT_KEY = "tfgan_fingerprint"   # content fingerprint (artifacts.content_fingerprint)


# Every project type and its KFP class (tests check that none is missing).
KFP_TYPES = {
    artifacts.EXAMPLES: dsl.Dataset,
    artifacts.EXAMPLE_STATISTICS: dsl.Artifact,
    artifacts.SCHEMA: dsl.Artifact,
    artifacts.EXAMPLE_ANOMALIES: dsl.Artifact,
    artifacts.MODEL: dsl.Model,
    artifacts.MODEL_RUN: dsl.Artifact,
    artifacts.MODEL_EVALUATION: dsl.Metrics,
    artifacts.MODEL_BLESSING: dsl.Artifact,
    artifacts.INFRA_BLESSING: dsl.Artifact,
    artifacts.PUSHED_MODEL: dsl.Model,
}

# Types whose artifacts carry a verdict (property `blessed`, 1 or 0): their producer also returns it as an
# output parameter, which is what a KFP condition (dsl.If) can test.
GATE_TYPES = (artifacts.MODEL_BLESSING, artifacts.INFRA_BLESSING)
