"""The capacitated p-median (single sourcing), exact on moderate tables and bounded on large ones.

Formulation
-----------
The classical single-sourcing model, as in PySAL spopt: binary ``y_j`` (site open) and ``x_ij`` (point *i*
served by site *j*), one assignment column per pair in the cost table,

.. math::

    \\min \\sum_{ij} w_i d_{ij} x_{ij}\\quad \\sum_j x_{ij} = 1,\\quad x_{ij} \\le y_j,\\quad
    \\sum_i w_i x_{ij} \\le Q_j y_j,\\quad \\sum_j y_j = p.

Large tables
------------
Above :data:`MAX_MODEL_PAIRS` pairs (an all-pairs table of a few thousand points) HiGHS cannot even finish
the root LP of that model in minutes, and memory grows to gigabytes.  Then:

* the **bound** is that of the uncapacitated p-median (:mod:`.median_exact`; dropping the capacity rows is a
  relaxation, so its proven bound holds here), with a share of the time limit (computed on every table:
  it is also the bound when HiGHS's is weaker, and its sites are the first start);
* the **incumbent** starts from the p-median's open sites (then the greedy sites), each point by decreasing
  demand to its nearest open site with room left, and the MIP is solved on each point's ``K`` cheapest pairs
  (``K`` so that the model has about :data:`MAX_MODEL_PAIRS` pairs, plus the start's pairs), started from
  that assignment, for the time left.  Every answer of that model is feasible for the whole problem; its
  gap is stated against the p-median bound (the restricted model's own bound is not valid for the whole).

References
----------
ReVelle, C. S. and Swain, R. W. (1970). Central facilities location. *Geographical Analysis* 2, 30-42.
Mulvey, J. M. and Beck, M. P. (1984). Solving capacitated clustering problems. *European Journal of
Operational Research* 18, 339-348.
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
from equicare.optimize.location.median_bound import subset_rows
from equicare.optimize.location.median_exact import solve_p_median
from equicare.optimize.location.progress import Deadline, Progress, relative_gap, watch_highs
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import SortedRows

MAX_MODEL_PAIRS = 300_000
"""Pairs above which the MIP runs on each point's cheapest pairs only, with the p-median bound."""

PRESOLVE_MAX_PAIRS = 50_000
"""Pairs above which HiGHS's presolve is off (it cannot be interrupted at the deadline)."""

BOUND_SHARE = 0.35
"""Share of the time limit the p-median bound may use on a large table."""


def capacitated_p_median(cost, weights, capacity, p: int, open_sites=None, site_ids=None, demand_ids=None,
                         time_limit: float | None = None, gap: float = 1e-6, deadline: Deadline | None = None,
                         progress: Progress | None = None, max_model_pairs: int = MAX_MODEL_PAIRS
                         ) -> LocationResult:
    """p-median where each open site serves at most its capacity (single sourcing, as in PySAL spopt).

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair: that site cannot serve that point); the model has one
        assignment column per pair in the table, never demand x sites for a sparse table.
    weights : ndarray, shape (n_demand,)
    capacity : ndarray, shape (n_site,)
        Demand each site can serve when open.
    p : int
    time_limit : float, optional
        Seconds for the whole solve (building included; ignored when ``deadline`` is given).
    gap : float
        Relative gap at which HiGHS stops.
    max_model_pairs : int
        Tables with more pairs take the large-table path (module doc).

    Returns
    -------
    LocationResult
        ``bound`` a proven lower bound, ``gap`` against it; ``details["bound_from"]`` says where the bound
        comes from.

    Raises
    ------
    InfeasibleError
        When the *p* largest capacities cannot hold the total demand, or no assignment within the
        capacities was found.
    """
    deadline = deadline or Deadline(time_limit)
    progress = progress or Progress(False, deadline)
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
    lb0 = float(np.dot(w, rows.d[rows.ptr[:-1]])) if rows.nnz else 0.0  # every point at its cheapest pair
    details: dict = {}
    bound_from = ""
    a = w[rows.demand] * rows.d
    big = float(a.sum()) + 1.0
    starts = [kn.greedy_add(rows.ptr, rows.site, a, forced.copy(), int(p), big)]
    large = rows.nnz > max_model_pairs
    progress.label = progress.label or f"capacitated p-median p={p}"
    # the uncapacitated p-median: a bound (capacities relaxed) and open sites to start from
    label = progress.label  # the relaxation's own lines say what they are (its "done" is not the answer's)
    progress.label = f"{label}, capacities relaxed (a bound):"
    try:
        med = solve_p_median(rows, w, int(p), forced, deadline.share(BOUND_SHARE if large else 0.2), gap=gap,
                             progress=progress)
    finally:
        progress.label = label
    if med.bound > lb0:
        lb0, bound_from = med.bound, "uncapacitated p-median (capacities relaxed)"
    starts.insert(0, med.is_open)
    details.update({"median_bound": med.bound, "median_objective": med.objective})
    if large:
        k = max(2, max_model_pairs // max(n, 1))
        rank = np.arange(rows.nnz) - np.repeat(rows.ptr[:-1], np.diff(rows.ptr))
        keep = rank < k
        details["pairs_per_point"] = k
    else:
        keep = np.ones(rows.nnz, bool)
    x0, y0 = None, None
    for y in starts:
        x_full = _assign(rows, w, Q, y)
        x_lp = transport_assign(rows, w, Q, y, deadline)
        if x_lp is not None and (x_full is None or float(a @ x_lp) < float(a @ x_full)):
            x_full = x_lp
        if x_full is not None:
            y0 = y
            keep |= x_full  # the start's pairs stay in the model
            details["start_objective"] = float(a @ x_full)
            break
    model_rows = subset_rows(rows, keep) if large else rows
    if large:
        details["model_pairs"] = int(model_rows.nnz)
    if y0 is not None:
        x0 = x_full[keep]
    lm, c, scale = _model(model_rows, w, Q, int(p), forced, deadline, gap)
    if x0 is not None:
        lm.set_start(np.r_[y0.astype(float), x0.astype(float)])
    start_cost = float(c[m:] @ x0) if x0 is not None else np.inf
    watch_highs(lm.h, progress, deadline, False, start_cost, lb0, scale=scale)
    left = deadline.remaining()
    if left is not None:
        lm.h.setOptionValue("time_limit", max(float(left), 0.01))
    sol = lm.solve()
    if sol.status == "infeasible" and not large:
        raise InfeasibleError("no assignment of every demand to open sites within their capacities exists")
    x = sol.x
    if not np.all(np.isfinite(x)):
        if x0 is None:
            raise InfeasibleError(f"the capacitated p-median found no solution (status: {sol.status}) and the "
                                  "greedy start found none either")
        x = np.r_[y0.astype(float), x0.astype(float)]  # stopped before HiGHS had one: the start stands
    objective = float(c @ x)
    y = x[:m] > 0.5
    xv = x[m:] > 0.5
    ii, jj = model_rows.demand, model_rows.site
    assignment = {d: None for d in demand_ids}
    for k_ in np.flatnonzero(xv):
        assignment[demand_ids[ii[k_]]] = site_ids[jj[k_]]
    db = float(lm.h.getInfo().mip_dual_bound) * scale
    if not large and np.isfinite(db) and db >= lb0:  # the whole model: HiGHS's bound holds
        lb0, bound_from = db, "HiGHS"
    elif not bound_from:
        bound_from = "every point at its cheapest site"
    bound = min(lb0, objective)
    g = relative_gap(objective, bound)
    details.update({"solver_seconds": sol.seconds, "mip_status": sol.status, "bound_from": bound_from})
    return LocationResult("cpmedian", objective, [site_ids[j] for j in np.flatnonzero(y)], assignment,
                          g, time.perf_counter() - t0, details, bound=bound, proven_optimal=g <= 1e-6)


def _model(rows: SortedRows, w, Q, p, forced, deadline, gap):
    """The single-sourcing MIP on the pairs of ``rows`` (module doc); returns the model and its costs."""
    n, m = rows.n_demand, rows.n_site
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
    pos = c[c > 0]
    scale = float(pos.mean()) if len(pos) else 1.0  # costs about 1 for HiGHS; the objective is c @ x
    # presolve is not interruptible: on a large model it would run past the deadline (154 s on 300,000 pairs)
    lm = LinearModel(c / scale, A, row_lo, row_hi, col_lo, np.ones(ncol), integrality=np.ones(ncol, bool),
                     time_limit=deadline.remaining(), mip_rel_gap=gap, presolve=X <= PRESOLVE_MAX_PAIRS)
    return lm, c, scale


def _assign(rows: SortedRows, w, Q, y):
    """Each point, by decreasing demand, to its nearest open site with room left (a feasible start for the
    sites ``y``), as a mask over the entries of ``rows``; None when some point finds no room."""
    left = np.where(y, Q, 0.0)
    x = np.zeros(rows.nnz, bool)
    for i in np.argsort(-w, kind="stable"):
        lo, hi = rows.ptr[i], rows.ptr[i + 1]
        s = rows.site[lo:hi]
        ok = np.flatnonzero(y[s] & (left[s] >= w[i] - 1e-9))
        if not len(ok):
            return None
        k = ok[0]
        left[s[k]] -= w[i]
        x[lo + k] = True
    return x


def transport_assign(rows: SortedRows, w, Q, y, deadline: Deadline):
    """The cheapest single-sourced assignment to the open sites ``y`` found by rounding the transportation
    LP (Martello and Toth 1990: the LP of the generalised assignment has at most as many split points as
    open sites): points the LP serves from one site keep it, the few split ones go, by decreasing demand,
    to their cheapest open site with room left.  A mask over the entries of ``rows``, or None when the
    LP is infeasible or a split point finds no room."""
    ok = y[rows.site]
    idx = np.flatnonzero(ok)
    if not len(idx):
        return None
    n = rows.n_demand
    ii, jj = rows.demand[idx], rows.site[idx]
    X = len(idx)
    A = sp.vstack([sp.csr_matrix((np.ones(X), (ii, np.arange(X))), shape=(n, X)),
                   sp.csr_matrix((w[ii], (jj, np.arange(X))), shape=(rows.n_site, X))])
    c = w[ii] * rows.d[idx]
    pos = c[c > 0]
    scale = float(pos.mean()) if len(pos) else 1.0
    left = deadline.remaining()
    lm = LinearModel(c / scale, A, np.r_[np.ones(n), np.full(rows.n_site, -np.inf)], np.r_[np.ones(n), Q],
                     np.zeros(X), np.ones(X), time_limit=None if left is None else max(left, 0.01))
    sol = lm.solve()
    if sol.status != "optimal":
        return None
    xv = sol.x
    x = np.zeros(rows.nnz, bool)
    room = Q * y - np.bincount(jj, weights=w[ii] * (xv > 1 - 1e-7), minlength=rows.n_site)
    whole = xv > 1 - 1e-7
    x[idx[whole]] = True
    served = np.zeros(n, bool)
    served[ii[whole]] = True
    for i in sorted(np.flatnonzero(~served), key=lambda i: -w[i]):
        lo, hi = rows.ptr[i], rows.ptr[i + 1]
        s = rows.site[lo:hi]
        fit = np.flatnonzero(y[s] & (room[s] >= w[i] - 1e-9))
        if not len(fit):
            return None
        x[lo + fit[0]] = True
        room[s[fit[0]]] -= w[i]
    return x
