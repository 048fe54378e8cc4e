"""Placing units at facilities best-rated first: against an LP (scipy), and through a scenario file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from equicare.optimize import AllocationProblem, allocate
from equicare.optimize.facilities import bundled_hospitals, facility_caps, place_at_facilities, region_caps
from equicare.optimize.scenario import run_scenario


@pytest.mark.parametrize("seed", range(8))
def test_greedy_split_is_the_quality_optimum(seed):
    rng = np.random.default_rng(seed)
    F = 9
    fac = pd.DataFrame({"facility": [f"f{k}" for k in range(F)], "region": rng.choice(["A", "B", "C"], F),
                        "name": [f"H{k}" for k in range(F)],
                        "quality": np.where(rng.random(F) < 0.2, np.nan, rng.integers(1, 6, F).astype(float)),
                        "icu": rng.integers(0, 40, F).astype(float)})
    fc = facility_caps(fac, ["beds"], {"beds": ("icu", 0.5)})
    rc = region_caps(fac, fc, ["A", "B", "C"])
    x = np.floor(rc * rng.uniform(0, 1, rc.shape))
    out = place_at_facilities(x, ["A", "B", "C"], ["beds"], fac, fc)
    q = np.nan_to_num(fac["quality"].to_numpy(), nan=0.0)  # unrated below every rating
    for i, g in enumerate(["A", "B", "C"]):
        k = np.flatnonzero(fac["region"].to_numpy() == g)
        got = out[out["region"] == g].set_index("facility")["allocated"].reindex(fac["facility"].iloc[k]).fillna(0)
        assert got.sum() == pytest.approx(x[i, 0])
        assert np.all(got.to_numpy() <= fc[k, 0] + 1e-9)
        if len(k):
            ref = linprog(-q[k], A_eq=np.ones((1, len(k))), b_eq=[x[i, 0]], bounds=list(zip(np.zeros(len(k)), fc[k, 0])),
                          method="highs")
            assert float(q[k] @ got.to_numpy()) == pytest.approx(-ref.fun, abs=1e-9)


def test_facility_caps_become_region_caps_and_explanations_name_facilities(tmp_path):
    fac = pd.DataFrame({"facility": ["a1", "a2", "b1"], "region": ["A", "A", "B"], "name": ["alpha one", "alpha two",
                        "beta"], "quality": [2.0, 5.0, np.nan], "icu": [10.0, 20.0, 50.0]})
    P = AllocationProblem(regions=["A", "B"], resources=["beds"], capacity=np.zeros((2, 1)),
                          demand=np.array([[[100.0], [100.0]]]), stock=[60.0], facilities=fac,
                          facility_caps=facility_caps(fac, ["beds"], {"beds": ("icu", 0.5)}))
    assert P.max_alloc[:, 0] == pytest.approx([15, 25])  # 0.5 x (10 + 20), 0.5 x 50
    res = allocate(P)
    assert res.x[:, 0] == pytest.approx([15, 25])  # both at their caps (stock 60 is not the limit)
    f = res.facilities.set_index("facility")
    assert f.loc["a2", "allocated"] == 10 and f.loc["a2", "rank"] == 1  # 5 stars first, up to its cap
    assert f.loc["a1", "allocated"] == 5 and f.loc["b1", "allocated"] == 25
    expl = res.allocation.set_index("region").loc["A", "explanation"]
    assert "Alpha Two (5 stars) 10, Alpha One (2 stars) 5" in expl
    assert "Beta (not rated) 25" in res.allocation.set_index("region").loc["B", "explanation"]


def test_scenario_file_with_bundled_hospitals(tmp_path):
    hosp = bundled_hospitals("state")
    assert set(hosp["quality"].dropna().unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert hosp["region"].str.fullmatch(r"[A-Z]{2}").all()
    (tmp_path / "s.yaml").write_text("""
name: beds at hospitals
demand: {builder: flu_surge, severity: 3.0}
resources:
  icu_beds: {unit: bed, unit_cost: 20000, stock: 2500, integer: true}
budget: 60000000
facilities:
  table: {builder: hospitals, level: state}
  caps: {icu_beds: {column: icu_beds, ratio: 0.2}}
""")
    doc = run_scenario(tmp_path / "s.yaml", tmp_path / "out")
    f = pd.read_csv(tmp_path / "out" / "facilities.csv", dtype={"facility": str})
    a = pd.read_csv(tmp_path / "out" / "allocation.csv")
    tot = f.groupby("region")["allocated"].sum()
    placed = a.set_index("region")["allocated"]
    assert tot.reindex(placed[placed > 0].index).to_numpy() == pytest.approx(placed[placed > 0].to_numpy())
    assert (f["allocated"] <= f["cap"] + 1e-9).all()
    # within a region, a lower-rated hospital gets units only when every better-rated one is full
    for _, d in f[f["quality"].notna()].groupby("region"):
        d = d.sort_values("rank")
        full = d["allocated"] >= d["cap"] - 1e-9
        assert full.iloc[:-1].all()
    assert doc["facilities"] and "Placed at the best-rated facilities first" in a["explanation"].str.cat()
