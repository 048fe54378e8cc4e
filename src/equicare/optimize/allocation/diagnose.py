"""Infeasibility: conflicts visible without solving, and a deletion filter over constraint groups.

:func:`precheck` names conflicts that need no solver (minimums above a stock or a maximum, a negative
budget).  :func:`diagnose` runs after HiGHS reports an infeasible model: starting from every constraint
group that is present (and not empty), it drops each group in turn while the rest stays infeasible, which
leaves a minimal conflicting set (Chinneck, J. W. (2008). *Feasibility and Infeasibility in Optimization*,
Springer, ch. 6, the deletion filter).  The message names each group with its numbers.
"""

from __future__ import annotations

import numpy as np

from equicare.errors import InfeasibleError
from equicare.optimize.allocation.gini import GiniCuts, solve_with_cuts
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.allocation.problem import AllocationProblem
from equicare.optimize.highs import LinearModel, Solution


def precheck(P: AllocationProblem) -> None:
    """Raise InfeasibleError naming every conflict visible without solving."""
    msgs = []
    bad = np.argwhere(P.min_alloc > P.max_alloc + 1e-9)
    for i, r in bad[:10]:
        msgs.append(f"region {P.regions[i]} has minimum {P.min_alloc[i, r]:g} {P.resources[r]} above its "
                    f"maximum {P.max_alloc[i, r]:g}")
    need = P.min_alloc.sum(axis=0)
    for r in range(P.m):
        if need[r] > P.stock[r] + 1e-9:
            top = np.argsort(-P.min_alloc[:, r])[:3]
            names = ", ".join(f"{P.regions[i]} {P.min_alloc[i, r]:g}" for i in top if P.min_alloc[i, r] > 0)
            msgs.append(f"region minimums of {P.resources[r]} sum to {need[r]:g}, above the stock of "
                        f"{P.stock[r]:g} (largest: {names})")
    if P.budget is not None:
        cost = float((P.min_alloc * P.unit_cost[None, :]).sum())
        if cost > P.budget + 1e-9:
            msgs.append(f"region minimums cost {cost:,.0f}, above the budget of {P.budget:,.0f}")
        if P.budget < 0:
            msgs.append(f"the budget {P.budget:g} is negative")
    for r in range(P.m):
        if P.stock[r] < 0:
            msgs.append(f"the stock of {P.resources[r]} ({P.stock[r]:g}) is negative")
    if msgs:
        raise InfeasibleError("the scenario is infeasible: " + "; ".join(msgs))


def groups_present(lp: AllocationLP) -> list[str]:
    """The constraint groups of ``lp`` that constrain anything (never an empty one)."""
    P = lp.P
    out = ["min"] if np.any(P.min_alloc > 0) else []
    out += [f"stock:{r}" for r in lp.stock_rows]
    out += [g for g in ("budget", "coverage_floor", "max_gap", "no_worse_off") if len(lp.rows(g))]
    if lp.gini_groups:
        out.append("max_gini")
    return out


def group_label(lp: AllocationLP, g: str) -> str:
    """Plain words with the numbers, e.g. ``national beds stock (40)``."""
    P = lp.P
    if g.startswith("stock:"):
        r = int(g.split(":")[1])
        return f"national {P.resources[r]} stock ({P.stock[r]:g})"
    if g == "budget":
        return f"budget ({P.budget:,.0f})"
    if g == "min":
        tot = ", ".join(f"{P.resources[r]} {P.min_alloc[:, r].sum():g}" for r in range(P.m) if P.min_alloc[:, r].any())
        return f"region minimums ({tot})"
    if g == "coverage_floor":
        return f"coverage floor (no region below {P.coverage_floor:.0%} of the national share)"
    if g == "max_gap":
        return f"cap on the max-min share gap ({P.max_gap:.0%})"
    if g == "max_gini":
        return f"cap on the Gini coefficient of shares ({P.max_gini:.2f})"
    if g == "no_worse_off":
        return "no-region-worse-off rule of pooling"
    return g


def _feasible(lp: AllocationLP, relaxed: set[str], nwo_lo: np.ndarray | None) -> bool:
    lm = lp.build()
    lm.set_costs(np.zeros(lp.ncol))
    if nwo_lo is not None and "no_worse_off" not in relaxed:
        lm.set_row_bounds(lp.rows("no_worse_off"), nwo_lo, np.inf)
    for g in relaxed:
        if g == "min":
            lp.relax_minimums(lm)
        elif g.startswith("stock:"):
            lm.set_row_bounds([lp.stock_rows[int(g.split(":")[1])]], -np.inf, np.inf)
        elif g in ("budget", "coverage_floor", "max_gap"):
            lm.set_row_bounds(lp.rows(g), -np.inf, np.inf)
    return solve_with_cuts(lp, lm, None if "max_gini" in relaxed else GiniCuts()).ok


def diagnose(lp: AllocationLP, sol: Solution, nwo_lo: np.ndarray | None = None) -> None:
    """Raise InfeasibleError naming a minimal set of conflicting constraint groups (deletion filter)."""
    if sol.status != "infeasible":
        raise InfeasibleError(f"the solver stopped with status '{sol.status}' (no solution found)")
    groups = groups_present(lp)
    if _feasible(lp, set(), nwo_lo):  # a fresh model solves: the failure was numerical, no conflict to name
        raise InfeasibleError("the solver reported the scenario infeasible, but it is feasible when solved afresh; "
                              "this is a numerical failure, please report it with the scenario")
    if not _feasible(lp, set(groups), nwo_lo):
        raise InfeasibleError("the scenario is infeasible even without minimums, stock, budget and fairness "
                              "bounds; check the input numbers")
    active = list(groups)
    for g in list(active):
        rest = [h for h in active if h != g]
        if not _feasible(lp, set(groups) - set(rest), nwo_lo):  # still infeasible with only `rest`
            active = rest
    raise InfeasibleError("the scenario is infeasible: these constraints conflict: "
                          + " and ".join(group_label(lp, g) for g in active))


def solve_or_diagnose(lp: AllocationLP, lm: LinearModel, cuts: GiniCuts | None,
                      nwo_lo: np.ndarray | None = None) -> Solution:
    """Solve (with the Gini cuts); an infeasible or failed solve raises the diagnosed InfeasibleError."""
    sol = solve_with_cuts(lp, lm, cuts)
    if not sol.ok:
        diagnose(lp, sol, nwo_lo)
    return sol
