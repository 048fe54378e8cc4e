"""The audit log: every write to the service (who, what, when, outcome), kept in the store."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from equicare.store import Store

__all__ = ["ensure_schema", "record", "audit_log"]

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS audit_seq START 1;
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGINT PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    user_name TEXT,
    org TEXT,
    action TEXT NOT NULL,
    target TEXT,
    status INTEGER,
    detail TEXT
);
"""


def ensure_schema(store: Store) -> None:
    with store.locked():
        store.con.execute(_SCHEMA)


def record(store: Store, action: str, *, user: str | None = None, org: str | None = None, target: str | None = None,
           status: int | None = None, detail: dict | None = None) -> None:
    """Append one entry (``action`` e.g. ``"POST /api/datasets"`` or ``"users add"``)."""
    ensure_schema(store)
    with store.locked():
        store.con.execute(
            "INSERT INTO audit_log VALUES (nextval('audit_seq'), ?, ?, ?, ?, ?, ?, ?)",
            [datetime.now(timezone.utc).replace(tzinfo=None), user, org, action, target, status,
             json.dumps(detail or {}, default=str, sort_keys=True)])


def audit_log(store: Store, org: str | None = None, limit: int = 200) -> pd.DataFrame:
    """The newest entries first, optionally only one organisation's."""
    ensure_schema(store)
    sql, params = "SELECT * FROM audit_log", []
    if org is not None:
        sql += " WHERE org = ?"
        params.append(org)
    params.append(int(limit))
    return store.query(sql + " ORDER BY id DESC LIMIT ?", params)
