"""Explanations a planner can act on: what each region got, from where, what limits it, and why.

For every region and resource the solved model is read back into plain numbers (need, existing
capacity, units placed, transfers in and out, share of need met) and the constraints that bind on it are
named:

``need met``
    the region's (expected) need is fully covered;
``absorption cap``
    it received its maximum (what it can staff or store);
``region minimum``
    it received exactly its guaranteed minimum (more than fairness alone would give);
``national stock`` / ``budget``
    the shared stock or the money ran out while the region was still short;
``coverage floor`` / ``max-min gap``
    an inequality bound holds it (non-zero dual on its row).

Shadow prices come from the LP duals (HiGHS convention: derivative of the optimum with respect to the
constraint's bound): of the max-min LP (how fast the minimum share rises with one more unit of stock or
money) and of the final coverage LP.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from equicare.optimize.allocation.gini import weighted_gini
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.allocation.problem import AllocationProblem
from equicare.optimize.allocation.result import AllocationResult, ShadowPrice
from equicare.optimize.allocation.trace import Trace
from equicare.optimize.facilities import place_at_facilities

_EPS = 1e-6


def _pct(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    p = 100 * v
    return f"{p:.0f}%" if abs(p - round(p)) < 0.05 or p >= 10 else f"{p:.1f}%"


def _num(v: float) -> str:
    if not np.isfinite(v):
        return "unlimited"
    if abs(v - round(v)) < 1e-6:
        return f"{round(v):,}"
    return f"{v:,.1f}"


def _pct_pair(a: float, b: float) -> tuple[str, str]:
    """Two percentages with just enough decimals (1 to 4) to show that they differ."""
    for d in (1, 2, 3, 4):
        sa, sb = f"{100 * a:.{d}f}%", f"{100 * b:.{d}f}%"
        if sa != sb:
            return sa, sb
    return sa, sb


def _plural(word: str, v: float) -> str:
    return word if abs(v - 1) < 1e-9 else word + "s"


def _list(names: list[str], k: int = 3) -> str:
    if len(names) <= k:
        return ", ".join(names)
    rest = len(names) - k
    return ", ".join(names[:k]) + f" and {rest} {'other' if rest == 1 else 'others'}"



#: Solver noise below this many units is cleaned from allocations (HiGHS meets rows to 1e-7).
NOISE = 1e-6


def noise_tolerance(P) -> np.ndarray:
    """``(m,)`` per resource: allocations within this of a whole number are solver noise and rounded to it,
    :data:`NOISE` times the smallest positive need of the resource when that is under one unit."""
    d = np.asarray(P.demand, dtype=float).reshape(-1, P.n, P.m)
    pos = np.where(d > 0, d, np.inf).min(axis=(0, 1))
    return NOISE * np.minimum(1.0, np.where(np.isfinite(pos), pos, 1.0))


def explain(lp: AllocationLP, run: Trace, seconds: float) -> AllocationResult:
    """Turn a solved model into an :class:`~equicare.optimize.allocation.result.AllocationResult`.

    ``lp`` gives the layout, ``run`` the solutions of the strategy; every number of the result is read back
    from the units and transfers (so whole units are reported as placed, not as the LP counted them).
    """
    P = lp.P
    n, m = P.n, P.m
    nm = n * m
    sol = run.sol
    xs = run.x_int if run.x_int is not None else sol.x
    x = lp.units(xs).copy()
    x[:, P.integer] = np.round(x[:, P.integer])
    x = np.maximum(x, 0.0)
    # clean solver noise (344.9999999 -> 345), but keep a value that sits exactly at its own bound (a cap of
    # 1.2e-7 units is a cap, not noise), and scale the tolerance down for resources whose needs are fractions of a
    # unit (a region needing 0.031 units may rightly get 1e-6 of them)
    at_bound = (x == P.max_alloc) | (x == P.min_alloc)
    x = np.where((np.abs(x - np.round(x)) < noise_tolerance(P)[None, :]) & ~at_bound, np.round(x), x)
    t = lp.transfers(xs).copy()
    if lp.T:
        t[P.integer[lp.arcs.r]] = np.round(t[P.integer[lp.arcs.r]])
        t[t < 1e-7] = 0.0
    arcs = lp.arcs
    tin = np.zeros((n, m))
    tout = np.zeros((n, m))
    if lp.T:
        np.add.at(tin, (arcs.b, arcs.r), t)
        np.add.at(tout, (arcs.a, arcs.r), t)
    eff = np.maximum(P.capacity + x + tin - tout, 0.0)
    # coverage under the model's scenarios (expected) and under every scenario
    covered = np.tensordot(lp.p, np.minimum(eff[None], lp.D), axes=1)
    Ed = lp.Ed
    fair_mask = Ed > 0
    share = np.where(fair_mask, covered / np.where(fair_mask, Ed, 1), 1.0)
    min_share = float(share[fair_mask].min()) if fair_mask.any() else 1.0
    lp_bound = None
    lp_share = np.full((n, m), np.nan)
    lp_share.ravel()[lp.fair] = lp.shares(sol.x)
    if run.x_int is not None and fair_mask.any() and P.objective == "leximin":
        # the continuous optimum bounds what whole units can reach: report how far the rounding is from it (never
        # below the whole-unit answer, a point of the LP: 0.999999999 beside 1 is the LP's tolerance)
        lp_bound = max(float(np.nanmin(lp_share)), min_share)
    level = np.full((n, m), np.nan)
    level.ravel()[lp.fair] = run.levels
    is_mip = bool(lp.integ.any()) and P.objective != "leximin"
    shadow, gini_tight = _shadow_prices(lp, run, share, is_mip)

    # tight shared constraints -----------------------------------------------------------------
    placed = x.sum(axis=0)
    slack_unit = np.where(P.integer, 1.0 - 1e-9, 1e-6 * np.maximum(1, np.where(np.isfinite(P.stock), P.stock, 1)))
    stock_tight = np.isfinite(P.stock) & (P.stock - placed < slack_unit)
    spent = float((x * P.unit_cost[None, :]).sum() + (t * arcs.cost).sum())
    if P.budget is None:
        budget_tight = np.zeros(m, bool)
    else:
        # with whole units, the budget binds for a type when it cannot buy one more unit of it
        left = P.budget - spent
        budget_tight = np.where(P.integer, left < P.unit_cost - 1e-9, left < 1e-6 * max(1.0, P.budget))
        if not P.integer.any():
            budget_tight[:] = left < 1e-6 * max(1.0, P.budget)
    floor_bind = _row_binds(lp, run, ("coverage_floor",), is_mip)
    gap_bind = _row_binds(lp, run, ("gap_min", "gap_max"), is_mip)
    violations, below_floor = _floor_violations(P, share, covered, Ed)

    names = P.region_names
    who_cache: dict = {}
    recv: dict[tuple[int, int], list[int]] = {}
    send: dict[tuple[int, int], list[int]] = {}
    for j in np.flatnonzero(t > 0) if lp.T else []:
        recv.setdefault((int(arcs.b[j]), int(arcs.r[j])), []).append(int(j))
        send.setdefault((int(arcs.a[j]), int(arcs.r[j])), []).append(int(j))
    xhi = lp.xhi.reshape(n, m)
    rows_out = []
    for i in range(n):
        for r in range(m):
            res_name, unit = P.resources[r], P.unit(r)
            need = Ed[i, r]
            binding = []
            if fair_mask[i, r] and share[i, r] >= 1 - _EPS or not fair_mask[i, r]:
                binding.append("need met")
            else:
                capped = np.isfinite(P.max_alloc[i, r]) and x[i, r] >= P.max_alloc[i, r] - 1e-6
                if capped:
                    binding.append("absorption cap")
                if P.min_alloc[i, r] > 0 and x[i, r] <= P.min_alloc[i, r] + 1e-6:
                    binding.append("region minimum")
                if not capped:
                    if stock_tight[r]:
                        binding.append("national stock")
                    if budget_tight[r]:
                        binding.append("budget")
                if (P.integer[r] and run.x_int is not None and np.isfinite(lp_share[i, r])
                        and share[i, r] < lp_share[i, r] - 1e-6 and x[i, r] < xhi[i, r] - 1e-6):
                    binding.append("whole units")
                if floor_bind[i, r]:
                    binding.append("coverage floor")
                if below_floor[i, r]:
                    binding.append("below coverage floor")
                if gap_bind[i, r]:
                    binding.append("max-min gap")
                if gini_tight[r]:
                    binding.append("Gini cap")
                if not binding:
                    binding.append("fairness level")
            src = ""
            if (i, r) in recv:
                src = "; from " + ", ".join(f"{P.regions[arcs.a[j]]} ({_num(t[j])})" for j in recv[(i, r)])
            if (i, r) in send:
                src += "; sends " + ", ".join(f"{_num(t[j])} to {P.regions[arcs.b[j]]}" for j in send[(i, r)])
            ctx = _Context(P, lp, x, share, lp_share, min_share, level, shadow, who_cache, violations,
                           run.x_int is not None)
            rows_out.append({
                "region": P.regions[i], "name": names[i], "resource": res_name,
                "capacity": P.capacity[i, r], "need": need, "allocated": x[i, r],
                "transfers_in": tin[i, r], "transfers_out": tout[i, r], "effective": eff[i, r],
                "covered": covered[i, r], "share_met": share[i, r], "level": level[i, r],
                "cost": x[i, r] * P.unit_cost[r], "binding": "; ".join(binding),
                "explanation": _sentence(ctx, i, r, need, binding, unit, src),
            })
    alloc = pd.DataFrame(rows_out)
    transfers = pd.DataFrame({
        "origin": [P.regions[a] for a in arcs.a], "destination": [P.regions[b] for b in arcs.b],
        "resource": [P.resources[r] for r in arcs.r], "amount": t, "distance": arcs.dist,
    }) if lp.T else pd.DataFrame(columns=["origin", "destination", "resource", "amount", "distance"])
    transfers = transfers[transfers["amount"] > 0].reset_index(drop=True)
    coverage, scen = _scenario_tables(P, eff)
    total_cov = float((covered * P.weight[None, :]).sum())
    fac = pd.DataFrame()
    if P.facilities is not None:
        fac = place_at_facilities(x, list(P.regions), list(P.resources), P.facilities, P.facility_caps)
        notes = _facility_notes(fac)
        alloc["explanation"] = [e + notes.get((reg, res), "") for e, reg, res in
                                zip(alloc["explanation"], alloc["region"], alloc["resource"])]
    report = run.integer
    if report is not None and abs(report.min_share - min_share) > 1e-9:
        report = replace(report, min_share=min_share)
    return AllocationResult(
        problem=P, allocation=alloc, transfers=transfers, coverage=coverage, scenario_summary=scen,
        shadow_prices=shadow, min_share=min_share,
        total_allocated={P.resources[r]: float(placed[r]) for r in range(m)}, total_cost=spent,
        total_covered=total_cov, status=sol.status, solve_seconds=seconds, n_solves=run.n_solves, x=x,
        facilities=fac, min_share_lp_bound=lp_bound, whole_units=report, floor_violations=violations)


@dataclass(frozen=True)
class _Context:
    """What the sentences of one allocation read."""

    P: AllocationProblem
    lp: AllocationLP
    x: np.ndarray
    share: np.ndarray
    lp_share: np.ndarray
    min_share: float
    level: np.ndarray
    shadow: dict
    who: dict
    violations: pd.DataFrame
    whole: bool


def _shadow_prices(lp: AllocationLP, run: Trace, share: np.ndarray, is_mip: bool
                   ) -> tuple[dict[str, ShadowPrice], np.ndarray]:
    """Shadow prices by constraint group, and which resources sit at their Gini cap."""
    P = lp.P
    m = P.m
    sol, first = run.sol, run.first
    shadow: dict[str, ShadowPrice] = {}

    def dual(s, rows):
        if s is None or is_mip:
            return None
        return float(np.sum(s.row_dual[rows]))

    shared_keys = ("d_min_share", "d_covered", "level", "d_level")
    for key, row in lp.shared_rows().items():
        lv = run.shared_levels.get(key)
        shadow[key] = ShadowPrice(dual(first, [row]), dual(sol, [row]), None if lv is None else lv[0],
                                  None if lv is None else lv[1], keys_=shared_keys)
    if "budget" in shadow:  # the budget after the stocks, as before
        shadow["budget"] = shadow.pop("budget")
    rows = lp.rows("coverage_floor")
    if len(rows):
        for r in range(m):
            rr = rows[lp.fair_r == r]
            if not len(rr):
                continue
            d1 = None if first is None or is_mip else float(np.sum(first.row_dual[rr]) * lp.national(first.x)[r])
            d2 = None if is_mip else float(np.sum(sol.row_dual[rr]) * lp.national(sol.x)[r])
            shadow[f"coverage_floor:{P.resources[r]}"] = ShadowPrice(d1, d2)
    for r, row in enumerate(lp.rows("max_gap")):
        shadow[f"max_gap:{P.resources[r]}"] = ShadowPrice(dual(first, [row]), dual(sol, [row]))
    gini_tight = np.zeros(m, bool)
    for r, (pos, w) in lp.gini_groups.items():
        grows = run.gini_rows.get(r, [])

        def gdual(s_, rows=grows):
            if s_ is None or is_mip:
                return None
            return float(np.sum(s_.row_dual[[k for k in rows if k < len(s_.row_dual)]])) if rows else 0.0

        g_now = weighted_gini(share.ravel()[lp.fair][pos], w)
        shadow[f"max_gini:{P.resources[r]}"] = ShadowPrice(
            gdual(first), gdual(sol), gini=g_now, over_cap=bool(g_now > P.max_gini + 1e-9),
            keys_=("d_min_share", "d_covered", "gini", "over_cap"))
        # binding: the answer sits at the cap, or the LP did (whole units may then land just under it)
        g_lp = weighted_gini(lp.shares(sol.x)[pos], w)
        gini_tight[r] = max(g_now, g_lp) >= P.max_gini - 1e-6
    return shadow, gini_tight


def _row_binds(lp: AllocationLP, run: Trace, groups: tuple[str, ...], is_mip: bool) -> np.ndarray:
    """``(n, m)``: rows of the named groups with a non-zero dual in the first or the final LP."""
    P = lp.P
    out = np.zeros((P.n, P.m), bool)
    for g in groups:
        rows = lp.rows(g)
        if not len(rows) or is_mip:
            continue
        for s in (run.sol, run.first):
            if s is not None:
                out.ravel()[lp.fair] |= np.abs(s.row_dual[rows]) > 1e-9
    return out


def _floor_violations(P: AllocationProblem, share: np.ndarray, covered: np.ndarray, Ed: np.ndarray
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose actual share is below ``coverage_floor`` times the actual national share."""
    cols = ["region", "resource", "share_met", "floor", "national_share"]
    below = np.zeros(share.shape, bool)
    if P.coverage_floor is None:
        return pd.DataFrame(columns=cols), below
    tot = Ed.sum(axis=0)
    nat = np.where(tot > 0, covered.sum(axis=0) / np.where(tot > 0, tot, 1.0), 1.0)
    floor = np.broadcast_to(P.coverage_floor * nat[None, :], share.shape)
    below = (Ed > 0) & (share < floor - 1e-7)
    ii, rr = np.nonzero(below)
    df = pd.DataFrame({"region": [P.regions[i] for i in ii], "resource": [P.resources[r] for r in rr],
                       "share_met": share[ii, rr], "floor": floor[ii, rr], "national_share": nat[rr]}, columns=cols)
    return df, below


def _scenario_tables(P: AllocationProblem, eff: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage under every scenario (long table) and its summary per scenario and resource."""
    n, m = P.n, P.m
    nm = n * m
    S = P.demand.shape[0]
    cov_all = np.minimum(eff[None], P.demand)
    pos = P.demand > 0
    sh_all = np.where(pos, cov_all / np.where(pos, P.demand, 1), 1.0)
    coverage = pd.DataFrame({
        "scenario": np.repeat(P.scenario_names, nm),
        "region": np.tile(np.repeat(P.regions, m), S),
        "resource": np.tile(np.tile(P.resources, n), S),
        "demand": P.demand.ravel(), "covered": cov_all.ravel(), "share_met": sh_all.ravel(),
    })
    summ = []
    for s in range(S):
        for r in range(m):
            d, c, p = P.demand[s, :, r], cov_all[s, :, r], pos[s, :, r]
            summ.append({"scenario": P.scenario_names[s], "weight": float(P.scenario_weights[s]),
                         "resource": P.resources[r], "demand": float(d.sum()), "covered": float(c.sum()),
                         "shortfall": float((d - c).sum()),
                         "min_share": float((c[p] / d[p]).min()) if p.any() else 1.0})
    return coverage, pd.DataFrame(summ)


def _facility_notes(fac: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(region, resource) -> ' Placed at the best-rated facilities first: A (5 stars) 12, B (4 stars) 3.'"""

    def one(row) -> str:
        q = row["quality"]
        stars = "not rated" if not np.isfinite(q) else f"{q:g} {_plural('star', q)}"
        return f"{str(row['name']).title()} ({stars}) {_num(row['allocated'])}"

    out = {}
    for key, d in fac.groupby(["region", "resource"], sort=False):
        parts = [one(row) for _, row in d.iterrows()]
        more = f" and {len(parts) - 3} more" if len(parts) > 3 else ""
        out[key] = " Placed at the best-rated facilities first: " + ", ".join(parts[:3]) + more + "."
    return out


def _sentence(ctx: _Context, i: int, r: int, need: float, binding: list[str], unit: str, src: str) -> str:
    """One plain-words sentence for region i, resource r."""
    P, x, share, shadow, min_share, level = ctx.P, ctx.x, ctx.share, ctx.shadow, ctx.min_share, ctx.level
    name = P.region_names[i]
    res = P.resources[r].replace("_", " ")
    got = x[i, r]
    cap = P.capacity[i, r]
    head = f"{name} needs {_num(need)} {res}"
    if cap > 0:
        head += f" and has {_num(cap)}"
    head += f"; it receives {_num(got)} new{src} ({_pct(share[i, r])} of need met)."
    if "need met" in binding:
        if need <= 0:
            return f"{name} needs no {res}; it receives {_num(got)}."
        return head + " Its need is fully met, so more would be wasted here."
    parts = []
    if "absorption cap" in binding:
        parts.append(f"It is at its absorption cap of {_num(P.max_alloc[i, r])} {_plural(unit, P.max_alloc[i, r])}"
                     " (what it can staff), so more stock would not help it.")
    if "region minimum" in binding:
        parts.append(f"It receives exactly its guaranteed minimum of {_num(P.min_alloc[i, r])}.")
    shared = [b for b in binding if b in ("national stock", "budget")]
    if shared:
        what = " and ".join(f"the national {res} stock" if b == "national stock" else "the budget" for b in shared)
        key = f"stock:{P.resources[r]}" if "national stock" in shared else "budget"
        sp_ = shadow.get(key, {})
        lvl, d = sp_.get("level"), sp_.get("d_level")
        if lvl is not None and d is not None and d > 1e-12:
            ck = (key, r)
            if ck not in ctx.who:
                ctx.who[ck] = [P.region_names[k] for k in np.flatnonzero(
                    (np.abs(level[:, r] - lvl) < 1e-7) & (x[:, r] < ctx.lp.xhi.reshape(P.n, P.m)[:, r] - 1e-6))]
            who = ctx.who[ck]
            inc = d * (1.0 if key != "budget" else max(P.unit_cost[r], 1e-12))
            per = unit if key != "budget" else f"{unit}'s worth of money ({_num(P.unit_cost[r])})"
            what_lvl = ("the minimum share" if abs(lvl - min_share) < 1e-6 else
                        "the lowest share it limits")
            goes = (f"would go to {who[0]}" if len(who) == 1 else
                    f"would be shared by {_list(who)}" if who else "would go to the regions at that level")
            a_, b_ = _pct_pair(lvl, min(1.0, lvl + inc))
            frac = " in the fractional optimum" if ctx.whole else ""
            parts.append(f"Limited by {what}: one more {per} {goes}, raising {what_lvl}{frac} from {a_} to {b_}.")
            if share[i, r] - lvl > (1.0 / need if P.integer[r] else 1e-6):
                parts.append(f"It sits above that level ({_pct(share[i, r])}) because raising it further "
                             "would lower a region that is worse off.")
        elif abs(share[i, r] - min_share) < 1e-6:
            parts.append(f"Limited by {what}; it is among the worst-off regions at {_pct(min_share)}.")
        else:
            parts.append(f"Limited by {what}: the remaining units are shared so that no region can gain "
                         f"without lowering a region that is worse off (its level: {_pct(share[i, r])}).")
    if "whole units" in binding:
        parts.append(f"Whole units: the fractional optimum would meet {_pct(ctx.lp_share[i, r])} of its need; "
                     f"one more {unit} here would cost a region that is worse off, or the money or stock for it.")
    if "coverage floor" in binding:
        parts.append(f"The coverage floor ({P.coverage_floor:.0%} of the national share) holds it up.")
    if "below coverage floor" in binding:
        v = ctx.violations
        row = v[(v["region"] == P.regions[i]) & (v["resource"] == P.resources[r])]
        fl = float(row["floor"].iloc[0]) if len(row) else float("nan")
        parts.append(f"It is BELOW the coverage floor ({_pct(share[i, r])} against {_pct(fl)}, i.e. "
                     f"{P.coverage_floor:.0%} of the national share): no whole-unit answer found meets the floor "
                     "here.")
    if "max-min gap" in binding:
        parts.append(f"The cap on the max-min gap ({P.max_gap:.0%}) limits how far it may differ from others.")
    if "Gini cap" in binding:
        parts.append(f"The cap on the Gini coefficient of {P.resources[r]} shares ({P.max_gini:.2f}) is reached, "
                     "so shares may not spread further apart.")
        g = shadow.get(f"max_gini:{P.resources[r]}", {})
        if g.get("over_cap"):
            parts.append(f"In whole units the Gini is {g['gini']:.4f}, just above the cap of {P.max_gini:.4f}: no "
                         "move or removal of one unit brings it lower.")
    if "fairness level" in binding:
        parts.append("Its share is set by the lexicographic max-min rule: raising it would lower a "
                     "region that is worse off.")
    return head + " " + " ".join(parts)
