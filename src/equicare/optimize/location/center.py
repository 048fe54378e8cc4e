"""p-center: open *p* sites so that the largest cost from a demand point to its nearest open site is least.

Formulation
-----------
p-center (Hakimi 1965): the smallest radius *R* among the distinct costs for which a location set
covering problem with the forced sites needs at most *p* sites.

Solved by row generation over the demand points (Chen and Chen 2009; Contardo, Iori and Kramer 2019):
covering only a *subset* S of the points is a relaxation, so a radius too small for S is too small for
all, and sites chosen for S, evaluated on every point, give an answer.

0. Upper bound: a greedy p-median answer, then the swap search of :mod:`.center_search` (point weighting,
   Pullan 2008; vertex substitution, Mladenovic, Labbe and Hansen 2003) from that radius down with a
   doubling step, then bisected; S starts with the worst served points of its answer.
1. Relaxation rounds: the smallest of S's costs at which the LP of the LSCP on S allows *p* sites is a
   lower bound (every smaller cost is proven too small); a greedy cover of S with *p* sites (or the
   swap search at the bound), evaluated on all, gives the points that join S; until the bound stalls
   :data:`STALL_ROUNDS` times.
2. One exact probe at the cost just below the upper bound (the search's answer is often optimal).
3. The LP bound of *all* points (the semi-relaxation bound of Elloumi, Labbe and Pochet 2004: the
   smallest radius at which the LP of the LSCP allows *p* sites) by row generation: the LP on S, and
   the points its fractional sites cover by less than 1 join S, until none is left; bisected over the
   costs.
4. Exact bisection over the distinct costs between the bounds: each probe "at most *p* sites within
   R?" solves exact LSCPs on S (see :mod:`.setcover`; reductions: rows a forced site covers, identical
   rows, dominated sites); a cover of S starts a swap search on all points, and when it does not serve
   them all, the points left beyond R join S; until S has no cover (R too small) or a cover serves
   everyone (R met).  Each probe gets :data:`PROBE_SHARE` of the time left; one left undecided sends
   the next probes lower (they raise the bound).

The LSCPs stay much smaller than the points (200-1,200 rows of Chicago's 1,930; all of them once S
passes half).  Further sites then open until
exactly *p* are open (as in PySAL spopt, whose model opens exactly *p*); each demand goes to its nearest
open site.

References
----------
Hakimi, S. L. (1965). Optimum distribution of switching centers in a communication network and some
related graph theoretic problems. *Operations Research* 13, 462-475.
Daskin, M. S. (2013). *Network and Discrete Location*, 2nd ed. Wiley, ch. 5.
Chen, D. and Chen, R. (2009). New relaxation-based algorithms for the optimal solution of the
continuous and discrete p-center problems. *Computers & Operations Research* 36, 1646-1655.
Chvatal, V. (1979). A greedy heuristic for the set-covering problem. *Mathematics of Operations
Research* 4, 233-235.
Contardo, C., Iori, M. and Kramer, R. (2019). A scalable exact algorithm for the vertex p-center
problem. *Computers & Operations Research* 103, 211-220.
Elloumi, S., Labbe, M. and Pochet, Y. (2004). A new formulation and resolution method for the p-center
problem. *INFORMS Journal on Computing* 16, 84-94.
Mladenovic, N., Labbe, M. and Hansen, P. (2003). Solving the p-center problem with tabu search and
variable neighborhood search. *Networks* 42, 48-64.
Pullan, W. (2008). A memetic genetic algorithm for the vertex p-center problem. *Evolutionary Computation*
16, 417-436.
"""

from __future__ import annotations

import time

import numpy as np

from equicare.errors import InfeasibleError
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.center_search import SiteRows, cover_search
from equicare.optimize.location.costs import check_p, prepare_rows
from equicare.optimize.location.coverage import check_reach_rows
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import SortedRows, assign, nearest_open, within
from equicare.optimize.location.setcover import cover_lp, cover_lp_bound, min_cover

PROBE_SHARE = 0.4
"""Share of the time left that one exact probe may take before it counts as undecided."""

STALL_ROUNDS = 3
"""Relaxation rounds in a row without a higher bound before the exact probes start."""

SEARCH_PRECISION = 0.002
"""Relative width of radius range at which the bisection of the swap search stops (the exact probes go on
from there)."""

LP_PRECISION = 0.002
"""Relative width at which the bisection of the LP bound of all points stops."""

LP_ADD = 100
"""Points (those an LP's sites cover least) that join S per LP of the row generation."""


def p_center(cost, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None, deadline: Deadline | None = None,
             progress: Progress | None = None) -> LocationResult:
    """Minimise the largest cost from any demand unit to its nearest of *p* open sites.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair: that site cannot serve that point); memory and work follow the
        pairs, never demand x sites.
    time_limit : float, optional
        Seconds for the whole solve (or ``deadline``, started earlier by a command): the best answer so far
        is returned with ``bound`` = a proven lower bound on the optimal radius, ``gap`` and
        ``proven_optimal``.
    progress : Progress, optional
        Console lines (upper bound = incumbent radius, lower bound) while it works.

    Returns
    -------
    LocationResult
        ``objective`` = the largest cost to the nearest open site; ``details``: ``rounds`` (row-generation
        rounds), ``points_used`` (size of the final subset S), ``probes`` (exact LSCP probes).

    Raises
    ------
    InfeasibleError
        When no choice of *p* sites (the forced ones among them) reaches every demand point.
    """
    t0 = time.perf_counter()
    deadline = deadline or Deadline(time_limit, start=t0)
    progress = progress or Progress(False, deadline)
    progress.label = progress.label or f"p-center p={p}"
    rows, _w, forced, site_ids, demand_ids = prepare_rows(cost, None, open_sites, site_ids, demand_ids)
    m, n = rows.n_site, rows.n_demand
    check_p(p, m, forced)
    check_reach_rows(rows, p, forced, demand_ids, "p-center")
    lb = float(rows.d[rows.ptr[:-1]].max()) if n else 0.0  # every point needs at least its nearest site
    # a first answer: greedy p-median (unit weights), then a greedy-cover bisection over S below
    big = float(rows.d.max(initial=0.0)) * 2 + 1.0
    best_y = _fill(rows, kn.greedy_add(rows.ptr, rows.site, rows.d, forced.copy(), int(p), big), p)
    ub = _radius(rows, best_y)
    # a better first answer: the smallest radius at which the swap search (:mod:`.center_search`) finds
    # p sites serving everyone, bisected over the distinct costs below the greedy answer's radius
    cols = SiteRows.from_rows(rows, ub)
    best_y, ub = _search_down(rows, cols, forced, p, lb, ub, best_y, deadline)
    progress.report("heuristic", ub, lb)
    in_s = np.zeros(n, bool)
    in_s[_worst(rows, best_y, lb)] = True
    if n:
        in_s[int(np.argmax(rows.d[rows.ptr[:-1]]))] = True  # the point that sets the first lower bound
    probes = rounds = stall = 0
    # 1. rounds of relaxations: the smallest cost of S's pairs at which the LP of the LSCP on S allows
    #    p sites is a lower bound (every smaller one is proven too small for S, hence for all); a greedy
    #    cover of S with p sites, evaluated on all, an upper bound; its worst served points join S (or,
    #    without one, those of a swap search at the bound)
    while ub > lb * (1 + 1e-12) + 1e-12 and not deadline.expired():
        rounds += 1
        r_lp, y_g = _lp_round(_subset(rows, np.flatnonzero(in_s)), forced, p, lb, ub, deadline)
        grew = r_lp > lb
        lb = max(lb, r_lp)
        add = np.zeros(0, np.int64)
        if y_g is not None:
            y_full = _fill(rows, y_g, p)
            r_full = _radius(rows, y_full)
            if r_full < ub:
                ub, best_y = r_full, y_full
            add = _worst(rows, y_full, lb)
        else:  # no greedy cover of S below ub: the points a swap search at the bound leaves beyond it
            add = _worst(rows, cover_search(rows, cols, lb, best_y, forced)[1], lb)
        add = add[~in_s[add]]
        progress.report(f"round {rounds}", ub, lb)
        stall = 0 if grew else stall + 1
        if stall >= STALL_ROUNDS and rounds > 1 or len(add) == 0:
            break
        in_s[add] = True
    # 2. one exact probe at the cost just below the upper bound (the search's answer is often optimal:
    #    one proof closes the gap), given a share of the time left
    vals = np.unique(rows.d[(rows.d >= lb) & (rows.d <= ub)])
    if len(vals) > 1 and not deadline.expired():
        ok, y_r, k = _cover_within(rows, cols, in_s, forced, p, float(vals[-2]), _share(deadline))
        probes, rounds = probes + 1, rounds + k
        if ok is False:
            lb = ub
        elif ok:
            best_y, ub = _better(rows, y_r, p, best_y, ub)
        progress.report("probe", ub, lb)
    # 3. the LP bound of all points by row generation: at a radius, the LP of the LSCP on S; the points
    #    its fractional sites cover least (below 1) join S until it allows p sites for all (or not:
    #    that radius and all below are too small); bisected over the costs to LP_PRECISION
    if ub > lb:
        lb = _lp_bound_all(rows, in_s, forced, p, lb, ub, deadline)
        progress.report("LP bound", ub, lb)
    # 4. exact probes bisecting the distinct costs in [lb, ub]: vals[< lo] are proven too small, vals[hi]
    #    = ub is met.  A probe gets a share of the time left; one left undecided narrows the range probed
    #    (top) so that the next probes, nearer the bound, raise it.
    vals = np.unique(rows.d[(rows.d >= lb) & (rows.d <= ub)])
    lo, hi = 0, len(vals) - 1
    top = hi
    while lo < top and not deadline.expired():
        mid = (lo + top) // 2
        ok, y_r, k = _cover_within(rows, cols, in_s, forced, p, float(vals[mid]), _share(deadline))
        probes += 1
        rounds += k
        if ok is None:
            top = mid  # undecided: look lower (ub stays the best answer)
        elif ok:
            best_y, ub = _better(rows, y_r, p, best_y, ub)
            hi = min(mid, int(np.searchsorted(vals, ub, side="left")))
            top = min(top, hi)
        else:
            lo = mid + 1
        progress.report("bisection", ub, float(vals[lo]))
    stopped = lo < hi
    lb = max(lb, float(vals[lo])) if len(vals) else lb
    y = best_y
    assignment, best = assign(rows, y, demand_ids, site_ids)
    obj = float(best.max(initial=0.0))
    bound = min(obj, lb)
    g = relative_gap(obj, bound)
    progress.report("done", obj, bound, force=True)
    return LocationResult("pcenter", obj, [site_ids[j] for j in np.flatnonzero(y)], assignment, g,
                          time.perf_counter() - t0,
                          {"probes": probes, "rounds": rounds, "points_used": int(in_s.sum()),
                           **({"stopped": "time limit"} if stopped else {})},
                          bound=bound, proven_optimal=g <= 1e-6)


def _radius(rows: SortedRows, y: np.ndarray) -> float:
    _, d = nearest_open(rows, y)
    return float(d.max(initial=0.0))


def _subset(rows: SortedRows, idx: np.ndarray) -> SortedRows:
    """The rows of the demand points ``idx`` (in that order)."""
    lens = rows.ptr[idx + 1] - rows.ptr[idx]
    take = np.repeat(rows.ptr[idx] - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(int(lens.sum()))
    return SortedRows(np.r_[0, np.cumsum(lens)].astype(np.int64), rows.site[take], rows.d[take], rows.n_site)


def _worst(rows: SortedRows, y: np.ndarray, lb: float) -> np.ndarray:
    """For each open site, the point it serves worst when that cost exceeds ``lb`` (and the worst point
    overall): the rows a next round adds."""
    f, d = nearest_open(rows, y)
    bad = np.flatnonzero(d > lb * (1 + 1e-12) + 1e-12)
    if len(bad) == 0:
        return bad
    o = bad[np.lexsort((-d[bad], f[bad]))]  # by site, worst first
    first = np.r_[True, f[o][1:] != f[o][:-1]]
    return np.unique(np.r_[o[first], bad[np.argmax(d[bad])]])


def _lp_round(sub: SortedRows, forced, p: int, lb: float, ub: float, deadline: Deadline):
    """One relaxation round on the points of ``sub``: (the smallest of their costs in ``[lb, ub)`` at which
    the LP of the LSCP does not exceed *p*, or ``lb``/``ub`` as in :func:`_cover_within`'s proof; a greedy
    cover with at most *p* sites at the smallest such cost found, or None)."""
    vals = np.unique(sub.d[(sub.d >= lb) & (sub.d < ub)])
    lo, hi = 0, len(vals) - 1
    y_g = None
    while lo <= hi:  # greedy covers with at most p sites: an upper end
        mid = (lo + hi) // 2
        cov = within(sub, vals[mid])
        used, yg = kn.greedy_cover_open(cov.indptr.astype(np.int64), cov.indices.astype(np.int64), forced.copy(),
                                        sub.n_site, int(p))
        if used <= p:
            y_g, hi = yg, mid - 1
        else:
            lo = mid + 1
    # vals[top] has a greedy cover (so its LP allows p sites), or top = len(vals): none below ub known
    top = lo
    lo, hi = 0, top
    while lo < hi and (hi == len(vals) or vals[hi] > vals[lo] * (1 + LP_PRECISION)):
        mid = (lo + hi) // 2
        left = deadline.remaining()
        if left is not None and left <= 0:
            break  # vals[< lo] are proven too small
        if cover_lp_bound(within(sub, vals[mid]), forced, left) > p + 1e-6:
            lo = mid + 1
        else:
            hi = mid
    if lo >= len(vals):
        return (ub if len(vals) else lb), y_g
    return (float(vals[lo]) if lo > 0 else lb), y_g


def _share(deadline: Deadline) -> Deadline:
    """The deadline of one exact probe: :data:`PROBE_SHARE` of the time left."""
    return deadline if deadline.seconds is None else deadline.share(PROBE_SHARE)


def _better(rows: SortedRows, y: np.ndarray, p: int, best_y: np.ndarray, ub: float):
    """The sites ``y`` (filled to *p*) and their radius when it beats ``ub``, else ``best_y, ub``."""
    y = _fill(rows, y, p)
    r = _radius(rows, y)
    return (y, r) if r < ub else (best_y, ub)


def _lp_bound_all(rows: SortedRows, in_s: np.ndarray, forced, p: int, lb: float, ub: float,
                  deadline: Deadline) -> float:
    """The smallest cost in ``[lb, ub]`` not proven too small by the LP of the LSCP on all points, to a
    relative :data:`LP_PRECISION` (``in_s`` grows in place with the points the LP needed).  Row
    generation: the LP on S; the points its sites cover least, by less than 1, join S, until none is
    left (the LP of all points is that of S) or the LP of S exceeds *p*."""
    vals = np.unique(rows.d[(rows.d >= lb) & (rows.d < ub)])
    lo, hi = 0, len(vals)  # vals[< lo] proven too small; vals[hi:] not known to be
    while lo < hi and not deadline.expired():
        if vals[min(hi, len(vals) - 1)] <= vals[lo] * (1 + LP_PRECISION) and hi < len(vals):
            break
        mid = (lo + hi) // 2
        r = float(vals[mid])
        cov = within(rows, r)
        too_small = None
        while too_small is None and not deadline.expired():
            bound, y = cover_lp(cov[in_s], forced, deadline.remaining())
            if bound > p + 1e-6:
                too_small = True
            elif y is None:
                too_small = False
            else:
                short = cov @ y
                viol = np.flatnonzero((short < 1 - 1e-6) & ~in_s)
                if len(viol) == 0:
                    too_small = False
                else:
                    in_s[viol[np.argsort(short[viol], kind="stable")[:LP_ADD]]] = True
        if too_small is None:
            break
        if too_small:
            lo = mid + 1
        else:
            hi = mid
    return max(lb, float(vals[lo])) if lo < len(vals) else max(lb, ub if len(vals) else lb)


def _search_down(rows: SortedRows, cols: SiteRows, forced, p: int, lb: float, ub: float, best_y: np.ndarray,
                 deadline: Deadline):
    """The swap search from the upper bound down, each search starting from the best answer so far:
    radii ``ub (1 - step)`` with the step doubling from :data:`SEARCH_PRECISION` while the search finds
    covers (a found cover is cheap, a failed search costs its whole budget), then bisection between the
    last failure and the upper bound to that precision: (best sites, their radius).  Heuristic: a failed
    search proves nothing."""
    step, low = SEARCH_PRECISION, lb
    while ub > low * (1 + SEARCH_PRECISION) and not deadline.expired():
        r = max(ub * (1 - step), low) if step is not None else 0.5 * (low + ub)
        u, y = cover_search(rows, cols, r, best_y, forced)
        if u == 0:
            y = _fill(rows, y, p)
            best_y, ub = y, min(ub, _radius(rows, y))
            step = None if step is None else 2 * step
        else:
            low, step = r, None
    return best_y, ub


def _cover_within(rows: SortedRows, cols: SiteRows, in_s: np.ndarray, forced, p: int, r: float,
                  deadline: Deadline):
    """Whether at most *p* sites (the forced ones among them) serve every point within ``r``, by row
    generation: an exact LSCP on the points of S (``in_s``, grown in place); no cover of S means no cover
    of all; a cover of S is the start of a swap search on all points (:func:`.cover_search`), which
    often serves them all; when not, for each open site its worst served point (and a spread of the
    others beyond ``r``) join S and it goes again.  Returns (True, sites, rounds), (False, None, rounds) or
    (None, None, rounds) when undecided within the deadline."""
    k = 0
    while True:
        left = deadline.remaining()
        if left is not None and left <= 0:
            return None, None, k
        k += 1
        sub = _subset(rows, np.flatnonzero(in_s))
        res = min_cover(within(sub, r), forced, left, limit=int(p))
        if res.is_open is None:
            return (None if res.lower == -np.inf else False), None, k
        y = _fill(rows, res.is_open, p)
        if deadline.expired():
            return (True, y, k) if _radius(rows, y) <= r else (None, None, k)
        u, y_s = cover_search(rows, cols, r, y, forced)
        if u == 0:
            return True, y_s, k
        add = _worst(rows, y, r)
        _, d = nearest_open(rows, y)
        out = np.flatnonzero(d > r)  # a spread of the other points left beyond r: fewer rounds
        add = np.unique(np.r_[add, out[:: max(1, len(out) // (2 * p + 1))]])
        add = add[~in_s[add]]
        if len(add) == 0:
            if _radius(rows, y) <= r:
                return True, y, k
            in_s[:] = True  # cannot happen (a point beyond r is never in S); keeps the loop finite regardless
        in_s[add] = True
        if in_s.sum() > len(in_s) // 2:  # most points matter (uniform random tables): all of them at once
            in_s[:] = True


def _fill(rows: SortedRows, y: np.ndarray, p: int) -> np.ndarray:
    """Open further sites until exactly *p* are open (the radius cannot get worse): first each point's
    nearest closed site, from the worst served point on, when it is nearer than its open one; then the
    sites with the most pairs in the table."""
    y = y.copy()
    if y.sum() >= p:
        return y
    _, best = nearest_open(rows, y)
    near_closed, dc = nearest_open(rows, ~y)
    for i in np.argsort(-best, kind="stable"):
        if y.sum() >= p:
            break
        j = near_closed[i]
        if j >= 0 and dc[i] < best[i]:
            y[j] = True
    if y.sum() < p:
        closed = np.flatnonzero(~y)
        deg = np.bincount(rows.site, minlength=rows.n_site)
        more = closed[np.argsort(-deg[closed], kind="stable")]
        y[more[: p - int(y.sum())]] = True
    return y
