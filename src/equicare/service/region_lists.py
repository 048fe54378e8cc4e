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

__all__ = ["BUILTIN_LEVELS", "declare_region_list", "ensure_schema", "list_region_lists", "public_regions"]

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
    with store._lock:
        store.con.execute(_SCHEMA)


def declare_region_list(store: Store, name: str, dataset_id: int, *, org: str, user: str | None = None) -> dict:
    """Declare ``org``'s ``regions`` dataset public under ``name`` (lower-case letters, digits, ``-``, ``_``).

    Raises
    ------
    EquicareError
        A bad or taken name, a dataset of another organisation or not of kind ``regions``.
    """
    ensure_schema(store)
    name = str(name or "").strip()
    if not _NAME.match(name) or name in BUILTIN_LEVELS:
        raise EquicareError(f"a region list name must be 1-64 lower-case letters, digits, '-' or '_' and not "
                            f"{' or '.join(BUILTIN_LEVELS)}, got {name!r}")
    info = store.dataset_info(dataset_id)
    if info["org"] != org:
        raise EquicareError(f"dataset {dataset_id} is not a dataset of {org}")
    if info["kind"] != "regions":
        raise EquicareError(f"dataset {dataset_id} is a {info['kind']} table; a region list is a regions table "
                            "(id, name, population, lat, lon)")
    taken = store.query("SELECT org FROM region_lists WHERE name = ?", [name])
    if not taken.empty and taken.org.iloc[0] != org:
        raise EquicareError(f"the region list name {name!r} is taken; choose another")
    with store.transaction() as con:
        con.execute("DELETE FROM region_lists WHERE name = ?", [name])
        con.execute("INSERT INTO region_lists VALUES (?, ?, ?, ?, ?, ?)",
                    [name, org, int(dataset_id), int(info["n_rows"] or 0), user,
                     datetime.now(timezone.utc).replace(tzinfo=None)])
    return {"name": name, "org": org, "dataset_id": int(dataset_id), "n_regions": int(info["n_rows"] or 0)}


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
