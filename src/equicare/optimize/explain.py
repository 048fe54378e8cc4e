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

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from equicare.optimize.allocate import AllocationResult, _Model, _Run

_EPS = 1e-6
_WHO_CACHE: dict = {}


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


def explain(mod: _Model, run: _Run, seconds: float) -> AllocationResult:
    """Turn a solved model into an :class:`~equicare.optimize.allocate.AllocationResult` with explanations."""
    from equicare.optimize.allocate import AllocationResult, weighted_gini

    P = mod.P
    n, m = P.n, P.m
    nm = n * m
    sol = run.sol
    xs = run.x_int if run.x_int is not None else sol.x
    x = xs[:nm].reshape(n, m).copy()
    x[:, P.integer] = np.round(x[:, P.integer])
    x = np.maximum(x, 0.0)
    x = np.where(np.abs(x - np.round(x)) < 1e-6, np.round(x), x)
    t = xs[mod.ct:mod.ct + mod.T].copy() if mod.T else np.zeros(0)
    if mod.T:
        t[P.integer[mod.tr]] = np.round(t[P.integer[mod.tr]])
        t[t < 1e-7] = 0.0
    tin = np.zeros((n, m))
    tout = np.zeros((n, m))
    if mod.T:
        np.add.at(tin, (mod.tb, mod.tr), t)
        np.add.at(tout, (mod.ta, mod.tr), t)
    eff = P.capacity + x + tin - tout
    eff = np.maximum(eff, 0.0)
    # coverage under the model's scenarios (expected) and under every scenario
    cov_l = np.minimum(eff[None], mod.D)
    covered = np.tensordot(mod.p, cov_l, axes=1)
    Ed = mod.Ed
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(Ed > 0, covered / np.where(Ed > 0, Ed, 1), 1.0)
    fair_mask = Ed > 0
    min_share = float(share[fair_mask].min()) if fair_mask.any() else 1.0
    lp_bound = None
    if run.x_int is not None and fair_mask.any() and P.objective == "leximin":
        # the continuous optimum bounds what whole units can reach: report how far the rounding is from it
        lp_bound = float((mod.Sh @ sol.x[mod.cv:mod.cz]).min())
    level = np.full((n, m), np.nan)
    level.ravel()[mod.fair] = run.levels

    # shadow prices ----------------------------------------------------------------------------
    first = run.first
    is_mip = bool(mod.integ.any()) and P.objective != "leximin"
    shadow: dict[str, dict[str, float | None]] = {}

    def dual(s, rows):
        if s is None or is_mip:
            return None
        return float(np.sum(s.row_dual[rows]))

    for r, row in mod.stock_rows.items():
        shadow[f"stock:{P.resources[r]}"] = {"d_min_share": dual(first, [row]), "d_covered": dual(sol, [row])}
    if "budget" in mod.groups:
        rows = mod.groups["budget"]
        shadow["budget"] = {"d_min_share": dual(first, rows), "d_covered": dual(sol, rows)}
    for key in list(shadow):
        lv = run.shared_levels.get(key)
        shadow[key]["level"] = None if lv is None else lv[0]
        shadow[key]["d_level"] = None if lv is None else lv[1]
    if "coverage_floor" in mod.groups:
        rows = mod.groups["coverage_floor"]
        fr = mod.fair % m
        for r in range(m):
            rr = rows[fr == r]
            if not len(rr):
                continue
            nat = None if first is None else float(first.x[mod.cN + r])
            d1 = None if first is None or is_mip else float(np.sum(first.row_dual[rr]) * nat)
            d2 = None if is_mip else float(np.sum(sol.row_dual[rr]) * sol.x[mod.cN + r])
            shadow[f"coverage_floor:{P.resources[r]}"] = {"d_min_share": d1, "d_covered": d2}
    if "max_gap" in mod.groups:
        for k, r in enumerate(range(m)):
            row = mod.groups["max_gap"][k]
            shadow[f"max_gap:{P.resources[r]}"] = {"d_min_share": dual(first, [row]), "d_covered": dual(sol, [row])}

    gini_tight = np.zeros(m, bool)
    for r in mod.gini_groups:
        grows = run.gini_rows.get(r, [])

        def gdual(s_, rows=grows):
            if s_ is None or is_mip:
                return None
            return float(np.sum(s_.row_dual[[k for k in rows if k < len(s_.row_dual)]])) if rows else 0.0

        shadow[f"max_gini:{P.resources[r]}"] = {"d_min_share": gdual(first), "d_covered": gdual(sol)}
        pos, w = mod.gini_groups[r]
        g_now = weighted_gini(share.ravel()[mod.fair][pos], w)
        shadow[f"max_gini:{P.resources[r]}"]["gini"] = g_now
        # whole units may not reach the cap exactly (see allocate._trim_to_gini)
        shadow[f"max_gini:{P.resources[r]}"]["over_cap"] = bool(g_now > P.max_gini + 1e-9)
        # binding: the answer sits at the cap, or the LP did (whole units may then land just under it)
        g_lp = weighted_gini((mod.Sh @ sol.x[mod.cv:mod.cz])[pos], w)
        gini_tight[r] = max(g_now, g_lp) >= P.max_gini - 1e-6

    # tight shared constraints -----------------------------------------------------------------
    placed = x.sum(axis=0)
    slack_unit = np.where(P.integer, 1.0 - 1e-9, 1e-6 * np.maximum(1, np.where(np.isfinite(P.stock), P.stock, 1)))
    stock_tight = np.isfinite(P.stock) & (P.stock - placed < slack_unit)
    spent = float((x * P.unit_cost[None, :]).sum() + (t * mod.tcost).sum()) if mod.T else float(
        (x * P.unit_cost[None, :]).sum())
    if P.budget is None:
        budget_tight = False
    else:
        # with whole units, the budget binds when it cannot buy one more of the cheapest useful unit
        unit_slack = float(P.unit_cost[P.integer].min()) if P.integer.any() else 0.0
        budget_tight = P.budget - spent < max(1e-6 * max(1.0, P.budget), unit_slack)
    row_dual_sol = sol.row_dual if not is_mip else np.zeros(len(sol.row_dual))
    floor_bind = np.zeros((n, m), bool)
    gap_bind = np.zeros((n, m), bool)
    if "coverage_floor" in mod.groups:
        floor_bind.ravel()[mod.fair] = np.abs(row_dual_sol[mod.groups["coverage_floor"]]) > 1e-9
        if first is not None and not is_mip:
            floor_bind.ravel()[mod.fair] |= np.abs(first.row_dual[mod.groups["coverage_floor"]]) > 1e-9
    if "gap_min" in mod.groups:
        for g in ("gap_min", "gap_max"):
            gap_bind.ravel()[mod.fair] |= np.abs(row_dual_sol[mod.groups[g]]) > 1e-9
            if first is not None and not is_mip:
                gap_bind.ravel()[mod.fair] |= np.abs(first.row_dual[mod.groups[g]]) > 1e-9

    names = P.region_names
    _WHO_CACHE.clear()
    recv: dict[tuple[int, int], list[int]] = {}
    send: dict[tuple[int, int], list[int]] = {}
    for j in np.flatnonzero(t > 0) if mod.T else []:
        recv.setdefault((int(mod.tb[j]), int(mod.tr[j])), []).append(int(j))
        send.setdefault((int(mod.ta[j]), int(mod.tr[j])), []).append(int(j))
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
                    if budget_tight:
                        binding.append("budget")
                if floor_bind[i, r]:
                    binding.append("coverage floor")
                if gap_bind[i, r]:
                    binding.append("max-min gap")
                if gini_tight[r]:
                    binding.append("Gini cap")
                if not binding:
                    binding.append("fairness level")
            # transfers text
            src = ""
            if (i, r) in recv:
                src = "; from " + ", ".join(f"{P.regions[mod.ta[j]]} ({_num(t[j])})" for j in recv[(i, r)])
            if (i, r) in send:
                src += "; sends " + ", ".join(f"{_num(t[j])} to {P.regions[mod.tb[j]]}" for j in send[(i, r)])
            rows_out.append({
                "region": P.regions[i], "name": names[i], "resource": res_name,
                "capacity": P.capacity[i, r], "need": need, "allocated": x[i, r],
                "transfers_in": tin[i, r], "transfers_out": tout[i, r], "effective": eff[i, r],
                "covered": covered[i, r], "share_met": share[i, r], "level": level[i, r],
                "cost": x[i, r] * P.unit_cost[r], "binding": "; ".join(binding),
                "explanation": _sentence(P, mod, i, r, need, x, share, binding, min_share, level, shadow,
                                         unit, src),
            })
    alloc = pd.DataFrame(rows_out)
    transfers = pd.DataFrame({
        "origin": [P.regions[a] for a in mod.ta], "destination": [P.regions[b] for b in mod.tb],
        "resource": [P.resources[r] for r in mod.tr], "amount": t, "distance": mod.tdist,
    }) if mod.T else pd.DataFrame(columns=["origin", "destination", "resource", "amount", "distance"])
    transfers = transfers[transfers["amount"] > 0].reset_index(drop=True)

    # coverage under every scenario
    S = P.demand.shape[0]
    cov_all = np.minimum(eff[None], P.demand)
    with np.errstate(invalid="ignore", divide="ignore"):
        sh_all = np.where(P.demand > 0, cov_all / np.where(P.demand > 0, P.demand, 1), 1.0)
    coverage = pd.DataFrame({
        "scenario": np.repeat(P.scenario_names, nm),
        "region": np.tile(np.repeat(P.regions, m), S),
        "resource": np.tile(np.tile(P.resources, n), S),
        "demand": P.demand.ravel(), "covered": cov_all.ravel(), "share_met": sh_all.ravel(),
    })
    summ = []
    for s in range(S):
        for r in range(m):
            d = P.demand[s, :, r]
            c = cov_all[s, :, r]
            pos = d > 0
            summ.append({"scenario": P.scenario_names[s], "weight": float(P.scenario_weights[s]),
                         "resource": P.resources[r], "demand": float(d.sum()), "covered": float(c.sum()),
                         "shortfall": float((d - c).sum()),
                         "min_share": float((c[pos] / d[pos]).min()) if pos.any() else 1.0})
    scen = pd.DataFrame(summ)
    total_cov = float((covered * P.weight[None, :]).sum())
    fac = pd.DataFrame()
    if P.facilities is not None:
        from equicare.optimize.facilities import place_at_facilities

        fac = place_at_facilities(x, list(P.regions), list(P.resources), P.facilities, P.facility_caps)
        notes = _facility_notes(fac)
        alloc["explanation"] = [e + notes.get((reg, res), "") for e, reg, res in
                                zip(alloc["explanation"], alloc["region"], alloc["resource"])]
    return AllocationResult(
        problem=P, allocation=alloc, transfers=transfers, coverage=coverage, scenario_summary=scen,
        shadow_prices=shadow, min_share=min_share,
        total_allocated={P.resources[r]: float(placed[r]) for r in range(m)}, total_cost=spent,
        total_covered=total_cov, status=sol.status if sol.status != "optimal" else "optimal",
        solve_seconds=seconds, n_solves=run.n_solves, x=x, facilities=fac, min_share_lp_bound=lp_bound)


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


def _sentence(P, mod, i, r, need, x, share, binding, min_share, level, shadow, unit, src) -> str:
    """One plain-words sentence for region i, resource r."""
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
            if ck not in _WHO_CACHE:
                _WHO_CACHE[ck] = [P.region_names[k] for k in np.flatnonzero(
                    (np.abs(level[:, r] - lvl) < 1e-7) & (x[:, r] < mod.xhi.reshape(P.n, P.m)[:, r] - 1e-6))]
            who = _WHO_CACHE[ck]
            inc = d * (1.0 if key != "budget" else max(P.unit_cost[r], 1e-12))
            per = unit if key != "budget" else f"{unit}'s worth of money ({_num(P.unit_cost[r])})"
            what_lvl = ("the minimum share" if abs(lvl - min_share) < 1e-6 else
                        "the lowest share it limits")
            goes = (f"would go to {who[0]}" if len(who) == 1 else
                    f"would be shared by {_list(who)}" if who else "would go to the regions at that level")
            a_, b_ = _pct_pair(lvl, min(1.0, lvl + inc))
            parts.append(f"Limited by {what}: one more {per} {goes}, raising {what_lvl} from {a_} to {b_}.")
            if share[i, r] - lvl > (1.0 / need if P.integer[r] else 1e-6):
                parts.append(f"It sits above that level ({_pct(share[i, r])}) because raising it further "
                             "would lower a region that is worse off.")
        elif abs(share[i, r] - min_share) < 1e-6:
            parts.append(f"Limited by {what}; it is among the worst-off regions at {_pct(min_share)}.")
        else:
            parts.append(f"Limited by {what}: the remaining units are shared so that no region can gain "
                         f"without lowering a region that is worse off (its level: {_pct(share[i, r])}).")
    if "coverage floor" in binding:
        parts.append(f"The coverage floor ({P.coverage_floor:.0%} of the national share) holds it up.")
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
