"""The p-median MIP on the pairs the Lagrangian bound left (classical strong formulation, HiGHS).

Formulation
-----------
On the kept pairs ``K`` (every solution of cost at most the incumbent uses only these, see
:mod:`.median_bound`) and the sites not closed:

.. math::

    \\min \\sum_{(i,j)\\in K} a_{ij} x_{ij}\\quad \\sum_{j:(i,j)\\in K} x_{ij} = 1\\ (i \\text{ that need service}),
    \\quad x_{ij} \\le y_j,\\quad \\sum_j y_j = p,\\quad y_j = 1\\ (j\\ \\text{fixed open}),
    \\quad y \\in \\{0,1\\},\\ x \\ge 0

(ReVelle and Swain 1970).  Its LP bound is the strongest of the usual formulations (equal to the radius
formulation's, Elloumi 2010) and, with the pairs this few, HiGHS's dual simplex solves it at the root far
faster than the radius form, whose LP is highly degenerate (on the Chicago instance at p = 20, 31,824
pairs: root LP in about 12 s of CPU against no root after 90 s).  Its optimum is the optimum of the whole
problem when it beats the incumbent; when the model has no solution, or none better, the incumbent is
optimal.

References
----------
ReVelle, C. S. and Swain, R. W. (1970). Central facilities location. *Geographical Analysis* 2, 30-42.
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from equicare.optimize.highs import LinearModel
from equicare.optimize.location.progress import Deadline, Progress, watch_highs
from equicare.optimize.location.rows import SortedRows, first_open_entry


MIP_SECONDS_PER_PAIR2 = 1.2e-8
"""CPU seconds HiGHS takes for the strong MIP on *k* kept pairs, about this times k squared: measured on the
Chicago instance (0.8 s at 9,500 pairs, 2.7 s at 15,000, 5.3 s at 21,000; root solves)."""

MAX_MIP_PAIRS = 400_000
"""Above this many kept pairs the MIP is not built: HiGHS's root LP would not end in a useful time (on
the Chicago instance 32,000 pairs take about 12 s of CPU, 159,000 more than 80 s); the time goes to the
Lagrangian bound instead."""


@dataclass
class MipOutcome:
    """What the MIP on the kept pairs proved: a better open set (or None) and a lower bound valid for
    every solution of cost at most the incumbent (``inf`` when the model has none)."""

    is_open: np.ndarray | None
    bound: float
    details: dict[str, Any] = field(default_factory=dict)


def strong_mip(kept: SortedRows, w: np.ndarray, p: int, fixed_open: np.ndarray, closed: np.ndarray,
               start: np.ndarray, need: np.ndarray, deadline: Deadline, gap: float, progress: Progress,
               ub: float, lb: float) -> MipOutcome:
    """Solve the strong p-median MIP on ``kept`` (see module doc), started from the incumbent ``start``
    when its assignment uses kept pairs only, stopped at ``deadline`` or at the relative ``gap``.

    Parameters
    ----------
    kept : SortedRows
        The kept pairs (``n`` points, ``m`` sites); costs ``d`` are multiplied by ``w`` here.
    w : ndarray, shape (n,)
    fixed_open, closed : ndarray of bool, shape (m,)
    start : ndarray of bool, shape (m,)
        The incumbent's open sites.
    need : ndarray of bool, shape (n,)
        Points that must be served.
    ub, lb : float
        The incumbent's cost and the bound so far (for progress lines only).
    """
    m, n = kept.n_site, kept.n_demand
    dem = kept.demand
    use = need[dem]
    dem, sj, cost = dem[use], kept.site[use], (w[kept.demand] * kept.d)[use]
    free = np.flatnonzero(~closed)
    pos = np.full(m, -1, np.int64)
    pos[free] = np.arange(len(free))
    mf, X = len(free), len(dem)
    rows_n = np.flatnonzero(need)
    rpos = np.full(n, -1, np.int64)
    rpos[rows_n] = np.arange(len(rows_n))
    nr = len(rows_n)
    pos_cost = cost[cost > 0]
    scale = float(pos_cost.mean()) if len(pos_cost) else 1.0  # costs about 1: better-conditioned LPs
    xr = np.arange(X)
    ncol = mf + X
    A = sp.vstack([
        sp.csr_matrix((np.ones(X), (rpos[dem], mf + xr)), shape=(nr, ncol)),
        sp.csr_matrix((np.r_[np.ones(X), -np.ones(X)], (np.r_[xr, xr], np.r_[mf + xr, pos[sj]])), shape=(X, ncol)),
        sp.csr_matrix((np.ones(mf), (np.zeros(mf, np.int64), np.arange(mf))), shape=(1, ncol)),
    ])
    c = np.r_[np.zeros(mf), cost / scale]
    row_lo = np.r_[np.ones(nr), np.full(X, -np.inf), p]
    row_hi = np.r_[np.ones(nr), np.zeros(X), p]
    col_lo = np.r_[fixed_open[free].astype(float), np.zeros(X)]
    integ = np.r_[np.ones(mf, bool), np.zeros(X, bool)]
    details: dict[str, Any] = {"mip_formulation": "strong (x_ij <= y_j) on the kept pairs",
                               "mip_columns": int(ncol), "mip_rows": int(nr + X + 1)}
    left = deadline.remaining()
    if left is not None and left <= 0.05:
        return MipOutcome(None, -np.inf, {**details, "stopped": "time limit"})
    lm = LinearModel(c, A, row_lo, row_hi, col_lo, np.ones(ncol), integrality=integ, time_limit=left,
                     mip_rel_gap=gap)
    x0 = _start(kept, use, start, closed, need, mf, X)
    if x0 is not None:
        lm.set_start(x0, search=False)
    watch_highs(lm.h, progress, deadline, False, ub, lb, scale=scale)
    left = deadline.remaining()
    if left is not None:
        if left <= 0.05:
            return MipOutcome(None, -np.inf, {**details, "stopped": "time limit"})
        lm.h.setOptionValue("time_limit", float(left))
    sol = lm.solve()
    info = lm.h.getInfo()
    db = float(info.mip_dual_bound) * scale if np.isfinite(info.mip_dual_bound) else -np.inf
    details.update({"mip_status": sol.status, "mip_seconds": sol.seconds, "mip_nodes": int(info.mip_node_count),
                    "mip_started_from_incumbent": x0 is not None})
    if sol.status == "infeasible":
        return MipOutcome(None, np.inf, details)
    if not np.all(np.isfinite(sol.x)):
        return MipOutcome(None, db, details)
    if sol.status == "optimal":
        obj = sol.objective * scale
        db = max(db, obj / (1 + gap) if obj > 0 else obj)
    y = np.zeros(m, bool)
    y[free] = sol.x[:mf] > 0.5
    return MipOutcome(y, db, details)


def _start(kept, use, start, closed, need, mf, X):
    """The incumbent as a MIP start: each point on its cheapest kept pair to an open site (None when a
    point that needs service has no such pair, or the incumbent opens a closed site)."""
    if np.any(start & closed):
        return None
    first = first_open_entry(kept, start)[need]
    if np.any(first < 0):
        return None
    col = np.cumsum(use) - 1  # column of each used entry among the assignment columns
    x0 = np.zeros(mf + X)
    x0[:mf] = start[~closed]
    x0[mf + col[first]] = 1.0
    return x0
