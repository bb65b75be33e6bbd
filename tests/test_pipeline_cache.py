"""The runner's cache and run record: pipeline identity, code versions computed from each executor's imports,
failed executions' outputs abandoned, and live output from executors in processes of their own."""

import glob
import io
import modulefinder
import os
import shutil
import time

import pytest

from pipelines import pipeline as tfx_pipeline
from pipelines.orchestration import component
from pipelines.orchestration import metadata as md
from pipelines.orchestration.artifacts import ABANDONED, EXAMPLES
from pipelines.orchestration.runner import LocalDagRunner, Pipeline, PipelineError

COMPONENT_CLASSES = {type(c).__name__: type(c) for c in tfx_pipeline.create_pipeline(
    tfx_pipeline.PipelineConfig()).components}


# --- components for the runner tests (cheap: no TensorFlow) ------------------------------------------------

class _WriteExecutor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        out = output_dict["examples"][0]
        with open(os.path.join(out.uri, "value.txt"), "w") as f:
            f.write(exec_properties["value"])
        if exec_properties["value"] == "fail":
            raise ValueError("told to fail")


class Write(component.Component):
    OUTPUTS = {"examples": EXAMPLES}
    PARAMETERS = ("value",)
    EXECUTOR = _WriteExecutor


class _WaitExecutor(component.Executor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        path = exec_properties["value"]
        print(f"waiting for {path}")  # the runner must show this while the executor still runs
        deadline = time.time() + 60
        while not os.path.exists(path):
            if time.time() > deadline:
                raise RuntimeError("the line was not forwarded while the executor ran")
            time.sleep(0.05)


class Wait(Write):
    EXECUTOR = _WaitExecutor


def _run(name, root, metadata, value="a", cls=Write, **runner):
    out = io.StringIO()
    result = LocalDagRunner(out=out, **runner).run(Pipeline(name, str(root), [cls(value=value)], str(metadata)))
    return result.components[0], out.getvalue()


# --- pipeline identity -------------------------------------------------------------------------------------

def test_two_pipelines_sharing_a_run_record_never_reuse_each_others_executions(tmp_path):
    shared = tmp_path / "metadata.sqlite"
    a, _ = _run("a", tmp_path / "root_a", shared)
    b, text = _run("b", tmp_path / "root_b", shared)  # same component, same parameters, another pipeline
    assert b.status == md.COMPLETE, text
    assert b.outputs["examples"][0].uri.startswith(str(tmp_path / "root_b") + os.sep)
    again, _ = _run("a", tmp_path / "root_a", shared)
    assert again.status == md.CACHED and again.outputs["examples"][0].uri == a.outputs["examples"][0].uri
    with pytest.raises(ValueError, match=r"--pipeline_name=a is recorded in .* with the pipeline root .*root_a, "
                                         r"not .*root_c: give this pipeline its own --pipeline_name"):
        _run("a", tmp_path / "root_c", shared)


# --- code versions -----------------------------------------------------------------------------------------

def _project_modules(root):
    names = []
    for package in component.PROJECT_PACKAGES:
        for path in glob.glob(os.path.join(root, package, "**", "*.py"), recursive=True):
            rel = os.path.relpath(path, root)[:-3].split(os.sep)
            names.append(".".join(rel[:-1] if rel[-1] == "__init__" else rel))
    return sorted(names)


def _modulefinder_closure(root, module):
    """The project modules Python's own `modulefinder` sees `module` load (its byte code, functions included),
    with only `root` on the search path: an independent account of the import closure."""
    finder = modulefinder.ModuleFinder(path=[str(root)])
    finder.import_hook(module)
    return {n for n in finder.modules if n.split(".")[0] in component.PROJECT_PACKAGES}


def test_each_executor_import_closure_invalidates_exactly_its_components(tmp_path):
    from conftest import REPO
    root = tmp_path / "tree"
    for package in component.PROJECT_PACKAGES:
        shutil.copytree(os.path.join(REPO, package), root / package, ignore=shutil.ignore_patterns("__pycache__"))
    root = str(root)
    closures = {name: set().union(*(_modulefinder_closure(root, m) for m in component.executor_modules(cls)))
                for name, cls in COMPONENT_CLASSES.items()}
    # The modules the hand-written lists used to miss (the blessing rule, the shared stages, the export code).
    assert {"pipelines.thresholds", "pipelines.stages"} <= closures["Evaluator"]
    assert "tfgan.export" in closures["Pusher"]
    assert "pipelines.commands.train" not in set().union(*closures.values())

    def versions():
        return {name: component.component_code_version(cls, root) for name, cls in COMPONENT_CLASSES.items()}

    before = versions()
    assert before == versions()
    modules = _project_modules(root)
    assert len(modules) > 40
    for module in modules:
        path = component._module_file(module, root)
        with open(path) as f:
            source = f.read()
        with open(path, "w") as f:
            f.write(source + "\n# an edit\n")
        try:
            changed = {name for name, version in versions().items() if version != before[name]}
        finally:
            with open(path, "w") as f:
                f.write(source)
        expected = {name for name, closure in closures.items() if module in closure}
        assert changed == expected, module
    assert versions() == before


def test_the_cache_key_holds_the_code_version_and_the_pipeline():
    write = Write(value="x")
    key = component.cache_key(write, {}, {"name": "p", "root": "/r"})
    assert key == component.cache_key(write, {}, {"name": "p", "root": "/r"})
    assert key != component.cache_key(write, {}, {"name": "p", "root": "/s"})
    assert key != component.cache_key(write, {}, {"name": "q", "root": "/r"})
    assert key != component.cache_key(Wait(value="x"), {}, {"name": "p", "root": "/r"})


# --- failures ----------------------------------------------------------------------------------------------

def test_failed_executions_outputs_are_abandoned_and_removed(tmp_path):
    metadata = tmp_path / "metadata.sqlite"
    for _ in range(2):
        with pytest.raises(PipelineError, match="Write failed: told to fail"):
            _run("p", tmp_path / "root", metadata, value="fail")
    store = md.MetadataStore(str(metadata))
    artifacts = store.artifacts(EXAMPLES)
    assert len(artifacts) == 2 and all(a.state == ABANDONED for a in artifacts)
    assert [e["state"] for e in store.executions("Write")] == [md.FAILED, md.FAILED]
    store.close()
    assert not any(os.path.exists(a.uri) for a in artifacts)
    assert os.listdir(tmp_path / "root" / "Write" / "examples") == []


# --- process isolation -------------------------------------------------------------------------------------

class _Signal(io.StringIO):
    """Progress output that answers the executor: creates the file it waits for once it sees the line."""

    def write(self, text):
        if text.startswith("waiting for "):
            open(text.split(" ", 2)[2].strip(), "w").close()
        return super().write(text)


def test_an_isolated_executor_streams_its_output_while_it_runs(tmp_path, monkeypatch):
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = _Signal()
    definition = Pipeline("p", str(tmp_path / "root"), [Wait(value=str(tmp_path / "go"))])
    result = LocalDagRunner(out=out, isolation="process").run(definition)
    assert result.status == "COMPLETE", out.getvalue()
    assert f"waiting for {tmp_path / 'go'}" in out.getvalue()
