"""The local DAG runner: runs components in topological order and alone decides caching, records every
execution in the run record and publishes outputs.

For each component:
  1. inputs: the outputs of upstream components in this run, or, in a partial run, their latest LIVE
     outputs in the run record; then the component's resolvers (baselines).
  2. cache key (pipeline name and root, component, code version: the source of every project module its
     executor can import, parameters, input fingerprints, data fingerprint). With caching on, a COMPLETE
     execution of this pipeline with the same key whose outputs still exist stands in: a CACHED execution
     is recorded against the same artifacts. A run record may hold several pipelines (a shared
     `metadata_path`); each sees only its own executions, and a name is bound to one root.
  3. otherwise a RUNNING execution with PENDING outputs at `<root>/<component>/<output>/<execution id>/`
     (a resumable component picks up its own interrupted execution with the same key instead), the
     executor runs, and the outputs become LIVE with the execution COMPLETE in one transaction. A failed
     execution's outputs are deleted and marked ABANDONED (a resumable one keeps them for its resume).
  4. a component may stop the pipeline after it (ExampleValidator on anomalies).

One runner holds a pipeline root at a time (an OS lock that kill -9 releases). Executions left RUNNING by
a killed runner are marked FAILED at the next start, and the PENDING outputs of non-resumable ones are
abandoned and deleted, so a re-run of the same command resumes: finished components are cache hits and
the Trainer continues from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

from pipelines.config import ISOLATIONS
from pipelines.orchestration import metadata as md
from pipelines.orchestration.artifacts import ABANDONED, LIVE, PENDING, Artifact, content_fingerprint
from pipelines.orchestration.component import Component, cache_key
from tfgan.locks import DirectoryLock


class PipelineError(RuntimeError):
    """A component failed; the message names it and the cause."""


@dataclasses.dataclass
class Pipeline:
    """Components wired by their channels, and where the run lives.

    Attributes:
      name: the pipeline's name (its context in the run record).
      root: where artifacts go.
      components: the nodes, in any order.
      metadata_path: the SQLite run record (default `<root>/metadata.sqlite`).
      enable_cache: reuse executions with the same cache key.
    """

    name: str
    root: str
    components: list
    metadata_path: str = ""
    enable_cache: bool = True

    def __post_init__(self):
        self.metadata_path = self.metadata_path or os.path.join(self.root, "metadata.sqlite")
        ids = [c.id for c in self.components]
        if len(set(ids)) != len(ids):
            raise ValueError(f"component names must be unique: {ids}")

    def sorted_components(self) -> list[Component]:
        """Topological order (stable: declaration order among independent components)."""
        by_id = {c.id: c for c in self.components}
        order, state = [], {}

        def visit(c, path):
            if state.get(c.id) == "done":
                return
            if state.get(c.id) == "visiting":
                raise ValueError(f"the pipeline has a cycle: {' -> '.join(path + [c.id])}")
            state[c.id] = "visiting"
            for channel in c.inputs.values():
                if channel.producer not in by_id:
                    raise ValueError(f"{c.id} reads {channel.producer}.{channel.key}, which is not in the pipeline")
                visit(by_id[channel.producer], path + [c.id])
            state[c.id] = "done"
            order.append(c)

        for c in self.components:
            visit(c, [])
        return order


@dataclasses.dataclass
class ComponentRun:
    component: str
    execution_id: int
    status: str                   # COMPLETE (ran), CACHED, FAILED
    seconds: float
    outputs: dict


@dataclasses.dataclass
class RunResult:
    run_id: str
    status: str                   # COMPLETE, STOPPED (a gate: see reason), FAILED
    components: list
    outputs: dict                 # {component: {key: [Artifact]}}
    reason: str = ""


class LocalDagRunner:
    """Runs a Pipeline in this process (or each executor in a process of its own).

    Args:
      out: where progress lines go.
      isolation: "in_process" (default) or "process": each executor runs through `executor_main` in a
        fresh Python process, with artifact URIs in and out, as another orchestrator would run it.
    """

    def __init__(self, out=None, isolation: str = "in_process"):
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
        self.out = out or sys.stdout
        self.isolation = isolation

    def run(self, pipeline: Pipeline, only: list[str] | None = None, properties: dict | None = None) -> RunResult:
        """Runs the pipeline (or only the named components, reusing upstream LIVE artifacts).

        Raises:
          ValueError: unknown component names in `only`.
          tfgan.fileio.DirectoryLockedError: another runner holds the pipeline root.
        """
        ordered = pipeline.sorted_components()
        names = [c.id for c in ordered]
        if only:
            unknown = [n for n in only if n not in names]
            if unknown:
                raise ValueError(f"components {', '.join(unknown)} are not in the pipeline; it has {', '.join(names)}")
        os.makedirs(pipeline.root, exist_ok=True)
        with DirectoryLock(pipeline.root, "pipeline root"):
            store = md.MetadataStore(pipeline.metadata_path)
            try:
                return self._run(store, pipeline, ordered, only, properties or {})
            finally:
                store.close()

    # --- one run ---------------------------------------------------------------------------------------

    def _run(self, store, pipeline, ordered, only, properties) -> RunResult:
        root = os.path.abspath(pipeline.root)
        pipeline_ctx = store.context(md.PIPELINE, pipeline.name, {"root": root})
        recorded = store.get_context(pipeline_ctx)["properties"].get("root")
        if recorded != root:
            raise ValueError(f"--pipeline_name={pipeline.name} is recorded in {store.path} with the pipeline root "
                             f"{recorded}, not {root}: give this pipeline its own --pipeline_name or --metadata_path")
        self._identity = {"name": pipeline.name, "root": root}
        self._recover(store, pipeline_ctx, {c.id: c for c in ordered})
        run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:6]}"
        run_ctx = store.context(md.PIPELINE_RUN, f"{pipeline.name}/{run_id}",
                                {"pipeline": pipeline.name, "status": "RUNNING", "start": time.time(),
                                 "components": [c.id for c in ordered if not only or c.id in only]} | properties)
        contexts = [pipeline_ctx, run_ctx]
        produced: dict[str, dict[str, list[Artifact]]] = {}
        runs, status, reason = [], "COMPLETE", ""
        try:
            for component in ordered:
                if only and component.id not in only:
                    continue
                inputs = self._inputs(store, pipeline_ctx, component, produced, {c.id: c for c in ordered})
                inputs = component.resolve_inputs(store, pipeline_ctx, inputs)
                record = self._execute(store, pipeline, component, inputs, contexts, pipeline_ctx)
                runs.append(record)
                produced[component.id] = record.outputs
                stop = component.stop_reason(record.outputs)
                if stop:
                    status, reason = "STOPPED", f"{component.id}: {stop}"
                    self._print(component, f"stopped the pipeline: {stop}")
                    break
        except PipelineError as e:
            status, reason = "FAILED", str(e)
            raise
        except BaseException as e:
            status, reason = "FAILED", f"interrupted ({type(e).__name__})"
            raise
        finally:
            store.update_context(run_ctx, {"status": status, "end": time.time(), "reason": reason,
                                           "executions": [(r.component, r.execution_id, r.status) for r in runs]})
        return RunResult(run_id, status, runs, produced, reason)

    def _recover(self, store, pipeline_ctx, components) -> None:
        """Runs and executions left RUNNING by a runner that died (we hold the lock, so none is alive)."""
        for ctx in store.contexts(md.PIPELINE_RUN):
            if ctx["properties"].get("status") == "RUNNING" and ctx["name"].startswith(
                    store.get_context(pipeline_ctx)["name"] + "/"):
                store.update_context(ctx["id"], {"status": "FAILED", "reason": "interrupted: the process stopped"})
        for execution in store.executions(states=[md.RUNNING], context=pipeline_ctx):
            store.set_execution_state(execution["id"], md.FAILED, "interrupted: the pipeline process stopped")
            component = components.get(execution["type"])
            if component is not None and component.RESUMABLE:
                continue  # its PENDING outputs hold the work to resume
            self._abandon(store, store.events_of_execution(execution["id"], md.OUTPUT))

    def _inputs(self, store, pipeline_ctx, component, produced, components) -> dict[str, list[Artifact]]:
        inputs = {}
        for key, channel in component.inputs.items():
            if channel.producer in produced:
                artifacts = produced[channel.producer].get(channel.key, [])
            else:
                artifacts = latest_outputs(store, pipeline_ctx, channel.producer, channel.key)
                if not artifacts:
                    raise PipelineError(f"{component.id}: no LIVE {channel.type} from {channel.producer} in the run "
                                        f"record; run {channel.producer} first")
                self._check_current(store, components[channel.producer], artifacts, component)
            inputs[key] = artifacts
        return inputs

    @staticmethod
    def _check_current(store, producer, artifacts, consumer) -> None:
        """An output taken from the run record (a partial run) must still stand for what its producer reads
        from outside (the data files): otherwise the consumer would work on data no validator saw."""
        now = producer.driver_fingerprint(producer.exec_properties)
        execution = store.producer(artifacts[0].id)
        then = execution["properties"].get("driver") if execution else None
        if now != then:
            raise PipelineError(f"{consumer.id}: the latest {artifacts[0].type} from {producer.id} (execution "
                                f"{execution['id'] if execution else '?'}) no longer matches its source (the data "
                                f"changed since); run {producer.id} and the components after it first")

    def _execute(self, store, pipeline, component, inputs, contexts, pipeline_ctx) -> ComponentRun:
        start = time.perf_counter()
        key = cache_key(component, inputs, self._identity)
        if pipeline.enable_cache:
            cached = self._cached(store, component, key, pipeline_ctx)
            if cached is not None:
                previous, outputs = cached
                execution_id = store.create_execution(component.id, key, {"cached_from": previous}, contexts,
                                                      state=md.CACHED)
                store.record_inputs(execution_id, inputs)
                store.record_cached_outputs(execution_id, outputs)
                seconds = time.perf_counter() - start
                self._print(component, f"cached (execution {previous}) {component.summary(outputs)}".rstrip())
                return ComponentRun(component.id, execution_id, md.CACHED, seconds, outputs)
        execution_id, outputs = (self._resumable(store, component, key, contexts, pipeline_ctx) if component.RESUMABLE
                                 else (None, None))
        if execution_id is None:
            execution_id = store.create_execution(
                component.id, key, {"parameters": component.exec_properties,
                                    "driver": component.driver_fingerprint(component.exec_properties)}, contexts)
            outputs = {k: [Artifact(t, os.path.join(pipeline.root, component.id, k, str(execution_id)))]
                       for k, t in component.OUTPUTS.items()}
            for artifacts in outputs.values():
                for a in artifacts:
                    shutil.rmtree(a.uri, ignore_errors=True)
                    os.makedirs(a.uri)
            store.register_outputs(execution_id, outputs, contexts)
            store.record_inputs(execution_id, inputs)
            self._print(component, "running")
        else:
            self._print(component, f"resuming execution {execution_id}")
        try:
            self._do(component, inputs, outputs)
        except BaseException as e:
            message = _error_line(e)
            store.set_execution_state(execution_id, md.FAILED, message)
            if not component.RESUMABLE:  # nothing will pick these up: no half output stays behind
                self._abandon(store, outputs)
            if isinstance(e, Exception):
                raise PipelineError(f"{component.id} failed: {message}") from e
            raise
        for artifacts in outputs.values():
            for a in artifacts:  # an executor may fingerprint its content itself (Examples: the records)
                a.fingerprint = a.fingerprint or content_fingerprint(a.uri)
        seconds = time.perf_counter() - start
        store.publish(execution_id, outputs, {"seconds": round(seconds, 3)})
        self._print(component, f"done in {seconds:.1f}s {component.summary(outputs)}".rstrip())
        return ComponentRun(component.id, execution_id, md.COMPLETE, seconds, outputs)

    @staticmethod
    def _abandon(store, outputs) -> None:
        """Deletes PENDING outputs' directories and marks them ABANDONED in the run record."""
        pending = [a for artifacts in outputs.values() for a in artifacts if a.state == PENDING]
        for a in pending:
            shutil.rmtree(a.uri, ignore_errors=True)
        store.abandon([a.id for a in pending])
        for a in pending:
            a.state = ABANDONED

    def _cached(self, store, component, key, pipeline_ctx):
        for execution in store.executions(component.id, cache_key=key, states=[md.COMPLETE], context=pipeline_ctx):
            outputs = store.events_of_execution(execution["id"], md.OUTPUT)
            artifacts = [a for arts in outputs.values() for a in arts]
            if (set(outputs) == set(component.OUTPUTS) and all(a.state == LIVE and os.path.isdir(a.uri)
                                                              for a in artifacts)
                    and component.outputs_valid(outputs)):
                return execution["id"], outputs
        return None

    def _resumable(self, store, component, key, contexts, pipeline_ctx):
        for execution in store.executions(component.id, cache_key=key, states=[md.FAILED], context=pipeline_ctx):
            outputs = store.events_of_execution(execution["id"], md.OUTPUT)
            artifacts = [a for arts in outputs.values() for a in arts]
            if artifacts and all(a.state == PENDING and os.path.isdir(a.uri) for a in artifacts):
                store.set_execution_state(execution["id"], md.RUNNING)
                store.associate(execution["id"], contexts)
                return execution["id"], outputs
        return None, None

    def _do(self, component, inputs, outputs) -> None:
        exec_properties = dict(component.exec_properties)
        if self.isolation == "in_process":
            component.EXECUTOR().Do(inputs, outputs, exec_properties)
            return
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for name, value in (("inputs", inputs), ("outputs", outputs)):
                paths[name] = os.path.join(tmp, f"{name}.json")
                with open(paths[name], "w") as f:
                    json.dump({k: [a.to_json() for a in v] for k, v in value.items()}, f)
            paths["exec_properties"] = os.path.join(tmp, "exec_properties.json")
            with open(paths["exec_properties"], "w") as f:
                json.dump(exec_properties, f)
            cls = type(component)
            cmd = [sys.executable, "-m", "pipelines.orchestration.executor_main",
                   f"--component={cls.__module__}.{cls.__qualname__}", f"--inputs={paths['inputs']}",
                   f"--outputs={paths['outputs']}", f"--exec_properties={paths['exec_properties']}"]
            # Unbuffered child, each line forwarded as it comes: a long Trainer shows its progress live.
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            last = ""
            with subprocess.Popen([sys.executable, "-u", *cmd[1:]], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1, env=env) as proc:
                try:
                    for line in proc.stdout:
                        self.out.write(line)
                        self.out.flush()
                        last = line.strip() or last
                except BaseException:
                    proc.kill()
                    raise
            if proc.returncode != 0:  # executor_main's last line is the error
                raise RuntimeError(last or f"executor process exited with {proc.returncode}")
            with open(paths["outputs"]) as f:
                written = json.load(f)
            for key, artifacts in outputs.items():
                for a, b in zip(artifacts, written[key]):
                    a.properties, a.fingerprint = b["properties"], b["fingerprint"]

    def _print(self, component, message):
        print(f"[{component.id}] {message}", file=self.out, flush=True)


def latest_outputs(store, pipeline_ctx: int, producer: str, key: str) -> list[Artifact]:
    """The outputs `key` of the newest finished (run or cached) execution of `producer`, if LIVE."""
    for execution in store.executions(producer, states=[md.COMPLETE, md.CACHED], context=pipeline_ctx):
        artifacts = store.events_of_execution(execution["id"], md.OUTPUT).get(key, [])
        if artifacts and all(a.state == LIVE and os.path.isdir(a.uri) for a in artifacts):
            return artifacts
    return []


# Errors whose message is written for the user: shown as they are; others get their type in front.
_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError)


def _error_line(error: BaseException) -> str:
    """One line for the run record and the user: the error's first line (its type where it helps)."""
    text = str(error).strip()
    if not text:
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
        return f"{type(error).__name__}{where}"
    first = text.splitlines()[0][:500]
    return first if isinstance(error, _USER_ERRORS) else f"{type(error).__name__}: {first}"
