"""p-median and capacitated p-median.

Formulations
------------
p-median (Hakimi 1964), solved exactly with the ordered-distance ("radius") formulation of Elloumi
(2010) in its chained form: for demand *i* with sites sorted by cost ``D_i1 <= D_i2 <= ...``, the
variable ``z_ik`` is 1 when none of its *k* nearest sites is open:

.. math::

    \\min \\sum_i w_i \\Big(D_{i1} + \\sum_{k<K_i} (D_{i,k+1}-D_{ik})\\,z_{ik}\\Big)\\quad
    z_{ik} \\ge z_{i,k-1} - y_{j_{ik}},\\; z_{i0}=1,\\; \\sum_j y_j = p,\\; y \\in \\{0,1\\}.

Its LP bound equals that of the classical strong formulation (ReVelle and Swain 1970) but it needs far
fewer variables when each demand keeps only its ``K_i`` nearest sites.  Truncation gives a lower bound;
the solution is optimal for the full problem when every demand has an open site among its kept sites,
otherwise ``K_i`` is doubled for the demands that do not and the model is re-solved (exact).  A demand
whose table lists only some sites (a sparse table) and keeps them all gets the closing row
``y_{j_iK} >= z_{i,K-1}``: one of its sites must open.

On large instances a Lagrangian relaxation of the assignment constraints (Cornuejols, Fisher and
Nemhauser 1977; Beasley 1993), vertex substitution and reduced-cost fixing of sites come first.

capacitated p-median: the classical single-sourcing model (binary ``x_ij <= y_j``, ``sum_j x_ij = 1``,
``sum_i w_i x_ij <= Q_j y_j``), as in PySAL spopt.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
ReVelle, C. S. and Swain, R. W. (1970). Central facilities location. *Geographical Analysis* 2, 30-42.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
Daskin, M. S. (2013). *Network and Discrete Location*, 2nd ed. Wiley.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.highs import LinearModel
from equicare.optimize.location.costs import assign_nearest, check_p, prepare
from equicare.optimize.location.coverage import check_reach
from equicare.optimize.location.heuristics import evaluate, fixing_tests, swap_search
from equicare.optimize.location.result import LocationResult


def p_median(cost, weights=None, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             k_start: int | None = None, time_limit: float | None = None,
             mip_rel_gap: float = 1e-6, reduce: bool | None = None) -> LocationResult:
    """Minimise total demand-weighted cost of serving every demand from its nearest of *p* open sites.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site)
        Cost of serving each demand unit from each site (``inf`` = not allowed).
    weights : ndarray, shape (n_demand,)
        Demand.
    p : int
        Number of sites to open (including forced ones).
    open_sites : sequence of str, optional
        Site ids that must be open (existing facilities).
    site_ids, demand_ids : sequence of str, optional
    k_start : int, optional
        Nearest sites kept per demand in the first truncated model (default ``ceil(3 m / p) + 5``).
    time_limit : float, optional
    mip_rel_gap : float
    reduce : bool, optional
        First run the Lagrangian relaxation (subgradient on the assignment constraints), a multi-start
        vertex-substitution heuristic and reduced-cost site fixing, then solve the exact model on the
        sites left (exact: a fixed site is one whose opening/closing provably costs more than the
        incumbent).  Default: when demand x sites > 20,000.

    Returns
    -------
    LocationResult
        ``objective`` = sum of demand x cost to the assigned (nearest open) site.
    """
    t0 = time.perf_counter()
    C, w, forced, site_ids, demand_ids = prepare(cost, weights, open_sites, site_ids, demand_ids)
    n, m = C.shape
    check_p(p, m, forced)
    check_reach(C, p, forced, demand_ids, "p-median")
    details: dict[str, Any] = {}
    keep = np.arange(m)
    forced_k = forced.copy()
    fin = np.isfinite(C)
    A = np.where(fin, w[:, None] * np.where(fin, C, 0.0), 0.0)
    if not fin.all():
        # a missing pair costs more than any whole solution that serves everyone: the bounds and heuristics
        # below stay valid for the table's problem, which has a solution (checked above)
        A[~fin] = float(A.max(axis=1).sum()) + 1.0
    if (n * m > 20000 if reduce is None else reduce) and p < m:
        # Lagrangian bound + swap heuristic; reduced-cost tests close or open sites for good
        lb, ub, S_best, f0, f1 = _pmedian_lagrangian(A, p, forced)
        details.update({"lagrangian_bound": lb, "heuristic_objective": ub, "sites_fixed_closed": int(f0.sum()),
                        "sites_fixed_open": int(f1.sum())})
        if ub - lb <= 1e-9 * max(abs(ub), 1.0):
            open_mask = np.zeros(m, bool)
            open_mask[S_best] = True
            assignment, best = assign_nearest(C, open_mask, demand_ids, site_ids)
            details.update({"iterations": 0, "proof": "lagrangian bound"})
            return LocationResult("pmedian", float(np.dot(w, best)), [site_ids[j] for j in np.flatnonzero(open_mask)],
                                  assignment, 0.0, time.perf_counter() - t0, details)
        keep = np.flatnonzero(~f0)
        forced_k = (forced | f1)[keep]
        start = np.zeros(m, bool)
        start[S_best] = True
        start_k = start[keep] if start[keep].sum() == p else None
    else:
        start_k = None
    Ck = C[:, keep]
    mk = len(keep)
    reach_k = np.isfinite(Ck).sum(axis=1)
    order = np.argsort(Ck, axis=1, kind="stable")
    Ds = np.take_along_axis(Ck, order, axis=1)
    K = np.full(n, min(mk, (k_start or int(np.ceil(3 * mk / p)) + 5)))
    K = np.minimum(K, reach_k)
    iters, gap, total_solve = 0, 0.0, 0.0
    while True:
        iters += 1
        y, obj_lb, gap, secs = _pmedian_truncated(Ds, order, w, K, p, forced_k, mk, time_limit, mip_rel_gap,
                                                  start_open=start_k, reach=reach_k)
        total_solve += secs
        open_k = y > 0.5
        open_mask = np.zeros(m, bool)
        open_mask[keep[open_k]] = True
        # does every demand have an open site among its K kept sites?
        for_k = open_k[order]
        col = np.arange(mk)[None, :] < K[:, None]
        kept_open = (for_k & col).any(axis=1)
        viol = ~kept_open & (K < reach_k)
        if not viol.any():
            break
        K[viol] = np.minimum(reach_k[viol], K[viol] * 2)
    assignment, best = assign_nearest(C, open_mask, demand_ids, site_ids)
    objective = float(np.dot(w, best))
    details.update({"iterations": iters, "candidate_sites": mk, "kept_sites_max": int(K.max()),
                    "lower_bound": obj_lb, "solver_seconds": total_solve})
    return LocationResult("pmedian", objective, [site_ids[j] for j in np.flatnonzero(open_mask)], assignment,
                          gap, time.perf_counter() - t0, details)

def _pmedian_truncated(Ds, order, w, K, p, forced, m, time_limit, mip_rel_gap, start_open=None, reach=None):
    """Chained Elloumi formulation with K_i nearest sites per demand; returns y and the bound.

    A demand whose kept sites are all the sites that can serve it (``K_i == reach_i < m``: the cost table
    leaves the others out) gets the closing row ``y_{j_iK} >= z_{i,K-1}`` (one of its sites must open)."""
    n = len(w)
    # z variables for k = 1..K_i-1 (k-th nearest closed); coefficient w_i (D_{k+1} - D_k)
    nz = np.maximum(K - 1, 0)
    zstart = np.concatenate([[0], np.cumsum(nz)])
    Z = int(zstart[-1])
    ii = np.repeat(np.arange(n), nz)
    kk = np.arange(Z) - zstart[ii]  # 0-based level: z_{i,kk+1}
    dcoef = w[ii] * (Ds[ii, kk + 1] - Ds[ii, kk])
    ncol = m + Z
    c = np.concatenate([np.zeros(m), dcoef])
    offset = float(np.dot(w, Ds[:, 0]))
    # row for each z_{i,k}: z_ik - z_{i,k-1} + y_{j_ik} >= 0 (k >= 2);  z_i1 + y_{j_i1} >= 1
    rows = np.arange(Z)
    site = order[ii, kk]
    r_idx = [rows, rows]
    c_idx = [m + rows, site]
    vals = [np.ones(Z), np.ones(Z)]
    has_prev = kk > 0
    r_idx.append(rows[has_prev])
    c_idx.append(m + rows[has_prev] - 1)
    vals.append(-np.ones(int(has_prev.sum())))
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))), shape=(Z + 1, ncol))
    A = sp.vstack([A[:Z], sp.csr_matrix((np.ones(m), (np.zeros(m, int), np.arange(m))), shape=(1, ncol))])
    row_lo = np.where(has_prev, 0.0, 1.0)
    row_lo = np.concatenate([row_lo, [p]])
    row_hi = np.concatenate([np.full(Z, np.inf), [p]])
    if reach is not None:
        close = np.flatnonzero((K == reach) & (reach < m) & (K >= 1))
        if len(close):
            # y_{j_iK} - z_{i,K-1} >= 0 (K_i >= 2), or y_{j_i1} >= 1 (K_i == 1)
            kc = K[close]
            nc = len(close)
            cr = np.arange(nc)
            two = kc >= 2
            Acl = sp.csr_matrix((np.r_[np.ones(nc), -np.ones(int(two.sum()))],
                                 (np.r_[cr, cr[two]], np.r_[order[close, kc - 1], m + zstart[close[two]] + kc[two] - 2])),
                                shape=(nc, ncol))
            A = sp.vstack([A, Acl])
            row_lo = np.r_[row_lo, np.where(two, 0.0, 1.0)]
            row_hi = np.r_[row_hi, np.full(nc, np.inf)]
    col_lo = np.zeros(ncol)
    col_lo[:m] = forced.astype(float)
    col_hi = np.ones(ncol)
    integ = np.zeros(ncol, bool)
    integ[:m] = True
    lm = LinearModel(c, A, row_lo, row_hi, col_lo, col_hi, integrality=integ, maximize=False,
                     time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    if start_open is not None and start_open.sum() == p and np.all(start_open[forced]):
        # the heuristic incumbent: HiGHS prunes with it from the first node and skips its own heuristics
        reached = np.cumsum(start_open[order], axis=1) > 0
        x0 = np.concatenate([start_open.astype(float), (~reached[ii, kk]).astype(float)])
        lm.set_start(x0, search=False)
    sol = lm.solve()
    if sol.status not in ("optimal", "time_limit") or not np.all(np.isfinite(sol.x)):
        raise InfeasibleError(f"the p-median model could not be solved (status: {sol.status})")
    return sol.x[:m], sol.objective + offset, sol.gap, sol.seconds

def _pmedian_lagrangian(A: np.ndarray, p: int, forced: np.ndarray, iters: int = 3000, ils_rounds: int = 30):
    """Lagrangian relaxation of the assignment constraints (Cornuejols, Fisher and Nemhauser 1977;
    Beasley 1993): lower bound, best heuristic solution and sites that reduced-cost tests fix.

    Returns (LB, UB, S_best, fixed_closed, fixed_open).
    """
    _n, m = A.shape
    Af = np.where(np.isfinite(A), A, 1e18)
    srt = np.sort(Af, axis=1)
    lam = srt[:, min(m - 1, max(1, m // p))].copy()
    nf = int(forced.sum())

    def choose(rho):
        free = np.flatnonzero(~forced)
        k = p - nf
        pick = free[np.argpartition(rho[free], k - 1)[:k]] if k > 0 else np.zeros(0, int)
        return np.concatenate([np.flatnonzero(forced), pick])

    # a good incumbent first: the step size uses it
    start = np.concatenate([np.flatnonzero(forced),
                            np.flatnonzero(~forced)[np.linspace(0, m - nf - 1, p - nf).astype(int)]])
    S_best = swap_search(Af, start, forced)
    ub = evaluate(Af, S_best)
    best_lb, best_lam = -np.inf, lam.copy()
    mu, stall = 2.0, 0
    for it in range(iters):
        R = np.minimum(0.0, Af - lam[:, None])
        rho = R.sum(axis=0)
        S = choose(rho)
        lb = lam.sum() + rho[S].sum()
        if lb > best_lb + 1e-12 * abs(lb):
            best_lb, best_lam, stall = lb, lam.copy(), 0
        else:
            stall += 1
            if stall >= 30:
                mu, stall = mu / 2, 0
        c = evaluate(Af, S)
        if c < ub:
            ub, S_best = c, S
        g = 1.0 - (Af[:, S] < lam[:, None]).sum(axis=1)
        gg = float(g @ g)
        if gg == 0 or mu < 1e-5 or (ub - best_lb) <= 1e-9 * abs(ub):
            break
        lam = lam + mu * (ub - lb) / gg * g
    # reduced-cost fixing at the best multipliers; local search from several starts for the incumbent
    R = np.minimum(0.0, Af - best_lam[:, None])
    rho = R.sum(axis=0)
    S = choose(rho)
    rng = np.random.default_rng(0)
    starts = [S_best, S, np.concatenate([np.flatnonzero(forced), rng.choice(np.flatnonzero(~forced), p - nf,
                                                                             replace=False)])]
    for st_ in starts:
        cand = swap_search(Af, st_, forced)
        c = evaluate(Af, cand)
        if c < ub:
            ub, S_best = c, cand
    # iterated local search: a few random open sites swapped for random closed ones, then vertex
    # substitution again; a better incumbent fixes more sites
    for _ in range(ils_rounds if p - nf < m - nf else 0):
        out = np.setdiff1d(S_best, np.flatnonzero(forced))
        closed = np.setdiff1d(np.flatnonzero(~forced), S_best)
        if len(out) == 0 or len(closed) == 0:
            break
        k = int(rng.integers(1, max(1, min(len(out), len(closed), p // 4)) + 1))
        st_ = np.r_[np.setdiff1d(S_best, rng.choice(out, k, replace=False)), rng.choice(closed, k, replace=False)]
        cand = swap_search(Af, st_, forced)
        c = evaluate(Af, cand)
        if c < ub - 1e-12 * abs(ub):
            ub, S_best = c, cand
    lb = best_lam.sum() + rho[S].sum()
    fixed_closed, fixed_open = fixing_tests(lb, rho, S, forced, ub)
    return lb, ub, S_best, fixed_closed, fixed_open

def capacitated_p_median(cost, weights, capacity, p: int, open_sites=None, site_ids=None, demand_ids=None,
                         time_limit: float | None = None, mip_rel_gap: float = 1e-6) -> LocationResult:
    """p-median where each open site serves at most its capacity (single sourcing, as in PySAL spopt).

    Parameters
    ----------
    capacity : ndarray, shape (n_site,)
        Demand each site can serve when open.

    Raises
    ------
    InfeasibleError
        When the *p* largest capacities cannot hold the total demand.
    """
    t0 = time.perf_counter()
    C, w, forced, site_ids, demand_ids = prepare(cost, weights, open_sites, site_ids, demand_ids)
    n, m = C.shape
    check_p(p, m, forced)
    check_reach(C, p, forced, demand_ids, "capacitated p-median")
    Q = np.asarray(capacity, float).ravel()
    if Q.shape != (m,) or np.any(~np.isfinite(Q)) or np.any(Q < 0):
        raise EquicareError(f"capacity needs {m} finite non-negative values, one per site")
    free = np.sort(Q[~forced])[::-1][: p - int(forced.sum())].sum() + Q[forced].sum()
    if free < w.sum() - 1e-9:
        raise InfeasibleError(f"total demand {w.sum():g} exceeds the capacity {free:g} of the {p} largest "
                              "sites that may open")
    ok = np.isfinite(C)
    ii, jj = np.nonzero(ok)
    X = len(ii)
    ncol = m + X
    c = np.concatenate([np.zeros(m), w[ii] * C[ii, jj]])
    xr = np.arange(X)
    # assignment rows (n), open rows x_ij - y_j <= 0 (X), capacity rows (m), p row
    A_assign = sp.csr_matrix((np.ones(X), (ii, m + xr)), shape=(n, ncol))
    A_open = sp.csr_matrix((np.r_[np.ones(X), -np.ones(X)], (np.r_[xr, xr], np.r_[m + xr, jj])), shape=(X, ncol))
    A_cap = sp.csr_matrix((np.r_[w[ii], -Q], (np.r_[jj, np.arange(m)], np.r_[m + xr, np.arange(m)])),
                          shape=(m, ncol))
    A_p = sp.csr_matrix((np.ones(m), (np.zeros(m, int), np.arange(m))), shape=(1, ncol))
    A = sp.vstack([A_assign, A_open, A_cap, A_p])
    row_lo = np.r_[np.ones(n), np.full(X, -np.inf), np.full(m, -np.inf), p]
    row_hi = np.r_[np.ones(n), np.zeros(X), np.zeros(m), p]
    col_lo = np.r_[forced.astype(float), np.zeros(X)]
    lm = LinearModel(c, A, row_lo, row_hi, col_lo, np.ones(ncol), integrality=np.ones(ncol, bool),
                     time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    sol = lm.solve()
    if sol.status == "infeasible":
        raise InfeasibleError("no assignment of every demand to open sites within their capacities exists")
    if not np.all(np.isfinite(sol.x)):
        raise InfeasibleError(f"the capacitated p-median could not be solved (status: {sol.status})")
    y = sol.x[:m] > 0.5
    xv = sol.x[m:] > 0.5
    assignment = {d: None for d in demand_ids}
    for k in np.flatnonzero(xv):
        assignment[demand_ids[ii[k]]] = site_ids[jj[k]]
    return LocationResult("cpmedian", float(sol.objective), [site_ids[j] for j in np.flatnonzero(y)], assignment,
                          sol.gap, time.perf_counter() - t0, {"solver_seconds": sol.seconds})
