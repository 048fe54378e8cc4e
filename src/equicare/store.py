"""The embedded DuckDB store: loaded datasets, runs (parameters, fingerprints, status) and their results.

One file holds everything.  Catalog tables:

``datasets``
    id, name, kind, org, source, fingerprint (sha256 of the input bytes), n_rows, report (JSON cleaning
    report), created_by, loaded_at.  The rows themselves live in a table ``ds_<id>``.
``runs``
    id (text), kind, org, params (JSON), fingerprints (JSON), version, started_at, ended_at, status
    (``running``/``succeeded``/``failed``), progress_done, progress_total, message, error, summary (JSON).
``results``
    id, run_id, name, n_rows.  The rows live in a table ``res_<id>``.

Table names are always built from integer ids, never from user text, and every value goes through
parameterised SQL.  Writes that belong together happen in one transaction: a rejected dataset or a
failed run leaves nothing behind.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from equicare import __version__
from equicare.errors import EquicareError
from equicare.jsonsafe import jsonable

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS dataset_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS result_id_seq START 1;
CREATE TABLE IF NOT EXISTS datasets (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    org TEXT NOT NULL DEFAULT 'local',
    source TEXT,
    fingerprint TEXT,
    n_rows BIGINT,
    report TEXT,
    created_by TEXT,
    loaded_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    org TEXT NOT NULL DEFAULT 'local',
    params TEXT,
    fingerprints TEXT,
    version TEXT,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    status TEXT NOT NULL,
    progress_done BIGINT DEFAULT 0,
    progress_total BIGINT DEFAULT 0,
    message TEXT,
    error TEXT,
    summary TEXT,
    created_by TEXT
);
CREATE TABLE IF NOT EXISTS results (
    id BIGINT PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    n_rows BIGINT
);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _json(obj: Any) -> str:
    """Strict JSON text of ``obj`` (NaN and infinities as ``null``, numpy values as numbers, other objects as
    text), so every JSON column of the store parses with any JSON reader."""
    return json.dumps(jsonable(obj), sort_keys=True, allow_nan=False)


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Make a frame safe for DuckDB: string column names, object columns as text."""
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
    return out


class Store:
    """An equicare DuckDB store.

    Parameters
    ----------
    path : str or Path
        The database file (created if missing).  ``":memory:"`` gives a throw-away store.
    read_only : bool
        Open without write access (many readers may share a file that no process writes).

    Examples
    --------
    >>> with Store(":memory:") as st:
    ...     run = st.start_run("demo", {"severity": 2.0})
    ...     st.finish_run(run, {"allocation": pd.DataFrame({"state": ["01"], "beds": [3]})})
    ...     st.get_result(run, "allocation").beds.tolist()
    [3]
    """

    def __init__(self, path: str | Path = ":memory:", read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:  # e.g. locked by another writer, or not a DuckDB file
            raise EquicareError(f"cannot open store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0  # transactions open on the thread holding the lock (nested ones join the outer one)
        if not read_only:
            self.con.execute(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def locked(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, held by this thread alone (the store's lock; no transaction): for a module's own
        tables and reads that must not interleave with another thread's statements."""
        with self._lock:
            yield self.con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside commit together or not at all.

        A transaction opened inside another (on the same thread) joins it: everything commits with the
        outer one, and an error escaping the inner block rolls the whole outer transaction back.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.con
                finally:
                    self._depth -= 1
                return
            self.con.execute("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield self.con
            except BaseException:
                self._depth = 0
                self.con.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                self.con.execute("COMMIT")
            finally:
                self._depth = 0

    def query(self, sql: str, params: list | tuple | None = None) -> pd.DataFrame:
        """Run a parameterised read query and return a DataFrame."""
        with self._lock:
            return self.con.execute(sql, params or []).df()

    def select(self, sql: str, where: Mapping[str, Any] | None = None, order_by: str | None = None
               ) -> pd.DataFrame:
        """``sql`` filtered by ``column = value`` for every non-None entry of ``where`` (parameterised).

        Column names in ``where`` and ``order_by`` come from code, never from user input.
        """
        clauses, params = [], []
        for col, val in (where or {}).items():
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by:
            sql += f" ORDER BY {order_by}"
        return self.query(sql, params)

    def _write_table(self, table: str, df: pd.DataFrame) -> None:
        frame = _prepare(df)  # noqa: F841 - referenced by name in the SQL below
        self.con.register("_equicare_frame", frame)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _equicare_frame")
        finally:
            self.con.unregister("_equicare_frame")

    # -- datasets ---------------------------------------------------------------------------------
    def save_dataset(self, name: str, kind: str, df: pd.DataFrame, *, source: str, fingerprint: str,
                     report: Mapping | None = None, org: str = "local", created_by: str | None = None) -> int:
        """Store a validated, cleaned table atomically; a dataset of the same name and org is replaced.

        Returns the new dataset id.
        """
        with self.transaction() as con:
            old = con.execute("SELECT id FROM datasets WHERE name = ? AND org = ?", [name, org]).fetchall()
            for (old_id,) in old:
                con.execute(f"DROP TABLE IF EXISTS ds_{int(old_id)}")
                con.execute("DELETE FROM datasets WHERE id = ?", [old_id])
            ds_id = int(con.execute("SELECT nextval('dataset_id_seq')").fetchall()[0][0])
            self._write_table(f"ds_{ds_id}", df)
            con.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ds_id, name, kind, org, source, fingerprint, len(df), _json(report or {}), created_by, _now()],
            )
        return ds_id

    def list_datasets(self, org: str | None = None) -> pd.DataFrame:
        """The dataset catalog (without the rows), newest first; only ``org``'s when given."""
        return self.select("SELECT id, name, kind, org, source, fingerprint, n_rows, created_by, loaded_at"
                           " FROM datasets", {"org": org}, "id DESC")

    def dataset_info(self, dataset_id: int) -> dict:
        """Catalog entry of one dataset, with its cleaning report parsed; raises if unknown."""
        df = self.query("SELECT * FROM datasets WHERE id = ?", [int(dataset_id)])
        if df.empty:
            raise EquicareError(f"no dataset with id {dataset_id}")
        info = df.iloc[0].to_dict()
        info["report"] = json.loads(info["report"] or "{}")
        return info

    def find_dataset(self, name: str, org: str = "local") -> int | None:
        """Id of the dataset called ``name`` in ``org``, or None."""
        row = self.query("SELECT id FROM datasets WHERE name = ? AND org = ?", [name, org])
        return None if row.empty else int(row.id.iloc[0])

    def get_dataset(self, dataset_id: int, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of a dataset (only ``columns``, in that order, when given; EquicareError naming one it lacks)."""
        self.dataset_info(dataset_id)
        if columns is None:
            return self.query(f"SELECT * FROM ds_{int(dataset_id)}")
        have = self.dataset_columns(dataset_id)
        for c in columns:
            if c not in have:
                raise EquicareError(f"column '{c}' is not in dataset {dataset_id}")
        cols = ", ".join('"' + str(c).replace('"', '""') + '"' for c in dict.fromkeys(columns))
        return self.query(f"SELECT {cols} FROM ds_{int(dataset_id)}")

    def dataset_columns(self, dataset_id: int) -> list[str]:
        """The column names of a dataset, without reading its rows."""
        self.dataset_info(dataset_id)
        return list(self.query(f"SELECT * FROM ds_{int(dataset_id)} LIMIT 0").columns)

    # -- runs -------------------------------------------------------------------------------------
    def start_run(self, kind: str, params: Mapping, fingerprints: Mapping | None = None, org: str = "local",
                  created_by: str | None = None, run_id: str | None = None) -> str:
        """Record a run as ``running`` and return its id (``run_id``, or a new random one)."""
        run_id = run_id or uuid.uuid4().hex[:12]
        with self._lock:
            self.con.execute(
                "INSERT INTO runs (id, kind, org, params, fingerprints, version, started_at, status, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                [run_id, kind, org, _json(dict(params)), _json(dict(fingerprints or {})), __version__, _now(),
                 created_by],
            )
        return run_id

    def set_progress(self, run_id: str, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self.con.execute("UPDATE runs SET progress_done = ?, progress_total = ?, message = ? WHERE id = ?",
                             [int(done), int(total), message, run_id])

    def finish_run(self, run_id: str, results: Mapping[str, pd.DataFrame], summary: Mapping | None = None) -> None:
        """Write every result table and mark the run ``succeeded``, all in one transaction."""
        with self.transaction() as con:
            for name, df in results.items():
                res_id = int(con.execute("SELECT nextval('result_id_seq')").fetchall()[0][0])
                self._write_table(f"res_{res_id}", df)
                con.execute("INSERT INTO results VALUES (?, ?, ?, ?)", [res_id, run_id, str(name), len(df)])
            con.execute(
                "UPDATE runs SET status = 'succeeded', ended_at = ?, summary = ?, message = 'done' WHERE id = ?",
                [_now(), _json(dict(summary or {})), run_id],
            )

    def update_run(self, run_id: str, params: Mapping | None = None, fingerprints: Mapping | None = None) -> None:
        """Replace a run's recorded parameters and/or input fingerprints (known only once it has computed)."""
        with self.transaction() as con:
            if params is not None:
                con.execute("UPDATE runs SET params = ? WHERE id = ?", [_json(dict(params)), run_id])
            if fingerprints is not None:
                con.execute("UPDATE runs SET fingerprints = ? WHERE id = ?", [_json(dict(fingerprints)), run_id])

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run ``failed``; it keeps no results."""
        with self._lock:
            self.con.execute("UPDATE runs SET status = 'failed', ended_at = ?, error = ? WHERE id = ?",
                             [_now(), str(error), run_id])

    def fail_interrupted_runs(self, message: str) -> list[str]:
        """Mark every run still ``running`` as ``failed`` with ``message``; returns their ids.

        Call it when the one writer of the store starts (the service at start-up): a run can only be
        ``running`` then if the process that ran it died (a crash, ``kill -9``). Its results were never
        committed (they are written in one transaction at the end), so nothing half-written remains.
        """
        with self.transaction() as con:
            ids = [r[0] for r in con.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()]
            if ids:
                con.execute("UPDATE runs SET status = 'failed', ended_at = ?, error = ?, message = 'interrupted' "
                            "WHERE status = 'running'", [_now(), str(message)])
        return ids

    def import_dataset(self, info: Mapping[str, Any], df: pd.DataFrame) -> int:
        """Store ``df`` under the catalog entry ``info`` keeping its ``id`` (copies between stores).

        Returns the id. Raises EquicareError when the id is already taken.
        """
        ds_id = int(info["id"])
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM datasets WHERE id = ?", [ds_id]).fetchall():
                raise EquicareError(f"dataset id {ds_id} is already taken")
            self._write_table(f"ds_{ds_id}", df)
            con.execute("INSERT INTO datasets (id, name, kind, org, source, fingerprint, n_rows, report, created_by,"
                        " loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [ds_id, info.get("name"), info.get("kind"), info.get("org") or "local", info.get("source"),
                         info.get("fingerprint"), len(df), _json(info.get("report") or {}), info.get("created_by"),
                         info.get("loaded_at")])
        return ds_id

    def list_runs(self, org: str | None = None) -> pd.DataFrame:
        return self.select("SELECT id, kind, org, status, version, started_at, ended_at, progress_done,"
                           " progress_total, message, created_by FROM runs", {"org": org}, "started_at DESC")

    def get_run(self, run_id: str) -> dict:
        df = self.query("SELECT * FROM runs WHERE id = ?", [run_id])
        if df.empty:
            raise EquicareError(f"no run with id {run_id!r}")
        info = df.iloc[0].to_dict()
        for key in ("params", "fingerprints", "summary"):
            info[key] = json.loads(info[key]) if info.get(key) else {}
        return info

    def result_names(self, run_id: str) -> list[str]:
        df = self.query("SELECT name FROM results WHERE run_id = ? ORDER BY id", [run_id])
        return df.name.tolist()

    def get_result(self, run_id: str, name: str) -> pd.DataFrame:
        df = self.query("SELECT id FROM results WHERE run_id = ? AND name = ?", [run_id, name])
        if df.empty:
            raise EquicareError(f"run {run_id!r} has no result called {name!r}")
        return self.query(f"SELECT * FROM res_{int(df.id.iloc[0])}")
