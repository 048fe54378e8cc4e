"""Local search for the p-center decision "can *p* sites serve every point within *R*?" (upper bounds).

Formulation
-----------
For a radius *R*, a point is covered when an open site is within *R*.  The search keeps exactly *p* open
sites (the forced ones never close) and swaps one closed site in and one open site out so that the
*weighted* number of uncovered points falls; each step the site brought in covers a randomly chosen
uncovered point, and every point still uncovered after a step gains weight 1, so the search leaves local
minima (the point-weighting of Pullan 2008, also used by the vertex substitution of Mladenovic, Labbe and
Hansen 2003 for the p-center).  A step's effect is computed exactly from, per point, the number of open
sites within *R* and the sum of their indices (the only covering site when that number is 1).

A cover found is a proof that *R* is met (an upper bound on the optimal radius); failing proves nothing.
The p-center uses it (i) bisected over the radius for a first answer and (ii) before each exact probe
between the bounds, so most probes "R met?" are answered without a MIP.

The search reads prefixes of two sorted layouts, never demand x sites: the pairs sorted per point
(:class:`~equicare.optimize.location.rows.SortedRows`) and the same pairs sorted per site
(:class:`SiteRows`), both cut at *R* as it goes.

References
----------
Mladenovic, N., Labbe, M. and Hansen, P. (2003). Solving the p-center problem with tabu search and
variable neighborhood search. *Networks* 42, 48-64.
Pullan, W. (2008). A memetic genetic algorithm for the vertex p-center problem. *Evolutionary Computation*
16, 417-436.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from equicare.optimize.location.rows import SortedRows

SEARCH_STEPS = 1000
"""Swap steps of one local search without improving the fewest uncovered points before it gives up."""

SEARCH_WORK = 20_000_000
"""Pairs one local search may read in all (about 0.1-0.3 s): bounds a search that keeps improving slowly."""


@dataclass(frozen=True)
class SiteRows:
    """The pairs of a :class:`SortedRows`, sorted by cost within each *site*: site *j* owns entries
    ``ptr[j]:ptr[j+1]`` of ``point`` (demand index) and ``d`` (cost)."""

    ptr: np.ndarray
    point: np.ndarray
    d: np.ndarray

    @classmethod
    def from_rows(cls, rows: SortedRows, upto: float = np.inf) -> SiteRows:
        """The pairs of cost at most ``upto`` (the largest radius a search will ask about)."""
        ok = rows.d <= upto
        ptr = np.r_[0, np.cumsum(np.bincount(rows.site[ok], minlength=rows.n_site))].astype(np.int64)
        point, d = _by_site(rows.ptr, rows.site, rows.d, ok, ptr)
        return cls(ptr, point, d)


def cover_search(rows: SortedRows, cols: SiteRows, radius: float, start: np.ndarray, forced: np.ndarray,
                 steps: int = SEARCH_STEPS, work: int = SEARCH_WORK, seed: int = 0) -> tuple[int, np.ndarray]:
    """Swap search for ``start.sum()`` sites serving every point within ``radius``.

    Parameters
    ----------
    start : ndarray of bool, shape (n_site,)
        The open sites to start from (their number is kept); ``forced`` ones (bool, same shape) stay open.
    steps : int
        Steps without a new fewest-uncovered count before it stops.
    work : int
        Pairs read in all before it stops.

    Returns
    -------
    (uncovered, is_open)
        The fewest points left beyond ``radius`` and those sites (a cover when ``uncovered`` is 0).
    """
    u, y = _search(rows.ptr, rows.site, rows.d, cols.ptr, cols.point, cols.d, float(radius),
                   start.astype(np.bool_), forced.astype(np.bool_), int(steps), int(work), int(seed))
    return int(u), y


@njit(cache=True)
def _by_site(rptr, rsite, rd, ok, ptr):
    """Bucket the kept pairs by site, then sort each site's bucket by cost."""
    n = len(rptr) - 1
    m = len(ptr) - 1
    fill = ptr[:-1].copy()
    point = np.empty(ptr[-1], np.int64)
    d = np.empty(ptr[-1], np.float64)
    for i in range(n):
        for k in range(rptr[i], rptr[i + 1]):
            if ok[k]:
                j = rsite[k]
                point[fill[j]] = i
                d[fill[j]] = rd[k]
                fill[j] += 1
    for j in range(m):
        o = np.argsort(d[ptr[j]:ptr[j + 1]], kind="mergesort")
        point[ptr[j]:ptr[j + 1]] = point[ptr[j]:ptr[j + 1]][o]
        d[ptr[j]:ptr[j + 1]] = d[ptr[j]:ptr[j + 1]][o]
    return point, d


@njit(cache=True)
def _search(rptr, rsite, rd, cptr, cpt, cd, R, start, fixed, steps, work, seed):
    np.random.seed(seed)
    n = len(rptr) - 1
    m = len(cptr) - 1
    is_open = start.copy()
    cnt = np.zeros(n, np.int64)
    ssum = np.zeros(n, np.int64)  # sum of the open sites within R: the only one when cnt == 1
    w = np.ones(n, np.int64)
    loss = np.zeros(m, np.int64)  # weight of the points only this open site covers
    for j in range(m):
        if is_open[j]:
            for k in range(cptr[j], cptr[j + 1]):
                if cd[k] > R:
                    break
                cnt[cpt[k]] += 1
                ssum[cpt[k]] += j
    # uncovered points as a set with positions (O(1) add, remove, random pick)
    unc = np.empty(n, np.int64)
    pos = np.full(n, -1, np.int64)
    nu = 0
    for i in range(n):
        if cnt[i] == 0:
            unc[nu] = i
            pos[i] = nu
            nu += 1
        elif cnt[i] == 1:
            loss[ssum[i]] += 1
    opened = np.flatnonzero(is_open)
    n_open = len(opened)
    best_open = is_open.copy()
    best_u = nu
    overlap = np.zeros(m, np.int64)
    tabu_in = np.zeros(m, np.int64)  # step until which a site just closed may not reopen
    tabu_out = np.zeros(m, np.int64)  # step until which a site just opened may not close
    step = 0
    since = 0
    done = 0
    while nu > 0 and since < steps and done < work:
        step += 1
        since += 1
        i = unc[np.random.randint(nu)]
        b_delta = -(1 << 62)
        b_in = -1
        b_out = -1
        ties = 0
        for kk in range(rptr[i], rptr[i + 1]):
            if rd[kk] > R:
                break
            jin = rsite[kk]
            if is_open[jin] or tabu_in[jin] > step:
                continue
            gain = 0
            done += n_open
            for k in range(cptr[jin], cptr[jin + 1]):
                done += 1
                if cd[k] > R:
                    break
                q = cpt[k]
                if cnt[q] == 0:
                    gain += w[q]
                elif cnt[q] == 1:
                    overlap[ssum[q]] += w[q]
            for t in range(n_open):
                jout = opened[t]
                if fixed[jout] or tabu_out[jout] > step:
                    continue
                delta = gain - loss[jout] + overlap[jout]
                if delta > b_delta:
                    b_delta, b_in, b_out, ties = delta, jin, t, 1
                elif delta == b_delta:
                    ties += 1
                    if np.random.randint(ties) == 0:
                        b_in, b_out = jin, t
            for k in range(cptr[jin], cptr[jin + 1]):
                if cd[k] > R:
                    break
                if cnt[cpt[k]] == 1:
                    overlap[ssum[cpt[k]]] = 0
        if b_in < 0:
            break  # nothing may move (every open site forced)
        jout = opened[b_out]
        # open b_in
        is_open[b_in] = True
        for k in range(cptr[b_in], cptr[b_in + 1]):
            if cd[k] > R:
                break
            q = cpt[k]
            c = cnt[q]
            if c == 0:
                loss[b_in] += w[q]
                last = unc[nu - 1]
                unc[pos[q]] = last
                pos[last] = pos[q]
                pos[q] = -1
                nu -= 1
            elif c == 1:
                loss[ssum[q]] -= w[q]
            cnt[q] = c + 1
            ssum[q] += b_in
        # close jout
        is_open[jout] = False
        for k in range(cptr[jout], cptr[jout + 1]):
            if cd[k] > R:
                break
            q = cpt[k]
            cnt[q] -= 1
            ssum[q] -= jout
            if cnt[q] == 0:
                loss[jout] -= w[q]
                unc[nu] = q
                pos[q] = nu
                nu += 1
            elif cnt[q] == 1:
                loss[ssum[q]] += w[q]
        opened[b_out] = b_in
        tabu_in[jout] = step + 2
        tabu_out[b_in] = step + 2
        if nu < best_u:
            best_u = nu
            best_open[:] = is_open
            since = 0
        for t in range(nu):  # the points still uncovered weigh more
            w[unc[t]] += 1
    if nu < best_u:
        best_u = nu
        best_open[:] = is_open
    return best_u, best_open
