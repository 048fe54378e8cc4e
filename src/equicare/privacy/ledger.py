"""The privacy-loss ledger: every DP release charged to the data it came from and to its organisation.

Budget keys
-----------
A dataset's epsilon is charged to its **data family**, not to its file:

* the *data key* is :func:`equicare.privacy.fingerprint.data_fingerprint` of the stored, typed rows, so
  the same rows saved again in any order or file format (CRLF, trailing newline, quoted header, spaces
  after commas, Parquet) have the same key and the same spent budget;
* a dataset whose rows largely repeat those of an earlier dataset of the organisation joins that
  dataset's family: the estimated share of common rows (Jaccard) is at least :data:`FAMILY_JACCARD` (a
  copy with one row of twenty changed), or at least :data:`FAMILY_CONTAINMENT` of the smaller one's rows
  are in the other (a filtered subset, or a superset); rows are compared both whole and by their
  measurements only (:func:`equicare.privacy.fingerprint.content_sketch`), so renaming columns, adding a
  constant column or replacing the identifiers and names does not make a new family;
* a dataset made from another (a release, :func:`record_derivation`) belongs to its parent's family.

Every release is checked against two budgets in the same transaction that records it: the family's
(default :data:`DEFAULT_EPSILON_BUDGET`) and the organisation's total over all its data
(default :data:`DEFAULT_ORG_EPSILON_BUDGET`). The second bounds what any copy that escapes the family
check (most rows changed) can add: by sequential composition, the organisation's releases together are
at most ``org budget``-DP for any person, whichever copies they came from.

Tables: ``privacy_ledger`` (one row per release), ``privacy_budget`` (family budgets),
``privacy_org_budget`` (organisation totals), ``privacy_data`` (data key -> family, row sketch) and
``privacy_keys`` (dataset id -> data key).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from inspect import signature
from typing import TYPE_CHECKING

import pandas as pd

from equicare.errors import EquicareError
from equicare.privacy.dp import DPRelease, check_bounds, check_epsilon, dp_release
from equicare.privacy.fingerprint import containment, fingerprints, jaccard

if TYPE_CHECKING:  # pragma: no cover
    from equicare.store import Store

__all__ = ["DEFAULT_EPSILON_BUDGET", "DEFAULT_ORG_EPSILON_BUDGET", "FAMILY_JACCARD", "BudgetKey", "KeyMaterial",
           "budget_key", "charge_release", "check_budget", "ensure_schema", "key_material", "known_budget_key",
           "org_budget", "org_spent", "privacy_budget", "privacy_ledger", "privacy_spent", "record_derivation",
           "release_dataset", "set_org_budget", "set_privacy_budget"]

DEFAULT_EPSILON_BUDGET = 1.0
DEFAULT_ORG_EPSILON_BUDGET = 10.0
FAMILY_JACCARD = 0.5
FAMILY_CONTAINMENT = 0.8

_SQL = """
CREATE SEQUENCE IF NOT EXISTS privacy_ledger_seq START 1;
CREATE TABLE IF NOT EXISTS privacy_ledger (
    id BIGINT PRIMARY KEY,
    org TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    dataset_id BIGINT,
    dataset_name TEXT,
    statistic TEXT NOT NULL,
    value_column TEXT,
    by_column TEXT,
    epsilon DOUBLE NOT NULL,
    error_bound DOUBLE,
    created_by TEXT,
    released_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS privacy_budget (
    org TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    epsilon_budget DOUBLE NOT NULL,
    PRIMARY KEY (org, fingerprint)
);
CREATE TABLE IF NOT EXISTS privacy_org_budget (
    org TEXT PRIMARY KEY,
    epsilon_budget DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS privacy_data (
    org TEXT NOT NULL,
    data_key TEXT NOT NULL,
    family TEXT NOT NULL,
    n_rows BIGINT,
    sketch TEXT,
    PRIMARY KEY (org, data_key)
);
ALTER TABLE privacy_data ADD COLUMN IF NOT EXISTS content TEXT;
CREATE TABLE IF NOT EXISTS privacy_keys (
    dataset_id BIGINT PRIMARY KEY,
    org TEXT NOT NULL,
    data_key TEXT NOT NULL
);
"""


class BudgetKey:
    """Where a dataset's epsilon is charged: ``org``, ``data_key`` (its rows) and ``family`` (the budget)."""

    def __init__(self, org: str, data_key: str, family: str, name: str) -> None:
        self.org, self.data_key, self.family, self.name = org, data_key, family, name


@dataclass(frozen=True)
class KeyMaterial:
    """What a dataset's budget key is computed from (:func:`key_material`): its data key, row count and the
    bottom-k sketches of its whole rows and of its measurements. Computing it reads every row (a few seconds
    for a million rows), so the service computes it in a worker process."""

    data_key: str
    n_rows: int
    sketch: list[int]
    content: list[int]


def key_material(df: pd.DataFrame) -> KeyMaterial:
    """The fingerprint and sketches of a dataset's stored rows (:func:`equicare.privacy.fingerprint.fingerprints`,
    one pass over the columns); no store is touched."""
    fp = fingerprints(df)
    return KeyMaterial(fp.data_key, fp.n_rows, fp.sketch, fp.content)


def ensure_schema(store: "Store") -> None:
    with store.locked():
        store.con.execute(_SQL)


def known_budget_key(store: "Store", dataset_id: int) -> BudgetKey | None:
    """The dataset's budget key if it was computed before (a cheap look-up), else None."""
    ensure_schema(store)
    info = store.dataset_info(dataset_id)
    org, name = str(info["org"]), str(info["name"])
    row = store.query("SELECT data_key FROM privacy_keys WHERE dataset_id = ?", [int(dataset_id)])
    if row.empty:
        return None
    key = str(row.data_key.iloc[0])
    fam = store.query("SELECT family FROM privacy_data WHERE org = ? AND data_key = ?", [org, key])
    return BudgetKey(org, key, str(fam.family.iloc[0]) if not fam.empty else key, name)


def budget_key(store: "Store", dataset_id: int, material: KeyMaterial | None = None) -> BudgetKey:
    """The dataset's data key and budget family, computed from its stored rows on first use (or from
    ``material``, :func:`key_material` of those rows computed elsewhere)."""
    known_key = known_budget_key(store, dataset_id)
    if known_key is not None:
        return known_key
    info = store.dataset_info(dataset_id)
    org, name = str(info["org"]), str(info["name"])
    if material is None:
        material = key_material(store.get_dataset(dataset_id))
    key = material.data_key
    with store.transaction() as con:
        known = con.execute("SELECT family FROM privacy_data WHERE org = ? AND data_key = ?", [org, key]).fetchall()
        if known:
            family = str(known[0][0])
        else:
            sketch, content = material.sketch, material.content
            family, best = key, 0.0
            for other_key, other_family, n_other, other_sketch, other_content in con.execute(
                    "SELECT data_key, family, n_rows, sketch, content FROM privacy_data WHERE org = ?",
                    [org]).fetchall():
                score = _resemblance(sketch, content, material.n_rows, json.loads(other_sketch or "[]"),
                                     json.loads(other_content or "[]"), int(n_other or 0))
                if score > best:
                    family, best = str(other_family), score
            con.execute("INSERT INTO privacy_data (org, data_key, family, n_rows, sketch, content) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [org, key, family, material.n_rows, json.dumps(sketch),
                                                      json.dumps(content)])
        con.execute("DELETE FROM privacy_keys WHERE dataset_id = ?", [int(dataset_id)])
        con.execute("INSERT INTO privacy_keys VALUES (?, ?, ?)", [int(dataset_id), org, key])
        legacy = str(info.get("fingerprint") or "")
        if legacy and legacy != family:  # releases recorded by an older version under the file's byte hash
            con.execute("UPDATE privacy_ledger SET fingerprint = ? WHERE org = ? AND fingerprint = ?",
                        [family, org, legacy])
            old = con.execute("SELECT epsilon_budget FROM privacy_budget WHERE org = ? AND fingerprint = ?",
                              [org, legacy]).fetchall()
            if old and not con.execute("SELECT 1 FROM privacy_budget WHERE org = ? AND fingerprint = ?",
                                       [org, family]).fetchall():
                con.execute("INSERT INTO privacy_budget VALUES (?, ?, ?)", [org, family, float(old[0][0])])
    return BudgetKey(org, key, family, name)


def _resemblance(sketch: list[int], content: list[int], n: int, other_sketch: list[int], other_content: list[int],
                 n_other: int) -> float:
    """How strongly a new dataset belongs to a known one's family: 0 when it does not, else the largest
    of the Jaccard and containment estimates over whole rows and over measurements that pass their
    thresholds."""
    best = 0.0
    for a, b in ((sketch, other_sketch), (content, other_content)):
        if not a or not b:
            continue
        j, c = jaccard(a, b), containment(a, b, n, n_other)
        if j >= FAMILY_JACCARD or c >= FAMILY_CONTAINMENT:
            best = max(best, j, c)
    return best


def record_derivation(store: "Store", child_id: int, parent_id: int) -> None:
    """Make dataset ``child_id`` (made from ``parent_id``) share its parent's budget family."""
    parent = budget_key(store, parent_id)
    child = store.dataset_info(child_id)
    key = f"derived:{int(child_id)}:{parent.data_key}"
    with store.transaction() as con:
        con.execute("DELETE FROM privacy_data WHERE org = ? AND data_key = ?", [str(child["org"]), key])
        con.execute("INSERT INTO privacy_data (org, data_key, family, n_rows, sketch, content) "
                    "VALUES (?, ?, ?, ?, ?, ?)", [str(child["org"]), key, parent.family,
                                                  int(child["n_rows"] or 0), "[]", "[]"])
        con.execute("DELETE FROM privacy_keys WHERE dataset_id = ?", [int(child_id)])
        con.execute("INSERT INTO privacy_keys VALUES (?, ?, ?)", [int(child_id), str(child["org"]), key])


def _spent(con, org: str, family: str | None = None) -> float:
    if family is None:
        sql, args = "SELECT COALESCE(SUM(epsilon), 0) FROM privacy_ledger WHERE org = ?", [org]
    else:
        sql, args = "SELECT COALESCE(SUM(epsilon), 0) FROM privacy_ledger WHERE org = ? AND fingerprint = ?", [
            org, family]
    return float(con.execute(sql, args).fetchall()[0][0])


def privacy_budget(store: "Store", dataset_id: int) -> float:
    """The total epsilon budget of the dataset's family (:data:`DEFAULT_EPSILON_BUDGET` unless set)."""
    k = budget_key(store, dataset_id)
    row = store.query("SELECT epsilon_budget FROM privacy_budget WHERE org = ? AND fingerprint = ?",
                      [k.org, k.family])
    return DEFAULT_EPSILON_BUDGET if row.empty else float(row.epsilon_budget.iloc[0])


def privacy_spent(store: "Store", dataset_id: int) -> float:
    """Total epsilon of the releases made so far from this dataset's family (same rows, copies, parents)."""
    k = budget_key(store, dataset_id)
    with store.locked():
        return _spent(store.con, k.org, k.family)


def set_privacy_budget(store: "Store", dataset_id: int, epsilon: float) -> None:
    """Set the budget of the dataset's family; it may not go below what was already spent."""
    eps = check_epsilon(epsilon, "budget")
    k = budget_key(store, dataset_id)
    with store.transaction() as con:
        spent = _spent(con, k.org, k.family)
        if eps < spent - 1e-12:
            raise EquicareError(f"dataset '{k.name}' has already spent epsilon {spent:g}; its budget cannot be {eps:g}")
        con.execute("DELETE FROM privacy_budget WHERE org = ? AND fingerprint = ?", [k.org, k.family])
        con.execute("INSERT INTO privacy_budget VALUES (?, ?, ?)", [k.org, k.family, eps])


def org_budget(store: "Store", org: str) -> float:
    """The organisation's total epsilon over all its data (:data:`DEFAULT_ORG_EPSILON_BUDGET` unless set)."""
    ensure_schema(store)
    row = store.query("SELECT epsilon_budget FROM privacy_org_budget WHERE org = ?", [org])
    return DEFAULT_ORG_EPSILON_BUDGET if row.empty else float(row.epsilon_budget.iloc[0])


def org_spent(store: "Store", org: str) -> float:
    """Total epsilon of every release the organisation made."""
    ensure_schema(store)
    with store.locked():
        return _spent(store.con, org)


def set_org_budget(store: "Store", org: str, epsilon: float) -> None:
    """Set the organisation's total budget; it may not go below what was already spent."""
    eps = check_epsilon(epsilon, "budget")
    ensure_schema(store)
    with store.transaction() as con:
        spent = _spent(con, org)
        if eps < spent - 1e-12:
            raise EquicareError(f"organisation '{org}' has already spent epsilon {spent:g}; its total budget "
                                f"cannot be {eps:g}")
        con.execute("DELETE FROM privacy_org_budget WHERE org = ?", [org])
        con.execute("INSERT INTO privacy_org_budget VALUES (?, ?)", [org, eps])


def privacy_ledger(store: "Store", org: str | None = None) -> pd.DataFrame:
    """Every recorded release (newest first), optionally only one organisation's."""
    ensure_schema(store)
    return store.select("SELECT * FROM privacy_ledger", {"org": org}, "id DESC")


def check_budget(store: "Store", dataset_id: int, epsilon: float) -> None:
    """Refuse (before any computation) a release of ``epsilon`` the family or organisation cannot afford."""
    eps = check_epsilon(epsilon)
    k = budget_key(store, dataset_id)
    with store.locked():
        _refuse_if_over(store.con, store, dataset_id, k, eps)


def _refuse_if_over(con, store: "Store", dataset_id: int, k: BudgetKey, eps: float) -> None:
    budget, spent = privacy_budget(store, dataset_id), _spent(con, k.org, k.family)
    if spent + eps > budget + 1e-12:
        raise EquicareError(
            f"privacy budget exceeded for dataset '{k.name}' (id {dataset_id}): epsilon {spent:g} of its budget "
            f"{budget:g} is spent, {max(budget - spent, 0):g} remains, and this release needs {eps:g}; "
            "ask for a smaller epsilon or reuse an earlier release (copies of the same data share one budget)")
    total, org_used = org_budget(store, k.org), _spent(con, k.org)
    if org_used + eps > total + 1e-12:
        raise EquicareError(
            f"privacy budget exceeded for organisation '{k.org}': epsilon {org_used:g} of its total budget "
            f"{total:g} is spent, {max(total - org_used, 0):g} remains, and this release needs {eps:g}")


def release_dataset(store: "Store", dataset_id: int, *, created_by: str | None = None, **query) -> DPRelease:
    """:func:`equicare.privacy.dp.dp_release` of a stored dataset, charged to its family's and its
    organisation's budgets.

    ``query`` is the keyword arguments of :func:`dp_release` (``by``, ``statistic``, ``epsilon``, ``regions`` and
    optionally ``column``, ``bounds``, ``alpha``), with its defaults; ``created_by`` is recorded in the ledger.
    The budgets are checked before the release is computed and again, with the ledger entry, in one
    transaction after it; a release that would exceed either is refused (its noisy values are discarded
    unseen).

    Raises
    ------
    TypeError
        A keyword :func:`dp_release` does not take, or a required one missing (before anything is read).
    EquicareError
        ``"privacy budget exceeded ..."`` naming the dataset (or organisation), the epsilon spent, the
        budget and the request; or any error of :func:`dp_release`.
    """
    q = signature(dp_release).bind(None, **query)  # dp_release's own keywords and defaults: one definition
    q.apply_defaults()
    eps = check_epsilon(q.arguments["epsilon"])
    if q.arguments["bounds"] is not None:
        # a bad request is named as such, whatever the budget
        check_bounds(q.arguments["bounds"], q.arguments["column"])
    k = budget_key(store, dataset_id)
    with store.locked():
        _refuse_if_over(store.con, store, dataset_id, k, eps)
    rel = dp_release(store.get_dataset(dataset_id), **{**query, "epsilon": eps})
    charge_release(store, dataset_id, k, rel, created_by=created_by)
    return rel


def charge_release(store: "Store", dataset_id: int, key: BudgetKey, rel: DPRelease,
                   created_by: str | None = None) -> int:
    """Charge a computed release to its family's and organisation's budgets: check both and record the
    ledger entry in one transaction (which joins the caller's, so the entry can commit together with the
    stored release). Returns the ledger entry's id.

    Raises
    ------
    EquicareError
        ``"privacy budget exceeded ..."``: nothing is recorded and ``rel`` must be discarded unseen.
    """
    eps = check_epsilon(rel.epsilon)
    with store.transaction() as con:
        _refuse_if_over(con, store, dataset_id, key, eps)
        lid = int(con.execute("SELECT nextval('privacy_ledger_seq')").fetchall()[0][0])
        con.execute("INSERT INTO privacy_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [lid, key.org, key.family, int(dataset_id), key.name, rel.statistic, rel.column, rel.by, eps,
                     rel.error_bound if math.isfinite(rel.error_bound) else None, created_by,
                     datetime.now(timezone.utc).replace(tzinfo=None)])
    return lid
