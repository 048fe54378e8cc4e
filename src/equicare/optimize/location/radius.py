"""The radius formulation of the p-median, solved by HiGHS on every pair (the check path, ``reduce=False``).

Formulation
-----------
The radius formulation (Elloumi 2010; García, Labbé and Marín 2011): for demand point *i* with distinct
costs ``L_i1 < L_i2 < ... < L_iK`` over the pairs it keeps (``S_ik``: the sites at cost ``L_ik``),
``z_ik = 1`` when no site of cost ``<= L_ik`` is open:

.. math::

    \\min \\sum_i w_i\\Big(L_{i1} + \\sum_{k<K_i}(L_{i,k+1}-L_{ik})\\,z_{ik}\\Big)\\quad
    z_{ik} + \\sum_{j\\in S_{ik}} y_j \\ge z_{i,k-1}\\;(z_{i0}=1),\\quad
    \\sum_{j\\in S_{iK_i}} y_j \\ge z_{i,K_i-1},\\quad \\sum_j y_j = p,\\quad y\\in\\{0,1\\}.

Its size follows the distinct costs each point keeps, not all pairs; its LP bound is that of the strong
classical formulation.  Each point first keeps its cheapest entries up to about twice the rank of the
incumbent's site and is widened when the answer leaves it unserved (exact at the end).  The large-instance
pipeline (:mod:`.median_exact`) uses the strong formulation on the pairs its Lagrangian bound leaves
instead: with few pairs per point HiGHS solves that LP much faster than this degenerate one.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
García, S., Labbé, M. and Marín, A. (2011). Solving large p-median problems with a radius formulation.
*INFORMS Journal on Computing* 23, 546-556.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from equicare.optimize.highs import LinearModel
from equicare.optimize.location.progress import watch_highs


def radius_mip(rows, a, w, keep, p, forced, closed, start, deadline, gap, progress, ub, lb):
    """Solve the radius formulation on the kept pairs (module doc), first truncated: each point keeps only
    its cheapest kept entries up to about twice the rank of its site in the incumbent, and its last kept
    level has no closing row (it is then charged that level's cost whether a site there opens or not: a
    relaxation).  When the answer leaves a truncated point with no open site among its entries, those
    points keep twice as many and the model is solved again (exact when none is left).  Returns the open
    set found (or None), the proven bound of the kept model (``inf`` when nothing beats ``ub``) and figures."""
    m, n = rows.n_site, rows.n_demand
    dem = rows.demand[keep]
    ss = rows.site[keep]
    ak = a[keep]
    drop = (w == 0) & (np.diff(rows.ptr) == m)  # weight 0 and served by every site: needs nothing
    e = ~drop[dem]
    dem, ss, ak = dem[e], ss[e], ak[e]
    if not len(dem):  # nothing left that depends on the choice: the incumbent is optimal
        return {"is_open": start, "bound": np.inf, "details": {}}
    kptr = np.r_[0, np.cumsum(np.bincount(dem, minlength=n))]
    rank = np.arange(len(dem)) - kptr[dem]            # position of the entry within its point's kept list
    cnt = np.diff(kptr)
    # first guess: twice the position of the incumbent's nearest open site, plus 3
    first_open = np.full(n, 0)
    op = start[ss]
    hit = np.flatnonzero(op)
    fo = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(fo, dem[hit], rank[hit])
    first_open = np.where(fo < np.iinfo(np.int64).max, fo, cnt)
    cut = np.minimum(cnt, 2 * first_open + 3)
    details: dict[str, Any] = {"truncation_rounds": 0}
    best_open, bound = None, -np.inf
    while True:
        details["truncation_rounds"] += 1
        use = rank < cut[dem]
        res = _solve_levels(dem[use], ss[use], ak[use], cut < cnt, m, n, p, forced, closed, start, deadline, gap,
                            progress, ub, lb)
        details.update(res["details"])
        bound = res["bound"]
        if res["is_open"] is None:
            return {"is_open": best_open, "bound": bound, "details": details}
        y = res["is_open"]
        # truncated points with no open site among their kept entries: widen and solve again
        reached = np.zeros(n, bool)
        u = use & y[ss]
        reached[dem[u]] = True
        viol = (cut < cnt) & ~reached & (cnt > 0)
        if not viol.any():
            return {"is_open": y, "bound": bound, "details": details}
        if deadline.expired():
            return {"is_open": None, "bound": bound, "details": {**details, "stopped": "time limit"}}
        cut[viol] = np.minimum(cnt[viol], 2 * cut[viol] + 1)


def _solve_levels(dem, ss, ak, truncated, m, n, p, forced, closed, start, deadline, gap, progress, ub, lb):
    """One radius MIP over entries sorted by (point, cost); the last level of a truncated point has no row."""
    new_pt = np.r_[True, dem[1:] != dem[:-1]]
    new_lv = new_pt | np.r_[True, ak[1:] != ak[:-1]]
    lv_id = np.cumsum(new_lv) - 1                  # level of every entry (one row per level)
    lv_first = np.flatnonzero(new_lv)
    L = len(lv_first)
    lv_dem = dem[lv_first]
    lv_cost = ak[lv_first]
    first_of_pt = np.r_[True, lv_dem[1:] != lv_dem[:-1]]
    last_of_pt = np.r_[lv_dem[1:] != lv_dem[:-1], True]
    has_z = ~last_of_pt                            # z for every level but the point's last
    zidx = np.cumsum(has_z) - 1
    Z = int(has_z.sum())
    has_row = ~(last_of_pt & truncated[lv_dem])    # a truncated point's last level: no closing row
    row_of = np.cumsum(has_row) - 1
    R = int(has_row.sum())
    ey = has_row[lv_id]
    lz = np.flatnonzero(has_z)
    lp_ = np.flatnonzero(~first_of_pt & has_row)   # the previous level of the same point has a z
    rows_i = np.r_[row_of[lv_id[ey]], row_of[lz], row_of[lp_], np.full(m, R)]
    cols_i = np.r_[ss[ey], m + zidx[lz], m + zidx[lp_ - 1], np.arange(m)]
    vals = np.r_[np.ones(int(ey.sum()) + len(lz)), -np.ones(len(lp_)), np.ones(m)]
    A = sp.csr_matrix((vals, (rows_i, cols_i)), shape=(R + 1, m + Z))
    A.sum_duplicates()
    cost = np.zeros(m + Z)
    cost[m + zidx[lz]] = lv_cost[lz + 1] - lv_cost[lz]
    offset = float(lv_cost[first_of_pt].sum())
    row_lo = np.r_[(first_of_pt[has_row]).astype(float), p]
    row_hi = np.r_[np.full(R, np.inf), p]
    col_lo = np.r_[forced.astype(float), np.zeros(Z)]
    col_hi = np.r_[np.where(closed, 0.0, 1.0), np.ones(Z)]
    integ = np.r_[np.ones(m, bool), np.zeros(Z, bool)]
    details: dict[str, Any] = {"mip_columns": int(m + Z), "mip_rows": int(R + 1), "mip_nonzeros": int(A.nnz)}
    remaining = deadline.remaining()
    if remaining is not None and remaining <= 0.05:
        return {"is_open": None, "bound": -np.inf, "details": {**details, "stopped": "time limit"}}
    lm = LinearModel(cost, A, row_lo, row_hi, col_lo, col_hi, integrality=integ, time_limit=remaining,
                     mip_rel_gap=gap)
    lm.h.changeObjectiveOffset(offset)
    if np.all(start[forced]) and not np.any(start & closed) and start.sum() == p:
        x0 = np.zeros(m + Z)
        x0[:m] = start
        opened = np.zeros(L)
        np.add.at(opened, lv_id, start[ss].astype(float))
        cs = np.cumsum(opened)
        starts = np.flatnonzero(first_of_pt)
        before = np.repeat(cs[starts] - opened[starts], np.diff(np.r_[starts, L]))
        x0[m + zidx[lz]] = ((cs - before)[lz] < 0.5).astype(float)  # no site open up to this level
        lm.set_start(x0, search=False)
    watch_highs(lm.h, progress, deadline, False, ub, lb)
    left = deadline.remaining()
    if left is not None:  # building took some of it: HiGHS gets what is left now
        if left <= 0.05:
            return {"is_open": None, "bound": -np.inf, "details": {**details, "stopped": "time limit"}}
        lm.h.setOptionValue("time_limit", float(left))
    sol = lm.solve()
    info = lm.h.getInfo()
    db = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    details.update({"mip_status": sol.status, "mip_seconds": sol.seconds, "mip_nodes": int(info.mip_node_count)})
    if sol.status == "infeasible":
        return {"is_open": None, "bound": np.inf, "details": details}
    if not np.all(np.isfinite(sol.x)):
        return {"is_open": None, "bound": db, "details": details}
    if sol.status == "optimal":
        db = max(db, sol.objective / (1 + gap) if sol.objective > 0 else sol.objective)
    return {"is_open": sol.x[:m] > 0.5, "bound": db, "details": details}
