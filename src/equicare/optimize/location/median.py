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

import numpy as np
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.highs import LinearModel
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.costs import check_p, prepare_rows
from equicare.optimize.location.coverage import check_reach_rows
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.median_exact import solve_p_median
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import nearest_open


def p_median(cost, weights=None, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None, gap: float = 1e-6, reduce: bool = True,
             deadline: Deadline | None = None, progress: Progress | None = None) -> LocationResult:
    """Minimise total demand-weighted cost of serving every demand point from its nearest of *p* open sites.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Cost of serving each demand point from each site (``inf`` = the pair is not in the table: that
        site cannot serve that point), or the allowed pairs sorted per point (sparse tables).
    weights : ndarray, shape (n_demand,)
        Demand.
    p : int
        Number of sites to open (including forced ones).
    open_sites : sequence of str, optional
        Site ids that must be open (existing facilities).
    site_ids, demand_ids : sequence of str, optional
    time_limit : float, optional
        Seconds for the whole solve (ignored when ``deadline`` is given); the best solution found is
        returned with its proven ``bound`` and ``gap``.
    gap : float
        Relative gap at which to stop (``(objective - bound) / objective``).
    reduce : bool
        Run the Lagrangian bound and variable fixing before the MIP (default).  Off: the radius MIP on
        every pair (for checking; exact either way).
    deadline, progress : optional
        A deadline shared with the rest of a command, and console progress.

    Returns
    -------
    LocationResult
        ``objective`` = sum of demand x cost to the assigned (nearest open) site; ``bound`` a proven lower
        bound; ``proven_optimal`` when ``gap`` is within the requested one.

    Raises
    ------
    InfeasibleError
        When no choice of *p* sites (the forced ones among them) reaches every demand point.
    """
    deadline = deadline or Deadline(time_limit)
    progress = progress or Progress(False, deadline)
    t0 = time.perf_counter()
    rows, w, forced, site_ids, demand_ids = prepare_rows(cost, weights, open_sites, site_ids, demand_ids)
    m = rows.n_site
    check_p(p, m, forced)
    check_reach_rows(rows, p, forced, demand_ids, "p-median")
    progress.label = progress.label or f"p-median p={p}"
    sol = solve_p_median(rows, w, int(p), forced, deadline, gap=gap, progress=progress, reduce=reduce)
    site, d = nearest_open(rows, sol.is_open)
    objective = float(np.dot(w, d))
    bound = min(sol.bound, objective)
    g = relative_gap(objective, bound)
    assignment = {demand_ids[i]: (site_ids[site[i]] if site[i] >= 0 else None) for i in range(len(demand_ids))}
    return LocationResult("pmedian", objective, [site_ids[j] for j in np.flatnonzero(sol.is_open)], assignment,
                          g, time.perf_counter() - t0, sol.details, bound=bound, proven_optimal=g <= 1e-6)


def capacitated_p_median(cost, weights, capacity, p: int, open_sites=None, site_ids=None, demand_ids=None,
                         time_limit: float | None = None, gap: float = 1e-6) -> LocationResult:
    """p-median where each open site serves at most its capacity (single sourcing, as in PySAL spopt).

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair: that site cannot serve that point); the model has one
        assignment column per pair in the table, never demand x sites for a sparse table.
    capacity : ndarray, shape (n_site,)
        Demand each site can serve when open.

    Raises
    ------
    InfeasibleError
        When the *p* largest capacities cannot hold the total demand.
    """
    t0 = time.perf_counter()
    rows, w, forced, site_ids, demand_ids = prepare_rows(cost, weights, open_sites, site_ids, demand_ids)
    n, m = rows.n_demand, rows.n_site
    check_p(p, m, forced)
    check_reach_rows(rows, p, forced, demand_ids, "capacitated p-median")
    Q = np.asarray(capacity, float).ravel()
    if Q.shape != (m,) or np.any(~np.isfinite(Q)) or np.any(Q < 0):
        raise EquicareError(f"capacity needs {m} finite non-negative values, one per site")
    free = np.sort(Q[~forced])[::-1][: p - int(forced.sum())].sum() + Q[forced].sum()
    if free < w.sum() - 1e-9:
        raise InfeasibleError(f"total demand {w.sum():g} exceeds the capacity {free:g} of the {p} largest "
                              "sites that may open")
    # one assignment column per pair in the table (a sparse table: only the pairs within its cut-off)
    ii, jj = rows.demand, rows.site
    X = rows.nnz
    ncol = m + X
    c = np.concatenate([np.zeros(m), w[ii] * rows.d])
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
                     time_limit=time_limit, mip_rel_gap=gap)
    x0 = _capacitated_start(rows, w, Q, int(p), forced)
    if x0 is not None:
        lm.set_start(x0)
    sol = lm.solve()
    if sol.status == "infeasible":
        raise InfeasibleError("no assignment of every demand to open sites within their capacities exists")
    x = sol.x
    if not np.all(np.isfinite(x)):
        if x0 is None:
            raise InfeasibleError(f"the capacitated p-median found no solution (status: {sol.status}) and the "
                                 "greedy start found none either")
        x = x0  # stopped before HiGHS had one: the start stands, with HiGHS's bound
    objective = float(c @ x)
    y = x[:m] > 0.5
    xv = x[m:] > 0.5
    assignment = {d: None for d in demand_ids}
    for k in np.flatnonzero(xv):
        assignment[demand_ids[ii[k]]] = site_ids[jj[k]]
    db = float(lm.h.getInfo().mip_dual_bound)
    lb0 = float(np.dot(w, rows.d[rows.ptr[:-1]])) if rows.nnz else 0.0  # every point at its cheapest pair
    bound = min(max(db, lb0), objective) if np.isfinite(db) else lb0
    g = relative_gap(objective, bound)
    return LocationResult("cpmedian", objective, [site_ids[j] for j in np.flatnonzero(y)], assignment,
                          g, time.perf_counter() - t0, {"solver_seconds": sol.seconds, "mip_status": sol.status},
                          bound=bound, proven_optimal=g <= 1e-6)


def _capacitated_start(rows, w, Q, p, forced):
    """A feasible start for the capacitated p-median, or None: the sites of a greedy p-median (numba
    kernel), then the points by decreasing demand each to its nearest open site with room left."""
    a = w[rows.demand] * rows.d
    big = float(a.sum()) + 1.0
    y = kn.greedy_add(rows.ptr, rows.site, a, forced.copy(), p, big)
    left = np.where(y, Q, 0.0)
    x = np.zeros(rows.n_site + rows.nnz)
    x[: rows.n_site] = y
    for i in np.argsort(-w, kind="stable"):
        lo, hi = rows.ptr[i], rows.ptr[i + 1]
        s = rows.site[lo:hi]
        ok = np.flatnonzero(y[s] & (left[s] >= w[i] - 1e-9))
        if not len(ok):
            return None
        k = ok[0]
        left[s[k]] -= w[i]
        x[rows.n_site + lo + k] = 1.0
    return x
