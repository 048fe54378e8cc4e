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

A pair missing from the cost table never covers.  Everything works on the sparse coverage (the pairs
within *R*, a prefix of each point's sorted pairs): memory follows those pairs, never demand x sites.
LSCP is in :mod:`.setcover`.

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
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.costs import check_p, prepare_rows
from equicare.optimize.location.heuristics import fixing_tests, local_search
from equicare.optimize.location.progress import Deadline, Progress, relative_gap, watch_highs
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import SortedRows, assign, within
from equicare.optimize.location.setcover import min_cover


def mclp(cost, weights=None, p: int | None = None, service_radius: float | None = None, open_sites=None,
         site_ids=None, demand_ids=None, time_limit: float | None = None,
         gap: float = 1e-6, deadline: Deadline | None = None, progress: Progress | None = None) -> LocationResult:
    """Maximal covering: open *p* sites to cover the most demand within ``service_radius``.

    Exact: an incumbent from greedy adding + vertex substitution, the LP bound with reduced-cost fixing
    of sites through its duals (Lagrangian multipliers of the coverage rows), then the MIP on the sites
    left, started from the incumbent (skipped when the bound equals the incumbent).

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair never covers).
    time_limit : float, optional
        Seconds for the whole solve (or ``deadline``, started earlier by a command): the best answer so far
        is returned with ``bound`` (never below it), ``gap`` and ``proven_optimal``.
    progress : Progress, optional
        Console lines (incumbent = covered demand, bound) while it works.

    Returns
    -------
    LocationResult
        ``objective`` = covered demand; ``assignment`` maps covered demand to its nearest open site
        within the radius (uncovered demand to None); ``details``: ``covered_share``,
        ``heuristic_objective``, ``lagrangian_bound``, ``sites_fixed_closed``/``sites_fixed_open``.
    """
    t0 = time.perf_counter()
    deadline = deadline or Deadline(time_limit, start=t0)
    progress = progress or Progress(False, deadline)
    progress.label = progress.label or f"MCLP p={p}"
    rows, w, forced, site_ids, demand_ids = prepare_rows(cost, weights, open_sites, site_ids, demand_ids)
    m = rows.n_site
    check_p(p, m, forced)
    if service_radius is None or not (np.isfinite(service_radius) and service_radius >= 0):
        raise EquicareError(f"MCLP needs --service-radius (a finite non-negative cost), got {service_radius}")
    cover = within(rows, service_radius)
    keep_site = _undominated(cover, forced, p)
    sites_k = np.flatnonzero(keep_site)
    cov_k = cover[:, sites_k].tocsr()
    has = np.diff(cov_k.indptr) > 0
    covg, wg, _ = _merge_rows(cov_k[has], w[has])
    G = len(wg)
    mk = len(sites_k)
    forced_k = forced[sites_k]
    # 1. incumbent: greedy adding + vertex substitution (the MCLP is a p-median with cost -w_i when covered)
    y0 = _heuristic(covg, wg, p, forced_k)
    inc = _covered(covg, wg, y0)
    # 2. LP bound: its row duals are Lagrangian multipliers of the coverage rows, whose reduced-cost tests
    #    close (or keep open) sites for good; the sites they favour are further local-search starts
    if inc >= wg.sum() - 1e-9 * max(wg.sum(), 1.0):  # every coverable group is covered: nothing can beat it
        return _result(rows, w, y0, sites_k, np.arange(mk), service_radius, site_ids, demand_ids, np.inf, 0.0, t0,
                       {"sites_after_dominance": int(mk), "demand_groups": int(G), "heuristic_objective": float(inc),
                        "proof": "every demand within reach of a candidate site is covered"})
    progress.report("heuristic", inc, float(wg.sum()))
    lm, _, w_r, to_row = _mclp_model(covg, wg, p, forced_k, np.ones(mk, bool), integer=False,
                                     time_limit=_left(deadline))
    lm.h.setOptionValue("solver", "ipm")  # any multipliers >= 0 give a valid bound: no crossover needed
    lm.h.setOptionValue("run_crossover", "off")
    lp = lm.solve()
    details: dict[str, Any] = {}
    fixed_closed = np.zeros(mk, bool)
    bound = float(wg.sum())  # all demand within reach of some site: a bound that always holds
    if deadline.expired():
        y = np.zeros(mk, bool) | y0
        return _result(rows, w, y, sites_k, np.arange(mk), service_radius, site_ids, demand_ids, bound, np.inf, t0,
                       {"sites_after_dominance": int(mk), "demand_groups": int(G), "heuristic_objective": float(inc),
                        "stopped": "time limit before the LP bound"})
    if lp.ok:
        # a merged row's dual is shared out by weight; a group only one site covers (folded into that
        # site's objective) has multiplier w_i
        d = np.r_[np.abs(lp.row_dual[:len(w_r)]), 0.0][to_row]  # to_row -1 -> the padded 0
        wr = np.r_[w_r, 1.0][to_row]
        lam = np.where(to_row >= 0, d * wg / np.where(wr > 0, wr, 1.0), wg)
        lag, S_lp, rho = mclp_lagrangian(covg, wg, p, forced_k, lam)
        bound = min(bound, lag)
        for st_ in (S_lp, np.argsort(-lp.x[:mk], kind="stable")[:p]):
            start = np.zeros(mk, bool)
            start[st_] = True
            if np.all(start[forced_k]):
                y1 = _heuristic(covg, wg, p, forced_k, start)
                if _covered(covg, wg, y1) > inc:
                    y0, inc = y1, _covered(covg, wg, y1)
        if bound > inc * (1 + gap):  # not proven yet: a better incumbent fixes more sites
            y0, inc = _perturbed_search(covg, wg, p, forced_k, y0, inc, lp.x[:mk] > 1e-6,
                                        deadline.share(0.1, cap=3.0))
            progress.report("local search", inc, bound)
        fixed_closed, fixed_open = fixing_tests(-lag, -rho, S_lp, forced_k, -inc)
        forced_k = forced_k | fixed_open
        details.update({"lagrangian_bound": lag, "sites_fixed_closed": int(fixed_closed.sum()),
                        "sites_fixed_open": int(fixed_open.sum())})
        progress.report("LP bound", inc, bound)
    details["heuristic_objective"] = float(inc)
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
                                      integer=True, time_limit=_left(deadline), mip_rel_gap=gap)
        lm.h.setOptionValue("mip_pool_soft_limit", 500)  # a smaller cut pool: faster root on these models
        yk = y0[keep]
        if yk.sum() == p and np.all(yk[forced_k[keep]]):
            lm.set_start(np.r_[yk, (cov_r @ yk.astype(float)) == 0], search=False)
            # a restart after the root's reduced-cost fixing pays on these models (measured: 23 s vs 31 s
            # at 5 km, p = 20, Chicago all-candidates)
            lm.h.setOptionValue("mip_allow_restart", True)
        watch_highs(lm.h, progress, deadline, True, inc, bound)
        left = deadline.remaining()
        if left is not None:  # building took some of it: HiGHS gets what is left now
            lm.h.setOptionValue("time_limit", max(float(left), 0.05))
        sol = lm.solve()
        secs = sol.seconds
        details["mip_status"] = sol.status
        x_mip = sol.x
        if not np.all(np.isfinite(x_mip)):  # interrupted at the deadline: its best point, if any, stands
            hs = lm.h.getSolution()
            if hs.value_valid:
                x_mip = np.asarray(hs.col_value, dtype=float)
        info = lm.h.getInfo()
        if np.all(np.isfinite(x_mip)) and x_mip[:len(keep)].round().sum() == p:
            x_keep = x_mip[:len(keep)]
            db = float(info.mip_dual_bound)
            extra = max(0.0, db - float(info.objective_function_value)) if np.isfinite(db) else np.inf
        else:  # stopped (time limit) before HiGHS had a solution: the incumbent stands
            x_keep, extra = y0[keep].astype(float), np.inf
    res = _result(rows, w, x_keep > 0.5, sites_k, keep, service_radius, site_ids, demand_ids, bound, extra, t0,
                  {"solver_seconds": secs, "sites_after_dominance": int(mk), "demand_groups": int(G), **details})
    progress.report("done", res.objective, res.bound, force=True)
    return res


def _result(rows, w, x_keep, sites_k, keep, service_radius, site_ids, demand_ids, bound, extra, t0, details):
    """The MCLP answer for the open sites ``sites_k[keep[x_keep]]``: covered demand, its bound and gap."""
    y = np.zeros(rows.n_site, bool)
    y[sites_k[keep[x_keep]]] = True
    assignment, best = assign(rows, y, demand_ids, site_ids, radius=service_radius)
    covered = float(w[best <= service_radius + 1e-9].sum())
    ub = max(covered, min(bound, covered + extra))
    rel = relative_gap(covered, ub)
    return LocationResult("mclp", covered, [site_ids[j] for j in np.flatnonzero(y)], assignment, rel,
                          time.perf_counter() - t0,
                          {"covered_share": covered / w.sum() if w.sum() > 0 else 1.0,
                           "service_radius": float(service_radius), **details},
                          bound=ub, proven_optimal=rel <= 1e-6)


def _left(deadline: Deadline) -> float | None:
    r = deadline.remaining()
    return None if r is None else max(r, 0.05)


def _undominated(cover: sp.csr_matrix, forced: np.ndarray, p: int) -> np.ndarray:
    """Sites kept after dropping those whose coverage set is inside another's (exact for the MCLP; not
    forced ones; ties keep the first; at least *p* stay).  Works on the sparse site x site overlap."""
    m = cover.shape[1]
    cs = sp.csr_matrix(cover.T, dtype=np.int32)
    inter = (cs @ cs.T).tocsr()
    size = np.asarray(cs.sum(axis=1)).ravel()
    keep = np.ones(m, bool)
    n_keep = m
    for j in np.lexsort((-np.arange(m), size)):  # smallest sets first; among equal sets, highest index first
        if forced[j] or n_keep <= p:
            continue
        lo, hi = inter.indptr[j], inter.indptr[j + 1]
        k = inter.indices[lo:hi]
        sub = (inter.data[lo:hi] == size[j]) & (k != j) & keep[k]
        sub &= (size[k] > size[j]) | (k < j)  # a strictly larger set, or an identical one listed earlier
        if size[j] == 0:  # covers nothing: inside any other site's set
            sub = np.array([bool(np.any(keep & (np.arange(m) != j)))])
        if sub.any():
            keep[j] = False
            n_keep -= 1
    return keep


def _heuristic(cov: sp.csr_matrix, wg: np.ndarray, p: int, forced: np.ndarray, start=None) -> np.ndarray:
    """Greedy adding (from ``start`` when given: then only local search) and vertex substitution on the
    MCLP seen as a p-median with cost ``-w_i`` for a covered group and 0 otherwise (the shared numba
    kernels of :mod:`.kernels`)."""
    ptr = cov.indptr.astype(np.int64)
    site = cov.indices.astype(np.int64)
    a = -np.repeat(wg, np.diff(ptr))
    if start is None:
        start = kn.greedy_add(ptr, site, a, forced.copy(), int(p), 0.0)
    rows = SortedRows(ptr, site, a, cov.shape[1])
    y, _, _ = local_search(rows, a, start.copy(), forced, 0.0, Deadline(None))
    return y


def _perturbed_search(cov, wg, p, forced, y, inc, support, budget: Deadline, seed: int = 0):
    """Iterated local search (Lourenco, Martin and Stuetzle 2003) for ``budget``: swap a few random open
    sites for closed ones of the LP's support (``support``), run vertex substitution again, keep the
    better.  Returns (sites, covered demand)."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(support)
    k = max(2, p // 10)
    tries = 0
    while not budget.expired() and tries < 200:
        tries += 1
        out = np.flatnonzero(y & ~forced)
        inn = pool[~y[pool]]
        if len(out) == 0 or len(inn) == 0:
            break
        y1 = y.copy()
        kk = min(k, len(out), len(inn))
        y1[rng.choice(out, kk, replace=False)] = False
        y1[rng.choice(inn, kk, replace=False)] = True
        y1 = _heuristic(cov, wg, p, forced, y1)
        c1 = _covered(cov, wg, y1)
        if c1 > inc:
            y, inc = y1, c1
    return y, inc


def _covered(cov: sp.csr_matrix, wg: np.ndarray, y: np.ndarray) -> float:
    return float(wg[(cov @ y.astype(float)) > 0].sum())


def _merge_rows(cov: sp.csr_matrix, w: np.ndarray):
    """Demand units with the same coverage set as one row whose weight is their sum (exact for MCLP).

    Returns (coverage of the merged rows, their weights, merged row of each input row)."""
    cov = sp.csr_matrix(cov)
    cov.sort_indices()
    if len(w) == 0:
        return cov, w, np.zeros(0, int)
    keys = [cov.indices[cov.indptr[i]:cov.indptr[i + 1]].tobytes() for i in range(cov.shape[0])]
    seen: dict[bytes, int] = {}
    grp_first = np.array([seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)
    first = np.unique(grp_first, return_index=True)[1]
    return cov[first], np.bincount(grp_first, weights=w, minlength=len(first)), grp_first


def _mclp_model(cov, wg, p, forced, free, integer, **kw):
    """The MCLP on demand groups x sites, as ``max -sum_i w_i u_i`` with ``u_i + sum_{j in N_i} y_j >= 1``,
    ``sum y = p`` (``u_i = 1 - c_i``: the group is not covered; HiGHS proves these faster than the
    ``c_i <= sum y`` form), presolve off (it only slows the root here).

    Groups covered by a forced site are covered for sure (left out); a group only one site covers adds its
    weight to that site's objective coefficient (exact).  Returns the model (y first, then one u per row
    kept), the coverage and weight of its rows (identical rows merged) and the model row of each group
    (-1: none).
    """
    cov = sp.csr_matrix(cov)
    cov.sort_indices()
    m = cov.shape[1]
    nsite = np.diff(cov.indptr)
    sure = (cov @ forced.astype(float)) > 0
    single = ~sure & (nsite == 1)
    rows = ~sure & (nsite > 1)
    c_y = np.zeros(m)
    np.add.at(c_y, cov.indices[cov.indptr[:-1][single]], wg[single])
    cov_r, w_r, grp = _merge_rows(cov[rows], wg[rows])
    to_row = np.full(len(wg), -1)
    to_row[rows] = grp
    cr = cov_r.tocoo()
    ii, jj = cr.row, cr.col
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
    """Upper bound of the MCLP from multipliers ``lam >= 0`` of its coverage rows (one per group; ``cov``
    groups x sites, dense or sparse):
    ``sum_i max(0, w_i - lam_i) + `` the forced sites and the p best others by ``rho_j = sum_{i in N^-1(j)} lam_i``
    (groups covered by a forced site count in full).  Returns (bound, chosen sites, rho)."""
    sure = np.asarray(cov @ forced.astype(float)).ravel() > 0
    lam = np.where(sure, 0.0, np.minimum(lam, wg))
    rho = np.asarray(cov.T @ lam).ravel()
    free = np.flatnonzero(~forced)
    k = p - int(forced.sum())
    pick = free[np.argsort(-rho[free], kind="stable")[:k]]
    S = np.concatenate([np.flatnonzero(forced), pick])
    bound = float(wg[sure].sum() + (wg - lam)[~sure].sum() + rho[S].sum())
    return bound, S, rho


def check_reach(C, p, forced, demand_ids, model):
    """Refuse a dense table (``inf`` = missing pair) in which no choice of *p* sites reaches every point
    (see :func:`check_reach_rows`)."""
    return check_reach_rows(SortedRows.from_dense(np.asarray(C, float)), p, forced, demand_ids, model)


def check_reach_rows(rows: SortedRows, p, forced, demand_ids, model):
    """Refuse a table in which no choice of *p* sites (the forced ones among them) reaches every demand point.

    A pair missing from the cost table means that site cannot serve that demand.  Demand points that no
    site reaches are named; otherwise, when the fewest sites reaching everyone (a set cover over the pairs,
    with the forced sites) exceed *p*, the points left unreached by the choice of *p* sites that reaches
    the most of them are named (on tables up to 4 million pairs).

    Raises
    ------
    InfeasibleError
    """
    n, m = rows.n_demand, rows.n_site
    cnt = np.diff(rows.ptr)
    if np.all(cnt == m):
        return
    if np.any(cnt == 0):
        bad = [demand_ids[i] for i in np.flatnonzero(cnt == 0)]
        raise InfeasibleError(f"{model}: {len(bad)} demand points have no candidate site in the cost table "
                              f"(a missing pair means that site cannot serve that point): {', '.join(bad[:20])}")
    # enough sites when the points' nearest sites (with the forced ones) are at most p
    nearest = np.unique(np.r_[rows.site[rows.ptr[:-1]], np.flatnonzero(forced)])
    if len(nearest) <= p:
        return
    reach = within(rows, np.inf)
    res = min_cover(reach, forced, time_limit=30.0, limit=int(p))
    if res.is_open is not None and res.is_open.sum() <= p:
        return
    if (res.is_open is not None and res.gap > 0 and res.lower <= p) or res.lower == -np.inf:
        return  # undecided within the time: the solve goes on and reports any point left unserved
    need = f"; at least {int(res.lower)} sites are needed" if np.isfinite(res.lower) else ""
    tail = ""
    if rows.nnz <= 4_000_000:
        best = mclp(rows, np.ones(n), p, float(rows.d.max(initial=0.0)),
                    open_sites=np.flatnonzero(forced).tolist() or None, site_ids=list(range(m)),
                    demand_ids=demand_ids)
        bad = [d for d, s in best.assignment.items() if s is None]
        tail = f"; the best choice of {p} sites leaves {len(bad)} unreached: {', '.join(bad[:20])}"
    raise InfeasibleError(f"{model}: no choice of p = {p} sites reaches every demand point "
                          f"(a missing pair means that site cannot serve that point{need}){tail}")
