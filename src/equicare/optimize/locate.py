"""Facility location on a cost table: p-median, capacitated p-median, MCLP, LSCP and p-center on HiGHS.

All models take a demand-by-site cost matrix (dense, or sparse when only some pairs are allowed), demand
weights and optionally sites that must stay open, and return the same :class:`LocationResult`.

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
otherwise ``K_i`` is doubled for the demands that do not and the model is re-solved (exact).

capacitated p-median: the classical single-sourcing model (binary ``x_ij <= y_j``, ``sum_j x_ij = 1``,
``sum_i w_i x_ij <= Q_j y_j``), as in PySAL spopt.

MCLP (Church and ReVelle 1974): ``max sum_i w_i c_i`` with ``c_i <= sum_{j: d_ij <= R} y_j``,
``0 <= c_i <= 1``, ``sum_j y_j = p``; solved after exact reductions from an incumbent (greedy adding and
vertex substitution, the MCLP being a p-median with cost ``-w_i`` when covered), with the LP duals as
Lagrangian multipliers of the coverage rows for reduced-cost site fixing (Galvao and ReVelle 1996), and
the MIP in the equivalent form ``u_i + sum_{j: d_ij <= R} y_j >= 1`` (``u_i = 1 - c_i``).

LSCP (Toregas et al. 1971): ``min sum_j y_j`` with ``sum_{j: d_ij <= R} y_j >= 1`` for every demand.

p-center (Hakimi 1965): the smallest radius *R* among the distinct costs for which an LSCP with the
forced sites needs at most *p* sites, found by bisection over the sorted distinct costs (each step an
exact LSCP), then each demand goes to its nearest open site.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
ReVelle, C. S. and Swain, R. W. (1970). Central facilities location. *Geographical Analysis* 2, 30-42.
Church, R. and ReVelle, C. (1974). The maximal covering location problem. *Papers of the Regional
Science Association* 32, 101-118.
Galvao, R. D. and ReVelle, C. (1996). A Lagrangean heuristic for the maximal covering location problem.
*European Journal of Operational Research* 88, 114-123.
Toregas, C., Swain, R., ReVelle, C. and Bergman, L. (1971). The location of emergency service
facilities. *Operations Research* 19, 1363-1373.
Daskin, M. S. (2013). *Network and Discrete Location*, 2nd ed. Wiley.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError, Problem, ValidationError
from equicare.optimize.highs import LinearModel

MODELS = ("pmedian", "cpmedian", "mclp", "lscp", "pcenter")


@dataclass
class LocationResult:
    """A solved facility-location model.

    Attributes
    ----------
    model : str
    objective : float
        p-median: sum of demand x cost; MCLP: covered demand; LSCP: sites opened; p-center: the
        largest assigned cost.
    selected_sites : list of str
    assignment : dict
        Demand id -> site id (MCLP: only covered demand; others map to None).
    gap : float
        Relative MIP gap at the end (0 when proven optimal).
    solve_seconds : float
        Model build plus solve, end to end.
    details : dict
        Extra figures (e.g. covered share, iterations of the truncated p-median).
    """

    model: str
    objective: float
    selected_sites: list[str]
    assignment: dict[str, str | None]
    gap: float
    solve_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "objective": float(self.objective),
                "selected_sites": list(self.selected_sites), "assignment": dict(self.assignment),
                "gap": float(self.gap), "solve_seconds": float(self.solve_seconds), "details": self.details}


# ------------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------------
@dataclass
class CostTable:
    """Demand ids, site ids and the cost matrix (``inf`` where a pair is not in the table)."""

    demand_ids: list[str]
    site_ids: list[str]
    cost: np.ndarray  # (n_demand, n_site)


def cost_table_from_long(df: pd.DataFrame, demand_ids=None, file: str = "cost table",
                         origin: str = "origin", destination: str = "destination",
                         cost: str = "cost") -> CostTable:
    """Pivot a long cost table (origin = demand unit, destination = candidate site) to a matrix.

    Parameters
    ----------
    df : DataFrame
        Columns ``origin, destination, cost``.
    demand_ids : sequence of str, optional
        Order of the demand rows (default: order of first appearance).  Missing pairs get ``inf``.
    file : str
        Name used in error messages.

    Raises
    ------
    ValidationError
        Missing columns, non-numeric or negative costs, duplicate pairs.
    """
    probs = []
    for col in (origin, destination, cost):
        if col not in df.columns:
            probs.append(Problem(file, None, col, "required column is missing"))
    if probs:
        raise ValidationError(probs)
    o = df[origin].astype(str).to_numpy()
    d = df[destination].astype(str).to_numpy()
    c = pd.to_numeric(df[cost], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(c) | (c < 0))
    for k in bad[:20]:
        probs.append(Problem(file, int(k) + 1, cost, "must be a non-negative number", df[cost].iloc[k]))
    dup = pd.Series(list(zip(o, d))).duplicated().to_numpy()
    for k in np.flatnonzero(dup)[:20]:
        probs.append(Problem(file, int(k) + 1, f"{origin},{destination}", "duplicate pair", f"{o[k]}->{d[k]}"))
    if probs:
        raise ValidationError(probs)
    if demand_ids is None:
        demand_ids = list(dict.fromkeys(o))
    demand_ids = [str(v) for v in demand_ids]
    site_ids = list(dict.fromkeys(d))
    di = pd.Index(demand_ids)
    si = pd.Index(site_ids)
    r = di.get_indexer(o)
    cc = si.get_indexer(d)
    keep = r >= 0
    M = np.full((len(demand_ids), len(site_ids)), np.inf)
    M[r[keep], cc[keep]] = c[keep]
    return CostTable(demand_ids, site_ids, M)


def _prep(cost, weights, open_sites, site_ids, demand_ids):
    C = np.asarray(cost, dtype=float)
    if C.ndim != 2:
        raise EquicareError("cost must be a demand-by-site matrix")
    n, m = C.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,):
        raise EquicareError(f"{w.size} demand weights for {n} demand units")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise EquicareError("demand weights must be finite and non-negative")
    site_ids = [str(s) for s in (site_ids if site_ids is not None else range(m))]
    demand_ids = [str(s) for s in (demand_ids if demand_ids is not None else range(n))]
    forced = np.zeros(m, bool)
    if open_sites is not None and len(open_sites):
        idx = {s: k for k, s in enumerate(site_ids)}
        unknown = [str(s) for s in open_sites if str(s) not in idx]
        if unknown:
            raise EquicareError(f"sites to keep open are not candidate sites: {', '.join(unknown[:10])}")
        forced[[idx[str(s)] for s in open_sites]] = True
    return C, w, forced, site_ids, demand_ids


def _check_p(p, m, forced):
    if p is None:
        raise EquicareError("this model needs --p (the number of sites to open)")
    if not 1 <= p <= m:
        raise EquicareError(f"p must be between 1 and the number of candidate sites ({m}), not {p}")
    if forced.sum() > p:
        raise InfeasibleError(f"{int(forced.sum())} sites are forced open but only p = {p} may open")


def _check_reach(C, p, forced, demand_ids, model):
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
    y, _ = _lscp_core(reach_cost, 0.0, forced)
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


def _assign_nearest(C, open_mask, demand_ids, site_ids, radius=None):
    cols = np.flatnonzero(open_mask)
    sub = C[:, cols]
    k = np.argmin(sub, axis=1)
    best = sub[np.arange(len(C)), k]
    out = {}
    for i, d in enumerate(demand_ids):
        ok = np.isfinite(best[i]) and (radius is None or best[i] <= radius + 1e-9)
        out[d] = site_ids[cols[k[i]]] if ok else None
    return out, best


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------
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
    C, w, forced, site_ids, demand_ids = _prep(cost, weights, open_sites, site_ids, demand_ids)
    n, m = C.shape
    _check_p(p, m, forced)
    _check_reach(C, p, forced, demand_ids, "p-median")
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
            assignment, best = _assign_nearest(C, open_mask, demand_ids, site_ids)
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
    assignment, best = _assign_nearest(C, open_mask, demand_ids, site_ids)
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


def _evaluate(A: np.ndarray, open_idx: np.ndarray) -> float:
    return float(A[:, open_idx].min(axis=1).sum())


def _greedy(A: np.ndarray, p: int, forced: np.ndarray) -> np.ndarray:
    """Greedy adding (Kuehn and Hamburger 1963): the forced sites, then one at a time the site that lowers
    ``sum_i min_{j open} A_ij`` the most (before the first site, every demand counts its largest cost)."""
    S = list(np.flatnonzero(forced))
    d = A[:, S].min(axis=1) if S else np.full(A.shape[0], float(np.max(A, initial=0.0)))
    free = ~forced.copy()
    while len(S) < p:
        tot = np.minimum(A, d[:, None]).sum(axis=0)
        tot[~free] = np.inf
        j = int(np.argmin(tot))
        S.append(j)
        free[j] = False
        d = np.minimum(d, A[:, j])
    return np.array(sorted(S), dtype=int)


def _swap_search(A: np.ndarray, S: np.ndarray, forced: np.ndarray, max_pass: int = 50) -> np.ndarray:
    """Best-improvement vertex substitution (Teitz and Bart 1968), vectorised over all swaps."""
    n, m = A.shape
    S = np.array(sorted(S))
    for _ in range(max_pass):
        sub = A[:, S]
        o = np.argsort(sub, axis=1)[:, :2] if len(S) > 1 else np.zeros((n, 1), int)
        d1 = sub[np.arange(n), o[:, 0]]
        d2 = sub[np.arange(n), o[:, 1]] if len(S) > 1 else np.full(n, np.inf)
        a = S[o[:, 0]]
        cur = d1.sum()
        add = np.minimum(A, d1[:, None])  # n x m: cost if k is added (nobody removed)
        base = add.sum(axis=0)
        best_gain, best = 1e-9 * max(cur, 1.0), None
        for j in S:
            if forced[j]:
                continue
            rows = a == j
            if not rows.any():
                delta = np.zeros(m)
            else:
                delta = (np.minimum(A[rows], d2[rows, None]) - add[rows]).sum(axis=0)
            newc = base + delta
            newc[S] = np.inf
            k = int(np.argmin(newc))
            gain = cur - newc[k]
            if gain > best_gain:
                best_gain, best = gain, (j, k)
        if best is None:
            break
        j, k = best
        S = np.array(sorted(set(S.tolist()) - {j} | {k}))
    return S


def _fixing_tests(lb: float, rho: np.ndarray, S: np.ndarray, forced: np.ndarray, ub: float):
    """Reduced-cost tests of a Lagrangian bound whose site part picks the forced sites and the p - |forced|
    others with the smallest ``rho`` (minimisation): ``lb`` the bound, ``S`` the picked sites, ``ub`` the
    incumbent.  Opening an unpicked site j costs at least ``rho_j - max(rho over free picked)`` on the
    bound, closing a picked one ``min(rho over unpicked) - rho_j``: when the bound then exceeds the
    incumbent, no better solution opens (closes) it.  Returns (fixed_closed, fixed_open) masks."""
    m = len(rho)
    inS = np.zeros(m, bool)
    inS[S] = True
    free_in = inS & ~forced
    worst_in = rho[free_in].max() if free_in.any() else np.inf
    best_out = rho[~inS].min() if (~inS).any() else np.inf
    tol = 1e-9 * max(abs(ub), 1.0)
    fixed_closed = ~inS & (lb + rho - worst_in > ub + tol)
    fixed_open = free_in & (lb - rho + best_out > ub + tol)
    return fixed_closed, fixed_open


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
    S_best = _swap_search(Af, start, forced)
    ub = _evaluate(Af, S_best)
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
        c = _evaluate(Af, S)
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
        cand = _swap_search(Af, st_, forced)
        c = _evaluate(Af, cand)
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
        cand = _swap_search(Af, st_, forced)
        c = _evaluate(Af, cand)
        if c < ub - 1e-12 * abs(ub):
            ub, S_best = c, cand
    lb = best_lam.sum() + rho[S].sum()
    fixed_closed, fixed_open = _fixing_tests(lb, rho, S, forced, ub)
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
    C, w, forced, site_ids, demand_ids = _prep(cost, weights, open_sites, site_ids, demand_ids)
    n, m = C.shape
    _check_p(p, m, forced)
    _check_reach(C, p, forced, demand_ids, "capacitated p-median")
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


def mclp(cost, weights=None, p: int | None = None, service_radius: float | None = None, open_sites=None,
         site_ids=None, demand_ids=None, time_limit: float | None = None,
         mip_rel_gap: float = 1e-6) -> LocationResult:
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
    C, w, forced, site_ids, demand_ids = _prep(cost, weights, open_sites, site_ids, demand_ids)
    _n, m = C.shape
    _check_p(p, m, forced)
    if service_radius is None or not service_radius >= 0:
        raise EquicareError("MCLP needs --service-radius (a non-negative cost)")
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
    S0 = _swap_search(A_heur, _greedy(A_heur, p, forced_k), forced_k)
    inc = -_evaluate(A_heur, S0)
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
        bound, S_lp, rho = _mclp_lagrangian(covg, wg, p, forced_k, lam)
        for st_ in (S_lp, np.argsort(-lp.x[:mk], kind="stable")[:p]):
            if np.all(np.isin(np.flatnonzero(forced_k), st_)):
                S1 = _swap_search(A_heur, st_, forced_k)
                if -_evaluate(A_heur, S1) > inc:
                    S0, inc = S1, -_evaluate(A_heur, S1)
        fixed_closed, fixed_open = _fixing_tests(-bound, -rho, S_lp, forced_k, -inc)
        forced_k = forced_k | fixed_open
        details.update({"lagrangian_bound": bound, "sites_fixed_closed": int(fixed_closed.sum()),
                        "sites_fixed_open": int(fixed_open.sum())})
    details["heuristic_objective"] = float(inc)
    y0 = np.zeros(mk, bool)
    y0[S0] = True
    keep = np.flatnonzero(~fixed_closed)
    if bound <= inc + 1e-9 * max(abs(inc), 1.0):
        # the bound proves the incumbent optimal
        x_keep, gap, secs = y0[keep].astype(float), 0.0, 0.0
        details["proof"] = "lagrangian bound"
    else:
        # 3. exact MIP on the sites left, started from the incumbent (HiGHS only has to prove it or
        #    branch to a better one)
        lm, cov_r, _, _ = _mclp_model(covg[:, keep], wg, p, forced_k[keep], np.ones(len(keep), bool),
                                      integer=True, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        lm.h.setOptionValue("mip_pool_soft_limit", 500)  # a smaller cut pool: faster root on these models
        if y0[keep].sum() == p and np.all(y0[keep][forced_k[keep]]):
            lm.set_start(np.r_[y0[keep], ~(cov_r & y0[keep]).any(axis=1)], search=False)
        sol = lm.solve()
        if not np.all(np.isfinite(sol.x)):
            raise InfeasibleError(f"the MCLP could not be solved (status: {sol.status})")
        x_keep, gap, secs = sol.x[:len(keep)], sol.gap, sol.seconds
    y = np.zeros(m, bool)
    y[sites_k[keep[x_keep > 0.5]]] = True
    assignment, best = _assign_nearest(C, y, demand_ids, site_ids, radius=service_radius)
    covered = float(w[best <= service_radius + 1e-9].sum())
    return LocationResult("mclp", covered, [site_ids[j] for j in np.flatnonzero(y)], assignment, gap,
                          time.perf_counter() - t0,
                          {"covered_share": covered / w.sum() if w.sum() > 0 else 1.0,
                           "service_radius": float(service_radius), "solver_seconds": secs,
                           "sites_after_dominance": int(mk), "demand_groups": int(G), **details})


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
    lm = LinearModel(np.r_[c_y, w_r], A, np.r_[np.full(n, -np.inf), p], np.r_[np.zeros(n), p],
                     np.r_[forced.astype(float), np.zeros(n)], np.r_[free.astype(float), np.ones(n)],
                     integrality=np.r_[np.ones(m, bool), np.zeros(n, bool)] if integer else None,
                     maximize=True, presolve=False, **kw)
    return lm, cov_r, w_r, to_row


def _mclp_lagrangian(cov, wg, p, forced, lam):
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


def _lscp_core(C, radius, forced, time_limit=None):
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
    C, _w, forced, site_ids, demand_ids = _prep(cost, None, open_sites, site_ids, demand_ids)
    if service_radius is None or not service_radius >= 0:
        raise EquicareError("LSCP needs --service-radius (a non-negative cost)")
    unreach = ~(C <= service_radius).any(axis=1)
    if unreach.any():
        bad = [demand_ids[i] for i in np.flatnonzero(unreach)[:10]]
        raise InfeasibleError(f"{int(unreach.sum())} demand units have no candidate site within "
                              f"{service_radius:g}: {', '.join(bad)}")
    y, sol = _lscp_core(C, service_radius, forced, time_limit)
    if y is None:
        raise InfeasibleError("the set-covering model could not be solved")
    assignment, _ = _assign_nearest(C, y, demand_ids, site_ids)
    return LocationResult("lscp", float(y.sum()), [site_ids[j] for j in np.flatnonzero(y)], assignment, sol.gap,
                          time.perf_counter() - t0, {"service_radius": float(service_radius),
                                                     "solver_seconds": sol.seconds})


def p_center(cost, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None) -> LocationResult:
    """Minimise the largest cost from any demand unit to its nearest of *p* open sites.

    Bisection over the sorted distinct costs; each probe is an exact LSCP (with the forced sites)
    asking whether at most *p* sites cover everyone within that radius.
    """
    t0 = time.perf_counter()
    C, _w, forced, site_ids, demand_ids = _prep(cost, None, open_sites, site_ids, demand_ids)
    _n, m = C.shape
    _check_p(p, m, forced)
    _check_reach(C, p, forced, demand_ids, "p-center")
    vals = np.unique(C[np.isfinite(C)])
    lo_val = np.max(np.min(C, axis=1))  # every demand needs at least its nearest site
    vals = vals[vals >= lo_val]
    lo, hi = 0, len(vals) - 1
    best_y = None
    probes = 0
    # the largest value is always feasible with p >= 1? not with forced/p small: check
    while lo <= hi:
        mid = (lo + hi) // 2
        y, _ = _lscp_core(C, vals[mid], forced, time_limit)
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
        _, best = _assign_nearest(C, y, demand_ids, site_ids)
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
    assignment, best = _assign_nearest(C, y, demand_ids, site_ids)
    return LocationResult("pcenter", float(best.max()), [site_ids[j] for j in np.flatnonzero(y)], assignment, 0.0,
                          time.perf_counter() - t0, {"probes": probes})


def locate(model: str, table: CostTable, demand: np.ndarray | None = None, p: int | None = None,
           service_radius: float | None = None, open_sites=None, capacity=None,
           time_limit: float | None = None) -> LocationResult:
    """Dispatch to one of :data:`MODELS` on a :class:`CostTable` (used by ``equicare locate``)."""
    if model not in MODELS:
        raise EquicareError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    kw = {"site_ids": table.site_ids, "demand_ids": table.demand_ids, "open_sites": open_sites}
    if model == "pmedian":
        return p_median(table.cost, demand, p, time_limit=time_limit, **kw)
    if model == "cpmedian":
        if capacity is None:
            raise EquicareError("the capacitated p-median needs site capacities")
        return capacitated_p_median(table.cost, demand, capacity, p, time_limit=time_limit, **kw)
    if model == "mclp":
        return mclp(table.cost, demand, p, service_radius, time_limit=time_limit, **kw)
    if model == "lscp":
        return lscp(table.cost, service_radius, time_limit=time_limit, **kw)
    return p_center(table.cost, p, time_limit=time_limit, **kw)


def _read_csv(path: str, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"id": str, "origin": str, "destination": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EquicareError(f"{path}: cannot read the {what} file ({exc})") from exc


def locate_files(cost_path: str, demand_path: str, model: str, p: int | None = None,
                 service_radius: float | None = None, demand_value: str = "demand",
                 open_sites: list[str] | None = None, time_limit: float | None = None) -> LocationResult:
    """Read ``C.csv`` (origin,destination,cost) and ``D.csv`` (id and a demand column) and solve.

    Demand units are the rows of ``D.csv``, in its order; cost pairs whose origin is not listed there
    are ignored.  ``open_sites`` entries may also be comma-separated lists.

    Raises
    ------
    ValidationError
        Missing columns, bad numbers or duplicate ids, with file, row and column.
    """
    C = _read_csv(cost_path, "cost")
    D = _read_csv(demand_path, "demand")
    probs = []
    for col in ("id", demand_value):
        if col not in D.columns:
            probs.append(Problem(demand_path, None, col, "required column is missing"))
    if probs:
        raise ValidationError(probs)
    ids = D["id"].astype(str)
    w = pd.to_numeric(D[demand_value], errors="coerce")
    for k in np.flatnonzero((~np.isfinite(w.to_numpy(float))) | (w.to_numpy(float) < 0))[:20]:
        probs.append(Problem(demand_path, int(k) + 1, demand_value, "must be a non-negative number",
                             D[demand_value].iloc[k]))
    for k in np.flatnonzero(ids.duplicated().to_numpy())[:20]:
        probs.append(Problem(demand_path, int(k) + 1, "id", "duplicate id", ids.iloc[k]))
    if probs:
        raise ValidationError(probs)
    table = cost_table_from_long(C, demand_ids=list(ids), file=cost_path)
    opened = [s.strip() for item in (open_sites or []) for s in str(item).split(",") if s.strip()]
    return locate(model, table, w.to_numpy(float), p=p, service_radius=service_radius, open_sites=opened or None,
                  time_limit=time_limit)
