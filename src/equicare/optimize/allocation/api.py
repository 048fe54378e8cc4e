"""The entry points: :func:`allocate` (the general model) and :func:`allocate_stockpile` (one resource)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.optimize.allocation.diagnose import precheck
from equicare.optimize.allocation.explain import explain
from equicare.optimize.allocation.integer import actual_shares, fair_shares, trimmed_mip, whole_units
from equicare.optimize.allocation.leximin import solve_objective
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.allocation.problem import AllocationProblem
from equicare.optimize.allocation.result import AllocationResult, StockpileResult
from equicare.optimize.allocation.waterfill import separable, waterfill

METHODS = ("auto", "lp", "waterfill")
NWO_MARGIN = 1e-6
"""The no-worse-off reference shares are required up to this much (HiGHS meets rows to 1e-7)."""


def allocate(P: AllocationProblem, *, time_limit: float | None = None, method: str = "auto",
             exact_whole_units: bool | None = None) -> AllocationResult:
    """Solve an allocation problem and explain the answer.

    Parameters
    ----------
    P : AllocationProblem
        The scenario (see :mod:`equicare.optimize.allocation` for the formulation).
    time_limit : float, optional
        Seconds per HiGHS call (MIP only matters).
    method : {"auto", "lp", "waterfill"}
        ``auto`` solves a separable leximin problem (no pooling) by exact water-filling
        (:mod:`equicare.optimize.allocation.waterfill`) when its answer also meets the inequality bounds,
        and everything else by LPs on HiGHS; ``lp`` always uses the LPs; ``waterfill`` insists on
        water-filling (error if it does not apply).
    exact_whole_units : bool, optional
        Leximin with whole units: True always tries the exact MIP on the actual shares, False never, None
        (default) when the greedy answer is not provably exact and the size allows
        (:mod:`equicare.optimize.allocation.integer`).

    Returns
    -------
    AllocationResult

    Raises
    ------
    InfeasibleError
        When constraints conflict; the message names them (e.g. minimums above the stock).
    EquicareError
        An unknown ``method``, or ``waterfill`` where it does not apply.
    """
    if method not in METHODS:
        raise EquicareError(f"method must be 'auto', 'lp' or 'waterfill', not {method!r}")
    t0 = time.perf_counter()
    precheck(P)
    lp = AllocationLP(P)
    if method != "lp" and separable(lp):
        run = waterfill(lp)
        if run is not None:
            if lp.integ.any():
                run.x_int, run.integer = whole_units(lp, run.sol, None, exact_whole_units)
            return explain(lp, run, time.perf_counter() - t0)
    if method == "waterfill":
        raise EquicareError("water-filling applies only to leximin without pooling, with every scenario "
                            "weight > 0 and inequality bounds that the unbounded answer meets; use method='lp'")
    nwo = reference = None
    n_solves = 0
    if lp.T and P.pooling.no_worse_off:
        # the reference: the same model (same bounds, caps, placement, budget and whole units) with every
        # transfer at zero; its actual shares are what pooling may not take away
        lm0 = lp.build(time_limit=time_limit)
        lp.fix_transfers(lm0)
        base = solve_objective(lp, lm0)
        n_solves += base.n_solves
        col0 = base.sol.x
        if lp.integ.any() and P.objective == "leximin":
            col0, _ = whole_units(lp, base.sol, None, exact_whole_units, no_transfers=True)
        nwo = np.maximum(fair_shares(lp, col0) - NWO_MARGIN, 0.0)
        reference = actual_shares(lp, col0)
    lm = lp.build(time_limit=time_limit)
    run = solve_objective(lp, lm, nwo)
    run.n_solves += n_solves
    if lp.integ.any():
        if P.objective == "leximin":
            starts = () if nwo is None or not lp.integ.any() else (col0,)
            run.x_int, run.integer = whole_units(lp, run.sol, nwo, exact_whole_units, starts=starts)
        elif lp.gini_groups:  # a MIP: its cap holds on v, not on the units
            run.x_int = trimmed_mip(lp, run.sol)
    res = explain(lp, run, time.perf_counter() - t0)
    res.reference_shares = reference
    return res


def allocate_stockpile(region_ids: Sequence[str], need, stock: float, cap=None, integer: bool = False,
                       region_names: Sequence[str] | None = None, resource: str = "surge ICU beds",
                       unit: str = "bed") -> StockpileResult:
    """Share a national stockpile of one resource across regions by lexicographic max-min fairness.

    This is :func:`allocate` with one resource, no existing capacity and demand equal to ``need``:
    maximise the smallest share of need met ``x_i / need_i``, then the next smallest, ..., then the total,
    subject to ``sum x_i <= stock`` and ``0 <= x_i <= min(need_i, cap_i)``.  In the continuous case the
    answer is water-filling: every region gets ``min(cap_i, need_i, L * need_i)`` with the common level
    ``L`` set so that the stock is used up (or everyone is at their cap).

    Parameters
    ----------
    region_ids : sequence of str
    need : array_like
        Units lacking in each region (non-negative).
    stock : float
        Units in the national stockpile.
    cap : array_like, optional
        Most units each region can absorb (e.g. staff them); default unlimited.
    integer : bool
        Whole units only (greedy water-filling, exact for one stock).
    region_names : sequence of str, optional
    resource, unit : str
        Words used in the explanations.

    Returns
    -------
    StockpileResult

    Raises
    ------
    EquicareError
        Bad input (negative need, lengths differ).
    """
    ids = [str(r) for r in region_ids]
    need = np.asarray(need, dtype=float).ravel()
    n = len(ids)
    if need.shape != (n,):
        raise EquicareError(f"need has {need.size} values for {n} regions")
    if len(set(ids)) != n:
        raise EquicareError("region ids must be unique")
    if np.any(~np.isfinite(need)) or np.any(need < 0):
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(need) | (need < 0))[:5]]
        raise EquicareError(f"need must be finite and non-negative (bad: {', '.join(bad)})")
    if not np.isfinite(stock) or stock < 0:
        raise EquicareError(f"stock must be a non-negative number, not {stock!r}")
    capv = np.full(n, np.inf) if cap is None else np.asarray(cap, dtype=float).ravel()
    if capv.shape != (n,):
        raise EquicareError(f"cap has {capv.size} values for {n} regions")
    if np.any(np.isnan(capv)) or np.any(capv < 0):
        raise EquicareError("cap must be non-negative (use inf for no cap)")
    names = list(region_names) if region_names is not None else ids
    P = AllocationProblem(regions=ids, resources=[resource], capacity=np.zeros((n, 1)),
                          demand=need.reshape(1, n, 1), scenario_names=["point"], stock=np.array([stock]),
                          max_alloc=capv.reshape(n, 1), integer=np.array([integer]), region_names=names,
                          units={resource: unit})
    res = allocate(P)
    a = res.allocation
    table = pd.DataFrame({
        "region": a["region"].to_numpy(), "name": a["name"].to_numpy(), "need": need, "cap": capv,
        "allocated": a["allocated"].to_numpy(), "share_met": a["share_met"].to_numpy(),
        "binding": a["binding"].to_numpy(), "explanation": a["explanation"].to_numpy(),
    })
    sp_ = res.shadow_prices.get(f"stock:{resource}", {})
    return StockpileResult(table=table, min_share=res.min_share, total_allocated=float(a["allocated"].sum()),
                           stock=float(stock), stock_shadow_price=sp_.get("d_min_share"),
                           stock_marginal_coverage=sp_.get("d_covered"), solve_seconds=res.solve_seconds,
                           result=res, stock_level=sp_.get("level"), stock_level_shadow_price=sp_.get("d_level"))
