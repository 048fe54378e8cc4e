"""p-center: open *p* sites so that the largest cost from a demand point to its nearest open site is least.

Formulation
-----------
p-center (Hakimi 1965): the smallest radius *R* among the distinct costs for which a location set
covering problem with the forced sites needs at most *p* sites, found by bisection over the sorted
distinct costs (each probe an exact LSCP); then further sites open until exactly *p* are open (as in
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
from equicare.optimize.location.costs import assign_nearest, check_p, prepare
from equicare.optimize.location.coverage import check_reach, min_cover
from equicare.optimize.location.result import LocationResult


def p_center(cost, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None) -> LocationResult:
    """Minimise the largest cost from any demand unit to its nearest of *p* open sites.

    Bisection over the sorted distinct costs; each probe is an exact LSCP (with the forced sites)
    asking whether at most *p* sites cover everyone within that radius.
    """
    t0 = time.perf_counter()
    C, _w, forced, site_ids, demand_ids = prepare(cost, None, open_sites, site_ids, demand_ids)
    _n, m = C.shape
    check_p(p, m, forced)
    check_reach(C, p, forced, demand_ids, "p-center")
    vals = np.unique(C[np.isfinite(C)])
    lo_val = np.max(np.min(C, axis=1))  # every demand needs at least its nearest site
    vals = vals[vals >= lo_val]
    lo, hi = 0, len(vals) - 1
    best_y = None
    probes = 0
    # the largest value is always feasible with p >= 1? not with forced/p small: check
    while lo <= hi:
        mid = (lo + hi) // 2
        y, _ = min_cover(C, vals[mid], forced, time_limit)
        probes += 1
        if y is not None and y.sum() <= p:
            best_y, hi = y, mid - 1
        else:
            lo = mid + 1
    if best_y is None:
        raise InfeasibleError("no set of p sites reaches every demand unit")
    y = best_y.copy()
    # open further sites until exactly p are open (the radius cannot get worse): first the site nearest
    # to each demand in turn from the worst served, then the sites that reach the most demand points
    if y.sum() < p:
        _, best = assign_nearest(C, y, demand_ids, site_ids)
        for i in np.argsort(-best, kind="stable"):
            closed = np.flatnonzero(~y)
            if y.sum() >= p or not len(closed):
                break
            j = closed[np.argmin(C[i, closed])]
            if np.isfinite(C[i, j]) and C[i, j] < best[i]:
                y[j] = True
        closed = np.flatnonzero(~y)
        more = closed[np.argsort(-np.isfinite(C[:, closed]).sum(axis=0), kind="stable")]
        y[more[: p - int(y.sum())]] = True
    assignment, best = assign_nearest(C, y, demand_ids, site_ids)
    return LocationResult("pcenter", float(best.max()), [site_ids[j] for j in np.flatnonzero(y)], assignment, 0.0,
                          time.perf_counter() - t0, {"probes": probes})
