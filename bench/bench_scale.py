"""Benchmark of equicare.scale: scenario sweeps and national-scale access on a local Dask cluster (issue #16).

Run:  .venv/bin/python bench/bench_scale.py                  # everything, the sizes issue #16 asks for
      .venv/bin/python bench/bench_scale.py --quick          # 40 state points, 4 county points, 20,000 origins
      .venv/bin/python bench/bench_scale.py --points 200 --county-points 8 --origins 100000 --facilities 5000
      .venv/bin/python bench/bench_scale.py --only sweep     # or county, access
      .venv/bin/python bench/bench_scale.py --write-docs     # also write the figures into docs/scale.md

1. A sweep of the bundled state scenario (``examples/flu_surge_states.yaml``: budget x severity x ICU-bed
   stock; 200 points by default) with 1 and 2 local worker processes: wall time, seconds per point, speed-up.
   From these, the cost per point and the arithmetic that sizes a cluster for 100,000 points.
2. A county-level sweep: 3,100+ counties x 23 demand scenarios (the state scenarios shared out by
   population, built from the bundled data; there is no county scenario in examples/), budget x stock.
3. National access: 100,000 origins x 5,000 facilities (synthetic points over the contiguous US), 2SFCA
   within 60 km great-circle, split into chunks of origins on 2 workers, against the same computation in one
   process (values compared), with the peak memory (RSS) of each worker and of the single process.

Every figure is printed on a line starting with ``FIGURE``; the run is bounded by its sizes. Never asserts on
time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
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


FIGURES: list[str] = []


def figure(text: str) -> None:
    """Print one labelled figure and keep it for docs/scale.md."""
    FIGURES.append(text)
    print(f"FIGURE  {text}", flush=True)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_state_sweep(points: int) -> None:
    from equicare.scale.sweep import Grid, run_sweep

    budgets = [int(b) for b in np.linspace(20e6, 80e6, 10)]
    sev = [1.5, 2.0, 2.5, 3.0, 3.5]
    stock = [1500, 2500, 3500, 4500]
    grid = Grid(("budget", "demand.severity", "resources.icu_beds.stock"), (tuple(budgets), tuple(sev), tuple(stock)))
    if points < grid.size:  # fewer budgets, spread over the range
        keep = max(1, points // (len(sev) * len(stock)))
        pick = np.unique(np.round(np.linspace(0, len(budgets) - 1, keep)).astype(int))
        grid = Grid(grid.keys, (tuple(budgets[i] for i in pick), tuple(sev), tuple(stock)))
    print(f"== state sweep: {grid.size} points of examples/flu_surge_states.yaml (51 states, 2 resource types, "
          f"23 scenarios, whole units, coverage floor, pooling with no-worse-off)", flush=True)
    times, per_task = {}, {}
    for w in (1, 2):
        out = Path(tempfile.mkdtemp(prefix=f"equicare-sweep-{w}-"))
        t = time.perf_counter()
        res = run_sweep(ROOT / "examples" / "flu_surge_states.yaml", grid, out, workers=w)
        times[w] = time.perf_counter() - t
        solve = res.table["seconds"].to_numpy()
        per_task[w] = solve
        status = res.table["status"].value_counts().to_dict()
        figure(f"state sweep, {grid.size} points, {w} worker(s): {times[w]:.1f} s wall (cluster start included), "
               f"{times[w] / grid.size:.3f} s per point end to end; per-point solve time median "
               f"{np.median(solve):.3f} s, mean {solve.mean():.3f} s, max {solve.max():.3f} s; status {status}")
        if w == 2:
            ok = res.table[res.table["status"] == "optimal"]
            if len(ok):
                print(f"  frontier: minimum share {ok['min_share'].min():.1%} .. {ok['min_share'].max():.1%}; "
                      f"report {out / 'report.html'}")
        if w == 1:
            shutil.rmtree(out)
    figure(f"state sweep speed-up, 2 workers vs 1: {times[1] / times[2]:.2f}x "
           f"({times[1]:.1f} s / {times[2]:.1f} s)")
    cps = float(per_task[1].mean())  # core-seconds per point: one worker process, one thread
    eff = times[1] / times[2] / 2
    figure(f"cost per point (state scenario): {cps:.3f} core-seconds (mean solve time of a point on 1 worker); "
           f"parallel efficiency on 2 local workers {eff:.0%}")
    for cores in (2, 16, 64, 256):
        hours = 100_000 * cps / cores / 3600
        figure(f"sizing: 100,000 points on {cores} worker cores = 100,000 x {cps:.3f} s / {cores} = "
               f"{100_000 * cps / cores:,.0f} s = {hours:.2f} h (+ cluster start; "
               f"{hours / max(eff, 1e-9):.2f} h at the {eff:.0%} efficiency measured here)")


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
    budgets = tuple(int(b) for b in np.linspace(20e6, 80e6, max(1, points // len(stocks))))
    grid = Grid(("budget", "resources.icu_beds.stock"), (budgets, stocks))
    print(f"== county sweep: {grid.size} points, {len(ids):,} counties x {S} scenarios, ICU beds, budget x stock",
          flush=True)
    t = time.perf_counter()
    res = run_sweep(d / "county.yaml", grid, d / "out", workers=2)
    wall = time.perf_counter() - t
    sec = res.table["seconds"]
    figure(f"county sweep, {grid.size} points ({len(ids):,} counties x {S} scenarios), 2 workers: {wall:.1f} s wall; "
           f"per-point solve time median {sec.median():.2f} s, max {sec.max():.2f} s; "
           f"status {res.table['status'].value_counts().to_dict()}")
    shutil.rmtree(d)


def _one_process(o: np.ndarray, f: np.ndarray, dem: np.ndarray, sup: np.ndarray):
    """The national 2SFCA in one process (run in a fresh one): values, seconds, pairs, peak and start RSS."""
    from equicare.analyze.access import two_step_fca
    from equicare.analyze.costs import great_circle_costs

    before = _peak_rss_mb()
    t = time.perf_counter()
    C = great_circle_costs(o[:, 0], o[:, 1], f[:, 0], f[:, 1], 60.0)
    one = two_step_fca(C, dem, sup, max_cost=60.0)
    return one, time.perf_counter() - t, int(C.nnz), _peak_rss_mb(), before


def bench_access(n: int, m: int, chunk: int) -> None:
    from distributed import Client, LocalCluster

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
                       client=client, chunk_rows=25, max_cost=60.0)  # warm-up: imports on the workers
        print(f"  cluster warm-up (imports on the workers): {time.perf_counter() - t:.2f} s")
        base = client.run(_peak_rss_mb)
        t = time.perf_counter()
        got = chunked_access("2sfca", CoordinateCosts(o[:, 0], o[:, 1], f[:, 0], f[:, 1], 60.0), dem, sup,
                             client=client, chunk_rows=chunk, max_cost=60.0)
        t2 = time.perf_counter() - t
        peaks = client.run(_peak_rss_mb)
    # the one-process run in a fresh process, so that its peak RSS is its own (not this process's history)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        one, t1, nnz, peak1, before = ex.submit(_one_process, o, f, dem, sup).result()
    figure(f"national access, {n:,} origins x {m:,} facilities ({nnz:,} pairs within 60 km), one process: "
           f"{t1:.2f} s, peak RSS {peak1:,.0f} MB (after imports {before:,.0f} MB)")
    figure(f"national access, 2 workers, chunks of {chunk:,} origins: {t2:.2f} s (cluster start not counted); "
           f"one process / 2 workers = {t1 / t2:.2f}x")
    rel = float(np.max(np.abs(got - one) / np.maximum(np.abs(one), 1e-300)))
    print(f"  max relative difference between the two: {rel:.1e}")
    for k, (w, p) in enumerate(sorted(peaks.items())):
        figure(f"national access, worker {k + 1} of 2: peak RSS {p:,.0f} MB (after imports and warm-up "
               f"{base[w]:,.0f} MB)")


def write_docs(path: Path, header: str) -> None:
    """Replace the measured block of docs/scale.md (between its markers) with this run's figures."""
    start, end = "<!-- bench_scale:start -->", "<!-- bench_scale:end -->"
    text = path.read_text()
    body = "\n".join([start, "", header, "", "```", *FIGURES, "```", "", end])
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    path.write_text(text)
    print(f"wrote the figures into {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 state points, 4 county points, 20,000 origins x 1,000")
    ap.add_argument("--only", choices=["sweep", "county", "access"])
    ap.add_argument("--points", type=int, help="state sweep points (default 200, multiples of 20)")
    ap.add_argument("--county-points", type=int, help="county sweep points (default 8, multiples of 4)")
    ap.add_argument("--origins", type=int, help="access origins (default 100,000)")
    ap.add_argument("--facilities", type=int, help="access facilities (default 5,000)")
    ap.add_argument("--chunk", type=int, help="origins per access chunk (default 10,000)")
    ap.add_argument("--write-docs", action="store_true", help="write the figures into docs/scale.md")
    a = ap.parse_args()
    q = a.quick
    load = os.getloadavg()
    header = (f"Measured on {os.cpu_count()} cores ({platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"load average {load[0]:.2f} at the start, by `python bench/bench_scale.py"
              f"{' --quick' if q else ''}`. A load average above the core count means other jobs shared the "
              f"machine; the times then overstate a quiet machine's.")
    print(header, flush=True)
    if a.only in (None, "sweep"):
        bench_state_sweep(a.points or (40 if q else 200))
    if a.only in (None, "county"):
        bench_county_sweep(a.county_points or (4 if q else 8))
    if a.only in (None, "access"):
        bench_access(a.origins or (20_000 if q else 100_000), a.facilities or (1_000 if q else 5_000),
                     a.chunk or (5_000 if q else 10_000))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if a.write_docs:
        write_docs(ROOT / "docs" / "scale.md", header)


if __name__ == "__main__":
    main()
