"""Suppression that holds across every output of the same data.

:func:`equicare.privacy.suppress.suppress_small_cells` protects one table with its totals. Two tables of
the same data suppressed separately can still disclose a hidden count together: a weekly table hiding
region 01's 5 in week 1 and a per-region table showing region 01's total 55 with weeks 2 and 3 (20, 30)
shown give 55 - 20 - 30 = 5. So every suppressed output of a dataset is recorded, cell by cell, in the
store table ``suppression_cells`` (keyed by organisation, the data key of
:mod:`equicare.privacy.fingerprint` -- the same for any re-save of the same rows -- and the count
column), and a new output is checked together with all earlier ones before it leaves:

Attacker model
    The attacker knows every shown cell of every output (each is a linear equation over the dataset's
    rows, ``sum of member rows = value``), that every count is >= 0, and that a cell hidden by the
    primary rule lies in ``1..threshold-1``. A *sensitive* cell (any cell hidden by the primary rule, in
    any output, and any single row whose count is 1..threshold-1) is **disclosed** when those facts pin
    it to one value.

Check (exact for the linear relaxation)
    A linear function is constant on a polytope iff it is constant on the polytope's affine hull, which
    is cut out by the equations plus the *implicit equalities* among the inequalities (those tight at
    every feasible point). These are found by linear programmes (HiGHS) maximising capped slacks
    (Fukuda, *Polyhedral computation*, 2020, sec. 8.4), then a sensitive cell is pinned iff its row
    vector lies in the row space of that equality system (a least-squares residual of zero). Rows shown
    on their own are substituted first, so the systems involve only hidden rows.

Repair
    While some sensitive cell is disclosed, one more cell of the *new* output is hidden: the smallest
    non-zero shown cell among those the least-squares combination pinning it uses (else the smallest
    shown cell). Earlier outputs never change: they have already left. A repeated output (same
    signature, same data) gets exactly the cells it got the first time.

Not covered: outputs of *different* count columns are independent (no identity across columns is
assumed), and run results that are not datasets are not recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import qr
from scipy.optimize import linprog

from equicare.errors import EquicareError
from equicare.privacy.fingerprint import CanonicalTable

if TYPE_CHECKING:  # pragma: no cover
    from equicare.store import Store

__all__ = ["DataIndex", "OutputCells", "RecordedCells", "disclosed_cells", "ensure_schema", "plan_outputs", "protect_outputs",
           "recorded_cells"]

_SQL = """
CREATE TABLE IF NOT EXISTS suppression_cells (
    org TEXT NOT NULL,
    data_key TEXT NOT NULL,
    column_name TEXT NOT NULL,
    signature TEXT NOT NULL,
    spec TEXT NOT NULL,
    shown BOOLEAN NOT NULL,
    primary_cell BOOLEAN NOT NULL,
    value DOUBLE,
    recorded_at TIMESTAMP
);
"""


def ensure_schema(store: "Store") -> None:
    with store.locked():
        store.con.execute(_SQL)


class DataIndex:
    """Cell specifications of one dataset's rows that do not depend on row order or file format.

    A row cell is ``{"row": <hash of the canonical row>, "k": <occurrence>}``; a group cell (a total over
    the rows sharing some column values) is ``{"g": {column: canonical value}}`` (``{}`` for all rows).

    Built from the rows (:class:`~equicare.privacy.fingerprint.CanonicalTable`: every column once), it keeps
    only the row hashes and each column's canonical codes, not the rows: it pickles compactly, so a worker
    process can build it and the web process resolve recorded cells with it (:meth:`members`).
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self.table = CanonicalTable(df, derived=True)
        self.n_rows = len(df)
        self.hashes = self.table.row_hashes()
        self._order = np.argsort(self.hashes, kind="stable")
        self._sorted = self.hashes[self._order]

    @property
    def row_keys(self) -> list[str]:
        """Each row's cell spec, in row order (``json.dumps({"row": <16 hex digits>, "k": <occurrence>})``)."""
        first = np.searchsorted(self._sorted, self._sorted, side="left")
        occ = np.empty(self.n_rows, dtype=np.int64)
        occ[self._order] = np.arange(self.n_rows) - first
        return [f'{{"row": "{h:016x}", "k": {k}}}' for h, k in zip(self.hashes.tolist(), occ.tolist())]

    def _column(self, col: str):
        return self.table.columns[str(col)]

    def canon(self, col: str) -> np.ndarray:
        """The canonical text of every row of ``col`` (object array)."""
        return self._column(col).cells()

    def group_spec(self, filters: dict[str, int]) -> str:
        """Spec of the group of rows sharing, for each column, the value of the given example row."""
        return json.dumps({"g": {c: str(self._column(c).values[self._column(c).codes[i]])
                                 for c, i in sorted(filters.items())}}, sort_keys=True)

    def within_spec(self, column: str, rows: np.ndarray) -> str:
        """Spec of all rows whose ``column`` takes one of the values it has at ``rows``."""
        c = self._column(column)
        vals = sorted({str(v) for v in c.values[np.unique(c.codes[rows])]})
        return json.dumps({"gin": {column: vals}}, sort_keys=True)

    def members(self, spec: str) -> np.ndarray:
        """Indices of the rows a cell spec sums (empty when no row matches)."""
        d = json.loads(spec)
        none = np.array([], dtype=np.int64)
        if "row" in d:
            if set(d) != {"row", "k"}:
                return none
            h = np.uint64(int(d["row"], 16))
            lo, hi = np.searchsorted(self._sorted, h, side="left"), np.searchsorted(self._sorted, h, side="right")
            k = int(d["k"])
            return self._order[lo + k:lo + k + 1].astype(np.int64) if 0 <= k < hi - lo else none
        mask = np.ones(self.n_rows, dtype=bool)
        for c, vs in d.get("gin", {}).items():
            if c not in self.table.columns:
                return none
            mask &= self._column(c).rows_with(vs)
        for c, v in d.get("g", {}).items():
            if c not in self.table.columns:
                return none
            mask &= self._column(c).rows_with([v])
        return np.flatnonzero(mask)


@dataclass
class OutputCells:
    """The cells of one output for one count column.

    ``specs`` are :class:`DataIndex` specs, ``members`` the row indices each cell sums, ``values`` the true
    values, ``shown`` whether the cell is published, ``primary`` whether it is hidden by the primary rule.
    """

    signature: str
    column: str
    specs: list[str]
    members: list[np.ndarray]
    values: np.ndarray
    shown: np.ndarray
    primary: np.ndarray
    added: int = 0
    notes: list[str] = field(default_factory=list)
    recorded: bool = False  # the pattern is the one recorded for this signature before (nothing new to record)


def recorded_cells(store: "Store", org: str, data_key: str, column: str) -> pd.DataFrame:
    """Every cell recorded for this data and column (all outputs)."""
    ensure_schema(store)
    return store.query("SELECT signature, spec, shown, primary_cell, value FROM suppression_cells "
                       "WHERE org = ? AND data_key = ? AND column_name = ?", [org, data_key, column])


def _implicit_equalities(A: sp.csr_matrix, b: np.ndarray, G: sp.csr_matrix, h: np.ndarray) -> np.ndarray:
    """Mask of the inequalities ``G x >= h`` that hold with equality on all of ``{A x = b, G x >= h}``."""
    n, k = A.shape[1], G.shape[0]
    remaining = np.ones(k, dtype=bool)
    if k == 0:
        return remaining
    A_eq = sp.hstack([A, sp.csr_matrix((A.shape[0], k))]).tocsr() if A.shape[0] else None
    A_ub = sp.hstack([-G, sp.identity(k, format="csr")]).tocsr()
    bounds = [(None, None)] * n + [(0.0, 1.0)] * k
    for _ in range(50):
        c = np.concatenate([np.zeros(n), -remaining.astype(float)])
        res = linprog(c, A_ub=A_ub, b_ub=-h, A_eq=A_eq, b_eq=b if A_eq is not None else None, bounds=bounds,
                      method="highs")
        if res.status != 0:
            raise EquicareError(f"the disclosure check could not solve its linear programme: {res.message}")
        t = res.x[n:]
        loose = remaining & (t > 1e-7)
        if not loose.any():
            return remaining
        remaining &= ~loose
    return remaining


def disclosed_cells(cells: list[tuple[np.ndarray, float, bool, bool]], n_rows: int, threshold: int,
                    sensitive_rows: np.ndarray | None = None) -> tuple[list[int], list[np.ndarray]]:
    """Which sensitive cells the shown cells pin, and for each the shown cells used to pin it.

    ``cells`` are ``(member rows, value, shown, primary)``; sensitive are the hidden primary cells and
    ``sensitive_rows`` (single rows with a small count). Returns the indices of disclosed cells (rows
    disclosed are returned as ``-1 - row``) and, per disclosed cell, the indices of shown cells involved.
    """
    ones = [(i, m) for i, (m, _, shown, _) in enumerate(cells) if shown and len(m) == 1]
    fixed = np.zeros(n_rows, dtype=bool)
    fixed_val = np.zeros(n_rows)
    for i, m in ones:
        fixed[m[0]] = True
        fixed_val[m[0]] = cells[i][1]
    free = np.flatnonzero(~fixed)
    col = -np.ones(n_rows, dtype=np.int64)
    col[free] = np.arange(len(free))
    nf = len(free)

    def vec(m: np.ndarray) -> tuple[np.ndarray, float]:
        """Restriction of a cell to the free rows, and the known part of its sum."""
        return col[m[~fixed[m]]], float(fixed_val[m[fixed[m]]].sum())

    eq_rows, eq_b, eq_src = [], [], []
    ineq_rows, ineq_h = [[j] for j in range(nf)], [0.0] * nf
    sens: list[tuple[int, np.ndarray]] = []
    for i, (m, v, shown, primary) in enumerate(cells):
        cols, known = vec(m)
        if shown and len(m) > 1 and len(cols):
            eq_rows.append(cols)
            eq_b.append(v - known)
            eq_src.append(i)
        elif not shown and primary:
            if len(cols):
                ineq_rows += [cols, cols]
                ineq_h += [1.0 - known, -(threshold - 1.0 - known)]
            sens.append((i, cols))
    for r in (sensitive_rows if sensitive_rows is not None else []):
        if not fixed[r]:
            sens.append((-1 - int(r), col[[r]]))
    if not sens:
        return [], []

    def matrix(rows: list[np.ndarray], signs: list[float] | None = None) -> sp.csr_matrix:
        if not rows:
            return sp.csr_matrix((0, nf))
        indptr = np.cumsum([0] + [len(r) for r in rows])
        data = np.concatenate([np.full(len(r), 1.0 if signs is None else signs[k]) for k, r in enumerate(rows)])
        return sp.csr_matrix((data, np.concatenate(rows), indptr), shape=(len(rows), nf))

    signs = [1.0] * nf + [(-1.0 if k % 2 else 1.0) for k in range(len(ineq_rows) - nf)]
    A, G = matrix(eq_rows), matrix(ineq_rows, signs)
    implicit = _implicit_equalities(A, np.asarray(eq_b, float), G, np.asarray(ineq_h, float))
    M = sp.vstack([A, G[implicit]]).tocsr() if (A.shape[0] or implicit.any()) else sp.csr_matrix((0, nf))
    src = eq_src + [-1] * int(implicit.sum())
    out, used = [], []
    if M.shape[0] == 0:
        return [], []
    # one test per distinct cell vector (a primary hidden row is also a small row)
    sens_keys = [tuple(sorted(int(c) for c in cols)) for _, cols in sens]
    keyed: dict[tuple, int] = {}
    for key in sens_keys:
        keyed.setdefault(key, len(keyed))
    lens = np.array([len(k) for k in keyed], dtype=np.int64)
    B = sp.csc_matrix((np.ones(int(lens.sum())), np.fromiter((c for k in keyed for c in k), np.int64,
                                                            int(lens.sum())),
                       np.concatenate([[0], np.cumsum(lens)])), shape=(nf, len(keyed)))
    # b is pinned when it lies in the row space of M: its distance to that space, from an orthonormal basis Q of
    # the row space (rank-revealing QR of M^T), is sqrt(|b|^2 - |Q^T b|^2); B stays sparse (one column per
    # cell vector, a few ones each), so no dense rows x cells matrix is formed
    Q, R, _ = qr(M.T.toarray(), mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > 1e-10 * d[0]).sum()) if len(d) and d[0] > 0 else 0
    proj = np.asarray(B.T @ Q[:, :rank]) if rank else np.zeros((len(keyed), 0))
    resid_all = np.sqrt(np.maximum(lens - (proj ** 2).sum(axis=1), 0.0))
    col_of = np.array([keyed[key] for key in sens_keys], dtype=np.int64)
    resid = resid_all[col_of]
    hit = [k for k, (i, cols) in enumerate(sens)
           if (len(cols) == 0 or resid[k] < 1e-6) and not (i >= 0 and threshold - 1 <= 1)]  # (1..1: by the rule)
    if not hit:
        return [], []
    # the shown cells behind each disclosure: the minimum-norm y with M^T y = b, through the Gram matrix M M^T
    Gp = np.linalg.pinv((M @ M.T).toarray(), rcond=1e-10, hermitian=True)
    cols_hit = np.unique(col_of[hit])
    Y = Gp @ np.asarray((M @ B[:, cols_hit]).todense())
    where = {int(c): j for j, c in enumerate(cols_hit)}
    for k in hit:
        out.append(sens[k][0])
        w = Y[:, where[int(col_of[k])]]
        used.append(np.array([src[j] for j in np.flatnonzero(np.abs(w) > 1e-9) if src[j] >= 0]))
    return out, used


def _store_cells(con, org: str, data_key: str, o: OutputCells) -> None:
    frame = pd.DataFrame({"org": org, "data_key": data_key, "column_name": o.column,  # noqa: F841
                          "signature": o.signature, "spec": o.specs, "shown": np.asarray(o.shown, bool),
                          "primary_cell": np.asarray(o.primary, bool), "value": np.asarray(o.values, float),
                          "recorded_at": datetime.now(timezone.utc).replace(tzinfo=None)})
    con.register("_equicare_cells", frame)
    try:
        con.execute("INSERT INTO suppression_cells SELECT * FROM _equicare_cells")
    finally:
        con.unregister("_equicare_cells")


def protect_outputs(store: "Store", org: str, data_key: str, index: DataIndex, outputs: list[OutputCells],
                    base: dict[str, np.ndarray], threshold: int = 11, max_rounds: int = 500,
                    planned: "RecordedCells | None" = None) -> list[OutputCells]:
    """Check each new output against the earlier outputs of the same data and column, hide more of it
    where needed (see the module docstring), record it, and return it.

    ``base[column]`` holds each row's count (the values the cells sum). An output whose signature was
    recorded before is given the recorded pattern unchanged. ``planned``: the records the outputs were already
    checked against elsewhere (:func:`plan_outputs` in a worker process); when the store still holds exactly
    those, the outputs are recorded as they are, otherwise they are checked again here, under the store's lock.
    """
    ensure_schema(store)
    with store.locked():
        now = RecordedCells.read(store, org, data_key, [o.column for o in outputs])
        if planned is None or planned.counts() != now.counts():
            plan_outputs(now, index, outputs, base, threshold, max_rounds)
        for o in outputs:
            if not o.recorded:
                with store.transaction() as con:
                    _store_cells(con, org, data_key, o)
    return outputs


@dataclass
class RecordedCells:
    """The cells recorded for some count columns of one data key (:func:`recorded_cells` per column), so that
    a new output can be checked against them away from the store (in a worker process)."""

    by_column: dict[str, pd.DataFrame]

    @classmethod
    def read(cls, store: "Store", org: str, data_key: str, columns: list[str]) -> "RecordedCells":
        return cls({c: recorded_cells(store, org, data_key, c) for c in dict.fromkeys(columns)})

    def counts(self) -> dict[str, int]:
        """Recorded cells per column (the table only grows, so equal counts mean equal records)."""
        return {c: len(t) for c, t in self.by_column.items()}


def plan_outputs(recorded: RecordedCells, index: DataIndex, outputs: list[OutputCells], base: dict[str, np.ndarray],
                 threshold: int = 11, max_rounds: int = 500) -> list[OutputCells]:
    """The pure part of :func:`protect_outputs`: each output gets the pattern recorded for its signature
    (``recorded`` set) or is repaired against the other recorded outputs of its column; touches no store.

    Raises
    ------
    EquicareError
        An output cannot be released without disclosing a hidden count, or the repair did not settle.
    """
    for o in outputs:
        rec = recorded.by_column.get(o.column)
        if rec is None:
            raise EquicareError(f"internal: no records read for column {o.column!r}")
        same = rec[rec.signature == o.signature]
        if len(same):
            shown = dict(zip(same.spec, same.shown.astype(bool)))
            o.shown = np.array([bool(shown.get(s, False)) for s in o.specs])
            o.recorded = True
            continue
        prev = rec[rec.signature != o.signature]
        if len(prev):
            _repair(o, prev, index, base[o.column], threshold, max_rounds)
    return outputs


def _repair(o: OutputCells, prev: pd.DataFrame, index: DataIndex, base: np.ndarray, threshold: int,
            max_rounds: int) -> None:
    n = index.n_rows
    vals = np.nan_to_num(np.asarray(base, dtype=float))
    old = []
    for spec, shown, primary, value in zip(prev.spec, prev.shown, prev.primary_cell, prev.value):
        m = index.members(spec)
        old.append((m, float(vals[m].sum()) if len(m) else float(value), bool(shown), bool(primary)))
    small_rows = np.flatnonzero((vals >= 1) & (vals <= threshold - 1))
    for _ in range(max_rounds):
        new = [(m, float(v), bool(s), bool(p)) for m, v, s, p in zip(o.members, o.values, o.shown, o.primary)]
        bad, used = disclosed_cells(old + new, n, threshold, small_rows)
        if not bad:
            return
        allc = old + new
        cand = {j - len(old) for u in used for j in u if j >= len(old) and o.shown[j - len(old)]}
        support = set(np.concatenate([allc[j][0] for u in used for j in u] or [np.array([], int)]).tolist())
        cand |= {j for j in range(len(o.specs)) if o.shown[j] and len(o.members[j]) == 1
                 and int(o.members[j][0]) in support}
        cand = sorted(cand)
        if not cand:
            rows = set(np.concatenate([(old + new)[i][0] if i >= 0 else np.array([-1 - i]) for i in bad]).tolist())
            cand = [j for j in range(len(o.specs)) if o.shown[j] and rows & set(o.members[j].tolist())]
        if not cand:
            cand = [j for j in range(len(o.specs)) if o.shown[j]]
        if not cand:
            raise EquicareError("this output cannot be released without disclosing a count hidden in an earlier "
                                "output of the same data")
        v = o.values[cand]
        order = np.lexsort((v, v == 0))  # non-zero first, smallest first
        pick = cand[int(order[0])]
        o.shown[pick] = False
        o.added += 1
    raise EquicareError("the cross-output disclosure check did not settle; nothing was released")
