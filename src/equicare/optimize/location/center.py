"""p-center: open *p* sites so that the largest cost from a demand point to its nearest open site is least.

Formulation
-----------
p-center (Hakimi 1965): the smallest radius *R* among the distinct costs for which a location set
covering problem with the forced sites needs at most *p* sites, found by bisection over the sorted
distinct costs (each probe an exact LSCP on the sparse coverage of the pairs within *R*, decided by a
greedy cover or the LP bound when they suffice; see :mod:`.setcover`), between the largest nearest-site
cost of any point and the radius of a greedy p-median solution; then further sites open until exactly *p* are open (as in
PySAL spopt, whose model opens exactly *p*) and each demand goes to its nearest open site.

References
----------
Hakimi, S. L. (1965). Optimum distribution of switching centers in a communication network and some
related graph theoretic problems. *Operations Research* 13, 462-475.
Daskin, M. S. (2013). *Network and Discrete Location*, 2nd ed. Wiley, ch. 5.
"""

from __future__ import annotations

import time

import numpy as np

from equicare.errors import InfeasibleError
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.costs import check_p, prepare_rows
from equicare.optimize.location.coverage import check_reach_rows
from equicare.optimize.location.progress import Deadline, relative_gap
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import assign, nearest_open, within
from equicare.optimize.location.setcover import min_cover


def p_center(cost, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None) -> LocationResult:
    """Minimise the largest cost from any demand unit to its nearest of *p* open sites.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair: that site cannot serve that point); memory and work follow the
        pairs, never demand x sites.

    Bisection over the sorted distinct costs; each probe asks (exactly) whether at most *p* sites, the
    forced ones among them, cover everyone within that radius.  ``time_limit`` (seconds) bounds the whole
    solve: the best answer so far is returned with ``bound`` = the smallest radius not proven too small.

    Raises
    ------
    InfeasibleError
        When no choice of *p* sites (the forced ones among them) reaches every demand point.
    """
    t0 = time.perf_counter()
    deadline = Deadline(time_limit)
    rows, _w, forced, site_ids, demand_ids = prepare_rows(cost, None, open_sites, site_ids, demand_ids)
    m = rows.n_site
    check_p(p, m, forced)
    check_reach_rows(rows, p, forced, demand_ids, "p-center")
    lo_val = float(rows.d[rows.ptr[:-1]].max()) if rows.n_demand else 0.0  # every point needs its nearest site
    # an upper end: the radius of a greedy p-median (unit weights) when it reaches everyone
    big = float(rows.d.max(initial=0.0)) * 2 + 1.0
    y_h = kn.greedy_add(rows.ptr, rows.site, rows.d, forced.copy(), int(p), big)
    _, dh = nearest_open(rows, y_h)
    hi_val = float(dh.max()) if np.isfinite(dh).all() else np.inf
    vals = np.unique(rows.d[(rows.d >= lo_val) & (rows.d <= hi_val)])
    best_y = y_h if np.isfinite(hi_val) else None
    top = len(vals) - 1 - (1 if best_y is not None else 0)  # the greedy answer settles the top value
    probes = 0
    # a cheap upper end first: the smallest radius at which a greedy cover needs at most p sites
    lo, hi = 0, top
    while lo <= hi:
        mid = (lo + hi) // 2
        cov = within(rows, vals[mid])
        used, yg = kn.greedy_cover_open(cov.indptr.astype(np.int64), cov.indices.astype(np.int64), forced.copy(),
                                        m, int(p))
        probes += 1
        if used <= p:
            best_y, top, hi = yg, mid - 1, mid - 1
        else:
            lo = mid + 1
    # then exact probes below it (LP bound, then the MIP); indices below `lo` are proven infeasible
    lo, hi = 0, top
    stopped = False
    while lo <= hi:
        mid = (lo + hi) // 2
        left = deadline.remaining()
        if left is not None and left <= 0:
            stopped = True
            break
        res = min_cover(within(rows, vals[mid]), forced, left, limit=int(p))
        probes += 1
        if res.is_open is not None and res.is_open.sum() <= p:
            best_y, hi = res.is_open, mid - 1
        elif res.is_open is None and res.lower == -np.inf:
            stopped = True  # undecided within the time limit: the answer so far stands with its bound
            break
        else:
            lo = mid + 1
    if best_y is None:
        raise InfeasibleError("no set of p sites reaches every demand unit")
    y = best_y.copy()
    # open further sites until exactly p are open (the radius cannot get worse): first each point's
    # nearest closed site, from the worst served point on, when it is nearer than its open one; then the
    # sites with the most pairs in the table
    if y.sum() < p:
        _, best = nearest_open(rows, y)
        near_closed, dc = nearest_open(rows, ~y)
        for i in np.argsort(-best, kind="stable"):
            if y.sum() >= p:
                break
            j = near_closed[i]
            if j >= 0 and dc[i] < best[i]:
                y[j] = True
        closed = np.flatnonzero(~y)
        deg = np.bincount(rows.site, minlength=m)
        more = closed[np.argsort(-deg[closed], kind="stable")]
        y[more[: p - int(y.sum())]] = True
    assignment, best = assign(rows, y, demand_ids, site_ids)
    obj = float(best.max(initial=0.0))
    bound = min(obj, float(vals[lo])) if lo < len(vals) else obj
    g = relative_gap(obj, bound)
    return LocationResult("pcenter", obj, [site_ids[j] for j in np.flatnonzero(y)], assignment, g,
                          time.perf_counter() - t0,
                          {"probes": probes, **({"stopped": "time limit"} if stopped else {})},
                          bound=bound, proven_optimal=g <= 1e-6)
