"""Spatial access measures: equal to PySAL ``access`` on the Chicago data, and hand-worked cases."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from equicare.analyze import access as A
from equicare.analyze.costs import cost_matrix_from_long, cost_matrix_to_long, euclidean_costs
from equicare.errors import EquicareError

CUT = 12_000.0  # metres: Euclidean cost table between tract points within 12 km


@pytest.fixture(scope="module")
def chicago(shared_data):
    d = shared_data / "chicago"
    feats = json.loads((d / "chicago_metro_pop.geojson").read_text())["features"]
    pts = pd.DataFrame([(f["properties"]["geoid"], *f["geometry"]["coordinates"]) for f in feats],
                       columns=["geoid", "x", "y"])
    pop = pd.read_csv(d / "chicago_metro_pop.csv")
    doc = pd.read_csv(d / "chicago_metro_docs_dentists.csv")
    assert (pts.geoid.to_numpy() == pop.geoid.to_numpy()).all()
    assert (doc.geoid.to_numpy() == pop.geoid.to_numpy()).all()
    cost = euclidean_costs(pts[["x", "y"]].to_numpy(), pts[["x", "y"]].to_numpy(), CUT)
    long = cost_matrix_to_long(cost, pop.geoid.to_numpy(), pop.geoid.to_numpy()).rename(
        columns={"destination": "dest"})
    return pop, doc, cost, long


@pytest.fixture(scope="module")
def reference(chicago):
    from access import Access

    pop, doc, _, long = chicago
    return Access(demand_df=pop, demand_index="geoid", demand_value="pop", supply_df=doc, supply_index="geoid",
                  supply_value=["doc", "dentist"], cost_df=long, cost_origin="origin", cost_dest="dest",
                  cost_name="cost", neighbor_cost_df=long, neighbor_cost_origin="origin",
                  neighbor_cost_dest="dest", neighbor_cost_name="cost")


def _assert_equal_to_reference(ref: pd.DataFrame, mine: np.ndarray, pop: pd.DataFrame, name: str,
                               cols=("doc", "dentist")) -> None:
    for k, col in enumerate(cols):
        r = ref[f"{name}_{col}"].reindex(pop.geoid.to_numpy()).to_numpy(float)
        m = mine[:, k] if mine.ndim == 2 else mine
        ok = np.isfinite(r)
        assert ok.mean() > 0.99
        np.testing.assert_allclose(m[ok], r[ok], rtol=1e-9, atol=0)


def _weights_module():
    from access import weights

    return weights


def _run(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def test_fca_ratio_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    ref = _run(lambda: reference.fca_ratio(name="fca", max_cost=8000))
    mine = A.fca_ratio(cost, pop["pop"].to_numpy(), doc[["doc", "dentist"]].to_numpy(), 8000)
    _assert_equal_to_reference(ref, mine, pop, "fca")


def test_two_step_fca_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    ref = _run(lambda: reference.two_stage_fca(name="2sfca", max_cost=8000))
    mine = A.two_step_fca(cost, pop["pop"].to_numpy(), doc[["doc", "dentist"]].to_numpy(), 8000)
    _assert_equal_to_reference(ref, mine, pop, "2sfca")


def test_enhanced_two_step_fca_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    steps = {4000: 1, 8000: 0.68, 12000: 0.22}
    w = _weights_module()
    ref = _run(lambda: reference.enhanced_two_stage_fca(name="e2sfca", weight_fn=w.step_fn(steps)))
    mine = A.enhanced_two_step_fca(cost, pop["pop"].to_numpy(), doc[["doc", "dentist"]].to_numpy(), steps)
    _assert_equal_to_reference(ref, mine, pop, "e2sfca")


def test_gravity_power_and_gaussian_equal_access(chicago, reference):
    pop, doc, cost, _ = chicago
    w = _weights_module()
    sup = doc[["doc", "dentist"]].to_numpy()
    ref = _run(lambda: reference.weighted_catchment(
        name="gravity", weight_fn=w.gravity(scale=1000, alpha=-1.5, min_dist=500), max_cost=10_000))
    _assert_equal_to_reference(ref, A.gravity(cost, sup, 1000, -1.5, 500, 10_000), pop, "gravity")
    ref = _run(lambda: reference.weighted_catchment(name="gauss", weight_fn=w.gaussian(3000)))
    _assert_equal_to_reference(ref, A.weighted_catchment(cost, sup, A.gaussian_weights(3000)), pop, "gauss")


def test_three_step_fca_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    steps = {3000: 0.962, 6000: 0.704, 9000: 0.377, 12000: 0.042}
    w = _weights_module()
    ref = _run(lambda: reference.three_stage_fca(name="3sfca", weight_fn=w.step_fn(steps), max_cost=10_000))
    mine = A.three_step_fca(cost, pop["pop"].to_numpy(), doc[["doc", "dentist"]].to_numpy(), steps, 10_000)
    _assert_equal_to_reference(ref, mine, pop, "3sfca")


@pytest.mark.slow
def test_raam_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    ref = _run(lambda: reference.raam(name="raam", tau=5000, supply_values="doc"))
    mine = A.raam(cost, pop["pop"].to_numpy(), doc["doc"].to_numpy(), tau=5000)
    _assert_equal_to_reference(ref, mine, pop, "raam", cols=("doc",))
    # origins that access leaves out (no population) are NaN here too
    r = ref["raam_doc"].reindex(pop.geoid.to_numpy()).to_numpy(float)
    assert np.array_equal(np.isnan(r), np.isnan(mine))


@pytest.mark.parametrize("seed", range(6))
def test_raam_equals_access_iteration_with_ties(seed):
    """Small random instances with integer costs (many exactly equal totals) against
    ``access.raam.iterate_raam`` on the dense masked matrix in the same column order: equal
    tie-breaking, so equal values, over cycles with and without the initial mobbing limit."""
    from access.raam import iterate_raam

    rng = np.random.default_rng(seed)
    n, m = 40, 12
    inside = rng.random((n, m)) < 0.5
    inside[np.arange(n), rng.integers(0, m, n)] = True  # every origin reaches a destination
    dense = np.where(inside, rng.integers(0, 6, (n, m)).astype(float), np.nan)
    demand = rng.integers(20, 400, n).astype(float)
    supply = rng.integers(1, 6, m).astype(float)
    rows, cols = np.nonzero(inside)
    cost = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=(n, m))
    rho, tau, cycles = 30.0, 2.0, 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = iterate_raam(demand, supply * rho, np.ma.masked_invalid(dense / tau), max_cycles=cycles)
    mine = A.raam(cost, demand, supply, tau=tau, rho=rho, max_cycles=cycles)
    np.testing.assert_allclose(mine, np.asarray(ref), rtol=1e-12, atol=0)


def test_normalize_equals_access(chicago, reference):
    pop, doc, cost, _ = chicago
    ref = _run(lambda: reference.two_stage_fca(name="n2sfca", max_cost=8000, normalize=True))
    mine = A.compute_access("2sfca", cost, pop["pop"].to_numpy(), doc[["doc", "dentist"]].to_numpy(),
                            max_cost=8000, normalize=True)
    _assert_equal_to_reference(ref, mine, pop, "n2sfca")


# ------------------------------------------------------------------ hand-worked cases
def _tiny():
    # origins o1 (pop 100), o2 (pop 300); destinations d1 (2 doctors), d2 (1 doctor)
    df = pd.DataFrame({"origin": ["o1", "o1", "o2", "o2"], "destination": ["d1", "d2", "d1", "d2"],
                       "cost": [0.0, 20.0, 10.0, 40.0]})
    cost = cost_matrix_from_long(df, ["o1", "o2"], ["d1", "d2"])
    return cost, np.array([100.0, 300.0]), np.array([2.0, 1.0])


def test_two_step_fca_hand_worked():
    cost, pop, sup = _tiny()
    # catchment 15: d1 serves o1+o2 (400 people) -> R1 = 2/400; d2 serves nobody -> contributes 0
    np.testing.assert_allclose(A.two_step_fca(cost, pop, sup, 15), [2 / 400, 2 / 400])
    # catchment 30: d1 -> 400 people, d2 -> o1 only (100) -> o1 = 2/400 + 1/100, o2 = 2/400
    np.testing.assert_allclose(A.two_step_fca(cost, pop, sup, 30), [2 / 400 + 1 / 100, 2 / 400])
    # E2SFCA with steps {10: 1, 30: 0.5}: D1 = 100*1 + 300*1 = 400, D2 = 100*0.5 = 50 (o2->d2 beyond 30)
    got = A.enhanced_two_step_fca(cost, pop, sup, {10: 1.0, 30: 0.5})
    np.testing.assert_allclose(got, [1 * 2 / 400 + 0.5 * 1 / 50, 1 * 2 / 400])
    # two supply columns at once = each column alone
    both = A.two_step_fca(cost, pop, np.column_stack([sup, 2 * sup]), 30)
    np.testing.assert_allclose(both[:, 1], 2 * both[:, 0])


def test_gravity_nearest_and_fca_hand_worked():
    cost, pop, sup = _tiny()
    # f(x) = (max(x, 5)/10)^-1: o1 -> 2*2 + 1*0.5 = 4.5; o2 -> 2*1 + 1*0.25 = 2.25
    np.testing.assert_allclose(A.gravity(cost, sup, 10, -1, 5), [4.5, 2.25])
    np.testing.assert_allclose(A.nearest_cost(cost, np.array([0.0, 1.0])), [20.0, 40.0])
    np.testing.assert_allclose(A.nearest_cost(cost, np.array([0.0, 1.0]), max_cost=30), [20.0, np.nan])
    # FCA with a demand-demand table: o1 and o2 are 10 apart
    # explicit zeros on the diagonal: each origin is in its own catchment
    dd = sp.csr_matrix((np.array([0.0, 10.0, 10.0, 0.0]), np.array([0, 1, 0, 1]), np.array([0, 2, 4])), shape=(2, 2))
    np.testing.assert_allclose(A.fca_ratio(cost, pop, sup, 15, demand_cost=dd), [2 / 400, 2 / 400])
    np.testing.assert_allclose(A.fca_ratio(cost, pop, sup, 5, demand_cost=dd), [2 / 100, 0.0])


def test_step_weights_match_access_semantics():
    w = _weights_module().step_fn({20: 1, 40: 0.68, 60: 0.22})
    mine = A.step_weights({20: 1, 40: 0.68, 60: 0.22})
    xs = np.array([0, 10, 20, 20.000001, 30, 40, 50, 60, 70])
    np.testing.assert_array_equal(mine(xs), [w(x) for x in xs])


def test_bad_input_is_a_clear_error():
    cost, pop, sup = _tiny()
    with pytest.raises(EquicareError, match="demand values must be finite and not negative"):
        A.two_step_fca(cost, np.array([-1.0, 3.0]), sup, 10)
    with pytest.raises(EquicareError, match="supply has shape"):
        A.two_step_fca(cost, pop, np.ones(3), 10)
    with pytest.raises(EquicareError, match="unknown access method"):
        A.compute_access("5sfca", cost, pop, sup)


# ------------------------------------------------------------------ national county x hospital 2SFCA
@pytest.mark.slow
def test_national_county_2sfca_great_circle_against_dense_brute_force_and_access(shared_data):
    """Foundation demo measure: 2SFCA from county population centres to hospitals, great-circle km."""
    from access import Access

    from equicare.analyze.costs import great_circle_costs, haversine_km

    cc = pd.read_csv(shared_data / "geo" / "county_population_centers_2020.csv", dtype=str)
    lat, lon = cc.LATITUDE.astype(float).to_numpy(), cc.LONGITUDE.astype(float).to_numpy()
    pop = cc.POPULATION.astype(float).to_numpy()
    fac = pd.read_csv(shared_data / "capacity" / "facility.csv", usecols=["Latitude", "Longitude", "Staffed All Beds"])
    fac = fac.dropna(subset=["Latitude", "Longitude"])
    beds = fac["Staffed All Beds"].fillna(0.0).to_numpy(float)
    flat, flon = fac.Latitude.to_numpy(float), fac.Longitude.to_numpy(float)
    cost = great_circle_costs(lat, lon, flat, flon, max_km=100)
    mine = A.two_step_fca(cost, pop, beds, max_cost=60)
    # independent dense computation straight from the definition (Luo & Wang 2003)
    near = np.vstack([haversine_km(lat[k:k + 400, None], lon[k:k + 400, None], flat[None, :], flon[None, :]) <= 60
                      for k in range(0, lat.size, 400)])
    dem = near.T.astype(float) @ pop
    ratio = np.divide(beds, dem, out=np.zeros_like(beds), where=dem > 0)
    brute = near.astype(float) @ ratio
    np.testing.assert_allclose(mine, brute, rtol=1e-12, atol=1e-15)
    # and PySAL access on the same long table
    ids = (cc.STATEFP + cc.COUNTYFP).to_numpy()
    hid = np.array([f"h{k}" for k in range(len(fac))])
    long = cost_matrix_to_long(cost, ids, hid).rename(columns={"destination": "dest"})
    ref = _run(lambda: Access(demand_df=pd.DataFrame({"geoid": ids, "pop": pop}), demand_index="geoid",
                              demand_value="pop", supply_df=pd.DataFrame({"geoid": hid, "beds": beds}),
                              supply_index="geoid", supply_value="beds", cost_df=long, cost_origin="origin",
                              cost_dest="dest", cost_name="cost").two_stage_fca(name="2sfca", max_cost=60))
    r = ref["2sfca_beds"].reindex(ids).to_numpy(float)
    ok = np.isfinite(r)
    np.testing.assert_allclose(mine[ok], r[ok], rtol=1e-9)
    assert np.all(mine[~ok] == 0)  # counties with no hospital within 60 km: 0 here, missing in access


def test_gravity_zero_cost_without_min_dist_is_an_error():
    cost, _, sup = _tiny()
    with pytest.raises(EquicareError, match="set min_dist"):
        A.gravity(cost, sup, 10, -1)
    assert np.all(np.isfinite(A.gravity(cost, sup, 10, -1, min_dist=1)))
