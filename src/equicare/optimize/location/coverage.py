"""Covering models: the maximal covering location problem (MCLP) and location set covering (LSCP).

Formulations
------------
MCLP (Church and ReVelle 1974): open *p* sites to cover the most demand within the radius *R*:

.. math::

    \\max \\sum_i w_i c_i \\quad c_i \\le \\sum_{j: d_{ij} \\le R} y_j,\\; 0 \\le c_i \\le 1,\\;
    \\sum_j y_j = p,\\; y \\in \\{0,1\\}.

Solved after exact reductions (dominated sites dropped, demand points with the same coverage set merged)
from an incumbent (greedy adding and vertex substitution, the MCLP being a p-median with cost ``-w_i``
when covered), with the LP duals as Lagrangian multipliers of the coverage rows for reduced-cost site
fixing (Galvao and ReVelle 1996), and the MIP in the equivalent form ``u_i + sum_{j: d_ij <= R} y_j >= 1``
(``u_i = 1 - c_i``).

LSCP (Toregas et al. 1971): the fewest sites that put every demand point within *R*:
``min sum_j y_j`` s.t. ``sum_{j: d_ij <= R} y_j >= 1`` for every *i*.

A pair missing from the cost table never covers.

References
----------
Church, R. and ReVelle, C. (1974). The maximal covering location problem. *Papers of the Regional
Science Association* 32, 101-118.
Galvao, R. D. and ReVelle, C. (1996). A Lagrangean heuristic for the maximal covering location problem.
*European Journal of Operational Research* 88, 114-123.
Toregas, C., Swain, R., ReVelle, C. and Bergman, L. (1971). The location of emergency service
facilities. *Operations Research* 19, 1363-1373.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.highs import LinearModel
from equicare.optimize.location.kernels import greedy_cover
from equicare.optimize.location.costs import assign_nearest, check_p, prepare
from equicare.optimize.location.heuristics import evaluate, fixing_tests, greedy, swap_search
from equicare.optimize.location.progress import relative_gap
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import SortedRows


def mclp(cost, weights=None, p: int | None = None, service_radius: float | None = None, open_sites=None,
         site_ids=None, demand_ids=None, time_limit: float | None = None,
         gap: float = 1e-6) -> LocationResult:
    """Maximal covering: open *p* sites to cover the most demand within ``service_radius``.

    Exact: an incumbent from greedy adding + vertex substitution, the LP bound with reduced-cost fixing
    of sites through its duals (Lagrangian multipliers of the coverage rows), then the MIP on the sites
    left, started from the incumbent (skipped when the bound equals the incumbent).

    Returns
    -------
    LocationResult
        ``objective`` = covered demand; ``assignment`` maps covered demand to its nearest open site
        within the radius (uncovered demand to None); ``details``: ``covered_share``,
        ``heuristic_objective``, ``lagrangian_bound``, ``sites_fixed_closed``/``sites_fixed_open``.
    """
    t0 = time.perf_counter()
    C, w, forced, site_ids, demand_ids = prepare(cost, weights, open_sites, site_ids, demand_ids)
    _n, m = C.shape
    check_p(p, m, forced)
    if service_radius is None or not (np.isfinite(service_radius) and service_radius >= 0):
        raise EquicareError(f"MCLP needs --service-radius (a finite non-negative cost), got {service_radius}")
    cover = C <= service_radius
    # exact reductions: drop sites whose coverage set is inside another's (not forced; ties keep the first),
    # and merge demand units with identical coverage sets (their weights add up)
    keep_site = np.ones(m, bool)
    cs = sp.csr_matrix(cover.T.astype(np.int32))
    inter = (cs @ cs.T).toarray()
    size = np.diag(inter).copy()
    sub = inter == size[:, None]  # sub[j, k]: cover(j) within cover(k)
    np.fill_diagonal(sub, False)
    for j in np.lexsort((-np.arange(m), size)):  # smallest sets first; among equal sets, highest index first
        if forced[j] or keep_site.sum() <= p:
            continue
        k = sub[j] & keep_site
        k &= (size > size[j]) | (np.arange(m) < j)  # a strictly larger set, or an identical one listed earlier
        if k.any():
            keep_site[j] = False
    sites_k = np.flatnonzero(keep_site)
    cov_k = cover[:, sites_k]
    has = cov_k.any(axis=1)
    covg, wg, _ = _merge_rows(cov_k[has], w[has])
    G = len(wg)
    mk = len(sites_k)
    forced_k = forced[sites_k]
    # 1. incumbent: greedy adding + vertex substitution (the MCLP is a p-median with cost -w_i when covered)
    A_heur = -(wg[:, None] * covg)
    S0 = swap_search(A_heur, greedy(A_heur, p, forced_k), forced_k)
    inc = -evaluate(A_heur, S0)
    # 2. LP bound: its row duals are Lagrangian multipliers of the coverage rows, whose reduced-cost tests
    #    close (or keep open) sites for good; the sites they favour are further local-search starts
    lm, _, w_r, to_row = _mclp_model(covg, wg, p, forced_k, np.ones(mk, bool), integer=False)
    lm.h.setOptionValue("solver", "ipm")  # any multipliers >= 0 give a valid bound: no crossover needed
    lm.h.setOptionValue("run_crossover", "off")
    lp = lm.solve()
    details: dict[str, Any] = {}
    fixed_closed = np.zeros(mk, bool)
    bound = np.inf
    if lp.ok:
        # a merged row's dual is shared out by weight; a group only one site covers (folded into that
        # site's objective) has multiplier w_i
        d = np.r_[np.abs(lp.row_dual[:len(w_r)]), 0.0][to_row]  # to_row -1 -> the padded 0
        wr = np.r_[w_r, 1.0][to_row]
        lam = np.where(to_row >= 0, d * wg / np.where(wr > 0, wr, 1.0), wg)
        bound, S_lp, rho = mclp_lagrangian(covg, wg, p, forced_k, lam)
        for st_ in (S_lp, np.argsort(-lp.x[:mk], kind="stable")[:p]):
            if np.all(np.isin(np.flatnonzero(forced_k), st_)):
                S1 = swap_search(A_heur, st_, forced_k)
                if -evaluate(A_heur, S1) > inc:
                    S0, inc = S1, -evaluate(A_heur, S1)
        fixed_closed, fixed_open = fixing_tests(-bound, -rho, S_lp, forced_k, -inc)
        forced_k = forced_k | fixed_open
        details.update({"lagrangian_bound": bound, "sites_fixed_closed": int(fixed_closed.sum()),
                        "sites_fixed_open": int(fixed_open.sum())})
    details["heuristic_objective"] = float(inc)
    y0 = np.zeros(mk, bool)
    y0[S0] = True
    keep = np.flatnonzero(~fixed_closed)
    extra = 0.0  # MIP bound above the MIP's solution
    if bound <= inc + 1e-9 * max(abs(inc), 1.0):
        # the bound proves the incumbent optimal
        x_keep, secs = y0[keep].astype(float), 0.0
        details["proof"] = "lagrangian bound"
    else:
        # 3. exact MIP on the sites left, started from the incumbent (HiGHS only has to prove it or
        #    branch to a better one)
        lm, cov_r, _, _ = _mclp_model(covg[:, keep], wg, p, forced_k[keep], np.ones(len(keep), bool),
                                      integer=True, time_limit=time_limit, mip_rel_gap=gap)
        lm.h.setOptionValue("mip_pool_soft_limit", 500)  # a smaller cut pool: faster root on these models
        if y0[keep].sum() == p and np.all(y0[keep][forced_k[keep]]):
            lm.set_start(np.r_[y0[keep], ~(cov_r & y0[keep]).any(axis=1)], search=False)
        sol = lm.solve()
        secs = sol.seconds
        details["mip_status"] = sol.status
        if np.all(np.isfinite(sol.x)):
            x_keep = sol.x[:len(keep)]
            db = float(lm.h.getInfo().mip_dual_bound)
            extra = max(0.0, db - sol.objective) if np.isfinite(db) else np.inf
        else:  # stopped (time limit) before HiGHS had a solution: the incumbent stands
            x_keep, extra = y0[keep].astype(float), np.inf
    y = np.zeros(m, bool)
    y[sites_k[keep[x_keep > 0.5]]] = True
    assignment, best = assign_nearest(C, y, demand_ids, site_ids, radius=service_radius)
    covered = float(w[best <= service_radius + 1e-9].sum())
    ub = max(covered, min(bound, covered + extra))
    rel = relative_gap(covered, ub)
    return LocationResult("mclp", covered, [site_ids[j] for j in np.flatnonzero(y)], assignment, rel,
                          time.perf_counter() - t0,
                          {"covered_share": covered / w.sum() if w.sum() > 0 else 1.0,
                           "service_radius": float(service_radius), "solver_seconds": secs,
                           "sites_after_dominance": int(mk), "demand_groups": int(G), **details},
                          bound=ub, proven_optimal=rel <= 1e-6)

def _merge_rows(cov: np.ndarray, w: np.ndarray):
    """Demand units with the same coverage set as one row whose weight is their sum (exact for MCLP).

    Returns (coverage of the merged rows, their weights, merged row of each input row)."""
    if len(w) == 0:
        return cov, w, np.zeros(0, int)
    first, grp = np.unique(np.packbits(cov, axis=1), axis=0, return_index=True, return_inverse=True)[1:]
    grp = grp.ravel()
    return cov[first], np.bincount(grp, weights=w, minlength=len(first)), grp

def _mclp_model(cov, wg, p, forced, free, integer, **kw):
    """The MCLP on demand groups x sites, as ``max -sum_i w_i u_i`` with ``u_i + sum_{j in N_i} y_j >= 1``,
    ``sum y = p`` (``u_i = 1 - c_i``: the group is not covered; HiGHS proves these faster than the
    ``c_i <= sum y`` form), presolve off (it only slows the root here).

    Groups covered by a forced site are covered for sure (left out); a group only one site covers adds its
    weight to that site's objective coefficient (exact).  Returns the model (y first, then one u per row
    kept), the coverage and weight of its rows (identical rows merged) and the model row of each group
    (-1: none).
    """
    m = cov.shape[1]
    nsite = cov.sum(axis=1)
    sure = cov[:, forced].any(axis=1)
    single = ~sure & (nsite == 1)
    rows = ~sure & (nsite > 1)
    c_y = np.zeros(m)
    np.add.at(c_y, np.argmax(cov[single], axis=1), wg[single])
    cov_r, w_r, grp = _merge_rows(cov[rows], wg[rows])
    to_row = np.full(len(wg), -1)
    to_row[rows] = grp
    ii, jj = np.nonzero(cov_r)
    n = len(w_r)
    ncol = m + n
    # u_i = 1 - c_i (group not covered): u_i + sum_{j in N_i} y_j >= 1, then sum_j y_j = p
    A = sp.csr_matrix((np.ones(n + len(ii) + m), (np.r_[np.arange(n), ii, np.full(m, n)],
                                                  np.r_[m + np.arange(n), jj, np.arange(m)])), shape=(n + 1, ncol))
    lm = LinearModel(np.r_[c_y, -w_r], A, np.r_[np.ones(n), p], np.r_[np.full(n, np.inf), p],
                     np.r_[forced.astype(float), np.zeros(n)], np.r_[free.astype(float), np.ones(n)],
                     integrality=np.r_[np.ones(m, bool), np.zeros(n, bool)] if integer else None,
                     maximize=True, presolve=False, **kw)
    return lm, cov_r, w_r, to_row

def mclp_lagrangian(cov, wg, p, forced, lam):
    """Upper bound of the MCLP from multipliers ``lam >= 0`` of its coverage rows (one per group):
    ``sum_i max(0, w_i - lam_i) + `` the forced sites and the p best others by ``rho_j = sum_{i in N^-1(j)} lam_i``
    (groups covered by a forced site count in full).  Returns (bound, chosen sites, rho)."""
    sure = cov[:, forced].any(axis=1)
    lam = np.where(sure, 0.0, np.minimum(lam, wg))
    rho = lam @ cov
    free = np.flatnonzero(~forced)
    k = p - int(forced.sum())
    pick = free[np.argsort(-rho[free], kind="stable")[:k]]
    S = np.concatenate([np.flatnonzero(forced), pick])
    bound = float(wg[sure].sum() + (wg - lam)[~sure].sum() + rho[S].sum())
    return bound, S, rho

def min_cover(C, radius, forced, time_limit=None):
    """Minimum number of sites covering every demand within radius; None if some demand cannot be."""
    n, m = C.shape
    cov = C <= radius
    if not cov.any(axis=1).all():
        return None, None
    ii, jj = np.nonzero(cov)
    A = sp.csr_matrix((np.ones(len(ii)), (ii, jj)), shape=(n, m))
    lm = LinearModel(np.ones(m), A, np.ones(n), np.full(n, np.inf), forced.astype(float), np.ones(m),
                     integrality=np.ones(m, bool), time_limit=time_limit)
    sol = lm.solve()
    if not np.all(np.isfinite(sol.x)):
        return None, None
    return sol.x > 0.5, sol

def lscp(cost, service_radius: float | None = None, open_sites=None, site_ids=None, demand_ids=None,
         time_limit: float | None = None) -> LocationResult:
    """Location set covering: the fewest sites so that every demand is within ``service_radius``.

    Raises
    ------
    InfeasibleError
        Naming the demand units that no candidate site reaches within the radius.
    """
    t0 = time.perf_counter()
    C, _w, forced, site_ids, demand_ids = prepare(cost, None, open_sites, site_ids, demand_ids)
    if service_radius is None or not (np.isfinite(service_radius) and service_radius >= 0):
        raise EquicareError(f"LSCP needs --service-radius (a finite non-negative cost), got {service_radius}")
    unreach = ~(C <= service_radius).any(axis=1)
    if unreach.any():
        bad = [demand_ids[i] for i in np.flatnonzero(unreach)[:10]]
        raise InfeasibleError(f"{int(unreach.sum())} demand units have no candidate site within "
                              f"{service_radius:g}: {', '.join(bad)}")
    y, sol = min_cover(C, service_radius, forced, time_limit)
    if y is None:
        raise InfeasibleError("the set-covering model could not be solved")
    assignment, _ = assign_nearest(C, y, demand_ids, site_ids)
    return LocationResult("lscp", float(y.sum()), [site_ids[j] for j in np.flatnonzero(y)], assignment, sol.gap,
                          time.perf_counter() - t0, {"service_radius": float(service_radius),
                                                     "solver_seconds": sol.seconds})

def check_reach(C, p, forced, demand_ids, model):
    """Refuse a table in which no choice of *p* sites (the forced ones among them) reaches every demand point.

    A pair missing from the cost table (``inf``) means that site cannot serve that demand.  Demand points
    that no site reaches are named; otherwise, when the fewest sites reaching everyone (a set cover over the
    finite pairs, with the forced sites) exceed *p*, the points left unreached by the choice of *p* sites
    that reaches the most of them are named.

    Raises
    ------
    InfeasibleError
    """
    fin = np.isfinite(C)
    if fin.all():
        return
    none = ~fin.any(axis=1)
    if none.any():
        bad = [demand_ids[i] for i in np.flatnonzero(none)]
        raise InfeasibleError(f"{model}: {len(bad)} demand points have no candidate site in the cost table "
                              f"(a missing pair means that site cannot serve that point): {', '.join(bad[:20])}")
    reach_cost = np.where(fin, 0.0, np.inf)
    y, _ = min_cover(reach_cost, 0.0, forced)
    if y is not None and y.sum() <= p:
        return
    need = int(y.sum()) if y is not None else None
    best = mclp(reach_cost, np.ones(len(C)), p, 0.0, open_sites=np.flatnonzero(forced).tolist() or None,
                site_ids=list(range(C.shape[1])), demand_ids=demand_ids)
    bad = [d for d, s in best.assignment.items() if s is None]
    raise InfeasibleError(f"{model}: no choice of p = {p} sites reaches every demand point "
                          f"(a missing pair means that site cannot serve that point"
                          + (f"; at least {need} sites are needed" if need is not None else "")
                          + f"); the best choice of {p} sites leaves {len(bad)} unreached: {', '.join(bad[:20])}")


def check_reach_rows(rows: SortedRows, p, forced, demand_ids, model):
    """:func:`check_reach` on pairs sorted per point (sparse tables of any size)."""
    n, m = rows.n_demand, rows.n_site
    cnt = np.diff(rows.ptr)
    if np.all(cnt == m):
        return
    if n * m <= 4_000_000:
        return check_reach(rows.dense(), p, forced, demand_ids, model)
    if np.any(cnt == 0):
        bad = [demand_ids[i] for i in np.flatnonzero(cnt == 0)]
        raise InfeasibleError(f"{model}: {len(bad)} demand points have no candidate site in the cost table "
                              f"(a missing pair means that site cannot serve that point): {', '.join(bad[:20])}")
    # enough sites when the points' nearest sites (with the forced ones) are at most p
    nearest = np.unique(np.r_[rows.site[rows.ptr[:-1]], np.flatnonzero(forced)])
    if len(nearest) <= p:
        return
    if greedy_cover(rows.ptr, rows.site, forced, m, p) <= p:
        return
    A = sp.csr_matrix((np.ones(rows.nnz), rows.site, rows.ptr), shape=(n, m))
    lm = LinearModel(np.ones(m), A, np.ones(n), np.full(n, np.inf), forced.astype(float), np.ones(m),
                     integrality=np.ones(m, bool), time_limit=30.0)
    sol = lm.solve()
    if sol.ok and sol.objective <= p + 1e-6:
        return
    if sol.status == "time_limit":  # undecided: the solve goes on and reports any point left unserved
        return
    need = f"; at least {round(sol.objective)} sites are needed" if sol.ok else ""
    raise InfeasibleError(f"{model}: no choice of p = {p} sites reaches every demand point (a missing pair "
                          f"means that site cannot serve that point{need})")
