"""Benchmark of equicare.scale: scenario sweeps and national-scale access on a local Dask cluster.

Run:  .venv/bin/python bench/bench_scale.py [--quick] [--only sweep|county|access]

1. A 200-point sweep of the bundled state scenario (``examples/flu_surge_states.yaml``: budget x severity x
   ICU-bed stock) with 1 and 2 local worker processes: wall time, seconds per point, speed-up.  From these,
   the cost per point that sizes a cluster for 100,000 points.
2. A county-level sweep: 3,100+ counties x 23 demand scenarios (state scenarios shared out by population),
   budget x stock.
3. National access: 100,000 origins x 5,000 facilities, 2SFCA within 60 km great-circle, split into chunks of
   origins on 2 workers, against the same computation in one process (values compared), with the peak
   memory of each worker and of the single process.

Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_state_sweep(points: int) -> None:
    from equicare.scale.sweep import Grid, run_sweep

    budgets = [int(b) for b in np.linspace(20e6, 80e6, 10)]
    sev = [1.5, 2.0, 2.5, 3.0, 3.5]
    stock = [1500, 2500, 3500, 4500]
    grid = Grid(("budget", "demand.severity", "resources.icu_beds.stock"), (tuple(budgets), tuple(sev), tuple(stock)))
    if points < grid.size:  # --quick: fewer budgets
        keep = max(1, points // (len(sev) * len(stock)))
        grid = Grid(grid.keys, (tuple(budgets[:keep]), tuple(sev), tuple(stock)))
    print(f"== state sweep: {grid.size} points of examples/flu_surge_states.yaml (51 states, 2 resource types, "
          f"23 scenarios, pooling)")
    times = {}
    for w in (1, 2):
        out = Path(tempfile.mkdtemp(prefix=f"equicare-sweep-{w}-"))
        t = time.perf_counter()
        res = run_sweep(ROOT / "examples" / "flu_surge_states.yaml", grid, out, workers=w)
        times[w] = time.perf_counter() - t
        solve = res.table["seconds"].to_numpy()
        print(f"  {w} worker(s): {times[w]:.1f} s wall, {times[w] / grid.size:.3f} s per point end to end; "
              f"task time per point median {np.median(solve):.3f} s, max {solve.max():.3f} s; "
              f"{res.failed} without an optimal answer")
        if w == 2:
            ok = res.table[res.table["status"] == "optimal"]
            print(f"  frontier: minimum share {ok['min_share'].min():.1%} .. {ok['min_share'].max():.1%}; "
                  f"report {out / 'report.html'}")
        shutil.rmtree(out) if w == 1 else None
    print(f"  speed-up 2 workers vs 1: {times[1] / times[2]:.2f}x")
    per_point_cpu = times[1] / grid.size
    for cores in (2, 16, 64, 256):
        print(f"  sizing: 100,000 points on {cores} worker cores ~ {100_000 * per_point_cpu / cores / 3600:.2f} h "
              f"(at {per_point_cpu:.3f} core-seconds per point, scaling as measured here)")


def bench_county_sweep(points: int) -> None:
    from bench_optimize import four_resource_tables

    from equicare.scale.sweep import Grid, run_sweep

    ids, resources, capacity, D, scen, max_alloc = four_resource_tables("county")
    d = Path(tempfile.mkdtemp(prefix="equicare-county-"))
    pd.DataFrame({"id": ids}).to_csv(d / "regions.csv", index=False)
    pd.DataFrame({"region": ids, "resource": "icu_beds", "capacity": capacity[:, 0]}).to_csv(d / "capacity.csv",
                                                                                            index=False)
    S, n = D.shape[0], D.shape[1]
    pd.DataFrame({"region": np.tile(ids, S), "resource": "icu_beds", "scenario": np.repeat(scen, n),
                  "value": D[:, :, 0].ravel()}).to_csv(d / "demand.csv", index=False)
    spec = {"name": "county ICU beds", "regions": {"file": "regions.csv"}, "capacity": {"file": "capacity.csv"},
            "demand": {"file": "demand.csv"},
            "resources": {"icu_beds": {"unit": "bed", "unit_cost": 20000, "stock": 2500}},
            "budget": 60000000, "objective": "leximin", "uncertainty": {"mode": "expected"}}
    (d / "county.yaml").write_text(yaml.safe_dump(spec))
    stocks = (1000, 2000, 3000, 4000)
    budgets = (20000000, 40000000, 60000000, 80000000)[: max(1, points // len(stocks))]
    grid = Grid(("budget", "resources.icu_beds.stock"), (budgets, stocks))
    print(f"== county sweep: {grid.size} points, {len(ids):,} counties x {S} scenarios")
    t = time.perf_counter()
    res = run_sweep(d / "county.yaml", grid, d / "out", workers=2)
    wall = time.perf_counter() - t
    print(f"  2 workers: {wall:.1f} s wall, task time per point median {res.table['seconds'].median():.2f} s; "
          f"status {res.table['status'].value_counts().to_dict()}")
    shutil.rmtree(d)


def bench_access(n: int, m: int, chunk: int) -> None:
    from distributed import Client, LocalCluster

    from equicare.analyze.access import two_step_fca
    from equicare.analyze.costs import great_circle_costs
    from equicare.scale.chunked_access import CoordinateCosts, chunked_access

    rng = np.random.default_rng(0)
    # origins and facilities spread over the contiguous US, denser in a few metro areas
    centres = np.array([[40.7, -74.0], [34.0, -118.2], [41.9, -87.6], [29.8, -95.4], [33.4, -112.1],
                        [39.7, -105.0], [47.6, -122.3], [25.8, -80.2], [33.7, -84.4], [42.4, -71.1]])

    def pts(k):
        half = k // 2
        c = centres[rng.integers(0, len(centres), half)] + rng.normal(0, 0.6, (half, 2))
        u = np.c_[rng.uniform(25, 49, k - half), rng.uniform(-124, -67, k - half)]
        return np.r_[c, u]

    o, f = pts(n), pts(m)
    dem, sup = rng.uniform(100, 5000, n), rng.uniform(5, 500, m)
    print(f"== national access: {n:,} origins x {m:,} facilities, 2SFCA within 60 km great-circle")
    # the cluster starts first, so its worker processes do not inherit this process's later peak
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50) as cl, \
            Client(cl) as client:
        t = time.perf_counter()
        chunked_access("2sfca", CoordinateCosts(o[:50, 0], o[:50, 1], f[:, 0], f[:, 1], 60.0), dem[:50], sup,
                       client=client, chunk_rows=25)  # warm-up: imports on the workers
        print(f"  cluster warm-up (imports on the workers): {time.perf_counter() - t:.2f} s")
        base = client.run(_peak_rss_mb)
        t = time.perf_counter()
        got = chunked_access("2sfca", CoordinateCosts(o[:, 0], o[:, 1], f[:, 0], f[:, 1], 60.0), dem, sup,
                             client=client, chunk_rows=chunk)
        t2 = time.perf_counter() - t
        peaks = client.run(_peak_rss_mb)
    before = _peak_rss_mb()
    t = time.perf_counter()
    C = great_circle_costs(o[:, 0], o[:, 1], f[:, 0], f[:, 1], 60.0)
    one = two_step_fca(C, dem, sup)
    t1 = time.perf_counter() - t
    print(f"  one process: {t1:.2f} s ({C.nnz:,} pairs in reach), peak RSS {_peak_rss_mb():,.0f} MB "
          f"(was {before:,.0f} MB before)")
    print(f"  2 workers, chunks of {chunk:,} origins: {t2:.2f} s")
    rel = float(np.max(np.abs(got - one) / np.maximum(np.abs(one), 1e-300)))
    print(f"  max relative difference between the two: {rel:.1e}")
    for w, p in peaks.items():
        print(f"    worker {w}: peak RSS {p:,.0f} MB (at start {base[w]:,.0f} MB)")
    print(f"  ratio one process / 2 workers: {t1 / t2:.2f}x (cluster start not counted)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 state points, 4 county points, 20,000 origins")
    ap.add_argument("--only", choices=["sweep", "county", "access"])
    a = ap.parse_args()
    if a.only in (None, "sweep"):
        bench_state_sweep(40 if a.quick else 200)
    if a.only in (None, "county"):
        bench_county_sweep(4 if a.quick else 8)
    if a.only in (None, "access"):
        bench_access(20_000 if a.quick else 100_000, 1_000 if a.quick else 5_000, 5_000 if a.quick else 10_000)


if __name__ == "__main__":
    main()
