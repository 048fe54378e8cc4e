"""Cost tables for facility location: demand points x candidate sites, and the checks every model shares.

A cost table holds the cost of serving each demand point from each candidate site (travel time, metres,
money).  A pair missing from the table means that site cannot serve that demand point (``inf`` in the
dense matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare.data.readers import sheet_row
from equicare.errors import EquicareError, InfeasibleError, Problem, ValidationError
from equicare.optimize.location.rows import SortedRows


@dataclass
class CostTable:
    """Demand ids, site ids and the cost matrix (``inf`` where a pair is not in the table)."""

    demand_ids: list[str]
    site_ids: list[str]
    cost: np.ndarray  # (n_demand, n_site)

def cost_table_from_long(df: pd.DataFrame, demand_ids=None, file: str = "cost table",
                         origin: str = "origin", destination: str = "destination",
                         cost: str = "cost") -> CostTable:
    """Pivot a long cost table (origin = demand unit, destination = candidate site) to a matrix.

    Parameters
    ----------
    df : DataFrame
        Columns ``origin, destination, cost``.
    demand_ids : sequence of str, optional
        Order of the demand rows (default: order of first appearance).  Missing pairs get ``inf``.
    file : str
        Name used in error messages.

    Raises
    ------
    ValidationError
        Missing columns, non-numeric or negative costs, duplicate pairs.
    """
    probs = []
    for col in (origin, destination, cost):
        if col not in df.columns:
            probs.append(Problem(file, None, col, "required column is missing"))
    if probs:
        raise ValidationError(probs)
    o = df[origin].astype(str).to_numpy()
    d = df[destination].astype(str).to_numpy()
    c = pd.to_numeric(df[cost], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(c) | (c < 0))
    for k in bad[:20]:
        probs.append(Problem(file, sheet_row(df, k), cost, "must be a non-negative number", df[cost].iloc[k]))
    dup = pd.Series(list(zip(o, d))).duplicated().to_numpy()
    for k in np.flatnonzero(dup)[:20]:
        probs.append(Problem(file, sheet_row(df, k), f"{origin},{destination}", "duplicate pair", f"{o[k]}->{d[k]}"))
    if probs:
        raise ValidationError(probs)
    if demand_ids is None:
        demand_ids = list(dict.fromkeys(o))
    demand_ids = [str(v) for v in demand_ids]
    site_ids = list(dict.fromkeys(d))
    di = pd.Index(demand_ids)
    si = pd.Index(site_ids)
    r = di.get_indexer(o)
    cc = si.get_indexer(d)
    keep = r >= 0
    M = np.full((len(demand_ids), len(site_ids)), np.inf)
    M[r[keep], cc[keep]] = c[keep]
    return CostTable(demand_ids, site_ids, M)

def prepare(cost, weights, open_sites, site_ids, demand_ids):
    """Check a dense cost matrix, weights, site ids and forced sites; returns (C, w, forced, site_ids,
    demand_ids).  A :class:`SortedRows` table is turned dense."""
    if isinstance(cost, SortedRows):
        cost = cost.dense()
    C = np.asarray(cost, dtype=float)
    if C.ndim != 2:
        raise EquicareError("cost must be a demand-by-site matrix")
    n, m = C.shape
    if np.isnan(C).any():
        raise EquicareError("costs must be numbers (inf for a pair that is not allowed), not NaN")
    return (C, *_prepare_rest(n, m, weights, open_sites, site_ids, demand_ids))


def prepare_rows(cost, weights, open_sites, site_ids, demand_ids):
    """As :func:`prepare`, but returns the allowed pairs sorted per point (:class:`SortedRows`) in place of
    the matrix: (rows, w, forced, site_ids, demand_ids)."""
    if isinstance(cost, SortedRows):
        rows = cost
    else:
        C = np.asarray(cost, dtype=float)
        if C.ndim != 2:
            raise EquicareError("cost must be a demand-by-site matrix")
        if np.isnan(C).any():
            raise EquicareError("costs must be numbers (inf for a pair that is not allowed), not NaN")
        rows = SortedRows.from_dense(C)
    return (rows, *_prepare_rest(rows.n_demand, rows.n_site, weights, open_sites, site_ids, demand_ids))


def _prepare_rest(n, m, weights, open_sites, site_ids, demand_ids):
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,):
        raise EquicareError(f"{w.size} demand weights for {n} demand units")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise EquicareError("demand weights must be finite and non-negative")
    site_ids = [str(s) for s in (site_ids if site_ids is not None else range(m))]
    demand_ids = [str(s) for s in (demand_ids if demand_ids is not None else range(n))]
    forced = np.zeros(m, bool)
    if open_sites is not None and len(open_sites):
        idx = {s: k for k, s in enumerate(site_ids)}
        unknown = [str(s) for s in open_sites if str(s) not in idx]
        if unknown:
            raise EquicareError(f"sites to keep open are not candidate sites: {', '.join(unknown[:10])}")
        forced[[idx[str(s)] for s in open_sites]] = True
    return w, forced, site_ids, demand_ids

def check_p(p, m, forced):
    if p is None:
        raise EquicareError("this model needs --p (the number of sites to open)")
    if not 1 <= p <= m:
        raise EquicareError(f"p must be between 1 and the number of candidate sites ({m}), not {p}")
    if forced.sum() > p:
        raise InfeasibleError(f"{int(forced.sum())} sites are forced open but only p = {p} may open")

def assign_nearest(C, open_mask, demand_ids, site_ids, radius=None):
    cols = np.flatnonzero(open_mask)
    sub = C[:, cols]
    k = np.argmin(sub, axis=1)
    best = sub[np.arange(len(C)), k]
    out = {}
    for i, d in enumerate(demand_ids):
        ok = np.isfinite(best[i]) and (radius is None or best[i] <= radius + 1e-9)
        out[d] = site_ids[cols[k[i]]] if ok else None
    return out, best
