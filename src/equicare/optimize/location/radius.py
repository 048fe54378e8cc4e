"""The exact p-median solver for large instances: heuristic, Lagrangian bound, variable fixing, radius MIP.

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
classical formulation.

Pipeline (each phase stops at the shared deadline, the answer is always the best solution so far)
---------------------------------------------------------------------------------------------------
1. Incumbent: greedy adding, then best-improvement vertex substitution (fast interchange, numba).
2. Lower bound: Lagrangian relaxation of the assignment rows (Cornuejols, Fisher and Nemhauser 1977),
   subgradient with Polyak steps towards the incumbent (Beasley 1993); the Lagrangian site sets restart
   the local search.
3. Variable fixing from the bound ``LB``: a site whose opening raises the bound above the incumbent
   ``UB`` closes for good (and the mirror test keeps one open); a pair (*i*, *j*) is dropped when
   assigning *i* to *j* raises the bound above ``UB`` (``LB + max(0, w_i d_ij - lambda_i)``, plus the
   cost of opening *j* when it is not in the Lagrangian solution).  Every solution better than ``UB``
   keeps the pair of each point with its nearest open site, so the model on the kept pairs, with the
   closing rows above (one kept site of each point is open), has the same optimum when it beats
   ``UB``; when it has none, ``UB`` is optimal.
4. The radius MIP on the kept pairs (HiGHS, sparse matrix), started from the incumbent, for the time
   left; the proven bound is ``max(LB, min(UB, MIP bound))``.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
García, S., Labbé, M. and Marín, A. (2011). Solving large p-median problems with a radius formulation.
*INFORMS Journal on Computing* 23, 546-556.
Cornuejols, G., Fisher, M. L. and Nemhauser, G. L. (1977). Location of bank accounts to optimize float.
*Management Science* 23, 789-810.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from equicare.optimize.highs import LinearModel
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.heuristics import fixing_tests
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.rows import SortedRows


SECONDS_PER_PAIR = 5e-4
"""Rough time the radius MIP needs per kept pair to build and solve its root; below that much time left,
the MIP is not started and the time goes to the Lagrangian bound and its local search.  Measured on the
Chicago all-candidates instance on an idle 2-core machine: at p = 20 the MIP on 159,211 kept pairs
(58,394 columns) had not finished its root LP after 80 s (HiGHS dual simplex)."""


@dataclass
class MedianSolution:
    """Best open set found, its objective, the proven lower bound and figures of each phase."""

    is_open: np.ndarray
    objective: float
    bound: float
    details: dict[str, Any] = field(default_factory=dict)


def solve_p_median(rows: SortedRows, w: np.ndarray, p: int, forced: np.ndarray, deadline: Deadline,
                   gap: float = 1e-6, progress: Progress | None = None,
                   max_model_pairs: int = 6_000_000, reduce: bool = True) -> MedianSolution:
    """Solve the p-median on sorted rows to proven optimality or until ``deadline`` (see module doc).

    Parameters
    ----------
    rows : SortedRows
        Allowed pairs; every demand point must be reachable by some choice of *p* sites (checked before).
    w : ndarray, shape (n,)
        Demand weights.
    p : int
    forced : ndarray of bool, shape (m,)
    deadline : Deadline
    gap : float
        Relative gap at which to stop.
    reduce : bool
        Lagrangian bound and variable fixing before the MIP (off: the MIP on every pair).
    """
    progress = progress or Progress(False, deadline)
    m = rows.n_site
    ptr, site = rows.ptr, rows.site
    a = w[rows.demand] * rows.d
    big = float(np.maximum.reduceat(a, ptr[:-1]).sum() if rows.nnz else 0.0) + 1.0 if rows.nnz else 1.0
    nf = int(forced.sum())
    # every point pays at least its cheapest pair: a bound that always holds
    lb0 = float(a[ptr[:-1][np.diff(ptr) > 0]].sum())
    details: dict[str, Any] = {"trivial_bound": lb0}
    if p >= m or p == nf:
        is_open = forced.copy() if p == nf else np.ones(m, bool)
        obj = kn.evaluate_open(ptr, site, a, is_open, big)
        return MedianSolution(is_open, obj, obj, {"proof": "only one choice of sites"})

    # 1. incumbent
    is_open = kn.greedy_add(ptr, site, a, forced.copy(), p, big)
    ub = kn.evaluate_open(ptr, site, a, is_open, big)
    details["greedy_objective"] = ub
    is_open, ub, swaps = local_search(rows, a, is_open, forced, big, deadline)
    details["heuristic_objective"] = ub
    details["swaps"] = swaps
    progress.report("heuristic", ub, -np.inf)
    if deadline.expired():
        return MedianSolution(is_open, ub, lb0, {**details, "stopped": "time limit in the heuristic"})

    if not reduce:
        keep = np.ones(rows.nnz, bool)
        res = _radius_mip(rows, a, w, keep, p, forced, np.zeros(m, bool), is_open, deadline, gap, progress, ub,
                          -np.inf)
        if res["is_open"] is not None and kn.evaluate_open(ptr, site, a, res["is_open"], big) < ub:
            is_open = res["is_open"]
            ub = kn.evaluate_open(ptr, site, a, is_open, big)
        return MedianSolution(is_open, ub, max(lb0, min(res["bound"], ub)), {**details, **res["details"]})

    # 2. Lagrangian bound (and better incumbents from its site sets)
    lb, lam, rho, S, is_open, ub, it = _lagrangian(rows, a, p, forced, is_open, ub, big, deadline, gap, progress)
    details.update({"lagrangian_bound": lb, "lagrangian_iterations": it, "heuristic_objective": ub})
    if relative_gap(ub, max(lb, lb0)) <= gap or deadline.expired():
        done = relative_gap(ub, max(lb, lb0)) <= gap
        return MedianSolution(is_open, ub, min(max(lb, lb0), ub),
                              {**details, "proof": "lagrangian bound"} if done else {**details, "stopped": "time limit"})

    # 3. variable fixing
    tol = 1e-9 * max(abs(ub), 1.0)
    closed, fixed_open = fixing_tests(lb, rho, S, forced, ub + tol)
    in_s = np.zeros(m, bool)
    in_s[S] = True
    free_in = in_s & ~forced
    worst_in = float(rho[free_in].max()) if free_in.any() else np.inf
    keep = kn.keep_pairs(ptr, site, a, lam, rho, in_s, closed, lb, ub + tol, worst_in)
    details.update({"sites_fixed_closed": int(closed.sum()), "sites_fixed_open": int(fixed_open.sum()),
                    "pairs_kept": int(keep.sum()), "pairs": int(rows.nnz)})
    left = deadline.remaining()
    if keep.sum() > max_model_pairs or (left is not None and left < SECONDS_PER_PAIR * keep.sum() + 0.5):
        # HiGHS would not even finish its root before the deadline: the time left goes to the Lagrangian
        # bound (from its best multipliers, smaller steps) and its local search
        if left is not None and left > 0.5:
            lb2, *_rest, is_open, ub, it2 = _lagrangian(rows, a, p, forced, is_open, ub, big, deadline, gap,
                                                        progress, share=1.0, lam0=lam, mu0=0.25)
            lb = max(lb, lb2)
            details.update({"lagrangian_bound": lb, "lagrangian_iterations": it + it2, "heuristic_objective": ub})
        return MedianSolution(is_open, ub, min(max(lb, lb0), ub),
                              {**details, "stopped": "time limit (the MIP on the kept pairs would not fit)"})

    # 4. radius MIP on the kept pairs
    res = _radius_mip(rows, a, w, keep, p, forced | fixed_open, closed, is_open, deadline, gap, progress, ub, lb)
    details.update(res["details"])
    if res["is_open"] is not None:
        cand = kn.evaluate_open(ptr, site, a, res["is_open"], big)
        if cand < ub:
            is_open, ub = res["is_open"], cand
    bound = max(lb, lb0, min(res["bound"], ub))
    progress.report("done", ub, bound, force=True)
    return MedianSolution(is_open, ub, min(bound, ub), details)


def local_search(rows, a, is_open, forced, big, deadline, max_swaps: int = 10_000):
    """Best-improvement swaps (fast interchange) until none lowers ``sum_i min_{j open} a_ij`` (``big`` for a
    point no open site serves) or the deadline; returns (open set, objective, swaps made)."""
    ptr, site = rows.ptr, rows.site
    swaps = 0
    while swaps < max_swaps and not deadline.expired():
        d1, f1, d2 = kn.nearest_two(ptr, site, a, is_open, big)
        removable = np.flatnonzero(is_open & ~forced)
        if not len(removable):
            break
        pos = np.full(len(is_open), -1, np.int64)
        pos[removable] = np.arange(len(removable))
        # a point whose nearest open site is forced keeps it: its column stays out of the swap table
        f1_pos = f1.copy()
        delta, k, r = kn.best_swap(ptr, site, a, d1, f1_pos, d2, is_open, removable, pos)
        if k < 0 or delta > -1e-12 * max(float(d1.sum()), 1.0):
            break
        is_open[k], is_open[r] = True, False
        swaps += 1
    return is_open, kn.evaluate_open(ptr, site, a, is_open, big), swaps


def _choose(rho, p, forced):
    free = np.flatnonzero(~forced)
    k = p - int(forced.sum())
    pick = free[np.argpartition(rho[free], k - 1)[:k]] if k > 0 else np.zeros(0, np.int64)
    return np.concatenate([np.flatnonzero(forced), pick])


def _lagrangian(rows, a, p, forced, is_open, ub, big, deadline, gap, progress, max_iter: int = 5000,
                share: float = 0.4, lam0=None, mu0: float = 1.0):
    """Subgradient ascent on the Lagrangian dual of the assignment rows; returns the best bound, its
    multipliers, site values and site set, and the best incumbent seen (Lagrangian sets restart the
    local search every so often)."""
    ptr, site, m = rows.ptr, rows.site, rows.n_site
    n = rows.n_demand
    d1, _f1, d2 = kn.nearest_two(ptr, site, a, is_open, big)
    lam = np.where(d2 < big, 0.5 * (d1 + d2), d1 + 1.0) if lam0 is None else lam0.copy()
    best_lb, best = -np.inf, None
    mu, stall = mu0, 0
    budget = deadline.share(share)
    it = 0
    last_ls = 0
    tried: set[bytes] = set()
    for it in range(1, max_iter + 1):
        rho = kn.lagrangian_step(ptr, site, a, lam, m)
        S = _choose(rho, p, forced)
        lb = float(lam.sum() + rho[S].sum())
        if lb > best_lb + 1e-12 * abs(lb):
            best_lb, best, stall = lb, (lam.copy(), rho, S), 0
        else:
            stall += 1
            if stall >= 20:
                mu, stall = mu / 2, 0
        op = np.zeros(m, bool)
        op[S] = True
        if it - last_ls >= 50:
            key = np.packbits(op).tobytes()
            if key not in tried:
                tried.add(key)
                last_ls = it
                cand, c, _ = local_search(rows, a, op.copy(), forced, big, deadline)
                if c < ub:
                    is_open, ub = cand, c
        else:
            c = kn.evaluate_open(ptr, site, a, op, big)
            if c < ub:
                is_open, ub = op, c
        progress.report("lagrangian", ub, best_lb)
        if relative_gap(ub, best_lb) <= gap or mu < 1e-5 or budget.expired() or deadline.expired():
            break
        g = kn.subgradient(ptr, site, a, lam, op)
        gg = float(g @ g)
        if gg == 0:
            break
        lam = lam + mu * (ub - lb) / gg * g
    lam, rho, S = best
    _ = n
    return best_lb, lam, rho, S, is_open, ub, it


def _radius_mip(rows, a, w, keep, p, forced, closed, start, deadline, gap, progress, ub, lb):
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
    _attach_progress(lm, progress, lb, ub, deadline)
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


def _attach_progress(lm, progress, lb, ub, deadline):
    """While HiGHS works: report its incumbent and bound, and stop it at the deadline (its own time limit
    is not checked inside every phase)."""
    import highspy

    kinds = highspy.cb.HighsCallbackType

    def cb(kind, _msg, data_out, data_in, _user):
        if kind == kinds.kCallbackMipInterrupt:
            inc = min(ub, float(data_out.mip_primal_bound))
            bnd = max(lb, min(ub, float(data_out.mip_dual_bound)))
            progress.report("branching", inc, bnd)
        if deadline.expired():
            data_in.user_interrupt = True

    lm.h.setCallback(cb, None)
    for k in (kinds.kCallbackMipInterrupt, kinds.kCallbackSimplexInterrupt, kinds.kCallbackIpmInterrupt):
        lm.h.startCallback(k)
