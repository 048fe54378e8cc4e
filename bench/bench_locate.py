"""Benchmark of facility location at full scale (issue #18): every Chicago tract a candidate site.

Run:  .venv/bin/python bench/bench_locate.py [--time-limit SECONDS] [--only pmedian|mclp|cli]

1. p-median on all 1,930 Chicago tracts (``../shared/data/chicago``, demand = population, Euclidean
   metres in EPSG:2790) with every tract a candidate site (1,930 x 1,930 = 3.7 million pairs) at
   p = 10, 20 and 50: time to the proven optimum (goal: under 60 s each on the 2-core machine), or the
   objective, bound and gap reached within the time limit.
2. MCLP on the same instance with radii 2 km and 5 km (p = 10, 20).
3. The command end to end on the 3.7-million-row cost table (pyarrow read included): ``equicare locate
   --model pmedian --p 20 --time-limit T``, whose limit bounds the whole command.

The 1,930 x 193 instance against PySAL spopt stays in ``bench/bench_optimize.py``.
Prints figures; never asserts on time.  The machine load (1-minute load average) is printed with each
row: on a shared 2-core machine a load above 2 slows every figure by about load / 2.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def chicago_all():
    import geopandas as gpd
    from scipy.spatial.distance import cdist

    g = gpd.read_file(SHARED / "chicago" / "chicago_metro_pop.geojson")
    xy = np.c_[g.geometry.x, g.geometry.y]
    return cdist(xy, xy), g["pop"].to_numpy(float), g["geoid"].astype(str).tolist()


def _load() -> float:
    return os.getloadavg()[0]


def bench_pmedian(C, w, limit: float) -> list[dict]:
    from equicare.optimize.location import p_median

    rows = []
    for p in (10, 20, 50):
        t = time.perf_counter()
        r = p_median(C, w, p, time_limit=limit)
        secs = time.perf_counter() - t
        d = r.details
        row = {"model": "pmedian", "p": p, "seconds": round(secs, 1), "objective": round(r.objective),
               "bound": round(r.bound), "gap_pct": round(100 * r.gap, 4), "proven_optimal": r.proven_optimal,
               "sites_fixed_closed": d.get("sites_fixed_closed"), "pairs_kept": d.get("pairs_kept"),
               "mip_status": d.get("mip_status", d.get("proof", d.get("stopped"))), "load": round(_load(), 1)}
        rows.append(row)
        print(" ", row, flush=True)
    return rows


def bench_mclp(C, w, limit: float) -> list[dict]:
    from equicare.optimize.location import mclp

    rows = []
    for radius in (2000, 5000):
        for p in (10, 20):
            t = time.perf_counter()
            r = mclp(C, w, p, radius, time_limit=limit)
            secs = time.perf_counter() - t
            row = {"model": "mclp", "radius_m": radius, "p": p, "seconds": round(secs, 2),
                   "objective": round(r.objective), "bound": round(r.bound), "gap_pct": round(100 * r.gap, 4),
                   "proven_optimal": r.proven_optimal, "covered_share": round(r.details["covered_share"], 4),
                   "load": round(_load(), 1)}
            rows.append(row)
            print(" ", row, flush=True)
    return rows


def bench_cli(C, ids, w, limit: float) -> None:
    import subprocess
    import sys
    import tempfile

    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with tempfile.TemporaryDirectory() as tmp:
        n = len(ids)
        cost = Path(tmp) / "C.csv"
        pcsv.write_csv(pa.table({"origin": np.repeat(ids, n), "destination": np.tile(ids, n), "cost": C.ravel()}),
                       cost)
        pd.DataFrame({"id": ids, "pop": w}).to_csv(Path(tmp) / "D.csv", index=False)
        from equicare.optimize.location.costs import cost_table_from_long, read_cost_csv

        t = time.perf_counter()
        df = read_cost_csv(str(cost))
        t_read = time.perf_counter() - t
        cost_table_from_long(df, demand_ids=ids)
        t_table = time.perf_counter() - t - t_read
        print(f"  read {len(df):,} rows ({cost.stat().st_size / 1e6:.0f} MB) in {t_read:.2f} s (pyarrow); "
              f"sorted pair table in {t_table:.2f} s", flush=True)
        out = Path(tmp) / "o.json"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "equicare", "locate", "--cost", str(cost), "--demand",
                        str(Path(tmp) / "D.csv"), "--demand-value", "pop", "--model", "pmedian", "--p", "20",
                        "--time-limit", str(limit), "--out", str(out)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        import json

        res = json.loads(out.read_text())
        print(f"  equicare locate --p 20 --time-limit {limit:g}: whole command {time.perf_counter() - t:.1f} s "
              f"(Python start-up included), objective {res['objective']:,.0f}, bound {res['bound']:,.0f}, "
              f"gap {100 * res['gap']:.4f}%, proven_optimal {res['proven_optimal']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve (default 120)")
    ap.add_argument("--only", choices=["pmedian", "mclp", "cli"])
    a = ap.parse_args()
    C, w, ids = chicago_all()
    print(f"Chicago all candidates: {C.shape[0]} x {C.shape[1]} = {C.size:,} pairs; load {_load():.1f}")
    if a.only in (None, "pmedian"):
        bench_pmedian(C, w, a.time_limit)
    if a.only in (None, "mclp"):
        bench_mclp(C, w, a.time_limit)
    if a.only in (None, "cli"):
        bench_cli(C, ids, w, 30.0)


if __name__ == "__main__":
    main()
