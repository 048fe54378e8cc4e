"""What an organisation may see: its own datasets and runs, plus aggregates another organisation shared.

Only aggregates may cross organisations: a dataset of kind ``dp_release`` (a differentially private
release, :mod:`equicare.privacy.dp`) or ``suppressed`` (a small-cell-suppressed table,
:mod:`equicare.privacy.suppress`), made over a public region list (its report names the ``level`` and
the ``by`` column). Row-level uploads can never be shared, and a release grouped by a key unique per row
is refused when it is made (:func:`equicare.service.releases.make_release`).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["SHAREABLE_KINDS", "ensure_schema", "grant", "shared_with", "can_read_dataset", "visible_datasets"]

SHAREABLE_KINDS = ("dp_release", "suppressed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
    dataset_id BIGINT NOT NULL,
    to_org TEXT NOT NULL,
    granted_by TEXT,
    granted_at TIMESTAMP,
    PRIMARY KEY (dataset_id, to_org)
);
"""


def ensure_schema(store: Store) -> None:
    with store.locked():
        store.con.execute(_SCHEMA)


def grant(store: Store, dataset_id: int, to_org: str, *, by_org: str, by_user: str | None = None) -> None:
    """Share an aggregate dataset of ``by_org`` with ``to_org``.

    Raises
    ------
    EquicareError
        The dataset is not ``by_org``'s or is not a shareable aggregate.
    """
    ensure_schema(store)
    info = store.dataset_info(dataset_id)
    if info["org"] != by_org:
        raise EquicareError(f"dataset {dataset_id} belongs to another organisation")
    if info["kind"] not in SHAREABLE_KINDS:
        raise EquicareError(f"dataset {dataset_id} is row-level data ({info['kind']}); only differentially private "
                            "or small-cell-suppressed aggregates can be shared")
    rep = info.get("report") or {}
    if not rep.get("level") or not rep.get("by"):
        raise EquicareError(f"dataset {dataset_id} is not an aggregate over a public region list; only releases "
                            "made over a public region list can be shared")
    with store.transaction() as con:
        con.execute("DELETE FROM grants WHERE dataset_id = ? AND to_org = ?", [int(dataset_id), to_org])
        con.execute("INSERT INTO grants VALUES (?, ?, ?, ?)",
                    [int(dataset_id), to_org, by_user, datetime.now(timezone.utc).replace(tzinfo=None)])


def shared_with(store: Store, org: str) -> set[int]:
    """Ids of datasets other organisations shared with ``org``."""
    ensure_schema(store)
    return set(int(i) for i in store.query("SELECT dataset_id FROM grants WHERE to_org = ?", [org]).dataset_id)


def can_read_dataset(store: Store, dataset_id: int, org: str) -> bool:
    info = store.dataset_info(dataset_id)
    return info["org"] == org or int(dataset_id) in shared_with(store, org)


def visible_datasets(store: Store, org: str) -> pd.DataFrame:
    """The catalog of ``org``'s datasets and those shared with it (column ``shared`` marks the latter)."""
    ensure_schema(store)
    df = store.query(
        "SELECT d.id, d.name, d.kind, d.org, d.source, d.n_rows, d.created_by, d.loaded_at, d.org <> ? AS shared "
        "FROM datasets d WHERE d.org = ? OR d.id IN (SELECT dataset_id FROM grants WHERE to_org = ?) "
        "ORDER BY d.id DESC", [org, org, org])
    return df
