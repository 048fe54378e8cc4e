"""Scale-out on Dask: sweeps equal serial solves, survive dead workers and runs, and access by chunks is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from equicare.analyze.access import compute_access
from equicare.analyze.costs import great_circle_costs
from equicare.errors import EquicareError, ValidationError
from equicare.optimize import allocate
from equicare.optimize.scenario import load_scenario
from equicare.scale.chunked_access import CoordinateCosts, MatrixCosts, chunked_access
from equicare.scale.sweep import Grid, apply_point, read_grid, run_sweep

from grid_network import grid_network
from scenario_fixture import SMALL_CORE

distributed = pytest.importorskip("distributed")

SMALL = {**SMALL_CORE, "regions": {"file": "regions.csv"}, "what_if": [{"name": "less money", "budget": 20}]}


@pytest.fixture(scope="module")
def client():
    """A two-worker cluster of this module's own: its tests kill workers and a sweep's client, so they do not
    share the session's cluster (tests/conftest.py) with the other files (a rerun after the killed sweep once
    waited forever on the shared cluster, in a full-suite run)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as c:
        yield c


def scenario(tmp_path: Path, spec=SMALL) -> Path:
    d = tmp_path / "scn"
    d.mkdir(exist_ok=True)
    (d / "regions.csv").write_text("id,name\nA,Alpha\nB,Beta\nC,Gamma\n")
    p = d / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def grid_file(tmp_path: Path, grid: dict) -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(grid, sort_keys=False))
    return p


def serial(path: Path, values: dict):
    """The point solved as `equicare allocate` would: the values written into the scenario file itself."""
    spec = yaml.safe_load(path.read_text())
    spec = apply_point(spec, values)
    p = path.parent / "serial.yaml"
    p.write_text(yaml.safe_dump(spec))
    return allocate(load_scenario(p)[0])


def test_sweep_equals_serial_solves(tmp_path, client):
    path = scenario(tmp_path)
    grid = {"budget": [20, 40, 60], "resources.beds.stock": [10, 30]}
    res = run_sweep(path, grid_file(tmp_path, grid), tmp_path / "out", client=client)
    t = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(t.columns[:7]) == ["budget", "resources.beds.stock", "min_share", "covered", "cost", "status",
                                   "seconds"]
    assert len(t) == 6 and res.solved_now == 6 and res.reused == 0
    assert (t["status"] == "optimal").all()
    for _, row in t.iterrows():
        r = serial(path, {"budget": int(row["budget"]), "resources.beds.stock": int(row["resources.beds.stock"])})
        assert row["min_share"] == pytest.approx(r.min_share, abs=1e-9)
        assert row["covered"] == pytest.approx(r.total_covered, abs=1e-9)
        assert row["cost"] == pytest.approx(r.total_cost, abs=1e-9)
    assert pd.read_parquet(tmp_path / "out" / "sweep.parquet").shape[0] == 6
    page = (tmp_path / "out" / "report.html").read_text()
    assert "minimum share of need met" in page and "resources.beds.stock = 10" in page
    # more money never lowers the worst-off share
    for _, g in t.groupby("resources.beds.stock"):
        assert np.all(np.diff(g.sort_values("budget")["min_share"].to_numpy()) >= -1e-9)


def test_sweep_keys_on_the_cluster_are_its_own(tmp_path, client):
    # Every key a sweep puts on a (long-lived, shared) scheduler is unique to the run: none is named after a key of
    # the scenario mapping ("budget", "resources", ...), which every run of every sweep would share. Such shared keys
    # made a rerun after a killed run fail with FutureCancelledError (the killed client's data was released).
    path = scenario(tmp_path)
    seen: list[set] = []

    def progress(done, total):
        if 0 < done < total:
            seen.append(set(client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])))

    run_sweep(path, grid_file(tmp_path, {"budget": [20, 40, 60]}), tmp_path / "out", client=client, progress=progress)
    names = set(yaml.safe_load(path.read_text()))
    assert seen and all(keys and not keys & names for keys in seen)


def test_failed_point_is_reported_and_does_not_stop_the_others(tmp_path, client):
    path = scenario(tmp_path)
    res = run_sweep(path, grid_file(tmp_path, {"objective": ["leximin", "fairest"], "budget": [60]}),
                    tmp_path / "o", client=client)
    t = res.table.set_index("objective")
    assert t.loc["leximin", "status"] == "optimal"
    assert t.loc["fairest", "status"] == "invalid" and "objective" in t.loc["fairest", "message"]
    assert "Points without an answer (1)" in (tmp_path / "o" / "report.html").read_text()


def test_rerun_skips_completed_points(tmp_path, client):
    path = scenario(tmp_path)
    g = grid_file(tmp_path, {"budget": [10, 20, 30, 40], "resources.beds.stock": [15, 30]})
    first = run_sweep(path, g, tmp_path / "out", client=client)
    files = sorted((tmp_path / "out" / "points").glob("*.json"))
    assert len(files) == 8
    for f in files[:3]:
        f.unlink()
    again = run_sweep(path, g, tmp_path / "out", client=client)
    assert again.solved_now == 3 and again.reused == 5
    pd.testing.assert_frame_equal(first.table.drop(columns="seconds"), again.table.drop(columns="seconds"))
    # an edited input file makes every point new
    (path.parent / "regions.csv").write_text("id,name\nA,Alpha\nB,Beta\nC,Gamma!\n")
    assert run_sweep(path, g, tmp_path / "out", client=client).solved_now == 8


def test_worker_killed_mid_sweep_loses_nothing(tmp_path, client):
    path = scenario(tmp_path)
    g = grid_file(tmp_path, {"budget": list(range(5, 65, 5)), "resources.beds.stock": [10, 20]})
    pids = client.run(os.getpid)
    killed = []

    def progress(done, total):
        if done >= 1 and not killed:
            victim = sorted(pids)[0]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    res = run_sweep(path, g, tmp_path / "out", client=client, progress=progress)
    assert killed
    assert len(res.table) == 24 and (res.table["status"] == "optimal").all()
    assert len(list((tmp_path / "out" / "points").glob("*.json"))) == 24
    client.wait_for_workers(2, timeout=60)


def test_killed_run_keeps_completed_points_and_rerun_completes(tmp_path, client, run_cli):
    # The `equicare sweep` process is killed (SIGKILL) mid-run; it works on the module's cluster (--scheduler) so
    # that no cluster is started and no worker imports equicare again (the cluster outlives the killed client).
    path = scenario(tmp_path)
    g = grid_file(tmp_path, {"budget": list(range(5, 105, 5)), "resources.beds.stock": [10, 20]})
    out = tmp_path / "out"
    args = ["sweep", str(path), "--grid", str(g), "--out", str(out), "--scheduler", client.scheduler.address]
    proc = subprocess.Popen([sys.executable, "-m", "equicare", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "points").glob("*.json")) and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(list((out / "points").glob("*.json")))
    assert kept >= 1
    assert not (out / "sweep.csv").exists() or kept == 40
    code, stdout, err = run_cli(*args)  # the rerun, in this process
    assert code == 0, err
    assert f"{40 - kept:,} solved now, {kept:,} kept from an earlier run" in stdout
    t = pd.read_csv(out / "sweep.csv")
    assert len(t) == 40 and (t["status"] == "optimal").all()


def test_grid_file_errors(tmp_path):
    for text, rule in [("[1, 2]", "mapping"), ("budget: []", "at least one value"), ("budget: [1, 1]", "repeated"),
                       ("a..b: [1]", "empty parts"), ("budget: [{x: 1}]", "plain numbers")]:
        p = tmp_path / "g.yaml"
        p.write_text(text)
        with pytest.raises(ValidationError, match=rule):
            read_grid(p)
    assert read_grid(grid_file(tmp_path, {"a": 1, "b.c": [1, 2]})) == Grid(("a", "b.c"), ((1,), (1, 2)))
    with pytest.raises(ValidationError, match="'budget' in the scenario is not a mapping"):
        apply_point({"budget": 5}, {"budget.x": 1})


def test_sweep_cli_usage_errors(tmp_path, run_cli):
    path = scenario(tmp_path)
    g = grid_file(tmp_path, {"budget": [10]})
    code, _, err = run_cli("sweep", path, "--grid", g, "--out", tmp_path / "o", "--workers", "2", "--scheduler",
                           "tcp://127.0.0.1:1")
    assert code == 2 and "not both" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------- access
def _points(seed=3, n=2500, m=150):
    rng = np.random.default_rng(seed)
    return (rng.uniform(30, 45, n), rng.uniform(-100, -80, n), rng.uniform(30, 45, m), rng.uniform(-100, -80, m),
            rng.uniform(0, 1000, n), rng.uniform(0, 50, (m, 2)))


@pytest.mark.parametrize("method,params", [
    ("2sfca", {"max_cost": 100.0}),
    ("e2sfca", {"weights": {50: 1.0, 100: 0.5, 150: 0.1}}),
    ("gravity", {"scale": 10.0, "alpha": -1.0, "min_dist": 1.0}),
    ("gravity", {"sigma": 40.0}),
    ("nearest", {}),
])
def test_access_by_chunks_equals_one_process(client, method, params):
    ol, on, dl, dn, d, s = _points()
    one = compute_access(method, great_circle_costs(ol, on, dl, dn, 150.0), d, s, **params)
    for costs in (CoordinateCosts(ol, on, dl, dn, 150.0), MatrixCosts(great_circle_costs(ol, on, dl, dn, 150.0))):
        got = chunked_access(method, costs, d, s, client=client, chunk_rows=600, **params)
        np.testing.assert_allclose(got, one, rtol=1e-12, atol=0)


def test_access_methods_that_cannot_be_chunked_are_refused(client):
    ol, on, dl, dn, d, s = _points(n=50, m=5)
    for m in ("raam", "3sfca", "fca"):
        with pytest.raises(EquicareError, match="cannot be split by origins"):
            chunked_access(m, CoordinateCosts(ol, on, dl, dn, 150.0), d, s, client=client)


def test_access_by_chunks_checks_parameters_as_one_process(client):
    ol, on, dl, dn, d, s = _points(n=50, m=5)
    costs = CoordinateCosts(ol, on, dl, dn, 150.0)
    for method, params, msg in [("2sfca", {}, "needs max_cost"), ("e2sfca", {}, "weights"),
                                ("nearest", {"alpha": -1.0}, "does not use"), ("gravity", {}, "scale and alpha")]:
        with pytest.raises(EquicareError, match=msg):
            chunked_access(method, costs, d, s, client=client, **params)


def test_access_cli_with_scheduler_equals_without(tmp_path, run_cli, client):
    ol, on, dl, dn, d, s = _points(n=400, m=30)
    cost = great_circle_costs(ol, on, dl, dn, 200.0).tocoo()
    pd.DataFrame({"id": [f"o{i}" for i in range(400)], "population": d}).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame({"id": [f"s{j}" for j in range(30)], "beds": s[:, 0]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"origin": [f"o{i}" for i in cost.row], "destination": [f"s{j}" for j in cost.col],
                  "cost": cost.data}).to_csv(tmp_path / "c.csv", index=False)
    base = ["access", "--demand", tmp_path / "d.csv", "--supply", tmp_path / "s.csv", "--cost", tmp_path / "c.csv",
            "--method", "2sfca", "--max-cost", "120", "--supply-value", "beds"]
    # in-process, on the session's cluster (--scheduler); test_costs_cli_with_workers_equals_without starts a
    # local cluster of its own (--workers), the other way of the same options
    a = run_cli(*base, "--out", tmp_path / "a.csv")
    b = run_cli(*base, "--out", tmp_path / "b.csv", "--scheduler", client.scheduler.address, "--chunk-rows", "90")
    assert a[0] == 0 and b[0] == 0, a[2] + b[2]
    ta, tb = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert list(ta["id"]) == list(tb["id"])
    np.testing.assert_allclose(tb["2sfca_beds"], ta["2sfca_beds"], rtol=1e-12)


# ------------------------------------------------------------------------------------------- travel costs
def _grid_network(seed=5, n=12):
    rng = np.random.default_rng(seed)
    net, xy = grid_network(rng, n, p_oneway=0.3, speeds=[20.0, 50.0])
    return net, xy, rng


def test_travel_costs_by_chunks_equal_one_process(client):
    from pyproj import Transformer

    from equicare.analyze.travel import travel_costs
    from equicare.analyze.travel.points import points_from_frame
    from equicare.scale.chunked_costs import chunked_travel_costs

    net, xy, rng = _grid_network()
    pts = rng.uniform(xy.min(0) - 400, xy.max(0) + 400, (130, 2))  # some beyond the snap limit
    lon, lat = Transformer.from_crs(net.crs, 4326, always_xy=True).transform(pts[:, 0], pts[:, 1])
    O = points_from_frame(pd.DataFrame({"id": [f"o{i}" for i in range(110)], "lat": lat[:110], "lon": lon[:110]}))
    D = points_from_frame(pd.DataFrame({"id": [f"d{i}" for i in range(20)], "lat": lat[110:], "lon": lon[110:]}))
    for limit in (None, 3.0):
        one = travel_costs(O, D, network=net, max_minutes=limit, max_snap_m=200)
        got = chunked_travel_costs(O, D, net, max_minutes=limit, client=client, chunk_rows=25, max_snap_m=200)
        assert list(zip(got.table.origin, got.table.destination)) == list(zip(one.table.origin, one.table.destination))
        np.testing.assert_allclose(got.table["cost"], one.table["cost"], rtol=1e-9)
        np.testing.assert_allclose(got.table["distance_m"], one.table["distance_m"], rtol=1e-9, atol=1e-6)
        assert (got.n_absent, got.n_absent_unjoined) == (one.n_absent, one.n_absent_unjoined)
        pd.testing.assert_frame_equal(got.snaps, one.snaps)
        assert "chunks" in got.assumptions[-1]


def test_costs_cli_with_workers_equals_without(tmp_path, run_cli):
    import geopandas as gpd
    import shapely

    n = 6
    x, y = np.meshgrid(np.arange(n) * 400.0 + 5e5, np.arange(n) * 400.0 + 6.6e6)
    lines = [shapely.LineString([(x[i, 0], y[i, 0]), (x[i, -1], y[i, -1])]) for i in range(n)]
    lines += [shapely.LineString([(x[0, j], y[0, j]), (x[-1, j], y[-1, j])]) for j in range(n)]  # needs noding
    gpd.GeoDataFrame({"speed": [30.0] * len(lines)}, geometry=lines, crs="EPSG:32635").to_file(
        tmp_path / "roads.geojson", driver="GeoJSON")
    rng = np.random.default_rng(2)
    pts = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(5e5, 5e5 + 2000, 40), rng.uniform(6.6e6, 6.6e6 + 2000, 40)),
                        crs="EPSG:32635").to_crs(4326)
    pd.DataFrame({"id": [f"o{i}" for i in range(30)], "lat": pts.y[:30], "lon": pts.x[:30]}).to_csv(
        tmp_path / "o.csv", index=False)
    pd.DataFrame({"id": [f"d{i}" for i in range(10)], "lat": pts.y[30:].to_numpy(), "lon": pts.x[30:].to_numpy()}
                 ).to_csv(tmp_path / "d.csv", index=False)
    base = ["costs", "--origins", tmp_path / "o.csv", "--destinations", tmp_path / "d.csv", "--network",
            tmp_path / "roads.geojson"]
    a = run_cli(*base, "--out", tmp_path / "a.csv")
    b = run_cli(*base, "--out", tmp_path / "b.csv", "--workers", "1", "--chunk-rows", "7")
    assert a[0] == 0 and b[0] == 0, a[2] + b[2]
    ta, tb = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert len(ta) == 300 and list(ta["origin"]) == list(tb["origin"])
    np.testing.assert_allclose(tb["cost"], ta["cost"], rtol=1e-9)
    assert "chunks" in b[2]
