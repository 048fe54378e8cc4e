"""The water-filling route for separable allocations against the LP route (an independent solve on HiGHS)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.errors import EquicareError
from equicare.optimize import AllocationProblem, allocate


def _problem(seed: int, n: int, m: int, S: int, mode: str, with_budget: bool, with_bounds: bool):
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 30.0, size=(n, m))
    D = np.sort(base[None] * rng.lognormal(0.0, 0.4, size=(S, n, 1)), axis=0)  # quantile-like scenarios
    D[:, rng.random(n) < 0.15, 0] = 0.0  # some pairs without need
    cap = np.floor(rng.uniform(0, 1.0, size=(n, m)) * base)
    need = np.maximum(D.mean(0) - cap, 0).sum(0)
    stock = np.where(rng.random(m) < 0.7, np.round(rng.uniform(0.2, 0.9) * need), np.inf)
    cost = rng.uniform(1, 5, size=m)
    budget = float(rng.uniform(0.2, 0.8) * (need * cost).sum()) if with_budget else None
    lo = hi = None
    if with_bounds:
        lo = np.where(rng.random((n, m)) < 0.2, np.floor(rng.uniform(0, 3, (n, m))), 0.0)
        hi = np.where(rng.random((n, m)) < 0.3, lo + np.floor(rng.uniform(0, 20, (n, m))), np.inf)
    names = [f"q{k / (S + 1):.3f}" for k in range(1, S + 1)]
    return AllocationProblem(regions=[f"r{i}" for i in range(n)], resources=[f"t{r}" for r in range(m)],
                             capacity=cap, demand=D, scenario_names=names, unit_cost=cost, budget=budget,
                             stock=stock, min_alloc=lo, max_alloc=hi, uncertainty=mode,
                             design_scenario=names[S // 2] if mode == "quantile" else None)


_BOUND_LABELS = r"; (coverage floor|max-min gap|Gini cap)|(coverage floor|max-min gap|Gini cap)(; )?"


def _same(a, b, need_scale: float, bounds_degenerate: bool = False):
    sa, sb = a.allocation["share_met"].to_numpy(), b.allocation["share_met"].to_numpy()
    assert a.min_share == pytest.approx(b.min_share, abs=1e-6)
    # the leximin shares are unique; units may differ only where a share does not move (flat pieces)
    assert np.sort(sa) == pytest.approx(np.sort(sb), abs=2e-5)
    assert sa == pytest.approx(sb, abs=2e-5)
    assert a.total_covered == pytest.approx(b.total_covered, rel=1e-5, abs=1e-6 * need_scale)
    P = a.problem
    placed = a.x.sum(0)
    stock_tight = np.isfinite(P.stock) & (P.stock - placed < 1e-6 * np.maximum(1, np.nan_to_num(P.stock, posinf=1)))
    money_tight = P.budget is not None and P.budget - a.total_cost < 1e-6 * max(1.0, P.budget)
    degenerate = bool(stock_tight.any() and money_tight)  # the final LP's duals are not unique then
    # a region at its own maximum that would cover more per unit than where the next unit goes also leaves the
    # final LP's stock dual anywhere between the two slopes (hypothesis found 0.6 vs 0.8; water-filling gives
    # the right derivative): compare d_covered only where no region of the resource sits at its maximum
    at_max = (np.zeros(a.x.shape, bool) if P.max_alloc is None else
              np.isfinite(P.max_alloc) & (np.abs(a.x - np.nan_to_num(P.max_alloc, posinf=0.0)) < 1e-6))
    for key, v in b.shadow_prices.items():
        res = key.split(":", 1)[1] if key.startswith("stock:") else None
        capped = at_max[:, list(P.resources).index(res)].any() if res in P.resources else at_max.any()
        for k in ("d_min_share", "level", "d_level") + (() if degenerate or capped else ("d_covered",)):
            if v.get(k) is None:
                assert a.shadow_prices[key].get(k) is None, (key, k)
            else:
                assert a.shadow_prices[key][k] == pytest.approx(v[k], rel=1e-3, abs=1e-6), (key, k)
    ba, bb = a.allocation["binding"], b.allocation["binding"]
    if bounds_degenerate:  # a bound met with equality may carry a dual in one basis and none in another
        ba, bb = (x.str.replace(_BOUND_LABELS, "", regex=True).replace("", "fairness level") for x in (ba, bb))
    assert (ba == bb).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 12), st.integers(1, 3), st.sampled_from([1, 5, 23]),
       st.sampled_from(["expected", "quantile"]), st.booleans(), st.booleans())
def test_waterfill_equals_lp(seed, n, m, S, mode, with_budget, with_bounds):
    P = _problem(seed, n, m, S, mode, with_budget, with_bounds)
    try:
        b = allocate(P, method="lp")
    except EquicareError:
        with pytest.raises(EquicareError):
            allocate(P, method="waterfill")
        return
    a = allocate(P, method="waterfill")
    assert a.n_solves == 0
    _same(a, b, float(P.demand.max()))


def test_waterfill_on_the_bundled_state_surge_case():
    """Four resource types, 23 forecast scenarios, stocks, a budget and staffing caps across 51 states."""
    from equicare.optimize.scenario import flu_surge_tables

    t = flu_surge_tables()
    dem = t["demand"]
    ids = t["regions"]["id"].tolist()
    res = sorted(dem["resource"].unique())
    scen = sorted(dem["scenario"].unique(), key=lambda s: float(s[1:]))
    D = (dem.pivot_table(index=["scenario", "region"], columns="resource", values="value")
         .reindex(columns=res).reindex(scen, level=0).to_numpy().reshape(len(scen), len(ids), len(res)))
    cap = t["capacity"].pivot_table(index="region", columns="resource", values="capacity").reindex(ids)[res]
    need = np.maximum(D.mean(0) - cap.to_numpy(), 0).sum(0)
    for budget_share in (0.3, 3.0):
        P = AllocationProblem(regions=ids, resources=res, capacity=cap.to_numpy(), demand=D, scenario_names=scen,
                              unit_cost=np.array([20000.0, 25000.0][:len(res)]), stock=np.round(0.6 * need),
                              budget=float(budget_share * (need * [20000.0, 25000.0][:len(res)]).sum()))
        _same(allocate(P, method="waterfill"), allocate(P, method="lp"), float(D.max()))


def test_whole_units_go_through_the_same_greedy():
    P = replace(_problem(7, 8, 2, 5, "expected", True, True), integer=np.array([True, False]))
    a, b = allocate(P, method="waterfill"), allocate(P, method="lp")
    assert np.all(a.x[:, 0] == np.round(a.x[:, 0]))
    assert a.x[:, 0] == pytest.approx(b.x[:, 0], abs=1e-9)
    # the continuous optimum bounds the whole-unit answer; without whole units there is no bound to report
    assert a.min_share <= a.min_share_lp_bound + 1e-9
    assert a.min_share_lp_bound == pytest.approx(allocate(_problem(7, 8, 2, 5, "expected", True, True)).min_share)
    assert allocate(_problem(7, 8, 2, 5, "expected", True, True)).min_share_lp_bound is None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["coverage_floor", "max_gap", "max_gini"]), st.floats(0.0, 1.0))
def test_inequality_bounds_met_by_waterfill_or_left_to_the_lp(seed, bound, value):
    """auto = water-filling when its answer meets the bound (then it is also the bounded optimum), else LPs."""
    P = _problem(seed, 6, 2, 5, "expected", True, False)
    P = replace(P, **{bound: min(value, 0.99) if bound == "max_gini" else value})
    try:
        b = allocate(P, method="lp")
    except EquicareError:
        with pytest.raises(EquicareError):
            allocate(P)
        return
    _same(allocate(P), b, float(P.demand.max()), bounds_degenerate=True)


def test_waterfill_refuses_coupled_models():
    P = _problem(3, 5, 2, 3, "expected", True, False)
    P = replace(P, coverage_floor=0.999)  # the unbounded answer leaves some region below 99.9% of the national share
    with pytest.raises(EquicareError, match="water-filling applies only"):
        allocate(P, method="waterfill")
    with pytest.raises(EquicareError, match="method must be"):
        allocate(P, method="simplex")
