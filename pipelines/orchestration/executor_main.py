"""Runs one component's executor in a process of its own, with artifacts in and out as JSON files:

    python -m pipelines.orchestration.executor_main --component=pipelines.components.example_gen.ExampleGen \
        --inputs=inputs.json --outputs=outputs.json --exec_properties=exec_properties.json

inputs/outputs: {key: [artifact JSON (type, uri, properties, ...)]}. The executor writes under the output
URIs; the properties it sets are written back into the outputs file. This is the shape of a step in
Kubeflow Pipelines or Beam: the runner that launches it records and publishes, not the step.
"""

import argparse
import importlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--component", required=True, help="module.Class of the component")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    parser.add_argument("--exec_properties", required=True)
    args = parser.parse_args(argv)
    from pipelines.orchestration.artifacts import Artifact

    module, _, name = args.component.rpartition(".")
    component = getattr(importlib.import_module(module), name)
    with open(args.inputs) as f:
        inputs = {k: [Artifact.from_json(a) for a in v] for k, v in json.load(f).items()}
    with open(args.outputs) as f:
        outputs = {k: [Artifact.from_json(a) for a in v] for k, v in json.load(f).items()}
    with open(args.exec_properties) as f:
        exec_properties = json.load(f)
    try:
        component.EXECUTOR().Do(inputs, outputs, exec_properties)
    except Exception as e:  # one line for the launcher, which records it
        print(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}", file=sys.stderr)
        return 1
    with open(args.outputs, "w") as f:
        json.dump({k: [a.to_json() for a in v] for k, v in outputs.items()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
