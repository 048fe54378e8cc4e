"""Facility location against PySAL spopt (same optimum) on the San Francisco network-distance data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from equicare.errors import EquicareError, InfeasibleError, ValidationError
from equicare.optimize.location import capacitated_p_median, cost_table_from_long, lscp, mclp, p_center, p_median

pulp = pytest.importorskip("pulp")
spopt_locate = pytest.importorskip("spopt.locate")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def sf(shared_data):
    df = pd.read_csv(shared_data / "sf" / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    long = df.rename(columns={"DestinationName": "origin", "name": "destination", "distance": "cost"})
    table = cost_table_from_long(long)
    dem = df.drop_duplicates("DestinationName").set_index(df.drop_duplicates("DestinationName")["DestinationName"]
                                                          .astype(str))["demand"]
    w = dem.loc[table.demand_ids].to_numpy(float)
    return table, w, long, dem


def _solver():
    return pulp.HiGHS(msg=False)


@pytest.mark.parametrize("p", [2, 4, 7])
def test_pmedian_matches_spopt(sf, p):
    table, w, _, _ = sf
    ref = spopt_locate.PMedian.from_cost_matrix(table.cost, w, p_facilities=p).solve(_solver())
    res = p_median(table.cost, w, p, site_ids=table.site_ids, demand_ids=table.demand_ids)
    assert res.objective == pytest.approx(ref.problem.objective.value(), rel=1e-6)
    assert len(res.selected_sites) == p
    # the objective is the demand-weighted cost of the returned assignment
    col = {s: k for k, s in enumerate(table.site_ids)}
    cost = sum(w[i] * table.cost[i, col[res.assignment[d]]] for i, d in enumerate(table.demand_ids))
    assert cost == pytest.approx(res.objective, rel=1e-9)


def test_pmedian_forced_open_matches_spopt(sf):
    table, w, _, _ = sf
    forced = ["Store_1", "Store_19"] if "Store_19" in table.site_ids else table.site_ids[:2]
    idx = np.array([table.site_ids.index(s) for s in forced])
    pre = np.zeros(len(table.site_ids), int)
    pre[idx] = 1
    ref = spopt_locate.PMedian.from_cost_matrix(table.cost, w, p_facilities=4,
                                                predefined_facilities_arr=pre).solve(_solver())
    res = p_median(table.cost, w, 4, open_sites=forced, site_ids=table.site_ids, demand_ids=table.demand_ids)
    assert set(forced) <= set(res.selected_sites)
    assert res.objective == pytest.approx(ref.problem.objective.value(), rel=1e-6)


@pytest.mark.parametrize("p,radius", [(2, 3000), (4, 5000), (6, 2500)])
def test_mclp_matches_spopt(sf, p, radius):
    table, w, _, _ = sf
    ref = spopt_locate.MCLP.from_cost_matrix(table.cost, w, service_radius=radius,
                                             p_facilities=p).solve(_solver())
    res = mclp(table.cost, w, p, radius, site_ids=table.site_ids, demand_ids=table.demand_ids)
    # spopt's objective is the covered demand
    assert res.objective == pytest.approx(ref.problem.objective.value(), rel=1e-6)
    assert res.details["covered_share"] <= 1.0


@pytest.mark.parametrize("radius", [5500, 7000, 9000])
def test_lscp_matches_spopt(sf, radius):
    table, _w, _, _ = sf
    ref = spopt_locate.LSCP.from_cost_matrix(table.cost, service_radius=radius).solve(_solver())
    res = lscp(table.cost, radius, site_ids=table.site_ids, demand_ids=table.demand_ids)
    assert res.objective == pytest.approx(ref.problem.objective.value())
    # every demand is within the radius of its assigned site
    col = {s: k for k, s in enumerate(table.site_ids)}
    assert all(table.cost[i, col[res.assignment[d]]] <= radius for i, d in enumerate(table.demand_ids))


@pytest.mark.parametrize("p", [2, 3, 5])
def test_pcenter_matches_spopt(sf, p):
    table, _w, _, _ = sf
    ref = spopt_locate.PCenter.from_cost_matrix(table.cost, p_facilities=p).solve(_solver())
    res = p_center(table.cost, p, site_ids=table.site_ids, demand_ids=table.demand_ids)
    assert res.objective == pytest.approx(ref.problem.objective.value(), rel=1e-6)
    assert len(res.selected_sites) == p


def test_capacitated_pmedian_matches_spopt(sf):
    table, w, _, _ = sf
    m = len(table.site_ids)
    cap = np.full(m, w.sum() / 3.5)
    ref = spopt_locate.PMedian.from_cost_matrix(table.cost, w, p_facilities=4,
                                                facility_capacities=cap).solve(_solver())
    res = capacitated_p_median(table.cost, w, cap, 4, site_ids=table.site_ids, demand_ids=table.demand_ids)
    assert res.objective == pytest.approx(ref.problem.objective.value(), rel=1e-5)
    load = pd.Series({d: w[i] for i, d in enumerate(table.demand_ids)}).groupby(pd.Series(res.assignment)).sum()
    assert (load <= cap[0] + 1e-6).all()


def test_brute_force_small_pmedian_and_pcenter():
    rng = np.random.default_rng(3)
    from itertools import combinations
    for _ in range(5):
        C = rng.uniform(0, 100, (12, 6))
        w = rng.integers(1, 10, 12).astype(float)
        best = min(float((w * C[:, list(s)].min(axis=1)).sum()) for s in combinations(range(6), 3))
        assert p_median(C, w, 3).objective == pytest.approx(best)
        best_c = min(float(C[:, list(s)].min(axis=1).max()) for s in combinations(range(6), 3))
        assert p_center(C, 3).objective == pytest.approx(best_c)


def test_bad_input(sf):
    table, w, long, _ = sf
    with pytest.raises(EquicareError, match="p must be"):
        p_median(table.cost, w, 0)
    with pytest.raises(InfeasibleError, match="no candidate site within"):
        lscp(table.cost, 10.0, demand_ids=table.demand_ids)
    with pytest.raises(InfeasibleError, match="forced open"):
        p_median(table.cost, w, 1, open_sites=table.site_ids[:2], site_ids=table.site_ids)
    with pytest.raises(EquicareError, match="not candidate sites"):
        p_median(table.cost, w, 2, open_sites=["nope"], site_ids=table.site_ids)
    bad = long.copy()
    bad.loc[5, "cost"] = -1
    with pytest.raises(ValidationError, match="row 7, column 'cost'"):
        cost_table_from_long(bad, file="C.csv")


def test_cli_locate(sf, tmp_path):
    from typer.testing import CliRunner

    from equicare.cli import app

    table, w, long, dem = sf
    long.to_csv(tmp_path / "C.csv", index=False)
    dem.rename("pop").rename_axis("id").reset_index().to_csv(tmp_path / "D.csv", index=False)
    out = tmp_path / "out.json"
    r = CliRunner().invoke(app, ["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                                 "--model", "pmedian", "--p", "3", "--demand-value", "pop", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert set(res) >= {"objective", "selected_sites", "assignment", "gap", "solve_seconds"}
    assert len(res["selected_sites"]) == 3 and len(res["assignment"]) == 205
    ref = p_median(table.cost, w, 3)
    assert res["objective"] == pytest.approx(ref.objective, rel=1e-9)
    r = CliRunner().invoke(app, ["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                                 "--model", "mclp", "--p", "2", "--demand-value", "pop", "--out", str(out)])
    assert r.exit_code != 0  # MCLP without a radius is a clear error
    assert "service-radius" in (r.output + str(r.exception))


def test_pmedian_lagrangian_reduction_is_exact():
    # the Lagrangian fixing path (used on large instances) gives the same optimum as the plain model
    rng = np.random.default_rng(11)
    pts = rng.uniform(0, 10_000, (260, 2))
    sites = pts[::3]
    C = np.hypot(pts[:, None, 0] - sites[None, :, 0], pts[:, None, 1] - sites[None, :, 1])
    w = rng.integers(100, 5000, 260).astype(float)
    for p in (4, 9):
        a = p_median(C, w, p, reduce=False)
        b = p_median(C, w, p, reduce=True)
        assert b.objective == pytest.approx(a.objective, rel=1e-9)
        assert "lagrangian_bound" in b.details and b.details["lagrangian_bound"] <= a.objective * (1 + 1e-9)


def _brute_mclp(cover, w, p, forced=(), must=None, must_not=None):
    from itertools import combinations
    m = cover.shape[1]
    best = -np.inf
    for s in combinations(range(m), p):
        if not set(forced) <= set(s) or (must is not None and must not in s) or (must_not is not None and must_not in s):
            continue
        best = max(best, float(w[cover[:, list(s)].any(axis=1)].sum()))
    return best


def test_brute_force_small_mclp_with_forced_sites():
    # random small instances (ties and nested coverage sets included): the same optimum as enumeration
    rng = np.random.default_rng(5)
    for t in range(40):
        n, m = int(rng.integers(5, 30)), int(rng.integers(3, 9))
        C = rng.integers(0, 10, (n, m)).astype(float)
        w = rng.integers(0, 20, n).astype(float)
        p = int(rng.integers(1, m + 1))
        forced = sorted(rng.choice(m, int(rng.integers(0, p + 1)), replace=False).tolist()) if t % 2 else []
        r = mclp(C, w, p, service_radius=float(rng.integers(1, 6)), open_sites=forced or None)
        radius = r.details["service_radius"]
        assert r.objective == pytest.approx(_brute_mclp(C <= radius, w, p, forced))
        assert len(r.selected_sites) == p and {str(j) for j in forced} <= set(r.selected_sites)
        assert r.gap <= 1e-6


def test_mclp_lagrangian_fixing_is_exact():
    # for any multipliers >= 0 the bound is valid, and a site fixed closed (open) is in (out of) no
    # solution better than the incumbent
    from equicare.optimize.location.coverage import mclp_lagrangian as _mclp_lagrangian
    from equicare.optimize.location.heuristics import fixing_tests as _fixing_tests

    rng = np.random.default_rng(8)
    n_fixed = 0
    for t in range(60):
        n, m = int(rng.integers(6, 25)), int(rng.integers(4, 9))
        cover = rng.random((n, m)) < rng.uniform(0.1, 0.5)
        w = rng.integers(1, 20, n).astype(float)
        p = int(rng.integers(1, m))
        forced = np.zeros(m, bool)
        if t % 3 == 0:
            forced[rng.integers(m)] = True
        opt = _brute_mclp(cover, w, p, np.flatnonzero(forced))
        inc = opt - float(rng.integers(0, 3))  # an incumbent at or a little below the optimum
        lam = w * rng.uniform(0, 1, n) if t % 2 else w / np.maximum(cover.sum(axis=1), 1)
        bound, S, rho = _mclp_lagrangian(cover, w, p, forced, lam)
        assert bound >= opt - 1e-9
        f0, f1 = _fixing_tests(-bound, -rho, S, forced, -inc)
        for j in np.flatnonzero(f0):
            assert _brute_mclp(cover, w, p, np.flatnonzero(forced), must=j) < inc + 1e-9
        for j in np.flatnonzero(f1):
            assert _brute_mclp(cover, w, p, np.flatnonzero(forced), must_not=j) < inc + 1e-9
        n_fixed += int(f0.sum() + f1.sum())
    assert n_fixed > 0


def test_pmedian_reduction_with_forced_sites_brute_force():
    # Lagrangian fixing + iterated local search + started MIP, with forced sites: the enumerated optimum
    from itertools import combinations

    rng = np.random.default_rng(21)
    for _ in range(8):
        n, m = 30, 8
        C = rng.uniform(0, 100, (n, m))
        w = rng.integers(1, 10, n).astype(float)
        p = int(rng.integers(2, 6))
        forced = sorted(int(j) for j in rng.choice(m, int(rng.integers(1, 3)), replace=False))
        best = min(float((w * C[:, list(s)].min(axis=1)).sum()) for s in combinations(range(m), p)
                   if set(forced) <= set(s))
        r = p_median(C, w, p, open_sites=[str(j) for j in forced], reduce=True)
        assert r.objective == pytest.approx(best)
        assert {str(j) for j in forced} <= set(r.selected_sites) and len(r.selected_sites) == p
