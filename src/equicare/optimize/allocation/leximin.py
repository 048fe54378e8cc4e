"""Solve strategies on the LP: lexicographic max-min by progressive filling, and the one-LP objectives.

``leximin`` raises the worst-off share first, then the next, ... (lexicographic max-min, solved by the
progressive-filling algorithm with LP duals: a share row with a non-zero dual at the optimum level is
tight in *every* optimum, so it is frozen at that level), and finally maximises total expected coverage
(Radunović, B. and Le Boudec, J.-Y. (2007). A unified framework for max-min and min-max fairness with
applications. *IEEE/ACM Transactions on Networking* 15(5), 1073-1083; Ogryczak, W. et al. (2014). Fair
optimization and networks: a survey. *Journal of Applied Mathematics* 2014, 612018).  ``min_unmet`` only
maximises total coverage; ``weighted`` maximises :math:`w\\,z + (1-w)\\,\\text{coverage}/\\text{need}`
(Bertsimas, D., Farias, V. F. and Trichakis, N. (2011). The price of fairness. *Operations Research* 59(1),
17-31).  Every strategy returns a :class:`~equicare.optimize.allocation.trace.Trace`.
"""

from __future__ import annotations

import numpy as np

from equicare.optimize.allocation.diagnose import diagnose, solve_or_diagnose
from equicare.optimize.allocation.gini import GiniCuts, solve_with_cuts
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.allocation.trace import Trace
from equicare.optimize.highs import LinearModel, Solution

TOL = 1e-9
PIN_MARGIN = 1e-9
"""A frozen share is pinned this far below its level."""
LOOSEN = 1e-6
"""When an LP of the filling turns infeasible, every pin is loosened to this far (then 10 and 100 times this
far) below its level and the LP solved again: HiGHS meets rows only to 1e-7 (its primal feasibility
tolerance), so many pins at 1e-9 together with the no-worse-off rows can be infeasible in floating point
although the previous point meets them."""


def solve_objective(lp: AllocationLP, lm: LinearModel, nwo_lo: np.ndarray | None = None) -> Trace:
    """Run the problem's objective on a built model; raise InfeasibleError with a diagnosis if needed.

    ``leximin`` is always solved as LPs (progressive filling); whole units are placed afterwards
    (:mod:`equicare.optimize.allocation.integer`).  ``min_unmet`` and ``weighted`` are one LP or MIP.
    ``nwo_lo`` are the no-worse-off lower bounds on the shares (pooling).
    """
    P = lp.P
    cuts = GiniCuts()
    if nwo_lo is not None:
        lm.set_row_bounds(lp.rows("no_worse_off"), nwo_lo, np.inf)
    levels = np.full(len(lp.fair), np.nan)
    if P.objective == "min_unmet":
        lm.set_costs(lp.c_cov + lp.c_tie)
        sol = solve_or_diagnose(lp, lm, cuts, nwo_lo)
        return Trace(sol, None, levels, 1, sol.seconds, gini_rows=cuts.rows)
    if P.objective == "weighted":
        w = P.fairness_weight
        tot = float((lp.Ed * P.weight[None, :]).sum()) or 1.0
        lm.set_costs(w * lp.c_z + (1 - w) * lp.c_cov / tot + lp.c_tie / tot)
        sol = solve_or_diagnose(lp, lm, cuts, nwo_lo)
        return Trace(sol, sol, levels, 1, sol.seconds, gini_rows=cuts.rows)
    return _leximin(lp, lm, cuts, nwo_lo)


def _leximin(lp: AllocationLP, lm: LinearModel, cuts: GiniCuts, nwo_lo) -> Trace:
    if lm.is_mip:
        lp.drop_integrality(lm)
    F = len(lp.fair)
    fair_rows = lp.rows("fair")
    levels = np.full(F, np.nan)
    lm.set_costs(lp.c_z)
    frozen = np.zeros(F, bool)
    n_solves, secs, first = 0, 0.0, None
    shared = lp.shared_rows()
    shared_levels: dict[str, tuple[float, float]] = {}
    def solve() -> Solution:
        sol = solve_with_cuts(lp, lm, cuts)
        for k in range(3):  # numerical infeasibility of many pins: loosen them (1e-6, 1e-5, 1e-4) and retry
            if sol.ok or sol.status != "infeasible" or not frozen.any():
                break
            idx = np.flatnonzero(frozen)
            lm.set_row_bounds(fair_rows[idx], np.maximum(levels[idx] - LOOSEN * 10 ** k, 0.0), np.inf)
            sol = solve_with_cuts(lp, lm, cuts)
        if not sol.ok:
            diagnose(lp, sol, nwo_lo)
        return sol

    while F and not frozen.all():
        sol = solve()
        share = lp.shares(sol.x)
        n_solves += 1
        secs += sol.seconds
        if first is None:
            first = sol
        z = lp.level(sol.x)
        for key, row in shared.items():
            if key not in shared_levels and abs(sol.row_dual[row]) > TOL:
                shared_levels[key] = (z, float(sol.row_dual[row]))
        dual = sol.row_dual[fair_rows]
        block = ~frozen & ((np.abs(dual) > TOL) | (lp.share_ub <= z + 1e-9) | (z >= 1 - 1e-9))
        if not block.any():  # numerical safety: freeze the rows sitting at the level
            block = ~frozen & (share <= z + 1e-7)
            if not block.any():
                block = ~frozen
        idx = np.flatnonzero(block)
        pin_rows(lp, lm, idx, max(z - PIN_MARGIN, 0.0))
        levels[idx] = z
        frozen |= block
        n_solves, secs = freeze_capped(lp, lm, cuts, frozen, levels, z, n_solves, secs)
        stuck = stuck_rows(lp, sol, frozen)
        if stuck.any():
            idx = np.flatnonzero(stuck)
            pin_rows(lp, lm, idx, np.maximum(share[idx] - PIN_MARGIN, 0.0))
            levels[idx] = share[idx]
            frozen |= stuck
    lm.set_costs(lp.c_cov + lp.c_tie)
    if lp.ncol > 100_000:  # large expected-coverage models: interior point (with crossover) is far faster
        lm.h.setOptionValue("solver", "ipm")
    sol = solve()
    n_solves += 1
    secs += sol.seconds
    if first is None:
        first = sol
    return Trace(sol, first, levels, n_solves, secs, shared_levels=shared_levels, gini_rows=cuts.rows)


def pin_rows(lp: AllocationLP, lm: LinearModel, idx: np.ndarray, lower) -> None:
    """Take fairness rows ``idx`` out of the level: share >= ``lower`` (a number or one per row), no z term."""
    rows = lp.rows("fair")
    zc = lp.layout.index("z")
    for k in idx:
        lm.set_coeff(int(rows[k]), zc, 0.0)
    lm.set_row_bounds(rows[idx], lower, np.inf)


def _release_rows(lp: AllocationLP, lm: LinearModel, idx: np.ndarray) -> None:
    """Put fairness rows ``idx`` back on the level (share - z >= 0)."""
    rows = lp.rows("fair")
    zc = lp.layout.index("z")
    for k in idx:
        lm.set_coeff(int(rows[k]), zc, -1.0)
    lm.set_row_bounds(rows[idx], 0.0, np.inf)


def freeze_capped(lp: AllocationLP, lm: LinearModel, cuts: GiniCuts, frozen: np.ndarray, levels: np.ndarray,
                  z: float, n_solves: int, secs: float) -> tuple[int, float]:
    """Water-filling look-ahead: rows whose own cap (share upper bound) lies below the reachable level
    sit at that cap in the lexicographic optimum, so freeze them all at once instead of one per LP.

    Try fixing every unfrozen capped row at its cap and maximise the common level z' of the rest; keep the
    rows whose cap is at most z' and repeat until the set is stable (or give up if infeasible).
    """
    ub = lp.share_ub
    cand = ~frozen & (ub < 1 - 1e-9) & (ub > z + 1e-9)
    if not cand.any():
        return n_solves, secs

    def fix(idx, on):
        if on:
            pin_rows(lp, lm, idx, np.maximum(ub[idx] - 1e-9, 0.0))
        else:
            _release_rows(lp, lm, idx)

    # binary search for the largest j such that the j lowest caps can all be met while every other
    # unfrozen row reaches at least the j-th cap (monotone in j)
    order = np.flatnonzero(cand)[np.argsort(ub[cand], kind="stable")]
    # first guess: release every candidate (they then cost nothing) to get an upper bound on the level
    pin_rows(lp, lm, order, 0.0)
    sol = solve_with_cuts(lp, lm, cuts)
    n_solves += 1
    secs += sol.seconds
    z_hi = lp.level(sol.x) if sol.ok else 1.0
    _release_rows(lp, lm, order)
    guess = int(np.searchsorted(ub[order], z_hi + 1e-9, side="right"))
    lo, hi = 0, guess  # f(lo) true (j = 0), search the largest true
    cur = 0  # rows order[:cur] currently fixed in the model

    def move_to(j: int) -> Solution:
        """Fix exactly the rows order[:j] (from the current cur) and solve."""
        nonlocal cur, n_solves, secs
        if j > cur:
            fix(order[cur:j], True)
        else:
            fix(order[j:cur], False)
        cur = j
        out = solve_with_cuts(lp, lm, cuts)
        n_solves += 1
        secs += out.seconds
        return out

    for _ in range(6):  # fixed-point steps j <- #(caps <= z'(j)); z' falls as j grows
        if guess <= lo:
            break
        sol = move_to(guess)
        if not sol.ok:
            hi = guess - 1
            guess = (lo + hi + 1) // 2
            continue
        z2 = lp.level(sol.x)
        if z2 >= ub[order[guess - 1]] - 1e-9:
            lo = guess
            break
        hi = guess - 1
        guess = min(hi, int(np.searchsorted(ub[order], z2 + 1e-9, side="right")))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        sol = move_to(mid)
        if sol.ok and lp.level(sol.x) >= ub[order[mid - 1]] - 1e-9:
            lo = mid
        else:
            hi = mid - 1
    if lo < cur:
        fix(order[lo:cur], False)
    elif lo > cur:
        fix(order[cur:lo], True)
    idx = order[:lo]
    levels[idx] = ub[idx]
    frozen[idx] = True
    return n_solves, secs


def stuck_rows(lp: AllocationLP, sol: Solution, frozen: np.ndarray) -> np.ndarray:
    """Unfrozen share rows that provably cannot rise and cannot give anything away.

    A row (i, r) of a resource that is not pooled depends only on x_ir.  It cannot rise when x_ir is at
    its upper bound, or when no unit of r can be had: the stock of r has no slack and no other region can
    release units of r (an unfrozen region holding more than its minimum, or a frozen one holding more
    than its largest need), or likewise no money is left and nobody can release spending.  If it also
    holds nothing above its minimum, its share is the same in every lexicographic optimum, so it can be
    frozen at once (this saves one LP per distinct level once the shared stock is exhausted).
    """
    P = lp.P
    n, m = P.n, P.m
    F = len(lp.fair)
    out = np.zeros(F, bool)
    if not F:
        return out
    tol = 1e-7
    x = lp.units(sol.x)
    t = lp.transfers(sol.x)
    xlo = lp.xlo.reshape(n, m)
    xhi = lp.xhi.reshape(n, m)
    eff = P.capacity + x + lp.net_transfers(t)
    flat = eff > lp.D.max(axis=0) + tol  # more than the largest need: can release without loss
    fz = np.zeros(n * m, bool)
    fz[lp.fair] = frozen
    fz = fz.reshape(n, m)
    fair2 = np.zeros(n * m, bool)
    fair2[lp.fair] = True
    fair2 = fair2.reshape(n, m)
    holds = x > xlo + tol
    donor = holds & (~fz | flat | ~fair2)
    stock_free = ~np.isfinite(P.stock) | (P.stock - x.sum(axis=0) > tol)
    donors_r = donor.sum(axis=0)  # per resource
    if P.budget is None:
        money_free = True
        money_donors = 0
    else:
        spent = float((x * P.unit_cost[None, :]).sum()) + float((t * lp.arcs.cost).sum())
        money_free = P.budget - spent > tol * max(1.0, P.budget)
        money_donors = int((donor & (P.unit_cost[None, :] > 0)).sum())
    ii, rr = np.divmod(lp.fair, m)
    can_stock = stock_free[rr] | (donors_r[rr] - donor[ii, rr] > 0)
    can_money = money_free | (P.unit_cost[rr] == 0) | (money_donors - (donor[ii, rr] & (P.unit_cost[rr] > 0)) > 0)
    cannot_rise = (x[ii, rr] >= xhi[ii, rr] - tol) | ~(can_stock & can_money)
    return ~frozen & ~lp.pooled_r[rr] & cannot_rise & ~holds[ii, rr]
