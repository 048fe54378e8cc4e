"""Benchmark of equicare.optimize: facility location vs PySAL spopt (HiGHS through PuLP), and allocation speed.

Run:  .venv/bin/python bench/bench_optimize.py [--spopt-time-limit SECONDS] [--skip-spopt] [--only alloc|locate]

1. Facility location on all 1,930 Chicago tracts (``../shared/data/chicago``, demand = population,
   Euclidean metres in EPSG:2790), every 10th tract a candidate site: p-median and MCLP (radius 8 km) at
   p = 10 and 20, end to end (model build + solve) for equicare and for spopt in the same process.  spopt
   gets a time limit (default 900 s); when it hits it, the ratio is a lower bound (">").
2. Allocation of 4 resource types (surge ICU beds, ventilators, ICU nurses, antiviral courses) under 23
   demand scenarios (the hubverse quantile levels) with one budget, per-type stocks, absorption caps and
   lexicographic max-min fairness: state level (51 regions) and county level (3,000+ counties, state
   scenarios shared out by county population).  Goal: < 1 s and < 10 s.

Prints figures and ratios; never asserts on time.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def chicago():
    import geopandas as gpd
    from scipy.spatial.distance import cdist

    g = gpd.read_file(SHARED / "chicago" / "chicago_metro_pop.geojson")
    xy = np.c_[g.geometry.x, g.geometry.y]
    w = g["pop"].to_numpy(float)
    sites = np.arange(0, len(g), 10)
    return cdist(xy, xy[sites]), w


def bench_locate(spopt_limit: float, skip_spopt: bool) -> list[dict]:
    from equicare.optimize.location import mclp, p_median

    C, w = chicago()
    print(f"Chicago: {C.shape[0]} tracts x {C.shape[1]} candidate sites")
    rows = []
    for model in ("pmedian", "mclp"):
        for p in (10, 20):
            t = time.perf_counter()
            r = p_median(C, w, p) if model == "pmedian" else mclp(C, w, p, service_radius=8000)
            ours = time.perf_counter() - t
            row = {"model": model, "p": p, "equicare_objective": r.objective, "equicare_s": ours,
                   "equicare_gap": r.gap}
            if not skip_spopt:
                row.update(_spopt(model, C, w, p, spopt_limit))
                same = (np.isfinite(row["spopt_objective"]) and
                        abs(row["spopt_objective"] - r.objective) <= 1e-6 * abs(r.objective))
                row["same_objective"] = bool(same)
                ratio = row["spopt_s"] / ours
                row["ratio"] = (">" if not row["spopt_optimal"] else "") + f"{ratio:.1f}x"
            rows.append(row)
            print(" ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return rows


def _spopt(model, C, w, p, limit):
    import pulp
    from spopt.locate import MCLP, PMedian

    warnings.simplefilter("ignore")
    t = time.perf_counter()
    if model == "pmedian":
        m = PMedian.from_cost_matrix(C, w, p_facilities=p)
    else:
        m = MCLP.from_cost_matrix(C, w, service_radius=8000, p_facilities=p)
    built = time.perf_counter() - t
    optimal = True
    try:
        m = m.solve(pulp.HiGHS(msg=False, timeLimit=limit))
        obj = float(m.problem.objective.value())
    except RuntimeError:  # spopt raises when the solver stops without a solution
        optimal = False
        v = m.problem.objective.value()
        obj = float(v) if v is not None else float("nan")
    secs = time.perf_counter() - t
    # PuLP reports a time-limited HiGHS run as solved: treat reaching the limit as "not proven optimal"
    if secs - built >= 0.98 * limit:
        optimal = False
    return {"spopt_objective": obj, "spopt_s": secs, "spopt_build_s": built, "spopt_optimal": optimal}


def four_resource_tables(level: str):
    """Regions, capacity, demand scenarios (23) and caps for 4 resource types, from bundled data."""
    from equicare.data.bundled import data_path
    from equicare.optimize.scenario import flu_surge_tables

    t = flu_surge_tables(severity=3.0)  # the severe season the published figures were measured on
    dem = t["demand"].pivot_table(index=["region", "scenario"], columns="resource", values="value").reset_index()
    cap = t["capacity"].pivot_table(index="region", columns="resource", values="capacity")
    if level == "state":
        ids = t["regions"]["id"].tolist()
        share = pd.Series(1.0, index=ids)
        parent = pd.Series(ids, index=ids)
        icu = pd.read_csv(data_path("capacity/state.csv")).set_index("State")["Staffed ICU Beds"].reindex(ids)
        capr = cap.reindex(ids)
    else:
        cc = pd.read_csv(data_path("geo/county_population_centers_2020.csv"), dtype={"STATEFP": str, "COUNTYFP": str})
        loc = pd.read_csv(data_path("flusight/locations.csv"), dtype={"location": str})
        cc = cc.merge(loc[["location", "abbreviation"]], left_on="STATEFP", right_on="location")
        cc = cc[cc["abbreviation"].isin(cap.index)]
        ids = (cc["STATEFP"] + cc["COUNTYFP"]).tolist()
        parent = pd.Series(cc["abbreviation"].to_numpy(), index=ids)
        pop = pd.Series(cc["POPULATION"].astype(float).to_numpy(), index=ids)
        share = pop / pop.groupby(parent).transform("sum")
        county = pd.read_csv(data_path("capacity/county.csv"), dtype={"fips_code": str}).set_index("fips_code")
        icu = county["Staffed ICU Beds"].reindex(ids).fillna(0.0)
        icu_share = icu / icu.groupby(parent).transform("sum").replace(0, np.nan)
        icu_share = icu_share.fillna(share)
        capr = pd.DataFrame({"icu_beds": np.floor(cap["icu_beds"].reindex(parent).to_numpy() * icu_share.to_numpy()),
                             "ventilators": np.floor(cap["ventilators"].reindex(parent).to_numpy()
                                                     * icu_share.to_numpy())}, index=ids)
    scen = sorted(dem["scenario"].unique(), key=lambda s: float(s[1:]))
    n, S = len(ids), len(scen)
    resources = ["icu_beds", "ventilators", "icu_nurses", "antiviral_courses"]
    D = np.zeros((S, n, 4))
    for k, sc in enumerate(scen):
        d = dem[dem["scenario"] == sc].set_index("region")
        beds = d["icu_beds"].reindex(parent.to_numpy()).to_numpy() * share.to_numpy()
        D[k, :, 0] = beds
        D[k, :, 1] = d["ventilators"].reindex(parent.to_numpy()).to_numpy() * share.to_numpy()
        D[k, :, 2] = 0.5 * beds           # one nurse per two ICU patients per shift
        D[k, :, 3] = 7.0 * beds / 0.15    # a course for every flu admission of the week (beds = adm * 0.15)
    capacity = np.c_[capr["icu_beds"].to_numpy(), capr["ventilators"].to_numpy(), np.zeros(n),
                     0.5 * D[S // 2, :, 3]]
    max_alloc = np.full((n, 4), np.inf)
    max_alloc[:, 0] = np.floor(0.2 * icu.to_numpy(float)) if level == "state" else np.maximum(
        np.floor(0.2 * icu.to_numpy(float)), 2)
    return ids, resources, capacity, D, scen, max_alloc


def bench_allocate(lp_county_expected: bool = False) -> list[dict]:
    """Time ``allocate`` (auto: water-filling when separable) and, for comparison, the LP route."""
    from equicare.optimize import AllocationProblem, allocate

    rows = []
    for level in ("state", "county"):
        ids, resources, capacity, D, scen, max_alloc = four_resource_tables(level)
        need = np.maximum(0, D.mean(0) - capacity).sum(0)
        for mode in ("expected", "quantile"):
            P = AllocationProblem(regions=ids, resources=resources, capacity=capacity, demand=D, scenario_names=scen,
                                  unit_cost=np.array([20000, 25000, 15000, 60.0]),
                                  stock=np.round(0.5 * need), budget=float(0.4 * (need * [20000, 25000, 15000, 60]).sum()),
                                  max_alloc=max_alloc, uncertainty=mode,
                                  design_scenario="q0.9" if mode == "quantile" else None)
            t = time.perf_counter()
            r = allocate(P)
            secs = time.perf_counter() - t
            row = {"level": level, "regions": len(ids), "resources": 4, "scenarios": len(scen), "mode": mode,
                   "seconds": secs, "lp_solves": r.n_solves, "min_share": r.min_share,
                   "goal_s": 1.0 if level == "state" else 10.0}
            if level == "state" or mode == "quantile" or lp_county_expected:
                t = time.perf_counter()
                r_lp = allocate(P, method="lp")
                row["lp_route_s"] = time.perf_counter() - t
                row["lp_min_share"] = r_lp.min_share
                row["max_share_diff"] = float(np.abs(r.allocation["share_met"].to_numpy()
                                                     - r_lp.allocation["share_met"].to_numpy()).max())
            rows.append(row)
            print(" ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spopt-time-limit", type=float, default=900.0)
    ap.add_argument("--skip-spopt", action="store_true")
    ap.add_argument("--only", choices=["alloc", "locate"])
    ap.add_argument("--lp-county-expected", action="store_true",
                    help="also time the LP route on the county expected case (about 2 minutes)")
    a = ap.parse_args()
    if a.only in (None, "alloc"):
        print("allocation, 4 resource types x 23 scenarios, lexicographic max-min:")
        bench_allocate(a.lp_county_expected)
    if a.only in (None, "locate"):
        print("facility location vs spopt (HiGHS through PuLP), end to end:")
        bench_locate(a.spopt_time_limit, a.skip_spopt)


if __name__ == "__main__":
    main()
