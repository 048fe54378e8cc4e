"""Public region lists that releases are made against: the bundled US states and counties, or a list an
organisation declares public (its districts).

A release is an aggregate over a *public* list of regions, never over codes taken from the private data
(which would reveal which regions occur). An organisation whose data use other codes (another country's
districts) uploads them as a ``regions`` dataset (``id``, ``name``, ``population``, ``lat``, ``lon``) and
declares it public under a name; that name is then a ``level`` for releases and pooling, for every
organisation. Declaring makes the list's ids, names and populations public: declare only what is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timezone

import pandas as pd

from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["BUILTIN_LEVELS", "declare_project_regions", "declare_region_list", "ensure_schema", "list_region_lists",
           "lists_from", "public_regions", "suggest_list_name"]

BUILTIN_LEVELS = ("state", "county")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS region_lists (
    name TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    dataset_id BIGINT NOT NULL,
    n_regions BIGINT,
    declared_by TEXT,
    declared_at TIMESTAMP
);
"""


def ensure_schema(store: Store) -> None:
    with store.locked():
        store.con.execute(_SCHEMA)


def _checked_name(name: str) -> str:
    name = str(name or "").strip()
    if not _NAME.match(name) or name in BUILTIN_LEVELS:
        raise EquicareError(f"a region list name must be 1-64 lower-case letters, digits, '-' or '_' and not "
                            f"{' or '.join(BUILTIN_LEVELS)}, got {name!r}")
    return name


def _refuse_taken(store: Store, name: str, org: str) -> None:
    taken = store.query("SELECT org FROM region_lists WHERE name = ?", [name])
    if not taken.empty and taken.org.iloc[0] != org:
        raise EquicareError(f"the region list name {name!r} is taken; choose another")


def declare_region_list(store: Store, name: str, dataset_id: int, *, org: str, user: str | None = None) -> dict:
    """Declare ``org``'s ``regions`` dataset public under ``name`` (lower-case letters, digits, ``-``, ``_``).

    Raises
    ------
    EquicareError
        A bad or taken name, a dataset of another organisation or not of kind ``regions``.
    """
    ensure_schema(store)
    name = _checked_name(name)
    info = store.dataset_info(dataset_id)
    if info["org"] != org:
        raise EquicareError(f"dataset {dataset_id} is not a dataset of {org}")
    if info["kind"] != "regions":
        raise EquicareError(f"dataset {dataset_id} is a {info['kind']} table; a region list is a regions table "
                            "(id, name, population, lat, lon)")
    _refuse_taken(store, name, org)
    with store.transaction() as con:
        con.execute("DELETE FROM region_lists WHERE name = ?", [name])
        con.execute("INSERT INTO region_lists VALUES (?, ?, ?, ?, ?, ?)",
                    [name, org, int(dataset_id), int(info["n_rows"] or 0), user,
                     datetime.now(timezone.utc).replace(tzinfo=None)])
    return {"name": name, "org": org, "dataset_id": int(dataset_id), "n_regions": int(info["n_rows"] or 0)}


def declare_project_regions(store: Store, name: str, run_id: str, *, org: str, user: str | None = None) -> dict:
    """Declare the regions of ``org``'s succeeded project run ``run_id`` public under ``name``.

    The run's regions (ids as written, as text; names; populations -- its ``access`` result) are copied into a
    ``regions`` dataset of their own (``public region list <name>``, source ``project-run:<run id>``), so that
    running the project again does not change a declared list; declaring the same name again replaces it.

    Raises
    ------
    EquicareError
        A run of another organisation, not a succeeded project run, a bad or taken name.
    """
    run = store.get_run(run_id)
    if run["org"] != org:
        raise EquicareError(f"no run with id {run_id!r}")
    if run["kind"] != "project" or run["status"] != "succeeded" or "access" not in store.result_names(run_id):
        raise EquicareError(f"run {run_id} is not a succeeded project run; its regions are not known yet")
    ensure_schema(store)
    name = _checked_name(name)
    _refuse_taken(store, name, org)
    acc = store.get_result(run_id, "access")
    ids = acc["region"].astype("string")
    table = pd.DataFrame({"id": ids.astype(object), "name": acc["name"].astype("string").fillna(ids).astype(object),
                          "population": pd.to_numeric(acc["population"], errors="coerce")})
    with store.transaction():
        ds = store.save_dataset(f"public region list {name}", "regions", table, source=f"project-run:{run_id}",
                                fingerprint=f"project-run:{run_id}", report={"project": run["params"].get("project")},
                                org=org, created_by=user)
        out = declare_region_list(store, name, ds, org=org, user=user)
    return {**out, "run_id": run_id, "project": run["params"].get("project")}


def lists_from(store: Store, org: str) -> list[dict]:
    """``org``'s declared region lists, each with the project run its regions came from (``run_id`` or None)."""
    ensure_schema(store)
    rows = store.query("SELECT r.name, r.n_regions, r.dataset_id, r.declared_by, r.declared_at, d.source "
                       "FROM region_lists r LEFT JOIN datasets d ON d.id = r.dataset_id WHERE r.org = ? "
                       "ORDER BY r.name", [org])
    out = []
    for r in rows.to_dict(orient="records"):
        src = str(r.get("source") or "")
        out.append({"name": r["name"], "n_regions": int(r["n_regions"]), "dataset_id": int(r["dataset_id"]),
                    "declared_by": r["declared_by"], "run_id": src.split(":", 1)[1] if src.startswith("project-run:")
                    else None})
    return out


def suggest_list_name(project: str | None) -> str:
    """A region list name made from a project's name (lower-case letters, digits and ``-``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(project or "").lower()).strip("-")[:56]
    return (slug or "regions") + "-regions" if not slug.endswith("regions") else slug


def list_region_lists(store: Store) -> list[dict]:
    """Every public region list: the built-in levels and the declared ones."""
    ensure_schema(store)
    rows = store.query("SELECT name, org, n_regions, declared_at FROM region_lists ORDER BY name")
    return [{"name": lv, "org": None, "builtin": True} for lv in BUILTIN_LEVELS] + [
        {"name": r["name"], "org": r["org"], "n_regions": int(r["n_regions"]), "builtin": False}
        for r in rows.to_dict(orient="records")]


def public_regions(level: str, store: Store | None = None) -> pd.DataFrame:
    """The public list of regions (``id``, ``name``, ``population``) called ``level``: ``state``, ``county``
    (bundled US census tables) or a declared list."""
    if level in BUILTIN_LEVELS:
        data = _bundled_data()
        table = data.states if level == "state" else data.counties
        return table[["id", "name", "population"]].copy()
    if store is not None:
        ensure_schema(store)
        row = store.query("SELECT dataset_id FROM region_lists WHERE name = ?", [str(level)])
        if not row.empty:
            df = store.get_dataset(int(row.dataset_id.iloc[0]))
            out = df[["id"]].copy()
            out["name"] = df["name"] if "name" in df.columns else df["id"]
            out["population"] = pd.to_numeric(df["population"], errors="coerce")
            return out.reset_index(drop=True)
    raise EquicareError(f"level must be 'state', 'county' or a declared public region list, got {level!r}")


@lru_cache(maxsize=1)
def _bundled_data():
    from equicare.data.bundled import load_bundled

    return load_bundled()
