"""Components: a small declaration (named inputs, outputs, parameters) plus an executor with one entry,
`Do(input_dict, output_dict, exec_properties)`, after TFX.

    class Pusher(Component):
        INPUTS = {"model": MODEL, "model_blessing": MODEL_BLESSING, "infra_blessing": INFRA_BLESSING}
        OUTPUTS = {"pushed_model": PUSHED_MODEL}
        PARAMETERS = ("serving_dir",)
        EXECUTOR = Executor

    pusher = Pusher(model=trainer.outputs["model"], ..., serving_dir="runs/serving")

Executors see artifacts (uri + properties) and plain JSON parameters only: they never look each other up,
never touch the metadata store and never decide caching; the runner alone does (see `runner.py`). So an
executor runs the same in this process, in a process of its own (`executor_main.py`), or in a step of
another orchestrator (Kubeflow Pipelines, Beam) with artifact URIs in and out.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
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
      EXECUTOR: the Executor class.
      RESUMABLE: an interrupted execution with the same cache key continues in its own output
        directories instead of starting over (the Trainer, which resumes from its checkpoint).
    """

    INPUTS: dict = {}
    OPTIONAL_INPUTS: dict = {}
    OUTPUTS: dict = {}
    PARAMETERS: tuple = ()
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


# The project's own packages: their modules count towards a component's code version; others (TensorFlow,
# NumPy, Beam) count through the package version.
PROJECT_PACKAGES = ("tfgan", "pipelines")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _module_file(name: str, root: str) -> str | None:
    """The source file of project module `name` under `root` (a package's __init__.py), or None."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = os.path.join(root, *name.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _imported_names(path: str, name: str) -> set:
    stat = os.stat(path)
    return _parsed_imports(path, name, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _parsed_imports(path: str, name: str, mtime_ns: int, size: int) -> frozenset:
    """Every module name an import statement in the file names, at any depth (imports inside functions
    count: executors import their heavy dependencies in `Do`). `from a import b` names both `a` and `a.b`
    (b may be a module or an attribute; the caller keeps what exists)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _source_file(module: str, root: str) -> str:
    """The source of `module`: under `root` for project modules, else wherever Python finds it (a
    component declared outside the project, e.g. in a test)."""
    path = _module_file(module, root)
    if path is None:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ValueError(f"code version: no Python source for module {module}")
        path = spec.origin
    return path


def import_closure(module: str, root: str = PROJECT_ROOT) -> list[str]:
    """The modules that importing and running `module` can load, of the project's: the module itself,
    every project module its source imports (at any depth, recursively) and the packages above each
    (Python runs a package's __init__.py before its submodules). Sorted names.

    Raises:
      ValueError: no source for `module`.
    """
    parts = module.split(".")
    seen = {module}
    todo = [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages above it
    todo += _imported_names(_source_file(module, root), module)
    while todo:
        name = todo.pop()
        if name in seen or _module_file(name, root) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages above it
        todo.extend(_imported_names(_module_file(name, root), name))
    return sorted(seen)


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    try:
        return importlib.metadata.version("tfgan")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def code_version(module: str, root: str = PROJECT_ROOT) -> str:
    """sha256 of the package version and the source of every module in `import_closure(module)` (names and
    bytes): any edit to code the executor can run changes it; edits elsewhere do not."""
    digest = hashlib.sha256(f"tfgan {package_version()}\0".encode())
    for name in import_closure(module, root):
        digest.update(name.encode() + b"\0")
        with open(_source_file(name, root), "rb") as f:
            digest.update(f.read() + b"\0")
    return digest.hexdigest()


def executor_modules(component: type) -> list[str]:
    """The modules where a component's declaration and its executor live (the roots of its import closure)."""
    return sorted({component.__module__, component.EXECUTOR.__module__})


def component_code_version(component: type, root: str = PROJECT_ROOT) -> str:
    """The code version of a component class: of its declaration's and its executor's import closures."""
    return hashlib.sha256("".join(code_version(m, root) for m in executor_modules(component)).encode()).hexdigest()


def cache_key(component: Component, inputs: dict[str, list[Artifact]], pipeline: dict) -> str:
    """What decides whether a previous execution's outputs can stand in: the pipeline (name and root, so
    two pipelines sharing a run record never stand in for each other), the component, its code version,
    the parameters it reads, its inputs' content fingerprints and its driver's fingerprint."""
    material = {
        "pipeline": pipeline,
        "component": component.id,
        "class": f"{type(component).__module__}.{type(component).__qualname__}",
        "code": component_code_version(type(component)),
        "parameters": component.exec_properties,
        "inputs": {k: [a.fingerprint for a in v] for k, v in sorted(inputs.items())},
        "driver": component.driver_fingerprint(component.exec_properties),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
