"""What-ifs and the budget sweep: re-solve with one change and compare the shares of need met.

A planner compares shares, not only the minimum: each what-if reports, per resource, the national share of
need met (covered / need over all regions) and the lowest share before and after, how many regions gain and
lose, and how many rows fall below the coverage floor; the sweep reports the same per budget.  An infeasible
what-if is a row that says so (never an empty table).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.allocation import AllocationProblem, AllocationResult, allocate

DIFF_COLUMNS = ["what_if", "region", "resource", "allocated_before", "allocated_after", "share_before",
                "share_after", "change", "status", "note"]


def share_summary(res: AllocationResult, suffix: str = "") -> dict[str, float]:
    """Per resource: ``share_<r>`` (national share of need met) and ``min_share_<r>``; ``below_floor``."""
    out: dict[str, float] = {}
    a = res.allocation
    for r, s in res.national_shares().items():
        rows = a[(a["resource"] == r) & (a["need"] > 0)]
        out[f"share_{r}{suffix}"] = s
        out[f"min_share_{r}{suffix}"] = float(rows["share_met"].min()) if len(rows) else 1.0
    out[f"rows_below_floor{suffix}"] = int(len(res.floor_violations))
    return out


def _changed(P: AllocationProblem, change: dict, name: str) -> tuple[AllocationProblem, list[str]]:
    kw: dict[str, Any] = {}
    min_alloc, stock = P.min_alloc.copy(), P.stock.copy()
    desc = []
    for k, v in change.items():
        if k == "name":
            continue
        if k == "budget":
            kw["budget"] = float(v)
            desc.append(f"budget {'none' if P.budget is None else f'{P.budget:,.0f}'} -> {float(v):,.0f}")
        elif k == "fairness_weight":
            kw.update(fairness_weight=float(v), objective="weighted")
            desc.append(f"weighted objective with fairness weight {float(v):g}")
        elif k == "objective":
            kw["objective"] = str(v)
            desc.append(f"objective {P.objective} -> {v}")
        elif k == "stock":
            for res, val in dict(v).items():
                if res not in P.resources:
                    raise EquicareError(f"what-if {name!r}: unknown resource {res!r}")
                stock[P.resources.index(res)] = float(val)
                desc.append(f"{res} stock -> {float(val):,.0f}")
            kw["stock"] = stock
        elif k == "region_min":
            for item in (v if isinstance(v, list) else [v]):
                reg, res = str(item["region"]), str(item["resource"])
                if reg not in P.regions or res not in P.resources:
                    raise EquicareError(f"what-if {name!r}: unknown region {reg!r} or resource {res!r}")
                min_alloc[P.regions.index(reg), P.resources.index(res)] = float(item["value"])
                desc.append(f"minimum {res} for {reg} -> {float(item['value']):g}")
            kw["min_alloc"] = min_alloc
        else:
            raise EquicareError(f"what-if {name!r}: unknown change {k!r} (allowed: budget, fairness_weight, "
                                "objective, stock, region_min)")
    return replace(P, **kw), desc


def _note_row(name: str, status: str, note: str) -> pd.DataFrame:
    return pd.DataFrame([{**{c: np.nan for c in DIFF_COLUMNS}, "what_if": name, "region": "", "resource": "",
                          "status": status, "note": note}], columns=DIFF_COLUMNS)


def what_if(P: AllocationProblem, base: AllocationResult, change: dict) -> tuple[dict, pd.DataFrame]:
    """Re-solve with one change and show the difference.

    ``change`` keys: ``name``, ``budget``, ``fairness_weight`` (switches to the weighted objective),
    ``objective``, ``stock: {resource: units}``, ``region_min: [{region, resource, value}]``.

    Returns
    -------
    summary : dict
        Before/after minimum share, coverage, cost, and per resource the national and lowest share
        (``share_<r>_before/after``, ``min_share_<r>_before/after``), ``regions_better``/``regions_worse`` and
        ``rows_below_floor_before/after``; or ``status: infeasible`` with the message.
    diff : DataFrame
        Rows whose allocation changed (:data:`DIFF_COLUMNS`); one row with ``status`` and ``note`` when the
        what-if is infeasible or changes nothing.
    """
    name = str(change.get("name", "what-if"))
    Q, desc = _changed(P, change, name)
    summary = {"name": name, "change": "; ".join(desc), "min_share_before": base.min_share,
               "total_covered_before": base.total_covered, "total_cost_before": base.total_cost,
               **share_summary(base, "_before")}
    try:
        res = allocate(Q)
    except InfeasibleError as exc:
        summary.update({"status": "infeasible", "message": str(exc)})
        return summary, _note_row(name, "infeasible", str(exc))
    summary.update({"status": res.status, "min_share_after": res.min_share, "total_covered_after": res.total_covered,
                    "total_cost_after": res.total_cost, **share_summary(res, "_after")})
    a, b = base.allocation, res.allocation
    diff = pd.DataFrame({"what_if": name, "region": a["region"], "resource": a["resource"],
                         "allocated_before": a["allocated"], "allocated_after": b["allocated"].to_numpy(),
                         "share_before": a["share_met"], "share_after": b["share_met"].to_numpy()})
    diff["change"] = diff["allocated_after"] - diff["allocated_before"]
    moved = (diff["change"].abs() > 1e-6) | ((diff["share_after"] - diff["share_before"]).abs() > 1e-9)
    d_share = diff["share_after"] - diff["share_before"]
    summary["regions_better"] = int(diff.loc[d_share > 1e-9, "region"].nunique())
    summary["regions_worse"] = int(diff.loc[d_share < -1e-9, "region"].nunique())
    diff = diff[moved].reset_index(drop=True)
    diff["status"] = res.status
    diff["note"] = ""
    summary["regions_changed"] = int(diff["region"].nunique())
    if not len(diff):
        return summary, _note_row(name, res.status, "no region's allocation or share changes")
    return summary, diff[DIFF_COLUMNS]


def budget_sweep(P: AllocationProblem, factors: list[float]) -> pd.DataFrame:
    """Re-solve at ``budget * factor`` for each factor: shares, coverage and cost.

    Columns: ``factor, budget, min_share, total_covered, total_cost, status``, per resource ``share_<r>``
    (national share of need met) and ``min_share_<r>``, ``rows_below_floor``, and
    ``marginal_covered_per_money``/``marginal_min_share_per_money`` (slopes between consecutive budgets: the
    parametric marginal value of more money).  An infeasible budget is a row with its status and empty numbers.
    """
    if P.budget is None:
        raise EquicareError("budget_sweep needs a budget in the scenario")
    rows = []
    for f in sorted({float(x) for x in factors} | {1.0}):
        Q = replace(P, budget=P.budget * f)
        try:
            r = allocate(Q)
            rows.append({"factor": f, "budget": Q.budget, "min_share": r.min_share, "total_covered": r.total_covered,
                         "total_cost": r.total_cost, "status": r.status, **share_summary(r)})
        except InfeasibleError as exc:
            rows.append({"factor": f, "budget": Q.budget, "min_share": np.nan, "total_covered": np.nan,
                         "total_cost": np.nan, "status": f"infeasible: {exc}"})
    df = pd.DataFrame(rows)
    df["marginal_covered_per_money"] = df["total_covered"].diff() / df["budget"].diff()
    df["marginal_min_share_per_money"] = df["min_share"].diff() / df["budget"].diff()
    return df
