"""Benchmark of facility location at full scale (issue #18): every Chicago tract a candidate site.

Run:  .venv/bin/python bench/bench_locate.py [--time-limit SECONDS] [--only pmedian|mclp|pcenter|spopt|sparse|cli]
(everything: about 20 minutes at most, every solve bounded by its time limit)

1. p-median on all 1,930 Chicago tracts (``../shared/data/chicago``, demand = population, Euclidean
   metres in EPSG:2790) with every tract a candidate site (1,930 x 1,930 = 3.7 million pairs) at
   p = 10, 20 and 50: time to the proven optimum (goal: under 60 s each on the 2-core machine), or the
   objective, bound and gap reached within the time limit.
2. MCLP on the same instance with radii 2 km and 5 km (p = 10, 20 and 50), and the p-center (p = 10, 20
   and 50): time to the proven optimum, or the objective, bound and gap within the time limit.
3. The command end to end on the 3.7-million-row cost table (pyarrow read included): ``equicare locate
   --model pmedian --p 20 --time-limit T``, whose limit bounds the whole command.

4. The 1,930 x 193 instance (every tenth tract a candidate) against PySAL spopt (HiGHS through PuLP), p-median
   p = 10 and 20: both times, their ratio and whether the objectives agree.
5. Sparse instances with a cost cut-off (random points, seeded): p-center, LSCP, MCLP and the capacitated
   p-median on the pairs within the cut-off only (no demand x sites matrix anywhere).
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
        row = {"model": "pmedian", "p": p, "seconds": round(secs, 1),
               "time_to_proven_optimum_s": round(secs, 1) if r.proven_optimal else None,
               "objective": round(r.objective),
               "bound": round(r.bound), "gap_pct": round(100 * r.gap, 4), "proven_optimal": r.proven_optimal,
               "sites_fixed_closed": d.get("sites_fixed_closed"), "pairs_kept": d.get("pairs_kept"),
               "method": d.get("method"), "tree_nodes": d.get("tree_nodes"),
               "mip_status": d.get("mip_status", d.get("proof", d.get("stopped"))), "load": round(_load(), 1)}
        rows.append(row)
        print(" ", row, flush=True)
    return rows


def bench_mclp(C, w, limit: float) -> list[dict]:
    from equicare.optimize.location import mclp

    rows = []
    for radius in (2000, 5000):
        for p in (10, 20, 50):
            t = time.perf_counter()
            r = mclp(C, w, p, radius, time_limit=limit)
            secs = time.perf_counter() - t
            row = {"model": "mclp", "radius_m": radius, "p": p, "seconds": round(secs, 2),
                   "time_to_proven_optimum_s": round(secs, 1) if r.proven_optimal else None,
                   "objective": round(r.objective), "bound": round(r.bound), "gap_pct": round(100 * r.gap, 4),
                   "proven_optimal": r.proven_optimal, "covered_share": round(float(r.details["covered_share"]), 4),
                   "load": round(_load(), 1)}
            rows.append(row)
            print(" ", row, flush=True)
    return rows


def bench_pcenter(C, limit: float) -> list[dict]:
    from equicare.optimize.location import p_center

    rows = []
    for p in (10, 20, 50):
        t = time.perf_counter()
        r = p_center(C, p, time_limit=limit)
        secs = time.perf_counter() - t
        row = {"model": "pcenter", "p": p, "seconds": round(secs, 2),
               "time_to_proven_optimum_s": round(secs, 1) if r.proven_optimal else None,
               "objective_m": round(r.objective, 1), "bound_m": round(r.bound, 1), "gap_pct": round(100 * r.gap, 4),
               "proven_optimal": r.proven_optimal, "points_used": r.details.get("points_used"),
               "probes": r.details.get("probes"), "load": round(_load(), 1)}
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


SPOPT_CHILD = """
import sys, time, warnings
import numpy as np
import pulp
from spopt.locate import PMedian
warnings.simplefilter("ignore")
z = np.load(sys.argv[1]); p = int(sys.argv[2]); limit = float(sys.argv[3])
t = time.perf_counter()
m = PMedian.from_cost_matrix(z["C"], z["w"], p_facilities=p)
built = time.perf_counter() - t
try:
    m = m.solve(pulp.HiGHS(msg=False, timeLimit=limit))
    obj = float(m.problem.objective.value())
except RuntimeError:
    obj = float("nan")
print(obj, built, time.perf_counter() - t)
"""


def _spopt_pmedian(C, w, p: int, limit: float) -> tuple[float, float, str]:
    """spopt's p-median in a child process killed at ``2 * limit + 60`` s (PuLP does not bound the model
    build, and its HiGHS run overran its time limit by minutes here): (objective or nan, seconds, note)."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "inst.npz"
        np.savez(f, C=C, w=w)
        hard = 2 * limit + 60
        t = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, "-c", SPOPT_CHILD, str(f), str(p), str(limit)], capture_output=True,
                                 text=True, timeout=hard)
        except subprocess.TimeoutExpired:
            return float("nan"), time.perf_counter() - t, f"stopped at {hard:g} s (no answer)"
        try:  # the child's own build + solve time (no interpreter start-up), as for equicare
            obj, built, secs = (float(v) for v in out.stdout.split()[-3:])
        except ValueError:
            return float("nan"), time.perf_counter() - t, "failed: " + out.stderr.strip()[-200:]
        note = f"model built in {built:.1f} s" + ("" if secs - built < 0.98 * limit else ", solve hit its limit")
        return obj, secs, note


def bench_spopt(limit: float) -> list[dict]:
    from equicare.optimize.location import p_median

    C, w, _ids = chicago_all()
    C = C[:, ::10]
    print(f"  1,930 x 193: {C.shape[0]} tracts x {C.shape[1]} candidate sites (every tenth tract)")
    rows = []
    for p in (10, 20):
        t = time.perf_counter()
        r = p_median(C, w, p, time_limit=limit)
        ours = time.perf_counter() - t
        obj, theirs, note = _spopt_pmedian(C, w, p, limit)
        row = {"p": p, "equicare_s": round(ours, 2), "equicare_objective": round(r.objective),
               "equicare_bound": round(r.bound), "equicare_gap_pct": round(100 * r.gap, 4),
               "proven_optimal": r.proven_optimal, "method": r.details.get("method"),
               "tree_nodes": r.details.get("tree_nodes"), "pairs_kept": r.details.get("pairs_kept"),
               "spopt_s": round(theirs, 2), "spopt_objective": round(obj) if np.isfinite(obj) else None,
               "spopt_note": note, "ratio_spopt_over_equicare": round(theirs / ours, 1),
               "same_objective": bool(np.isfinite(obj) and abs(obj - r.objective) <= 1e-6 * abs(r.objective)),
               "load": round(_load(), 1)}
        rows.append(row)
        print(" ", row, flush=True)
    return rows


def sparse_instance(n: int, m: int, cut: float, seed: int = 1):
    """``n`` random points in a 100 x 100 square, ``m`` of them candidate sites, pairs within ``cut`` only."""
    from scipy.spatial import cKDTree

    from equicare.optimize.location.rows import SortedRows

    rng = np.random.default_rng(seed)
    P = rng.random((n, 2)) * 100
    S = P[rng.choice(n, m, replace=False)]
    near = cKDTree(S).query_ball_point(P, cut)
    ii = np.repeat(np.arange(n), [len(x) for x in near])
    jj = np.concatenate(near).astype(np.int64)
    d = np.hypot(*(P[ii] - S[jj]).T)
    return SortedRows.from_pairs(ii, jj, d, n, m), rng.integers(1, 100, n).astype(float)


def bench_sparse(limit: float) -> list[dict]:
    from equicare.optimize.location import capacitated_p_median, lscp, mclp, p_center

    out = []
    for n, m, cut in ((20_000, 2_000, 15.0), (5_000, 500, 20.0), (2_000, 200, 20.0)):
        rows, w = sparse_instance(n, m, cut)
        print(f"  sparse: {n:,} points x {m:,} sites, {rows.nnz:,} pairs within the cut-off {cut:g}", flush=True)
        if n > 2_000:
            runs = [("pcenter p=60", lambda: p_center(rows, 60, time_limit=limit)),
                    ("lscp R=10", lambda: lscp(rows, 10.0, time_limit=limit)),
                    ("mclp p=40 R=8", lambda: mclp(rows, w, 40, 8.0, time_limit=limit))]
        else:  # the capacitated model has a binary column and a row per pair: a smaller table
            Q = np.full(m, 1.3 * w.sum() / 30)
            runs = [("cpmedian p=30", lambda: capacitated_p_median(rows, w, Q, 30, time_limit=limit))]
        for name, run in runs:
            t = time.perf_counter()
            try:
                r = run()
            except Exception as exc:  # e.g. no solution within the limit: say so, go on
                print(f"  {n}x{m} {name}: {type(exc).__name__}: {exc} ({time.perf_counter() - t:.1f} s)", flush=True)
                continue
            row = {"instance": f"{n}x{m}", "model": name, "seconds": round(time.perf_counter() - t, 2),
                   "objective": round(r.objective, 4), "bound": round(r.bound, 4), "gap_pct": round(100 * float(r.gap), 4),
                   "proven_optimal": bool(r.proven_optimal), "load": round(_load(), 1)}
            out.append(row)
            print(" ", row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=90.0, help="seconds per solve (default 90)")
    ap.add_argument("--only", choices=["pmedian", "mclp", "pcenter", "spopt", "sparse", "cli"])
    a = ap.parse_args()
    C, w, ids = chicago_all()
    print(f"Chicago all candidates: {C.shape[0]} x {C.shape[1]} = {C.size:,} pairs; load {_load():.1f}; "
          f"time limit {a.time_limit:g} s per solve")
    if a.only in (None, "pmedian"):
        bench_pmedian(C, w, a.time_limit)
    if a.only in (None, "mclp"):
        bench_mclp(C, w, a.time_limit)
    if a.only in (None, "pcenter"):
        bench_pcenter(C, a.time_limit)
    if a.only in (None, "spopt"):
        bench_spopt(a.time_limit)
    if a.only in (None, "sparse"):
        bench_sparse(min(a.time_limit, 60.0))
    if a.only in (None, "cli"):
        bench_cli(C, ids, w, 30.0)


if __name__ == "__main__":
    main()
