"""Cost rows sorted per demand point: the layout the large p-median solver works on.

Demand point *i* owns entries ``ptr[i]:ptr[i+1]`` of ``site`` (site index) and ``d`` (cost), sorted by
cost; a pair missing from the cost table has no entry, so a sparse table (tens of thousands of points
with a cost cut-off) costs memory in proportion to its pairs, never demand x sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SortedRows:
    """Allowed (demand, site) pairs, sorted by cost within each demand point.

    Attributes
    ----------
    ptr : ndarray of int64, shape (n + 1,)
    site : ndarray of int64, shape (nnz,)
    d : ndarray of float64, shape (nnz,)
        Cost of the pair (same units as the cost table).
    n_site : int
    """

    ptr: np.ndarray
    site: np.ndarray
    d: np.ndarray
    n_site: int

    @property
    def n_demand(self) -> int:
        return len(self.ptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.site)

    @property
    def demand(self) -> np.ndarray:
        """Demand index of every entry, shape (nnz,)."""
        return np.repeat(np.arange(self.n_demand), np.diff(self.ptr))

    @classmethod
    def from_dense(cls, C: np.ndarray) -> SortedRows:
        """From a demand-by-site matrix (``inf`` = pair not allowed)."""
        C = np.asarray(C, dtype=float)
        n, m = C.shape
        order = np.argsort(C, axis=1, kind="stable")
        Ds = np.take_along_axis(C, order, axis=1)
        ok = np.isfinite(Ds)
        if ok.all():
            return cls(np.arange(0, n * m + 1, m, dtype=np.int64), order.ravel().astype(np.int64), Ds.ravel(), m)
        ptr = np.r_[0, np.cumsum(ok.sum(axis=1))].astype(np.int64)
        return cls(ptr, order[ok].astype(np.int64), Ds[ok], m)

    @classmethod
    def from_pairs(cls, i: np.ndarray, j: np.ndarray, d: np.ndarray, n: int, m: int) -> SortedRows:
        """From pair lists (demand index, site index, cost); pairs need not be sorted.

        A table already grouped by demand point with the same number of pairs per point (a full matrix
        written row by row, the usual export) is sorted row by row (about 7x faster on 3.7 million
        pairs); any other order by two stable sorts (cost, then point).
        """
        i = np.asarray(i, np.int64)
        d = np.asarray(d, float)
        counts = np.bincount(i, minlength=n)
        ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        k = int(counts[0]) if n else 0
        if n and len(i) == n * k and k > 0 and np.all(counts == k) and np.all(i[1:] >= i[:-1]):
            o = (d.reshape(n, k).argsort(axis=1, kind="stable") + ptr[:-1, None]).ravel()
        else:
            o = np.argsort(d, kind="stable")
            o = o[np.argsort(i[o], kind="stable")]
        return cls(ptr, np.asarray(j, np.int64)[o], np.asarray(d, float)[o], m)

    def dense(self) -> np.ndarray:
        """The demand-by-site matrix (``inf`` where a pair is missing)."""
        C = np.full((self.n_demand, self.n_site), np.inf)
        C[self.demand, self.site] = self.d
        return C


def first_open_entry(rows: SortedRows, is_open: np.ndarray) -> np.ndarray:
    """Entry (index into ``rows.site``) of each point's nearest open site, shape (n,); -1 when none serves it."""
    first = np.full(rows.n_demand, -1, np.int64)
    idx = np.flatnonzero(is_open[rows.site])
    # entries are sorted by cost within each point: the first open entry of a point is its nearest
    u, pos = np.unique(rows.demand[idx], return_index=True)
    first[u] = idx[pos]
    return first


def nearest_open(rows: SortedRows, is_open: np.ndarray):
    """Site index and cost of each point's nearest open site (-1 and ``inf`` when none serves it)."""
    n = rows.n_demand
    first = first_open_entry(rows, is_open)
    if rows.nnz == 0:  # no pair at all: nobody is served
        return first, np.full(n, np.inf)
    site = np.where(first >= 0, rows.site[np.maximum(first, 0)], -1)
    d = np.where(first >= 0, rows.d[np.maximum(first, 0)], np.inf)
    return site, d


def within(rows: SortedRows, radius: float):
    """The pairs of cost at most ``radius`` as a sparse 0/1 matrix, shape (n_demand, n_site), CSR with
    sorted site indices (a prefix of every row: memory follows those pairs, never demand x sites)."""
    import scipy.sparse as sp

    ok = rows.d <= radius
    ptr = np.r_[0, np.cumsum(np.bincount(rows.demand[ok], minlength=rows.n_demand))].astype(np.int64)
    M = sp.csr_matrix((np.ones(int(ok.sum()), np.int8), rows.site[ok], ptr), shape=(rows.n_demand, rows.n_site))
    M.sort_indices()
    return M


def assign(rows: SortedRows, is_open: np.ndarray, demand_ids, site_ids, radius: float | None = None):
    """Each demand id -> the id of its nearest open site (None when no open site serves it, or, with
    ``radius``, none within it); also the cost to that site per point (``inf`` when none)."""
    site, d = nearest_open(rows, is_open)
    ok = site >= 0
    if radius is not None:
        ok &= d <= radius + 1e-9
    return {demand_ids[i]: (site_ids[site[i]] if ok[i] else None) for i in range(len(demand_ids))}, d
