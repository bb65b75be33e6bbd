"""The run record: an ML-Metadata-shaped store in SQLite (standard library, no server).

Tables follow MLMD's model:
  contexts      a pipeline, and each run of it
  executions    one component run: type, state, cache key, parameters, timing, error
  artifacts     type, uri, state, properties, content fingerprint
  events        (execution, artifact, INPUT/OUTPUT, key): what consumed and produced what
  associations  execution <-> context;  attributions  artifact <-> context

Every change that must be seen whole (an execution published with its outputs) is one transaction, so a
kill leaves either the old state or the new one. WAL mode lets readers (`runs`, `lineage`) work while a
pipeline writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from pipelines.orchestration.artifacts import ABANDONED, LIVE, PENDING, Artifact

# Execution states (MLMD's Execution.State).
NEW, RUNNING, COMPLETE, CACHED, FAILED = "NEW", "RUNNING", "COMPLETE", "CACHED", "FAILED"
INPUT, OUTPUT = "INPUT", "OUTPUT"
PIPELINE, PIPELINE_RUN = "pipeline", "pipeline_run"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contexts (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, properties TEXT NOT NULL DEFAULT '{}',
  create_time REAL NOT NULL, UNIQUE (type, name));
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, state TEXT NOT NULL, cache_key TEXT,
  properties TEXT NOT NULL DEFAULT '{}', error TEXT, create_time REAL NOT NULL, update_time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS executions_by_key ON executions (type, cache_key);
CREATE TABLE IF NOT EXISTS artifacts (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, uri TEXT NOT NULL, state TEXT NOT NULL,
  properties TEXT NOT NULL DEFAULT '{}', fingerprint TEXT, create_time REAL NOT NULL, update_time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS artifacts_by_uri ON artifacts (uri);
CREATE TABLE IF NOT EXISTS events (
  execution_id INTEGER NOT NULL REFERENCES executions (id), artifact_id INTEGER NOT NULL REFERENCES artifacts (id),
  type TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL DEFAULT 0, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_execution ON events (execution_id);
CREATE INDEX IF NOT EXISTS events_by_artifact ON events (artifact_id);
CREATE TABLE IF NOT EXISTS associations (
  context_id INTEGER NOT NULL REFERENCES contexts (id), execution_id INTEGER NOT NULL REFERENCES executions (id),
  UNIQUE (context_id, execution_id));
CREATE TABLE IF NOT EXISTS attributions (
  context_id INTEGER NOT NULL REFERENCES contexts (id), artifact_id INTEGER NOT NULL REFERENCES artifacts (id),
  UNIQUE (context_id, artifact_id));
"""


class MetadataStore:
    """A run record in one SQLite file.

    Args:
      path: the database file (created with its directory if missing).
    """

    def __init__(self, path: str):
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{path}: not a usable run record ({e})") from None

    def close(self):
        self._db.close()

    # --- transactions ----------------------------------------------------------------------------------

    def _write(self, statements: list[tuple[str, tuple]]) -> list[int]:
        """Runs the statements in one transaction; returns their lastrowids."""
        ids = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                ids.append(self._db.execute(sql, args).lastrowid)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return ids

    # --- contexts --------------------------------------------------------------------------------------

    def context(self, type_: str, name: str, properties: dict | None = None) -> int:
        """The id of the context (type, name), created if new."""
        row = self._db.execute("SELECT id FROM contexts WHERE type = ? AND name = ?", (type_, name)).fetchone()
        if row:
            return row["id"]
        return self._write([("INSERT INTO contexts (type, name, properties, create_time) VALUES (?, ?, ?, ?)",
                             (type_, name, json.dumps(properties or {}), time.time()))])[0]

    def update_context(self, context_id: int, properties: dict) -> None:
        current = self.get_context(context_id)["properties"]
        self._write([("UPDATE contexts SET properties = ? WHERE id = ?",
                      (json.dumps(current | properties), context_id))])

    def get_context(self, context_id: int) -> dict:
        return _context(self._db.execute("SELECT * FROM contexts WHERE id = ?", (context_id,)).fetchone())

    def contexts(self, type_: str) -> list[dict]:
        rows = self._db.execute("SELECT * FROM contexts WHERE type = ? ORDER BY id", (type_,)).fetchall()
        return [_context(r) for r in rows]

    def contexts_of_execution(self, execution_id: int) -> list[dict]:
        rows = self._db.execute("SELECT c.* FROM contexts c JOIN associations a ON a.context_id = c.id "
                                "WHERE a.execution_id = ? ORDER BY c.id", (execution_id,)).fetchall()
        return [_context(r) for r in rows]

    # --- executions ------------------------------------------------------------------------------------

    def create_execution(self, type_: str, cache_key: str, properties: dict, contexts: list[int],
                         state: str = RUNNING) -> int:
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            execution_id = self._db.execute(
                "INSERT INTO executions (type, state, cache_key, properties, create_time, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?)", (type_, state, cache_key, json.dumps(properties), now, now)).lastrowid
            for context_id in contexts:
                self._db.execute("INSERT OR IGNORE INTO associations VALUES (?, ?)", (context_id, execution_id))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return execution_id

    def associate(self, execution_id: int, contexts: list[int]) -> None:
        self._write([("INSERT OR IGNORE INTO associations VALUES (?, ?)", (c, execution_id)) for c in contexts])

    def set_execution_state(self, execution_id: int, state: str, error: str | None = None,
                            properties: dict | None = None) -> None:
        current = self.get_execution(execution_id)["properties"]
        self._write([("UPDATE executions SET state = ?, error = ?, properties = ?, update_time = ? WHERE id = ?",
                      (state, error, json.dumps(current | (properties or {})), time.time(), execution_id))])

    def get_execution(self, execution_id: int) -> dict:
        return _execution(self._db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone())

    def executions(self, type_: str | None = None, cache_key: str | None = None, states=None,
                   context: int | None = None) -> list[dict]:
        """Executions matching every given filter, newest first."""
        rows = self._select("executions", "associations", "execution_id", context,
                            {"type": type_, "cache_key": cache_key, "state": states})
        return [_execution(r) for r in rows]

    def _select(self, table: str, link: str, link_column: str, context: int | None, filters: dict) -> list:
        """Rows of `table` in `context` (through the `link` table) whose columns equal the non-None filters
        (a list: one of its values), newest first."""
        sql, args, where = f"SELECT x.* FROM {table} x", [], []
        if context is not None:
            sql += f" JOIN {link} l ON l.{link_column} = x.id AND l.context_id = ?"
            args.append(context)
        for column, value in filters.items():
            if value is None or (isinstance(value, (list, tuple)) and not value):
                continue
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            where.append(f"x.{column} IN ({', '.join('?' * len(values))})")
            args += values
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._db.execute(sql + " ORDER BY x.id DESC", args).fetchall()

    # --- artifacts -------------------------------------------------------------------------------------

    def register_outputs(self, execution_id: int, outputs: dict[str, list[Artifact]], contexts: list[int]) -> None:
        """Records new PENDING output artifacts of an execution (ids are set on the Artifact objects)."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for key, artifacts in outputs.items():
                for i, a in enumerate(artifacts):
                    a.id = self._db.execute(
                        "INSERT INTO artifacts (type, uri, state, properties, create_time, update_time) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (a.type, a.uri, PENDING, json.dumps(a.properties), now, now)
                    ).lastrowid
                    a.state = PENDING
                    self._db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                                     (execution_id, a.id, OUTPUT, key, i, now))
                    for context_id in contexts:
                        self._db.execute("INSERT OR IGNORE INTO attributions VALUES (?, ?)", (context_id, a.id))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def record_inputs(self, execution_id: int, inputs: dict[str, list[Artifact]]) -> None:
        now = time.time()
        self._write([("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (execution_id, a.id, INPUT, key, i, now))
                     for key, artifacts in inputs.items() for i, a in enumerate(artifacts)])

    def record_cached_outputs(self, execution_id: int, outputs: dict[str, list[Artifact]]) -> None:
        now = time.time()
        self._write([("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (execution_id, a.id, OUTPUT, key, i, now))
                     for key, artifacts in outputs.items() for i, a in enumerate(artifacts)])

    def publish(self, execution_id: int, outputs: dict[str, list[Artifact]], execution_properties: dict) -> None:
        """Makes the outputs LIVE (with their properties and fingerprints) and the execution COMPLETE, at once."""
        now = time.time()
        current = self.get_execution(execution_id)["properties"]
        statements = [("UPDATE artifacts SET state = ?, properties = ?, fingerprint = ?, update_time = ? "
                       "WHERE id = ?", (LIVE, json.dumps(a.properties), a.fingerprint, now, a.id))
                      for artifacts in outputs.values() for a in artifacts]
        statements.append(("UPDATE executions SET state = ?, error = NULL, properties = ?, update_time = ? "
                           "WHERE id = ?", (COMPLETE, json.dumps(current | execution_properties), now,
                                           execution_id)))
        self._write(statements)
        for artifacts in outputs.values():
            for a in artifacts:
                a.state = LIVE

    def abandon(self, artifact_ids: list[int]) -> None:
        self._write([("UPDATE artifacts SET state = ?, update_time = ? WHERE id = ?", (ABANDONED, time.time(), i))
                     for i in artifact_ids])

    def get_artifact(self, artifact_id: int) -> Artifact:
        return _artifact(self._db.execute("SELECT * FROM artifacts WHERE id = ?", (artifact_id,)).fetchone())

    def artifacts_by_uri(self, uri: str) -> list[Artifact]:
        rows = self._db.execute("SELECT * FROM artifacts WHERE uri = ? ORDER BY id DESC", (uri,)).fetchall()
        return [_artifact(r) for r in rows]

    def artifacts(self, type_: str | None = None, state: str | None = None, context: int | None = None) -> list[Artifact]:
        """Artifacts matching every given filter, newest first."""
        rows = self._select("artifacts", "attributions", "artifact_id", context, {"type": type_, "state": state})
        return [_artifact(r) for r in rows]

    # --- events ----------------------------------------------------------------------------------------

    def events_of_execution(self, execution_id: int, type_: str | None = None) -> dict[str, list[Artifact]]:
        """{key: [artifacts]} an execution consumed (INPUT) or produced (OUTPUT)."""
        sql = "SELECT key, artifact_id FROM events WHERE execution_id = ?"
        args = [execution_id]
        if type_:
            sql += " AND type = ?"
            args.append(type_)
        result: dict[str, list[Artifact]] = {}
        for row in self._db.execute(sql + " ORDER BY key, idx", args).fetchall():
            result.setdefault(row["key"], []).append(self.get_artifact(row["artifact_id"]))
        return result

    def producer(self, artifact_id: int) -> dict | None:
        """The execution that first produced the artifact (not the cached executions that reused it)."""
        row = self._db.execute("SELECT execution_id FROM events WHERE artifact_id = ? AND type = ? "
                               "ORDER BY execution_id LIMIT 1", (artifact_id, OUTPUT)).fetchone()
        return self.get_execution(row["execution_id"]) if row else None

    def consumers(self, artifact_id: int) -> list[dict]:
        rows = self._db.execute("SELECT DISTINCT execution_id FROM events WHERE artifact_id = ? AND type = ? "
                                "ORDER BY execution_id", (artifact_id, INPUT)).fetchall()
        return [self.get_execution(r["execution_id"]) for r in rows]


def _context(row) -> dict:
    return {"id": row["id"], "type": row["type"], "name": row["name"], "properties": json.loads(row["properties"]),
            "create_time": row["create_time"]}


def _execution(row) -> dict:
    return {"id": row["id"], "type": row["type"], "state": row["state"], "cache_key": row["cache_key"],
            "properties": json.loads(row["properties"]), "error": row["error"], "create_time": row["create_time"],
            "update_time": row["update_time"]}


def _artifact(row) -> Artifact:
    return Artifact(type=row["type"], uri=row["uri"], properties=json.loads(row["properties"]), id=row["id"],
                    state=row["state"], fingerprint=row["fingerprint"])
