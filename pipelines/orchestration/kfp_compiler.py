"""Compiles a `Pipeline` (the same component declarations the local runner runs) into a Kubeflow Pipelines
v2 pipeline spec, after TFX's `kubeflow_v2_dag_runner.py` / `step_builder.py`.

For each component, from its declaration alone (INPUTS, OUTPUTS, PARAMETERS, class):
  - a KFP lightweight Python component: typed KFP artifacts for the connected inputs and the outputs
    (`kfp_types.KFP_TYPES`), one parameter per exec property (lists and dicts as JSON text, since KFP's
    Struct turns ints into floats), the code version and, where the component has one, the driver's
    fingerprint (ExampleGen: the data files) as parameters, so KFP's cache key sees code and data changes.
    Its body is one call into `kfp_entrypoint`, which runs the executor's `Do()`.
  - a task wired to its producers' outputs. Components after a gate (a declaration that overrides
    `stop_reason`: ExampleValidator) run after it. A consumer of verdicts (`kfp_types.GATE_TYPES`: the
    Pusher) runs inside one `dsl.If` per verdict, on the `blessed` (1 or 0) its producer returns.
  - KFP's cache is turned off for a task whose cached outputs may stop standing for what they claim (a
    declaration that overrides `outputs_valid`: the Pusher's pushed version can be deleted).

The container image (`image`) must hold the project with the `pipeline` extra (the repository's
Dockerfile); components do not pip-install anything at run time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import keyword
import os
import re
import tempfile

from kfp import compiler, dsl

from pipelines.orchestration import kfp_entrypoint, kfp_types
from pipelines.orchestration.component import Component, component_code_version
from tfgan import fileio


def task_name(component_id: str) -> str:
    """The KFP task (and component) name of a component: ExampleGen -> example-gen."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", component_id).lower()


def _function_name(component_id: str) -> str:
    return task_name(component_id).replace("-", "_")


def _overrides(component: Component, hook: str) -> bool:
    return getattr(type(component), hook) is not getattr(Component, hook)


def component_parameters(component: Component) -> dict:
    """Every parameter the KFP task gets: the exec properties, the code version and the driver fingerprint."""
    values = dict(component.exec_properties)
    values[kfp_entrypoint.CODE_VERSION] = component_code_version(type(component))
    fingerprint = component.driver_fingerprint(component.exec_properties)
    if fingerprint is not None:
        values[kfp_entrypoint.DRIVER_FINGERPRINT] = fingerprint
    return values


def _is_scalar(value) -> bool:
    return isinstance(value, (bool, int, float, str))


def _encode(value):
    """(KFP parameter type name, value): scalars as they are, anything else (lists, dicts, None) as JSON text."""
    if _is_scalar(value):
        return type(value).__name__, value
    return "str", json.dumps(value, sort_keys=True)


def _annotation(type_name: str, direction: str) -> str:
    return f"{direction}[{kfp_types.KFP_TYPES[type_name].__name__}]"


def component_source(component: Component, parameters: dict) -> str:
    """The Python source of the component's KFP function (see the module docstring)."""
    names = list(component.inputs) + list(component.OUTPUTS) + list(parameters)
    bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n)]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"{component.id}: input, output and parameter names must be distinct Python identifiers "
                         f"to become KFP arguments; got {names}")
    args = [f"{k}: {_annotation(ch.type, 'Input')}" for k, ch in component.inputs.items()]
    args += [f"{k}: {_annotation(t, 'Output')}" for k, t in component.OUTPUTS.items()]
    args += [f"{k}: {_encode(v)[0]}" for k, v in parameters.items()]
    verdicts = [k for k, t in component.OUTPUTS.items() if t in kfp_types.GATE_TYPES]
    if len(verdicts) > 1:
        raise ValueError(f"{component.id}: at most one verdict output can gate a KFP task; got {verdicts}")
    returns = " -> int" if verdicts else ""
    encoded = tuple(k for k, v in parameters.items() if not _is_scalar(v))
    cls = type(component)
    return (f"def {_function_name(component.id)}({', '.join(args)}){returns}:\n"
            f"    \"\"\"{component.id}: runs {cls.__module__}.{cls.__qualname__}.EXECUTOR through "
            f"pipelines.orchestration.kfp_entrypoint.\"\"\"\n"
            f"    from pipelines.orchestration import kfp_entrypoint\n"
            f"    return kfp_entrypoint.run({cls.__module__ + '.' + cls.__qualname__!r}, dict(locals()), "
            f"json_parameters={encoded!r})\n")


_PRELUDE = ("from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output\n\n\n")


def _load_functions(sources: dict, directory: str) -> dict:
    """Imports the generated functions from a module file (KFP reads each function's source back)."""
    path = os.path.join(directory, "tfgan_kfp_components.py")
    with open(path, "w") as f:
        f.write(_PRELUDE + "\n\n".join(sources.values()))
    spec = importlib.util.spec_from_file_location("tfgan_kfp_components", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {cid: getattr(module, _function_name(cid)) for cid in sources}


def compile_pipeline(definition, output: str, image: str) -> str:
    """Writes the KFP v2 pipeline spec (YAML) of `definition` to `output` (write, then rename); returns it.

    Args:
      definition: a `runner.Pipeline` (e.g. `pipelines.pipeline.create_pipeline(config)`).
      output: the YAML file to write.
      image: the container image every task runs in (--image; the default is the Dockerfile's tag).
    """
    ordered = definition.sorted_components()
    parameters = {c.id: component_parameters(c) for c in ordered}
    gates = [c for c in ordered if _overrides(c, "stop_reason")]
    with tempfile.TemporaryDirectory() as tmp:
        functions = _load_functions({c.id: component_source(c, parameters[c.id]) for c in ordered}, tmp)
        factories = {cid: dsl.component(f, base_image=image, install_kfp_package=False)
                     for cid, f in functions.items()}

        def tfgan_pipeline():
            tasks, upstream = {}, {}   # upstream: what each task runs after, directly or not
            for c in ordered:
                kwargs = {k: tasks[ch.producer].outputs[ch.key] for k, ch in c.inputs.items()}
                kwargs.update({k: _encode(v)[1] for k, v in parameters[c.id].items()})
                with contextlib.ExitStack() as conditions:
                    for k, ch in c.inputs.items():
                        if ch.type in kfp_types.GATE_TYPES:
                            verdict = tasks[ch.producer].outputs[kfp_entrypoint.GATE_PARAMETER]
                            conditions.enter_context(dsl.If(verdict == 1, name=f"{ch.producer} blessed"))
                    task = factories[c.id](**kwargs)
                task.set_display_name(c.id)
                upstream[c.id] = set().union(*([{ch.producer} | upstream[ch.producer] for ch in c.inputs.values()]
                                               or [set()]))
                for gate in gates:
                    if ordered.index(gate) < ordered.index(c) and gate.id not in upstream[c.id]:
                        task.after(tasks[gate.id])
                        upstream[c.id] |= {gate.id} | upstream[gate.id]
                if _overrides(c, "outputs_valid"):
                    task.set_caching_options(False)
                tasks[c.id] = task

        pipeline = dsl.pipeline(tfgan_pipeline, name=_kfp_name(definition.name),
                                description=f"tfgan pipeline {definition.name}: {' -> '.join(c.id for c in ordered)}")
        tmp_yaml = os.path.join(tmp, "pipeline.yaml")
        compiler.Compiler().compile(pipeline, tmp_yaml)
        with open(tmp_yaml) as f:
            fileio.write_atomic(output, f.read())
    return output


def _kfp_name(name: str) -> str:
    """A pipeline name KFP accepts (lower case letters, digits and hyphens)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "tfgan"
