"""Whole units: greedy water-filling, and an exact max-min on the actual shares where the size allows.

Three routes, chosen by :func:`whole_units`:

* **Greedy** (:func:`greedy`).  Starting from the region minimums, each unit goes to the region whose share
  of need met is lowest among those that can still use one, until the stock or the budget runs out.  For one
  shared stock per type with per-region bounds and nothing else coupling the regions this is the exact
  lexicographic max-min integer allocation (region *i*'s k-th unit is taken at share level k/need_i, and
  the greedy takes the S lowest levels).
* **Exact max-min** when something else couples the regions (a budget across types, a coverage floor, a
  gap cap, pooling) and the model has at most :data:`MIP_MAX_INTEGERS` integer columns.  Whole units can
  only reach a staircase of share levels per pair (:mod:`equicare.optimize.allocation.levels`), so the
  whole-unit max-min ``z*`` is at most the *grid bound* of the LP's: the highest level of any pair not
  above the LP's minimum share.

  1. If the best answer at hand that keeps the rules (no-worse-off, coverage floor on the actual shares)
     -- the greedy one, or under pooling the no-pooling reference's -- reaches the grid bound, it is
     optimal: ``greedy (optimal by LP bound)`` / ``no-pooling answer (optimal by LP bound)``, no MIP.
  2. Otherwise :func:`exact_mip` maximises the minimum share ``z`` on the LP's own rows with integer units
     (the shares are the actual shares of whole units), started from that answer, with ``z`` bounded by
     the grid bound, and allowed to stop once its bound is below the next share level above the start
     (nothing lies in between, so this is still exact; checked afterwards).  Its bound is reported as the
     highest share level not above it.  It stops after :data:`MIP_SECONDS` (``(time limit)``).
  3. Candidates: the answers at hand, the MIP's, and the fewest units reaching its minimum (keeping the
     no-worse-off reference and the floor) filled greedily.  Only if none keeps the rules at that minimum,
     :func:`coverage_mip` (the most coverage at that minimum, :data:`STAGE2_GAP`) adds one.  The one kept
     breaks the no-worse-off rule and the coverage floor least, then is best in the leximin order (sorted
     shares compared lexicographically).  The exactness claim is for the minimum share; the shares above
     it are the best of these candidates in the leximin order, not a proven leximin optimum.
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
from equicare.optimize.allocation.levels import LEVEL_TOL, grid_bound, level_above
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.highs import LinearModel, Solution

MIP_MAX_INTEGERS = 20_000
"""Largest number of integer columns (units and transfers) for which the exact MIP is tried."""
MIP_SECONDS = 10.0
"""Time limit of the MIP's first stage (the minimum share; seconds); the best answer found by then is kept,
with its bound.  The second stage (coverage at that minimum, only when no other candidate keeps the rules)
gets half of it."""
STAGE2_GAP = 1e-3
"""Relative gap at which the second stage (the most coverage at the optimal minimum share) stops: it only
ranks candidates that all have the optimal minimum share, so its own optimum is not claimed."""
MIP_LEVEL_STEPS = 24
"""Most feasibility MIPs of the level search (bisection over share levels halves the gap each step)."""
MIP_STEP_DOWN = 2.5e-4
"""First step down from the greedy level (relative) when no answer reaches it (the optimum is usually close)."""
LP_TOL = 1e-6
"""Slack added to the LP's minimum share before it is used as a bound (HiGHS meets rows to 1e-7)."""


@dataclass(frozen=True)
class IntegerReport:
    """How the whole-unit answer was found.

    Attributes
    ----------
    method : str
        ``greedy`` (exact for one stock per type); ``greedy (optimal by LP bound)`` or ``no-pooling answer
        (optimal by LP bound)`` (the answer reaches the highest whole-unit share level not above the LP's
        minimum share, so no whole-unit answer does better; no MIP was run); ``greedy (optimal by MIP)`` /
        ``no-pooling answer (optimal by MIP)`` (the MIP proved no whole-unit answer has a higher minimum
        share); ``mip`` (the MIP's answer, optimal minimum share); ``mip floor + greedy`` (the fewest units
        reaching the MIP's minimum, the rest greedily); with ``(time limit)`` the best found
        (``mip_bound`` bounds the optimum).
    lp_bound : float or None
        Minimum share of need met of the continuous optimum (an upper bound for whole units).
    min_share : float
        Minimum share of need met of the whole-unit answer.
    mip_bound : float or None
        A proven upper bound on the whole-unit minimum share: the highest share level not above the MIP's
        bound (or the LP's, when no MIP ran); equal to ``min_share`` when the answer is optimal.
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
    Ed = np.where(lp.Ed > 0, lp.Ed, 1.0).tolist()
    p, D = lp.p, lp.D
    # the loop runs on Python floats (numpy scalars make round() and the comparisons 10x slower)
    xs, xh, cost = x.tolist(), xhi.tolist(), P.unit_cost.tolist()
    stock_l = [float(v) for v in stock_left]
    money_l = float(money_left)

    def cell(i, r, v):
        return float(np.dot(p, np.minimum(base[i, r] + v, D[:, i, r]))) / Ed[i][r]

    heap = []
    for i, r in zip(*np.nonzero(isint & (lp.Ed > 0))):
        i, r = int(i), int(r)
        if xs[i][r] + 1 <= xh[i][r] + 1e-9:
            c0, c1 = cell(i, r, xs[i][r]), cell(i, r, xs[i][r] + 1)
            if c1 > c0 + 1e-12:
                heap.append((round(c0, 12), -round(c1, 12), i, r))
    heapq.heapify(heap)
    while heap:
        c0, neg1, i, r = heapq.heappop(heap)
        if stock_l[r] < 1 - 1e-9 or cost[r] > money_l + 1e-9:
            continue
        xs[i][r] += 1
        stock_l[r] -= 1
        money_l -= cost[r]
        if xs[i][r] + 1 <= xh[i][r] + 1e-9:
            c0, c1 = -neg1, cell(i, r, xs[i][r] + 1)
            if c1 > c0 + 1e-12:
                heapq.heappush(heap, (round(c0, 12), -round(c1, 12), i, r))
    x = np.array(xs, dtype=float).reshape(n, m)
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
              seconds: float = MIP_SECONDS, no_transfers: bool = False, z_max: float = 1.0,
              z_start: float | None = None) -> tuple[LinearModel | None, np.ndarray | None, float | None, bool]:
    """Stage 1 of the MIP on the actual shares of whole units: maximise the minimum share (see the module
    docstring), started from ``start``.

    ``z_max`` is a valid upper bound on the whole-unit max-min (:func:`~.levels.grid_bound` of the LP's):
    the level ``z`` is bounded by it, so an answer reaching it closes the gap at once.  ``z_start``: the
    minimum share of ``start`` when it keeps every rule; then HiGHS may stop once its bound is below the
    next share level above ``z_start`` (:func:`~.levels.level_above`; nothing lies between), and the
    answer is checked the same way afterwards (solved on to HiGHS's own gap if that check fails).
    ``no_transfers`` fixes every transfer at zero (the no-pooling reference).  Returns ``(model, column,
    proven bound on the minimum share, proved optimal)``; Nones if no solution was found.
    """
    lm = lp.build(time_limit=seconds)
    if no_transfers:
        lp.fix_transfers(lm)
    if nwo_lo is not None:
        lm.set_row_bounds(lp.rows("no_worse_off"), nwo_lo, np.inf)
    zc = lp.layout.index("z")
    lm.set_col_bounds([zc], 0.0, float(min(1.0, z_max + LEVEL_TOL)))
    lm.set_costs(lp.c_z)
    lm.set_start(lp.point(lp.units(start), lp.transfers(start)))
    step = None if z_start is None else level_above(lp, z_start) - z_start
    if step is not None and np.isfinite(step) and step > 2 * LEVEL_TOL:
        lm.h.setOptionValue("mip_abs_gap", float(step - LEVEL_TOL))
    s1 = solve_with_cuts(lp, lm, GiniCuts())
    if s1.status not in ("optimal", "time_limit") or not np.all(np.isfinite(s1.x)):
        return None, None, None, False
    proved = s1.status == "optimal"
    if step is not None and proved and grid_bound(lp, s1.bound) > _min_share(lp, _whole(lp, s1.x)) + LEVEL_TOL:
        lm.h.setOptionValue("mip_abs_gap", 1e-6)  # improved past z_start: the step no longer proves it
        lm.set_start(s1.x)
        s1 = solve_with_cuts(lp, lm, GiniCuts())
        if s1.status not in ("optimal", "time_limit") or not np.all(np.isfinite(s1.x)):
            return None, None, None, False
        proved = s1.status == "optimal"
    bound = float(min(1.0, z_max + LEVEL_TOL, s1.bound)) if np.isfinite(s1.bound) else None
    return lm, s1.x, bound, proved


def max_min_by_levels(lp: AllocationLP, lead: np.ndarray | None, z_lead: float, nwo_lo: np.ndarray | None,
                      ub: float, seconds: float = MIP_SECONDS, no_transfers: bool = False
                      ) -> tuple[LinearModel, np.ndarray | None, float, bool]:
    """The whole-unit max-min by a search over share levels, each step a feasibility MIP.

    Every whole-unit minimum share is a share level (:mod:`~.levels`), and none is above ``ub`` (the grid
    bound of the LP's).  ``lead`` (minimum share ``z_lead``), when given, keeps every rule, so ``z_lead``
    is reached.  Each step asks HiGHS for any answer of the LP's rows with integer units and every share
    at least a level ``m`` (objective 0: it stops at the first one found, or proves there is none): an
    answer raises the lower end to its level, none lowers the upper end to ``m``.  The first step tries
    the level just above ``z_lead`` (usually the proof that it is optimal), or without ``lead`` the level
    ``z_lead`` and, if none reaches it, levels below it at steps doubling from :data:`MIP_STEP_DOWN`
    times it; after an answer above the first, steps up from it the same way; then bisection.  It ends when
    no share level lies between the two ends, after :data:`MIP_LEVEL_STEPS` steps, or after ``seconds``.
    Returns ``(model, column at the lower end or None, upper bound on the minimum share, proved)``.
    """
    lm = lp.build()
    if no_transfers:
        lp.fix_transfers(lm)
    if nwo_lo is not None:
        lm.set_row_bounds(lp.rows("no_worse_off"), nwo_lo, np.inf)
    lm.set_costs(np.zeros(lp.ncol))  # any answer ends a step (an objective slows the proofs 10-20x)
    zc = lp.layout.index("z")
    lo, col = (z_lead, lead) if lead is not None else (-np.inf, None)
    hi = level_above(lp, ub)  # no answer reaches hi; none lies strictly between ub and hi
    t_end = time.perf_counter() + seconds
    m = level_above(lp, lo) if lead is not None else z_lead
    proved = False
    found = int(lead is not None)
    down = up = 0.0
    for _ in range(MIP_LEVEL_STEPS):
        if lo > -np.inf and level_above(lp, lo) >= hi - LEVEL_TOL:
            proved = True
            break
        left = t_end - time.perf_counter()
        if left <= 0:
            break
        lm.h.setOptionValue("time_limit", float(left))
        lm.set_col_bounds([zc], float(max(m - LEVEL_TOL, 0.0)), 1.0)
        s = solve_with_cuts(lp, lm, GiniCuts())
        if s.status in ("optimal", "time_limit") and np.all(np.isfinite(s.x)):
            col = _whole(lp, s.x)
            lo = max(m, min(lp.level(s.x), _min_share(lp, col)))
            found += 1
            # the first answer found: try the level just above it (usually the proof); then steps up,
            # doubling from MIP_STEP_DOWN times the level (the optimum is usually close), bisecting past hi
            up = 0.0 if found == 1 else (2 * up if up else MIP_STEP_DOWN * max(lo, 1e-3))
            m = level_above(lp, lo) if found == 1 else level_above(lp, lo + up - 2 * LEVEL_TOL)
            if m >= hi - LEVEL_TOL:
                m = _mid_level(lp, lo, hi)
        elif s.status == "infeasible":
            hi = m
            if lo == -np.inf:  # nothing reached yet: step down from the greedy level, doubling the step
                down = 2 * down if down else MIP_STEP_DOWN * max(z_lead, 1e-3)
                m = max(z_lead - down, 0.0)
            else:
                m = _mid_level(lp, lo, hi)
        else:
            break
    bound = grid_bound(lp, max(hi - 2 * LEVEL_TOL, 0.0))
    return lm, col, bound, proved


def _mid_level(lp: AllocationLP, lo: float, hi: float) -> float:
    """A share level strictly between ``lo`` and ``hi`` near their middle (the lowest level at or above the
    midpoint, or the highest below ``hi``); ``lo = -inf`` counts as 0."""
    lo = max(lo, 0.0)
    m = level_above(lp, 0.5 * (lo + hi) - 2 * LEVEL_TOL)
    return m if m < hi - LEVEL_TOL else grid_bound(lp, max(hi - 2 * LEVEL_TOL, 0.0))


def coverage_mip(lp: AllocationLP, lm: LinearModel, first: np.ndarray, seconds: float = MIP_SECONDS / 2
                 ) -> np.ndarray | None:
    """Stage 2 on the stage-1 model ``lm``: the most covered need with every share at least the level of
    ``first`` (a whole-unit column, also the start; stops at :data:`STAGE2_GAP` or after ``seconds``).
    The column, or None."""
    z1 = min(_min_share(lp, first), lp.level(first))
    zc = lp.layout.index("z")
    lm.set_col_bounds([zc], max(z1 - 1e-7, 0.0), 1.0)
    lm.set_costs(lp.c_cov + lp.c_tie)
    lm.h.setOptionValue("time_limit", seconds)
    lm.h.setOptionValue("mip_rel_gap", STAGE2_GAP)
    lm.set_start(lp.point(lp.units(first), lp.transfers(first)))
    s2 = solve_with_cuts(lp, lm, GiniCuts())
    return s2.x if s2.status in ("optimal", "time_limit") and np.all(np.isfinite(s2.x)) else None


def _whole(lp: AllocationLP, col: np.ndarray) -> np.ndarray:
    """``col`` with its integer units and transfers rounded (a MIP's values carry 1e-9 noise)."""
    x = lp.units(col).copy()
    x[:, lp.P.integer] = np.round(x[:, lp.P.integer])
    t = lp.transfers(col).copy()
    if lp.T:
        t = np.where(lp.P.integer[lp.arcs.r], np.round(t), t)
    return lp.with_units(col, x, t if lp.T else None)


def fewest_units(lp: AllocationLP, col: np.ndarray, z: float, keep: np.ndarray | None = None) -> np.ndarray:
    """``(n, m)``: for each pair the fewest units (between its minimum and its units in ``col``) whose actual
    share is at least ``min(max(z, keep), its share in col)``, with ``col``'s transfers (bisection, all pairs
    at once).  ``keep``: ``(n, m)`` shares to keep where ``col`` has them (the no-worse-off reference, the
    coverage floor)."""
    P = lp.P
    base = P.capacity + lp.net_transfers(lp.transfers(col))
    Ed = np.where(lp.Ed > 0, lp.Ed, 1.0)

    def share(u):
        return np.tensordot(lp.p, np.minimum(base[None] + u[None], lp.D), axes=1) / Ed

    hi = lp.units(col).copy()
    want = z if keep is None else np.maximum(z, keep)
    target = np.minimum(want, share(hi)) - 1e-9
    lo = np.minimum(np.ceil(lp.xlo.reshape(P.n, P.m) - 1e-9), hi)
    while np.any(hi > lo):
        mid = np.floor((lo + hi) / 2)
        ok = share(mid) >= target
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    return np.where(P.integer[None, :], hi, lp.units(col))


def _keep(lp: AllocationLP, col: np.ndarray, nwo_lo: np.ndarray | None) -> np.ndarray:
    """``(n, m)`` shares a reduction of ``col`` must keep: the no-worse-off reference and the coverage
    floor at ``col``'s national shares (0 elsewhere)."""
    P = lp.P
    keep = np.zeros(P.n * P.m)
    if nwo_lo is not None:
        keep[lp.fair] = nwo_lo
    keep = keep.reshape(P.n, P.m)
    if P.coverage_floor is not None:
        s = actual_shares(lp, col)
        tot = lp.Ed.sum(0)
        nat = (s * lp.Ed).sum(0) / np.where(tot > 0, tot, 1.0)
        keep = np.maximum(keep, np.where(lp.Ed > 0, P.coverage_floor * nat[None, :], 0.0))
    return keep


def whole_units(lp: AllocationLP, sol: Solution, nwo_lo: np.ndarray | None = None,
                mip: bool | None = None, no_transfers: bool = False,
                starts: tuple[np.ndarray, ...] = ()) -> tuple[np.ndarray, IntegerReport]:
    """Whole units for a leximin answer ``sol`` (continuous); returns the column vector and the report.

    ``mip``: True forces the exact route, False skips it, None (default) takes it when the greedy answer is
    not provably exact and the size allows.  ``nwo_lo``: the no-worse-off lower bounds on the fair shares
    (pooling); an answer that breaks them ranks below one that keeps them.  ``no_transfers``: every transfer
    stays at zero (the reference of the no-worse-off rule).  ``starts``: other whole-unit answers of the
    same problem (column vectors; e.g. the no-pooling reference's, which pooling may keep), candidates and
    possible starts of the MIP.
    """
    t0 = time.perf_counter()
    fair = (lp.Ed > 0).any()
    lp_bound = float(lp.shares(sol.x).min()) if fair else None
    col = greedy(lp, sol)
    g_min = _min_share(lp, col)
    n_int = int(lp.integ.sum())
    try_mip = (not _greedy_exact(lp) and n_int <= MIP_MAX_INTEGERS and not lp.gini_groups) if mip is None else mip
    if not try_mip or not fair:
        return col, IntegerReport("greedy", _at_least(lp_bound, g_min), g_min, None, time.perf_counter() - t0)

    def key(c):  # the constraints first (no-worse-off, floor), then the leximin order of the shares
        s_ = np.round(np.sort(fair_shares(lp, c)), 9)
        return (-round(_nwo_gaps(lp, c, nwo_lo), 7), -round(_floor_gaps(lp, c), 9), tuple(s_))

    # the best answer at hand that keeps the rules; the whole-unit max-min is at most the grid bound
    known = [("greedy", col)] + [("reference", c) for c in starts]
    ok = [(k, c) for k, c in known if _meets_rules(lp, c, nwo_lo)]
    lead = max(ok, key=lambda kc: key(kc[1])) if ok else ("greedy", col)
    z_lead = _min_share(lp, lead[1])
    ub = grid_bound(lp, lp_bound + LP_TOL)
    if ok and z_lead >= ub - LEVEL_TOL:
        name = "greedy" if lead[0] == "greedy" else "no-pooling answer"
        return lead[1], IntegerReport(f"{name} (optimal by LP bound)", _at_least(lp_bound, z_lead), z_lead, ub,
                                      time.perf_counter() - t0)
    if np.all(lp.P.integer[lp.fair_r]):  # every fair pair moves in whole-unit steps: search the levels
        lm, first, bound, proved = max_min_by_levels(lp, lead[1] if ok else None, z_lead, nwo_lo, ub,
                                                     no_transfers=no_transfers)
    else:
        lm, first, bound, proved = exact_mip(lp, lead[1], nwo_lo, no_transfers=no_transfers, z_max=ub,
                                             z_start=z_lead if ok else None)
    method = "greedy (optimal by MIP)" if proved else "greedy (MIP time limit)"
    if first is not None:
        first = _whole(lp, first)
        z1 = _min_share(lp, first)
        if bound is not None:
            bound = max(grid_bound(lp, bound), z1)  # the highest share level at most the MIP's bound
            if not proved and bound <= z1 + LEVEL_TOL:
                proved = True  # no share level between the answer and the MIP's bound
                method = "greedy (optimal by MIP)"
        keep = _keep(lp, first, nwo_lo)
        filled = greedy(lp, sol, start=fewest_units(lp, first, z1, keep), transfers=lp.transfers(first))
        cands = known + [("mip", first), ("mip+greedy", filled)]
        if not any(_meets_rules(lp, c, nwo_lo) and _min_share(lp, c) >= z1 - LEVEL_TOL for _, c in cands):
            second = coverage_mip(lp, lm, first)  # the fallback: most coverage at stage 1's level
            if second is not None:
                cands.append(("mip", _whole(lp, second)))
        if lp.gini_groups:  # their cuts bound the coverage variables, not the units
            cands = [(k, c if k == "greedy" else trimmed_mip(lp, _as_solution(c))) for k, c in cands]
        best = max(cands, key=lambda kc: key(kc[1]))
        if key(best[1]) > key(col):
            col = best[1]
            method = {"mip": "mip", "mip+greedy": "mip floor + greedy",
                      "reference": "no-pooling answer"}[best[0]] + ("" if proved else " (time limit)")
            if proved and best[0] == "reference":
                method = "no-pooling answer (optimal by MIP)"
        g_min = _min_share(lp, col)
    return col, IntegerReport(method, _at_least(lp_bound, g_min), g_min, bound, time.perf_counter() - t0)


def _at_least(lp_bound: float | None, whole: float) -> float | None:
    """The LP bound reported with a whole-unit answer: never below that answer's minimum share, which is a point
    of the LP (a bound under it, e.g. 0.999999999 beside 1, is the LP solve's tolerance, not a bound)."""
    return None if lp_bound is None else max(lp_bound, whole)


def _meets_rules(lp: AllocationLP, col: np.ndarray, nwo_lo: np.ndarray | None) -> bool:
    """True when ``col`` keeps the no-worse-off reference and the coverage floor on its actual shares."""
    return round(_nwo_gaps(lp, col, nwo_lo), 7) == 0 and round(_floor_gaps(lp, col), 9) == 0


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
