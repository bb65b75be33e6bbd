"""Components: a small declaration (named inputs, outputs, parameters) plus an executor with one entry,
`Do(input_dict, output_dict, exec_properties)`, after TFX.

    class Pusher(Component):
        INPUTS = {"model": MODEL, "model_blessing": MODEL_BLESSING, "infra_blessing": INFRA_BLESSING}
        OUTPUTS = {"pushed_model": PUSHED_MODEL}
        PARAMETERS = ("serving_dir",)
        CODE = ("pipelines.components.pusher",)
        EXECUTOR = Executor

    pusher = Pusher(model=trainer.outputs["model"], ..., serving_dir="runs/serving")

Executors see artifacts (uri + properties) and plain JSON parameters only: they never look each other up,
never touch the metadata store and never decide caching; the runner alone does (see `runner.py`). So an
executor runs the same in this process, in a process of its own (`executor_main.py`), or in a step of
another orchestrator (Kubeflow Pipelines, Beam) with artifact URIs in and out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os

from pipelines.orchestration.artifacts import Artifact


@dataclasses.dataclass(frozen=True)
class Channel:
    """An output of one component, named as the input of another."""

    producer: str
    key: str
    type: str


class Executor:
    """The work of a component. Writes its outputs under each output artifact's `uri` and may set
    their `properties`; raises to fail the execution."""

    def Do(self, input_dict: dict[str, list[Artifact]], output_dict: dict[str, list[Artifact]],  # noqa: N802
           exec_properties: dict) -> None:
        raise NotImplementedError


class Component:
    """A pipeline node. Subclasses declare:

      INPUTS: {key: artifact type} of required inputs; OPTIONAL_INPUTS likewise.
      OUTPUTS: {key: artifact type}.
      PARAMETERS: the names of the exec properties the executor reads (all of them, and only them, go
        into the cache key).
      CODE: modules or packages whose source is the component's code version (cache key).
      EXECUTOR: the Executor class.
      RESUMABLE: an interrupted execution with the same cache key continues in its own output
        directories instead of starting over (the Trainer, which resumes from its checkpoint).
    """

    INPUTS: dict = {}
    OPTIONAL_INPUTS: dict = {}
    OUTPUTS: dict = {}
    PARAMETERS: tuple = ()
    CODE: tuple = ()
    EXECUTOR: type = Executor
    RESUMABLE = False

    def __init__(self, instance_name: str | None = None, **kwargs):
        self.id = instance_name or type(self).__name__
        declared = {**self.INPUTS, **self.OPTIONAL_INPUTS}
        clash = sorted(set(declared) & set(self.PARAMETERS))
        if clash:
            raise TypeError(f"{self.id}: {', '.join(clash)} named both an input and a parameter")
        unknown = sorted(set(kwargs) - set(declared) - set(self.PARAMETERS))
        if unknown:
            raise TypeError(f"{self.id}: unknown arguments {', '.join(unknown)}")
        self.inputs: dict[str, Channel] = {}
        for key, channel in kwargs.items():
            if key in declared and channel is not None:
                if channel.type != declared[key]:
                    raise TypeError(f"{self.id}: input {key} takes {declared[key]}, got {channel.type} from "
                                    f"{channel.producer}")
                self.inputs[key] = channel
        missing = sorted(set(self.INPUTS) - set(self.inputs))
        if missing:
            raise TypeError(f"{self.id}: missing inputs {', '.join(missing)}")
        missing = sorted(set(self.PARAMETERS) - set(kwargs))
        if missing:
            raise TypeError(f"{self.id}: missing parameters {', '.join(missing)}")
        self.exec_properties = {k: kwargs[k] for k in self.PARAMETERS}
        json.dumps(self.exec_properties)  # parameters must be plain JSON values
        self.outputs = {key: Channel(self.id, key, type_) for key, type_ in self.OUTPUTS.items()}

    # --- hooks of the launcher (all optional) -------------------------------------------------------------

    def driver_fingerprint(self, exec_properties: dict) -> str | None:
        """A fingerprint of what the component reads from outside the run record (data files), so that
        the cache notices when it changes."""
        return None

    def resolve_inputs(self, store, pipeline_context: int, inputs: dict[str, list[Artifact]]) -> dict:
        """Adds inputs found in the run record rather than in this run (baselines); returns the inputs."""
        return inputs

    def outputs_valid(self, outputs: dict[str, list[Artifact]]) -> bool:
        """Whether cached outputs still stand for what they claim (beyond their directories existing)."""
        return True

    def stop_reason(self, outputs: dict[str, list[Artifact]]) -> str | None:
        """A reason to stop the pipeline after this component (a gate), or None to go on."""
        return None

    def summary(self, outputs: dict[str, list[Artifact]]) -> str:
        """One line on what the execution produced, for the progress output."""
        return ""


def code_version(modules) -> str:
    """sha256 of the source files of `modules` (a package counts all its .py files)."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ValueError(f"code version: no module {name}")
        if spec.submodule_search_locations:
            paths = sorted(os.path.join(root, f) for location in spec.submodule_search_locations
                           for root, _, files in os.walk(location) for f in files if f.endswith(".py"))
        else:
            paths = [spec.origin]
        for path in paths:
            digest.update(os.path.basename(path).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def cache_key(component: Component, inputs: dict[str, list[Artifact]]) -> str:
    """What decides whether a previous execution's outputs can stand in: the component, its code version,
    the parameters it reads, its inputs' content fingerprints and its driver's fingerprint."""
    material = {
        "component": component.id,
        "class": f"{type(component).__module__}.{type(component).__qualname__}",
        "code": code_version(component.CODE),
        "parameters": component.exec_properties,
        "inputs": {k: [a.fingerprint for a in v] for k, v in sorted(inputs.items())},
        "driver": component.driver_fingerprint(component.exec_properties),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
