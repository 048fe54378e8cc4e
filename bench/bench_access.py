"""Benchmark: equicare's spatial access measures vs PySAL ``access``, same data, same process.

1. Chicago (the ``access`` example data): 1,930 tracts, Euclidean costs between tract points
   (metres) within a cut-off; every measure, two supply columns (doctors, dentists).
2. National: all US county population centres x all hospitals with staffed beds, great-circle
   costs (km) within 100 km; 2SFCA, E2SFCA, gravity and 3SFCA with staffed beds as supply.

Prints wall-clock seconds (best of ``REPEAT``), the speed-up and the largest relative difference
between the two tools' values (over origins where ``access`` returns a finite value). RAAM runs in
a numba kernel compiled on its first call: the bench points numba at an empty cache directory, so
the row ``raam (cold)`` is that first call, JIT compile included, and ``raam`` the warm calls
after it. A plain script: it never asserts on time.
Run: ``.venv/bin/python bench/bench_access.py [--quick]``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.analyze import access as A
from equicare.analyze.costs import cost_matrix_from_long, cost_matrix_to_long, euclidean_costs, great_circle_costs

warnings.filterwarnings("ignore")
# an empty numba cache, so that the first RAAM call compiles its kernel (set before numba is imported)
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="equicare-bench-numba-")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
QUICK = "--quick" in sys.argv
REPEAT = 1 if QUICK else 3


def best_time(fn, repeat=REPEAT):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def max_rel(ref: pd.Series, mine: np.ndarray, ids) -> float:
    r = ref.reindex(ids).to_numpy(float)
    ok = np.isfinite(r)
    return float(np.max(np.abs(mine[ok] - r[ok]) / np.maximum(np.abs(r[ok]), 1e-300)))


def report(rows):
    df = pd.DataFrame(rows, columns=["instance", "measure", "access_s", "equicare_s", "speedup", "max_rel_diff"])
    with pd.option_context("display.width", 140, "display.float_format", "{:.4g}".format):
        print(df.to_string(index=False))
    return df


def chicago(cut: float = 20_000.0):
    from access import Access, weights

    d = SHARED / "chicago"
    feats = json.loads((d / "chicago_metro_pop.geojson").read_text())["features"]
    xy = np.array([f["geometry"]["coordinates"] for f in feats])
    pop = pd.read_csv(d / "chicago_metro_pop.csv")
    doc = pd.read_csv(d / "chicago_metro_docs_dentists.csv")
    ids = pop.geoid.to_numpy()
    t_cost, cost = best_time(lambda: euclidean_costs(xy, xy, cut))
    long = cost_matrix_to_long(cost, ids, ids).rename(columns={"destination": "dest"})
    print(f"Chicago: {len(ids)} tracts, {cost.nnz:,} pairs within {cut / 1000:.0f} km "
          f"(equicare k-d tree cost matrix {t_cost:.3f} s)")
    acc = Access(demand_df=pop, demand_index="geoid", demand_value="pop", supply_df=doc, supply_index="geoid",
                 supply_value=["doc", "dentist"], cost_df=long, cost_origin="origin", cost_dest="dest",
                 cost_name="cost", neighbor_cost_df=long, neighbor_cost_origin="origin", neighbor_cost_dest="dest",
                 neighbor_cost_name="cost")
    logging.getLogger("access").setLevel(logging.WARNING)  # silence "Overwriting ..." notes
    P = pop["pop"].to_numpy(float)
    S = doc[["doc", "dentist"]].to_numpy(float)
    e2 = {4000: 1, 8000: 0.68, 12000: 0.22}
    s3 = {4000: 0.962, 8000: 0.704, 12000: 0.377, 16000: 0.042}
    cases = [
        ("fca", lambda: acc.fca_ratio(name="fca", max_cost=10_000), lambda: A.fca_ratio(cost, P, S, 10_000)),
        ("2sfca", lambda: acc.two_stage_fca(name="2sfca", max_cost=10_000), lambda: A.two_step_fca(cost, P, S, 10_000)),
        ("e2sfca", lambda: acc.enhanced_two_stage_fca(name="e2sfca", weight_fn=weights.step_fn(e2)),
         lambda: A.enhanced_two_step_fca(cost, P, S, e2)),
        ("gravity", lambda: acc.weighted_catchment(name="gravity", weight_fn=weights.gravity(1000, -1.5, 500)),
         lambda: A.gravity(cost, S, 1000, -1.5, 500)),
        ("3sfca", lambda: acc.three_stage_fca(name="3sfca", weight_fn=weights.step_fn(s3)),
         lambda: A.three_step_fca(cost, P, S, s3)),
        ("raam", lambda: acc.raam(name="raam", tau=5000), lambda: A.raam(cost, P, S, tau=5000)),
    ]
    rows = []
    for name, ref_fn, mine_fn in cases:
        ta, ref = best_time(ref_fn, 1 if name == "raam" else REPEAT)
        if name == "raam":  # the first call compiles the numba kernel
            t_cold, mine = best_time(mine_fn, 1)
            diff = max(max_rel(ref[f"raam_{c}"], mine[:, k], ids) for k, c in enumerate(["doc", "dentist"]))
            rows.append(("chicago", "raam (cold)", ta, t_cold, ta / t_cold, diff))
        te, mine = best_time(mine_fn)
        diff = max(max_rel(ref[f"{name}_{c}"], mine[:, k], ids) for k, c in enumerate(["doc", "dentist"]))
        rows.append(("chicago", name, ta, te, ta / te, diff))
    return rows


def national(max_km: float = 100.0):
    from access import Access, weights

    cc = pd.read_csv(SHARED / "geo" / "county_population_centers_2020.csv", dtype=str)
    cc["id"] = cc.STATEFP + cc.COUNTYFP
    lat, lon = cc.LATITUDE.astype(float).to_numpy(), cc.LONGITUDE.astype(float).to_numpy()
    pop = cc.POPULATION.astype(float).to_numpy()
    fac = pd.read_csv(SHARED / "capacity" / "facility.csv", usecols=["Latitude", "Longitude", "Staffed All Beds"])
    fac = fac.dropna(subset=["Latitude", "Longitude"]).reset_index(drop=True)
    beds = fac["Staffed All Beds"].fillna(0.0).to_numpy(float)
    fac["id"] = [f"h{k}" for k in range(len(fac))]
    t0 = time.perf_counter()
    cost = great_circle_costs(lat, lon, fac.Latitude.to_numpy(float), fac.Longitude.to_numpy(float), max_km)
    t_cost = time.perf_counter() - t0
    t0 = time.perf_counter()
    e2 = {30: 1.0, 60: 0.68, 100: 0.22}
    val = A.enhanced_two_step_fca(cost, pop, beds, e2)
    t_e2 = time.perf_counter() - t0
    print(f"\nNational: {len(cc):,} county centres x {len(fac):,} hospitals ({int((beds > 0).sum()):,} with staffed "
          f"beds), {cost.nnz:,} pairs within {max_km:.0f} km")
    print(f"  equicare great-circle cost matrix {t_cost:.3f} s + E2SFCA {t_e2:.3f} s = {t_cost + t_e2:.3f} s "
          f"end to end (goal < 2 s); {int(np.isfinite(val).sum()):,} county scores")
    long = cost_matrix_to_long(cost, cc.id.to_numpy(), fac.id.to_numpy()).rename(columns={"destination": "dest"})
    dem = pd.DataFrame({"geoid": cc.id, "pop": pop})
    sup = pd.DataFrame({"geoid": fac.id, "beds": beds})
    acc = Access(demand_df=dem, demand_index="geoid", demand_value="pop", supply_df=sup, supply_index="geoid",
                 supply_value="beds", cost_df=long, cost_origin="origin", cost_dest="dest", cost_name="cost")
    logging.getLogger("access").setLevel(logging.WARNING)
    s3 = {30: 0.962, 60: 0.704, 80: 0.377, 100: 0.042}
    cases = [
        ("2sfca", lambda: acc.two_stage_fca(name="2sfca", max_cost=60), lambda: A.two_step_fca(cost, pop, beds, 60)),
        ("e2sfca", lambda: acc.enhanced_two_stage_fca(name="e2sfca", weight_fn=weights.step_fn(e2)),
         lambda: A.enhanced_two_step_fca(cost, pop, beds, e2)),
        ("gravity", lambda: acc.weighted_catchment(name="gravity", weight_fn=weights.gravity(10, -1, 5)),
         lambda: A.gravity(cost, beds, 10, -1, 5)),
        ("3sfca", lambda: acc.three_stage_fca(name="3sfca", weight_fn=weights.step_fn(s3)),
         lambda: A.three_step_fca(cost, pop, beds, s3)),
    ]
    rows = []
    for name, ref_fn, mine_fn in cases:
        ta, ref = best_time(ref_fn)
        te, mine = best_time(mine_fn)
        rows.append(("national", name, ta, te, ta / te, max_rel(ref[f"{name}_beds"], mine, cc.id.to_numpy())))
    # the long-table route as a user of the CLI would take it
    t_long, _ = best_time(lambda: cost_matrix_from_long(long.rename(columns={"dest": "destination"}),
                                                          cc.id.to_numpy(), fac.id.to_numpy()))
    print(f"  (building the sparse matrix from the {len(long):,}-row long table: {t_long:.3f} s)")
    return rows


if __name__ == "__main__":
    if not SHARED.is_dir():
        sys.exit(f"shared data not found at {SHARED}")
    rows = chicago() + national()
    print()
    df = report(rows)
    print(f"\nslowest speed-up: {df.speedup.min():.1f}x ({df.loc[df.speedup.idxmin(), 'instance']} "
          f"{df.loc[df.speedup.idxmin(), 'measure']}); largest relative difference: {df.max_rel_diff.max():.1e}")
