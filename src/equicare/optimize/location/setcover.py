"""Location set covering (LSCP) on sparse coverage, the exact test behind the p-center and the reach checks.

Formulation
-----------
LSCP (Toregas et al. 1971): the fewest sites so that every demand point has an open site within *R*:
``min sum_j y_j`` s.t. ``sum_{j: d_ij <= R} y_j >= 1`` for every *i*, ``y_j = 1`` for forced sites,
``y in {0, 1}``.  The coverage is a sparse matrix built from the pairs sorted per point (a prefix of each
row, :func:`equicare.optimize.location.rows.within`), so memory follows the pairs within *R*, never
demand x sites.  Points a forced site covers and duplicate rows are left out; greedy cover (Chvatal 1979)
gives a start and an upper bound, the LP a lower bound (so a probe "at most *k* sites?" is often decided
without branching), HiGHS the exact answer.

References
----------
Toregas, C., Swain, R., ReVelle, C. and Bergman, L. (1971). The location of emergency service
facilities. *Operations Research* 19, 1363-1373.
Chvatal, V. (1979). A greedy heuristic for the set-covering problem. *Mathematics of Operations
Research* 4, 233-235.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.highs import LinearModel
from equicare.optimize.location.costs import prepare_rows
from equicare.optimize.location.kernels import greedy_cover_open
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import assign, within


@dataclass
class Cover:
    """The answer of :func:`min_cover`.

    Attributes
    ----------
    is_open : ndarray of bool, shape (n_site,), or None
        A cover (None when none exists, or none with at most ``limit`` sites).
    lower : float
        A proven lower bound on the fewest sites.
    gap : float
        Relative gap of the cover found (0 when proven minimum).
    seconds : float
    """

    is_open: np.ndarray | None
    lower: float
    gap: float
    seconds: float


def min_cover(cov: sp.csr_matrix, forced: np.ndarray, time_limit: float | None = None,
              limit: int | None = None) -> Cover:
    """The fewest sites covering every row of ``cov`` (shape (n_demand, n_site), nonzero = covers), the
    ``forced`` sites among them.  With ``limit``, only whether some cover has at most ``limit`` sites is
    asked: a greedy cover that small, or an LP bound above it, answers without the MIP; otherwise the MIP
    with ``sum y <= limit`` stops at its first cover.  ``is_open`` None with ``lower = -inf``: undecided
    within ``time_limit``; with ``lower > limit`` (or ``inf``: a row nothing covers): no such cover."""
    t0 = time.perf_counter()
    cov = sp.csr_matrix(cov)
    n, m = cov.shape
    if np.any(np.diff(cov.indptr) == 0):
        return Cover(None, math.inf, math.inf, time.perf_counter() - t0)
    used, y0 = greedy_cover_open(cov.indptr.astype(np.int64), cov.indices.astype(np.int64), forced.copy(), m,
                                 m if limit is None else limit)
    nf = int(forced.sum())
    if limit is not None and used <= limit:
        return Cover(y0, nf, 0.0, time.perf_counter() - t0)
    # rows a forced site covers need nothing; identical rows count once; dominated sites go
    open_cov = (cov @ forced.astype(np.int8)) > 0
    rest = cov[~open_cov]
    if rest.shape[0] == 0:
        return Cover(forced.copy(), nf, 0.0, time.perf_counter() - t0)
    rest = _unique_rows(rest)
    cols = undominated_columns(rest, ~forced)
    rest = rest[:, cols]
    k, mc = rest.shape
    room = None if limit is None else limit - nf  # sites left to open besides the forced ones
    if room is not None and room < 1:
        return Cover(None, nf + 1.0, math.inf, time.perf_counter() - t0)
    lo, hi = np.ones(k), np.full(k, np.inf)
    col_lo, col_hi = np.zeros(mc), np.ones(mc)
    if room is not None:
        lp = LinearModel(np.ones(mc), rest, lo, hi, col_lo, col_hi, time_limit=time_limit).solve()
        if lp.ok and math.ceil(lp.objective - 1e-6) > room:
            return Cover(None, nf + math.ceil(lp.objective - 1e-6), math.inf, time.perf_counter() - t0)
        # a feasibility question: at most `room` more sites, stop at the first cover found
        rest = sp.vstack([rest, sp.csr_matrix(np.ones((1, mc)))]).tocsr()
        lo, hi = np.r_[lo, 0.0], np.r_[hi, float(room)]
    if time_limit is not None:  # the LP took some of it
        time_limit = max(time_limit - (time.perf_counter() - t0), 0.05)
    lm = LinearModel(np.ones(mc), rest, lo, hi, col_lo, col_hi, integrality=np.ones(mc, bool),
                     time_limit=time_limit)
    if room is not None:
        lm.h.setOptionValue("mip_max_improving_sols", 1)
    else:  # a greedy cover of the reduced rows as the start
        rc = sp.csr_matrix(rest)
        _, ys = greedy_cover_open(rc.indptr.astype(np.int64), rc.indices.astype(np.int64), np.zeros(mc, bool), mc,
                                  mc)
        lm.set_start(ys.astype(float), search=False)
    sol = lm.solve()
    if room is not None and lm.h.getModelStatus() == highspy.HighsModelStatus.kSolutionLimit:
        x = np.asarray(lm.h.getSolution().col_value, dtype=float)  # stopped at its first cover, as asked
        return Cover(_open(forced, cols, x), float(nf), 0.0, time.perf_counter() - t0)
    if sol.status == "infeasible":
        return Cover(None, float(limit + 1) if limit is not None else math.inf, math.inf,
                     time.perf_counter() - t0)
    if not np.all(np.isfinite(sol.x)):  # undecided within the time limit
        return Cover(None, -math.inf, math.inf, time.perf_counter() - t0)
    y = _open(forced, cols, sol.x)
    db = float(lm.h.getInfo().mip_dual_bound)
    lower = nf + math.ceil(db - 1e-6) if np.isfinite(db) else float(nf)
    lower = min(lower, int(y.sum()))
    return Cover(y, lower, (y.sum() - lower) / max(y.sum(), 1), time.perf_counter() - t0)


def cover_lp_bound(cov: sp.csr_matrix, forced: np.ndarray, time_limit: float | None = None) -> float:
    """A lower bound on the fewest sites covering every row of ``cov`` (the ``forced`` ones among them):
    the forced count plus the LP relaxation on the rows they leave (after the reductions of
    :func:`min_cover`); ``inf`` when a row has no site, ``nf`` when the LP stops undecided."""
    return cover_lp(cov, forced, time_limit)[0]


def cover_lp(cov: sp.csr_matrix, forced: np.ndarray, time_limit: float | None = None):
    """:func:`cover_lp_bound` and the LP's site values, shape (n_site,) (1 for forced sites; None when the
    bound is ``inf``, the LP stops undecided or the forced sites cover every row)."""
    cov = sp.csr_matrix(cov)
    nf = int(forced.sum())
    if np.any(np.diff(cov.indptr) == 0):
        return math.inf, None
    rest = cov[~((cov @ forced.astype(np.int8)) > 0)]
    if rest.shape[0] == 0:
        return float(nf), None
    rest = _unique_rows(rest)
    cols = undominated_columns(rest, ~forced)
    rest = rest[:, cols]
    k, mc = rest.shape
    lp = LinearModel(np.ones(mc), rest, np.ones(k), np.full(k, np.inf), np.zeros(mc), np.ones(mc),
                     time_limit=time_limit).solve()
    if not lp.ok:
        return float(nf), None
    y = forced.astype(float)
    y[cols] = np.clip(lp.x[:mc], 0.0, 1.0)
    return nf + lp.objective, y


def _open(forced: np.ndarray, cols: np.ndarray, x: np.ndarray) -> np.ndarray:
    y = forced.copy()
    y[cols[x[:len(cols)] > 0.5]] = True
    return y


def undominated_columns(M: sp.csr_matrix, allowed: np.ndarray) -> np.ndarray:
    """Indices of the ``allowed`` columns of a 0/1 matrix (rows to cover x sites) that a set cover needs:
    one of each group of identical columns, none that is empty or inside another allowed column
    (a column's rows a strict subset of another's).  Exact for any covering question: a cover using a
    dropped column stays a cover, no larger, with the column that contains it."""
    cs = sp.csc_matrix(M)
    cs.sort_indices()
    size = np.diff(cs.indptr)
    cand = np.flatnonzero(allowed & (size > 0))
    seen: dict[bytes, int] = {}
    for j in cand:
        seen.setdefault(cs.indices[cs.indptr[j]:cs.indptr[j + 1]].tobytes(), int(j))
    reps = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
    if len(reps) <= 1:
        return reps
    R = sp.csc_matrix(cs[:, reps], dtype=np.int32)
    inter = (R.T @ R).tocsr()
    sz = size[reps]
    keep = np.ones(len(reps), bool)
    ii = np.repeat(np.arange(len(reps)), np.diff(inter.indptr))
    jj = inter.indices
    # column ii is inside column jj (jj strictly larger: identical ones are already merged)
    sub = (inter.data == sz[ii]) & (sz[jj] > sz[ii])
    keep[np.unique(ii[sub])] = False
    return np.sort(reps[keep])


def _unique_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    """The distinct rows of a 0/1 CSR matrix with sorted indices."""
    keys = [M.indices[M.indptr[i]:M.indptr[i + 1]].tobytes() for i in range(M.shape[0])]
    seen: dict[bytes, int] = {}
    first = np.unique([seen.setdefault(k, i) for i, k in enumerate(keys)])
    return M[first]


def lscp(cost, service_radius: float | None = None, open_sites=None, site_ids=None, demand_ids=None,
         time_limit: float | None = None) -> LocationResult:
    """Location set covering: the fewest sites so that every demand is within ``service_radius``.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Costs (``inf`` or a missing pair: that site cannot serve that point).

    Raises
    ------
    InfeasibleError
        Naming the demand units that no candidate site reaches within the radius.
    """
    t0 = time.perf_counter()
    rows, _w, forced, site_ids, demand_ids = prepare_rows(cost, None, open_sites, site_ids, demand_ids)
    if service_radius is None or not (np.isfinite(service_radius) and service_radius >= 0):
        raise EquicareError(f"LSCP needs --service-radius (a finite non-negative cost), got {service_radius}")
    cov = within(rows, service_radius)
    unreach = np.diff(cov.indptr) == 0
    if unreach.any():
        bad = [demand_ids[i] for i in np.flatnonzero(unreach)[:10]]
        raise InfeasibleError(f"{int(unreach.sum())} demand units have no candidate site within "
                              f"{service_radius:g}: {', '.join(bad)}")
    res = min_cover(cov, forced, time_limit)
    if res.is_open is None:
        raise InfeasibleError("the set-covering model could not be solved")
    y = res.is_open
    assignment, _ = assign(rows, y, demand_ids, site_ids)
    return LocationResult("lscp", float(y.sum()), [site_ids[j] for j in np.flatnonzero(y)], assignment, res.gap,
                          time.perf_counter() - t0, {"service_radius": float(service_radius),
                                                     "solver_seconds": res.seconds},
                          bound=float(res.lower), proven_optimal=res.gap <= 1e-6)
