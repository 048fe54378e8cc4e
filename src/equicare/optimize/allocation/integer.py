"""Whole units: greedy water-filling, and an exact MIP on the actual shares where the size allows.

Three routes, chosen by :func:`whole_units`:

* **Greedy** (:func:`greedy`).  Starting from the region minimums, each unit goes to the region whose share
  of need met is lowest among those that can still use one, until the stock or the budget runs out.  For one
  shared stock per type with per-region bounds and nothing else coupling the regions this is the exact
  lexicographic max-min integer allocation (region *i*'s k-th unit is taken at share level k/need_i, and
  the greedy takes the S lowest levels).
* **MIP** (:func:`exact_mip`) when something else couples the regions (a budget across types, a coverage
  floor, a gap cap, pooling) and the model has at most :data:`MIP_MAX_INTEGERS` integer columns: on the
  LP's own rows with integer units, so the shares are the actual shares of whole units, (1) maximise the
  minimum share ``z*`` (exact: its bound is reported), then (2) maximise total coverage with every share at
  least ``z*``.  Stage 1 starts from the greedy answer and stops after :data:`MIP_SECONDS`.  A third
  candidate gives every pair the fewest units that reach ``z*`` (from stage 1) and fills the rest greedily.
  Of the candidates, the one kept breaks the no-worse-off rule and the coverage floor least, then is
  best in the leximin order (sorted shares compared lexicographically).
* Under a **Gini cap** the greedy answer (or a MIP's) is trimmed by :func:`~.gini.trim_to_gini`.

:class:`IntegerReport` says which route gave the answer, the fractional bound (the minimum share of the
continuous optimum) and the rounding loss.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from equicare.optimize.allocation.gini import GiniCuts, solve_with_cuts, trim_to_gini
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.highs import Solution

MIP_MAX_INTEGERS = 20_000
"""Largest number of integer columns (units and transfers) for which the exact MIP is tried."""
MIP_SECONDS = 10.0
"""Time limit of the MIP's first stage (the minimum share; seconds); the best answer found by then is kept,
with its bound.  The second stage (coverage at that minimum) gets half of it."""


@dataclass(frozen=True)
class IntegerReport:
    """How the whole-unit answer was found.

    Attributes
    ----------
    method : str
        ``greedy`` (exact for one stock per type), ``greedy (optimal by MIP)`` (the MIP proved no whole-unit
        answer has a higher minimum share), ``mip`` (the MIP's answer, optimal minimum share),
        ``mip floor + greedy`` (the fewest units reaching the MIP's minimum, the rest greedily), or with
        ``(time limit)`` the best found (``mip_bound`` bounds the optimum).
    lp_bound : float or None
        Minimum share of need met of the continuous optimum (an upper bound for whole units).
    min_share : float
        Minimum share of need met of the whole-unit answer.
    mip_bound : float or None
        The MIP's proven upper bound on the whole-unit minimum share.
    seconds : float
        Time spent on whole units.
    """

    method: str
    lp_bound: float | None
    min_share: float
    mip_bound: float | None = None
    seconds: float = 0.0

    @property
    def rounding_loss(self) -> float | None:
        """``lp_bound - min_share``: what whole units cost in minimum share (None without a bound)."""
        return None if self.lp_bound is None else max(0.0, self.lp_bound - self.min_share)


def actual_shares(lp: AllocationLP, col: np.ndarray) -> np.ndarray:
    """``(n, m)`` expected shares of need met by the units and transfers of ``col`` (1 where no need)."""
    P = lp.P
    eff = np.maximum(P.capacity + lp.units(col) + lp.net_transfers(lp.transfers(col)), 0.0)
    cov = np.tensordot(lp.p, np.minimum(eff[None], lp.D), axes=1)
    return np.where(lp.Ed > 0, cov / np.where(lp.Ed > 0, lp.Ed, 1.0), 1.0)


def _min_share(lp: AllocationLP, col: np.ndarray) -> float:
    s = actual_shares(lp, col)
    return float(s[lp.Ed > 0].min()) if (lp.Ed > 0).any() else 1.0


def greedy(lp: AllocationLP, sol: Solution, start: np.ndarray | None = None,
           transfers: np.ndarray | None = None) -> np.ndarray:
    """Whole units for indivisible types by greedy water-filling (see the module docstring).

    Starts from the region minimums (or ``start``, ``(n, m)`` units, if higher) and the LP's transfers rounded
    down (or ``transfers``); under a Gini cap from the LP's answer rounded down, placing no more than the LP
    did.  Returns a column vector.
    """
    P = lp.P
    n, m = P.n, P.m
    x_lp = lp.units(sol.x)
    isint = np.broadcast_to(P.integer[None, :], (n, m))
    xhi = np.floor(lp.xhi.reshape(n, m) + 1e-9)
    xlo = lp.xlo.reshape(n, m)
    x = np.where(isint, np.ceil(xlo - 1e-9), x_lp)
    if start is not None:
        x = np.where(isint, np.maximum(x, np.minimum(start, xhi)), x)
    for r in lp.gini_groups:  # under a Gini cap start from the LP's answer rounded down, not from the minimums
        if P.integer[r]:
            x[:, r] = np.minimum(np.maximum(x[:, r], np.floor(x_lp[:, r] + 1e-6)), xhi[:, r])
    t = (lp.transfers(sol.x) if transfers is None else transfers).copy()
    if lp.T and transfers is None:
        t = np.where(P.integer[lp.arcs.r], np.floor(t + 1e-6), t)
    base = P.capacity + lp.net_transfers(t)
    stock_left = P.stock - x.sum(axis=0)
    for r in lp.gini_groups:  # a binding Gini cap can leave units unused: place no more than the LP did
        stock_left[r] = min(stock_left[r], np.floor(x_lp[:, r].sum() + 1e-6) - x[:, r].sum())
    money_left = (np.inf if P.budget is None else
                  P.budget - float((x * P.unit_cost[None, :]).sum()) - float((t * lp.arcs.cost).sum()))
    Ed = np.where(lp.Ed > 0, lp.Ed, 1.0)
    p, D = lp.p, lp.D

    def cell(i, r, v):
        return float(np.dot(p, np.minimum(base[i, r] + v, D[:, i, r]))) / Ed[i, r]

    heap = []
    for i, r in zip(*np.nonzero(isint & (lp.Ed > 0))):
        if x[i, r] + 1 <= xhi[i, r] + 1e-9:
            c0, c1 = cell(i, r, x[i, r]), cell(i, r, x[i, r] + 1)
            if c1 > c0 + 1e-12:
                heap.append((round(c0, 12), -round(c1, 12), int(i), int(r)))
    heapq.heapify(heap)
    while heap:
        c0, neg1, i, r = heapq.heappop(heap)
        if stock_left[r] < 1 - 1e-9 or P.unit_cost[r] > money_left + 1e-9:
            continue
        x[i, r] += 1
        stock_left[r] -= 1
        money_left -= P.unit_cost[r]
        if x[i, r] + 1 <= xhi[i, r] + 1e-9:
            c0, c1 = -neg1, cell(i, r, x[i, r] + 1)
            if c1 > c0 + 1e-12:
                heapq.heappush(heap, (round(c0, 12), -round(c1, 12), i, r))
    x = trim_to_gini(lp, x, base)
    return lp.with_units(sol.x, x, t if lp.T else None)


def trimmed_mip(lp: AllocationLP, sol: Solution) -> np.ndarray:
    """A MIP's solution with :func:`~.gini.trim_to_gini` applied (its Gini cuts bound the coverage variables,
    which may sit below what whole units actually cover)."""
    P = lp.P
    x = lp.units(sol.x).copy()
    x[:, P.integer] = np.round(x[:, P.integer])
    base = P.capacity + lp.net_transfers(lp.transfers(sol.x))
    return lp.with_units(sol.x, trim_to_gini(lp, x, base))


def _greedy_exact(lp: AllocationLP) -> bool:
    """True when nothing but one stock per type and the region bounds couple the regions."""
    P = lp.P
    one_type_budget = P.budget is not None and int(np.sum(P.unit_cost > 0)) <= 1 and P.m == 1
    return ((P.budget is None or one_type_budget) and P.coverage_floor is None and P.max_gap is None
            and lp.T == 0 and not lp.gini_groups)


def exact_mip(lp: AllocationLP, start: np.ndarray, nwo_lo: np.ndarray | None,
              seconds: float = MIP_SECONDS, no_transfers: bool = False
              ) -> tuple[np.ndarray | None, np.ndarray | None, float | None, bool]:
    """Two-stage MIP on the actual shares of whole units (see the module docstring).

    ``no_transfers`` fixes every transfer at zero (the no-pooling reference).  Returns ``(stage 1 column,
    stage 2 column, proven bound on the minimum share, stage 1 proved optimal)``; Nones if no solution.
    """
    lm = lp.build(time_limit=seconds)
    if no_transfers:
        lp.fix_transfers(lm)
    if nwo_lo is not None:
        lm.set_row_bounds(lp.rows("no_worse_off"), nwo_lo, np.inf)
    lm.set_costs(lp.c_z)
    lm.set_start(lp.point(lp.units(start), lp.transfers(start)))
    s1 = solve_with_cuts(lp, lm, GiniCuts())
    if s1.status not in ("optimal", "time_limit") or not np.all(np.isfinite(s1.x)):
        return None, None, None, False
    z1 = lp.level(s1.x)
    bound = float(min(1.0, s1.bound)) if np.isfinite(s1.bound) else None
    zc = lp.layout.index("z")
    lm.set_col_bounds([zc], max(z1 - 1e-7, 0.0), 1.0)
    lm.set_costs(lp.c_cov + lp.c_tie)
    lm.h.setOptionValue("time_limit", seconds / 2)
    lm.set_start(s1.x)
    s2 = solve_with_cuts(lp, lm, GiniCuts())
    second = s2.x if s2.status in ("optimal", "time_limit") and np.all(np.isfinite(s2.x)) else s1.x
    return _whole(lp, s1.x), _whole(lp, second), bound, s1.status == "optimal"


def _whole(lp: AllocationLP, col: np.ndarray) -> np.ndarray:
    """``col`` with its integer units and transfers rounded (a MIP's values carry 1e-9 noise)."""
    x = lp.units(col).copy()
    x[:, lp.P.integer] = np.round(x[:, lp.P.integer])
    t = lp.transfers(col).copy()
    if lp.T:
        t = np.where(lp.P.integer[lp.arcs.r], np.round(t), t)
    return lp.with_units(col, x, t if lp.T else None)


def fewest_units(lp: AllocationLP, col: np.ndarray, z: float) -> np.ndarray:
    """``(n, m)``: for each pair the fewest units (between its minimum and its units in ``col``) whose actual
    share is at least ``min(z, its share in col)``, with ``col``'s transfers (bisection, all pairs at once)."""
    P = lp.P
    base = P.capacity + lp.net_transfers(lp.transfers(col))
    Ed = np.where(lp.Ed > 0, lp.Ed, 1.0)

    def share(u):
        return np.tensordot(lp.p, np.minimum(base[None] + u[None], lp.D), axes=1) / Ed

    hi = lp.units(col).copy()
    target = np.minimum(z, share(hi)) - 1e-9
    lo = np.minimum(np.ceil(lp.xlo.reshape(P.n, P.m) - 1e-9), hi)
    while np.any(hi > lo):
        mid = np.floor((lo + hi) / 2)
        ok = share(mid) >= target
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    return np.where(P.integer[None, :], hi, lp.units(col))


def whole_units(lp: AllocationLP, sol: Solution, nwo_lo: np.ndarray | None = None,
                mip: bool | None = None, no_transfers: bool = False) -> tuple[np.ndarray, IntegerReport]:
    """Whole units for a leximin answer ``sol`` (continuous); returns the column vector and the report.

    ``mip``: True forces the exact MIP, False skips it, None (default) tries it when the greedy answer is
    not provably exact and the size allows.  ``nwo_lo``: the no-worse-off lower bounds on the fair shares
    (pooling); an answer that breaks them ranks below one that keeps them.  ``no_transfers``: every transfer
    stays at zero (the reference of the no-worse-off rule).
    """
    t0 = time.perf_counter()
    P = lp.P
    fair = (lp.Ed > 0).any()
    lp_bound = float(lp.shares(sol.x).min()) if fair else None
    col = greedy(lp, sol)
    g_min = _min_share(lp, col)
    n_int = int(lp.integ.sum())
    try_mip = (not _greedy_exact(lp) and n_int <= MIP_MAX_INTEGERS and not lp.gini_groups) if mip is None else mip
    if not try_mip or not fair:
        return col, IntegerReport("greedy", lp_bound, g_min, None, time.perf_counter() - t0)
    first, second, bound, proved = exact_mip(lp, col, nwo_lo, no_transfers=no_transfers)
    method = "greedy (optimal by MIP)" if proved else "greedy (MIP time limit)"
    if first is not None:
        z1 = _min_share(lp, first)
        filled = greedy(lp, sol, start=fewest_units(lp, first, z1), transfers=lp.transfers(first))
        cands = [("greedy", col), ("mip", second), ("mip+greedy", filled)]
        if lp.gini_groups:  # their cuts bound the coverage variables, not the units
            cands = [(k, c if k == "greedy" else trimmed_mip(lp, _as_solution(c))) for k, c in cands]

        def key(c):  # the constraints first (no-worse-off, floor), then the leximin order of the shares
            s_ = np.round(np.sort(fair_shares(lp, c)), 9)
            return (-round(_nwo_gaps(lp, c, nwo_lo), 7), -round(_floor_gaps(lp, c), 9), tuple(s_))

        best = max(cands, key=lambda kc: key(kc[1]))
        if key(best[1]) > key(col):
            col = best[1]
            method = ("mip" if proved else "mip (time limit)") if best[0] == "mip" else (
                "mip floor + greedy" if proved else "mip floor + greedy (time limit)")
        g_min = _min_share(lp, col)
    return col, IntegerReport(method, lp_bound, g_min, bound, time.perf_counter() - t0)


def fair_shares(lp: AllocationLP, col: np.ndarray) -> np.ndarray:
    """Actual shares of the fair pairs (the order of the LP's fair rows)."""
    return actual_shares(lp, col).ravel()[lp.fair]


def _nwo_gaps(lp: AllocationLP, col: np.ndarray, nwo_lo: np.ndarray | None) -> float:
    """Total shortfall of the actual shares below the no-worse-off reference (0 without one)."""
    if nwo_lo is None:
        return 0.0
    return float(np.maximum(nwo_lo - fair_shares(lp, col), 0.0).sum())


def _as_solution(col: np.ndarray) -> Solution:
    return Solution("optimal", 0.0, col, np.zeros(0), np.zeros(0), np.zeros(0), 0.0, 0.0)


def _floor_gaps(lp: AllocationLP, col: np.ndarray) -> float:
    """Total shortfall of the actual shares below the coverage floor (0 without a floor)."""
    P = lp.P
    if P.coverage_floor is None:
        return 0.0
    s = actual_shares(lp, col)
    fair = lp.Ed > 0
    nat = (s * lp.Ed).sum(0) / np.where(lp.Ed.sum(0) > 0, lp.Ed.sum(0), 1.0)
    return float(np.where(fair, np.maximum(P.coverage_floor * nat[None, :] - s, 0.0), 0.0).sum())
