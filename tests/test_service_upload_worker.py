"""Uploads are parsed and checked in the service's worker processes, never in the web process.

In process (FastAPI's TestClient, a real worker pool): with the readers and checks made to fail in the web
process, a dataset upload, a rejected upload (the same file, row, column and rule as ``load_table`` gives), the
dashboard's upload form, a project upload and a project what-if still succeed -- so they ran elsewhere.
Live (``equicare serve`` on 127.0.0.1): while a 19 MB upload is checked, ``/health``, ``/api/me`` and the sign-in
page answer quickly, and the web process spends far less CPU than the worker that checked it.
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest
from fastapi.testclient import TestClient

from equicare.errors import ValidationError
from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.store import Store
from live_server import HealthProbe, Server
from service_runs import wait_for_run

FACILITIES = """id,name,region,lat,lon,cap_beds,cap_icu_beds
h1,General North,01,32.5,-86.6,120,12
h2,County Clinic,01,30.7,-87.7,40,0
h3,Valley Hospital,02,61.2,-149.9,300,30
"""
BAD = """id,name,region,lat,lon,cap_beds
h1,General North,01001,32.5,-86.6,120
h1,Duplicate,01003,95.0,-87.7,-4
"""
REGIONS = "code,name,population,lat,lon,need\n001,North,10000,1.0,36.0,30\n002,South,20000,1.2,36.2,10\n"
FAC = "id,lat,lon,district,beds,icu_beds\nh1,1.0,36.0,001,10,2\nh2,1.2,36.2,002,20,4\n"
PROJECT = """name: Two districts
regions: {file: regions.csv, id: code, name: name, population: population, lat: lat, lon: lon}
facilities: {file: fac.csv, id: id, lat: lat, lon: lon, region: district, capacity: [beds, icu_beds]}
access: {method: 2sfca, supply: beds, max_km: 100}
allocate: {resource: icu_beds, stock: 10, need: need}
"""


def H(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def post_file(client, token: str, text: str | bytes, *, kind="facilities", name="hospitals", filename="hosp.csv"):
    data = text if isinstance(text, bytes) else text.encode()
    return client.post("/api/datasets", headers=H(token), data={"kind": kind, "name": name},
                       files={"file": (filename, io.BytesIO(data), "text/csv")})


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    root = tmp_path_factory.mktemp("upw")
    store = Store(root / "store.duckdb")
    tokens = {"pat": add_user(store, "pat", "north", "planner"), "vic": add_user(store, "vic", "north", "viewer")}
    app = create_app(store=store, max_upload_bytes=256 * 1024, workers=PoolSettings(workers=1, warm=False))
    with TestClient(app) as client:
        yield client, tokens, store
    store.close()


@pytest.fixture
def no_checks_here(monkeypatch):
    """The readers, the row checks and the project parser fail if called in this (the web) process; a spawned
    worker imports its own, unpatched copies."""
    import equicare.data
    import equicare.data.load
    import equicare.project
    import equicare.project.allocation
    import equicare.project.geo
    import equicare.report.maps_geo
    import equicare.report.project_html

    def refuse(*a, **k):
        raise AssertionError("an upload was parsed or checked, or a page drawn, in the web process")

    for mod, name in ((equicare.data, "load_table"), (equicare.data.load, "load_table"),
                      (equicare.data.load, "read_table"), (equicare.project, "load_project"),
                      (equicare.project, "check_project"), (equicare.project.allocation, "whatif_allocation"),
                      (equicare.project.geo, "shapes_geojson"), (equicare.report.maps_geo, "svg_region_map"),
                      (equicare.report.project_html, "readable")):
        monkeypatch.setattr(mod, name, refuse, raising=False)


def test_validation_error_crosses_the_process_boundary_whole():
    """A worker's rejection reaches the web process with every problem, the counts and the same message."""
    import pickle

    from equicare.errors import Problem

    err = ValidationError([Problem("f.csv", 3, "lat", "must be between -90 and 90", 95.0)] * 3, max_shown=2,
                          counts={"lat: must be between -90 and 90": 1234})
    back = pickle.loads(pickle.dumps(err))
    assert back.to_dict() == err.to_dict() and str(back) == str(err) and back.args == err.args
    assert back.max_shown == 2 and back.n_problems == 1234


def test_dataset_upload_is_checked_in_a_worker(svc, no_checks_here):
    client, tokens, store = svc
    before = len(store.list_datasets())
    ok = post_file(client, tokens["pat"], FACILITIES, filename="../../etc/hosp.csv")
    assert ok.status_code == 201, ok.text
    info = store.dataset_info(ok.json()["id"])
    assert info["source"] == "upload:hosp.csv" and info["org"] == "north" and info["n_rows"] == 3
    rows = store.get_dataset(ok.json()["id"])
    assert rows["id"].tolist() == ["h1", "h2", "h3"] and rows["cap_beds"].tolist() == [120, 40, 300]
    assert len(store.list_datasets()) == before + 1
    detail = json.loads(store.query("SELECT detail FROM audit_log WHERE target = ?",
                                    [f"dataset:{ok.json()['id']}"])["detail"].iloc[0])
    assert detail["file"] == "hosp.csv" and detail["worker_pid"] != os.getpid()  # checked by another process
    workers = {c.pid for c in psutil.Process().children(recursive=True)}
    assert detail["worker_pid"] in workers  # a worker of this service's pool
    # a viewer may not upload (checked before anything is read or sent to a worker)
    assert post_file(client, tokens["vic"], FACILITIES).status_code == 403
    assert len(store.list_datasets()) == before + 1


def test_rejected_upload_says_what_load_table_says(svc, monkeypatch):
    client, tokens, store = svc
    from equicare.data import load_table

    with pytest.raises(ValidationError) as here:  # the reference: the same check in this process
        load_table(BAD.encode(), "facilities", name="bad.csv")
    import equicare.data
    import equicare.data.load

    def refuse(*a, **k):
        raise AssertionError("an upload was checked in the web process")

    monkeypatch.setattr(equicare.data, "load_table", refuse)
    monkeypatch.setattr(equicare.data.load, "load_table", refuse)
    before = len(store.list_datasets())
    r = post_file(client, tokens["pat"], BAD, filename="C:\\Users\\x\\bad.csv")
    assert r.status_code == 422
    assert r.json() == here.value.to_dict()  # file, row (header is row 1), column and rule, as equicare load
    assert {(p["row"], p["column"]) for p in r.json()["problems"]} >= {(3, "lat"), (3, "cap_beds")}
    assert len(store.list_datasets()) == before  # nothing stored
    r = post_file(client, tokens["pat"], FACILITIES, kind="patients")
    assert r.status_code == 422 and "kind must be one of" in r.json()["message"]
    big = post_file(client, tokens["pat"], "id,name\n" + "x,y\n" * 80_000)
    assert big.status_code == 413 and len(store.list_datasets()) == before


def test_dashboard_upload_form_checked_in_a_worker(svc, no_checks_here):
    client, tokens, store = svc
    r = client.post("/login", data={"name": "pat", "token": tokens["pat"]}, follow_redirects=False)
    assert r.status_code == 303
    try:
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/").text).group(1)
        files = {"file": ("a/b/form.csv", io.BytesIO(FACILITIES.encode()), "text/csv")}
        assert client.post("/ui/upload", data={"kind": "facilities"}, files=files).status_code == 403  # no CSRF
        files = {"file": ("a/b/form.csv", io.BytesIO(FACILITIES.encode()), "text/csv")}
        r = client.post("/ui/upload", data={"kind": "facilities", "name": "via form", "csrf_token": csrf},
                        files=files, follow_redirects=False)
        assert r.status_code == 303, r.text[:500]
        ds = int(r.headers["location"].rsplit("/", 1)[1])
        assert store.dataset_info(ds)["source"] == "upload:form.csv"
        files = {"file": ("x/bad.csv", io.BytesIO(BAD.encode()), "text/csv")}
        r = client.post("/ui/upload", data={"kind": "facilities", "name": "bad form", "csrf_token": csrf},
                        files=files)
        assert r.status_code == 422 and "bad.csv" in r.text and "x/bad.csv" not in r.text
        assert "cap_beds" in r.text and "bad form" not in set(store.list_datasets()["name"])
    finally:
        client.cookies.clear()


def test_project_upload_and_whatif_in_a_worker(svc, no_checks_here):
    client, tokens, store = svc
    files = [("files", (n, t.encode(), "text/plain"))
             for n, t in (("project.yaml", PROJECT), ("regions.csv", REGIONS), ("fac.csv", FAC))]
    r = client.post("/ui/projects", headers=H(tokens["pat"]), files=files, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    run_id = r.headers["location"].rsplit("/", 1)[1]
    info = wait_for_run(client, H(tokens["pat"]), run_id, 240)
    assert info["status"] == "succeeded", info.get("error")
    assert info["params"]["project"] == "Two districts"  # the name the worker read from the project file
    # the page's maps and tables were drawn by the run's worker; a run without them is drawn in a worker on view
    folder = Path(info["params"]["file"]).parent
    drawn = folder / f".page-{run_id}.json"
    assert drawn.is_file()
    page = client.get(f"/projects/runs/{run_id}", headers=H(tokens["pat"]))
    assert page.status_code == 200 and "project-map" in page.text and "share-map" in page.text
    assert "project-allocation" in page.text
    drawn.unlink()
    other = client.get(f"/projects/runs/{run_id}", headers=H(tokens["pat"]))  # the copy kept in memory
    assert other.status_code == 200 and "share-map" in other.text
    client.app.state.drawn.clear()
    again = client.get(f"/projects/runs/{run_id}", headers=H(tokens["pat"]))  # drawn in a worker now
    assert again.status_code == 200 and "share-map" in again.text and "project-allocation" in again.text
    r = client.post(f"/ui/projects/runs/{run_id}/whatif", headers=H(tokens["pat"]), data={"stock": "4"})
    assert r.status_code == 200, r.text[:1000]
    assert "project-whatif" in r.text
    r = client.post(f"/ui/projects/runs/{run_id}/whatif", headers=H(tokens["pat"]), data={"stock": "-4"})
    assert r.status_code == 422  # the worker's own error, said as before
    r = client.post(f"/ui/projects/runs/{run_id}/whatif", headers=H(tokens["pat"]), data={"stock": "lots"})
    assert r.status_code == 422
    # a bad input is refused with its file, row and column, and the upload leaves no folder behind
    bad = [("files", (n, t.encode(), "text/plain")) for n, t in
           (("project.yaml", PROJECT), ("regions.csv", REGIONS.replace("10000", "-5")), ("fac.csv", FAC))]
    r = client.post("/ui/projects", headers=H(tokens["pat"]), files=bad, follow_redirects=False)
    assert r.status_code == 422 and "regions.csv" in r.text and "population" in r.text
    folders = list((Path(store.path).parent / "projects" / "north").iterdir())
    assert len(folders) == 1  # only the project that ran


# -- live: the web process answers while a big upload is checked ------------------------------------------
def big_facilities(target_bytes: int) -> bytes:
    """A valid facilities CSV of about ``target_bytes`` (random US hospitals)."""
    n = target_bytes // 52
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"id": [f"h{i}" for i in range(n)], "name": [f"Hospital {i}" for i in range(n)],
                       "region": [f"{s:02d}" for s in rng.integers(1, 57, n)],
                       "lat": rng.uniform(25, 48, n).round(5), "lon": rng.uniform(-120, -70, n).round(5),
                       "cap_beds": rng.integers(1, 900, n), "cap_icu_beds": rng.integers(0, 90, n)})
    return df.to_csv(index=False).encode()


def cpu_seconds(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


@pytest.mark.slow
def test_light_requests_answer_while_a_big_upload_is_checked(tmp_path):
    """A 6 MB upload alone once the worker is warm (the CPU the web process and the worker spend on it), then a
    20 MB one with three light requests polled every 50 ms (their latencies while it is received, checked and
    stored)."""
    path = tmp_path / "live.duckdb"
    with Store(path) as st:
        token = add_user(st, "pat", "north", "planner")
    data, alone_data = big_facilities(19 * 1024 * 1024), big_facilities(6 * 1024 * 1024)
    rows = data.count(b"\n") - 1

    def post(name: str, body: bytes) -> float:
        t = time.perf_counter()
        r = httpx.post(f"{srv.url}/api/datasets", headers=H(token), data={"kind": "facilities", "name": name},
                       files={"file": ("big.csv", body, "text/csv")}, timeout=600)
        assert r.status_code == 201, r.text[:2000]
        got = httpx.get(f"{srv.url}/api/datasets/{r.json()['id']}", headers=H(token)).json()["n_rows"]
        assert got == body.count(b"\n") - 1
        return time.perf_counter() - t

    srv = Server(path, "--workers", "1")
    try:
        web = psutil.Process(srv.proc.pid)
        post("warm-up", FACILITIES.encode())  # waits for the worker to start and load the bundled data
        workers = web.children(recursive=True)
        web0, spent0 = cpu_seconds(web), {c.pid: cpu_seconds(c) for c in workers}
        alone = post("alone", alone_data)
        web_cpu = cpu_seconds(web) - web0
        worker_cpu = sum(cpu_seconds(c) - spent0.get(c.pid, 0.0) for c in web.children(recursive=True))
        probes = [HealthProbe(srv.url), HealthProbe(srv.url, "/api/me", H(token)), HealthProbe(srv.url, "/login")]
        with ExitStack() as stack:
            for p in probes:
                stack.enter_context(p)
            time.sleep(0.3)
            took = post("probed", data)
            time.sleep(0.3)
    finally:
        srv.stop()
    print(f"\nupload {len(alone_data) / 1e6:.1f} MB alone: {alone:.2f} s (web process CPU {web_cpu:.2f} s, worker "
          f"CPU {worker_cpu:.2f} s); {len(data) / 1e6:.1f} MB, {rows:,} rows, with light requests polled: {took:.2f} s")
    for p in probes:
        lat = sorted(p.latencies)
        print(f"{p.path}: {len(lat)} requests, median {statistics.median(lat) * 1e3:.0f} ms, "
              f"p95 {lat[int(0.95 * (len(lat) - 1))] * 1e3:.0f} ms, max {lat[-1] * 1e3:.0f} ms")
    assert took > 1.0  # a load worth measuring
    assert web_cpu < worker_cpu, (web_cpu, worker_cpu)  # the parsing and checking were done elsewhere
    for p in probes:
        assert len(p.latencies) >= 5
        assert statistics.median(p.latencies) < 0.25, (p.path, p.latencies)
        assert max(p.latencies) < max(1.0, 0.3 * took), (p.path, took, p.latencies)


def test_large_downloads_are_suppressed_and_written_in_a_worker(svc, monkeypatch):
    """A run result and a dataset leave the service the same way whether they are written on a thread (small
    tables) or in a worker (large ones: here every table, with the web process's suppression and CSV writing
    made to fail)."""
    client, tokens, store = svc
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2024-01-06", periods=4, freq="7D").strftime("%Y-%m-%d")
    weekly = pd.DataFrame({"region": np.repeat([f"{i:02d}" for i in range(1, 31)], 4), "date": np.tile(weeks, 30),
                           "admissions": rng.integers(0, 40, 120)})
    run_id = store.start_run("forecast", {"as_of": "2024-01-06"}, org="north", created_by="pat")
    store.finish_run(run_id, {"weekly": weekly}, {})
    text = "region,date,value\n" + "".join(f"{r},{d},{v}\n" for r, d, v in weekly.itertuples(index=False))
    ds = post_file(client, tokens["pat"], text, kind="demand", name="weekly demand").json()["id"]
    urls = [f"/api/runs/{run_id}/results/weekly?limit=50", f"/api/runs/{run_id}/results/weekly/csv",
            f"/api/datasets/{ds}/rows?limit=500", f"/api/datasets/{ds}/csv"]
    inline = [client.get(u, headers=H(tokens["vic"])) for u in urls]
    assert all(r.status_code == 200 for r in inline), [r.text[:200] for r in inline]
    rows = inline[0].json()
    assert len(rows) == 50 and any(r["admissions"] is None and r["admissions_suppressed"] for r in rows)
    for row, true in zip(rows, weekly["admissions"]):  # every count of 1 to 10 people is hidden
        assert row["admissions"] is None if 1 <= true <= 10 else row["admissions"] in (None, true)

    import equicare.service.app
    import equicare.service.exports

    def refuse(*a, **k):
        raise AssertionError("a large download was suppressed or written in the web process")

    monkeypatch.setattr(equicare.service.app, "INLINE_ROWS", 0)
    monkeypatch.setattr(equicare.service.exports, "suppressed_table", refuse)
    monkeypatch.setattr(equicare.service.exports, "neutralise_formulas", refuse)
    in_worker = [client.get(u, headers=H(tokens["vic"])) for u in urls]
    assert [r.status_code for r in in_worker] == [200] * 4, [r.text[:200] for r in in_worker]
    assert [r.content for r in in_worker] == [r.content for r in inline]
    assert in_worker[1].headers["content-type"].startswith("text/csv")
    assert in_worker[0].headers["content-type"] == "application/json"


def test_us_map_is_drawn_in_a_worker(svc, monkeypatch):
    """The dashboard's US map of the latest analyse run: drawn in a worker (the drawing made to fail here), the
    same SVG as drawn in this process, then kept in memory."""
    client, tokens, store = svc
    from equicare.report.maps import svg_choropleth

    rates = pd.DataFrame({"id": ["01", "02", "04", "05"], "name": ["Alabama", "Alaska", "Arizona", "Arkansas"],
                          "cap_beds_per_1000": [2.5, 1.9, 1.7, 3.1], "cap_icu_beds_per_1000": [0.3, 0.2, 0.25, 0.4]})
    run_id = store.start_run("analyse", {}, org="north", created_by="pat")
    store.finish_run(run_id, {"state_rates": rates}, {})
    title, level, unit = "Staffed beds per 1,000 residents", "state", "per 1,000"
    here = svg_choropleth(dict(zip(rates["id"], rates["cap_beds_per_1000"])), level=level, title=title, unit=unit,
                          names=dict(zip(rates["id"], rates["name"])), element_id="us-map")
    import equicare.report.maps

    def refuse(*a, **k):
        raise AssertionError("a map was drawn in the web process")

    monkeypatch.setattr(equicare.report.maps, "svg_choropleth", refuse)
    client.app.state.drawn.clear()
    r = client.get("/map?metric=beds", headers=H(tokens["vic"]))
    assert r.status_code == 200, r.text[:500]
    assert here in r.text and len(client.app.state.drawn) == 1
    assert client.get("/map?metric=beds", headers=H(tokens["vic"])).text.count(here) == 1  # kept, not redrawn
    assert client.get("/map?metric=nothing", headers=H(tokens["vic"])).status_code == 404


def test_sweep_frontier_is_drawn_in_a_worker(svc, monkeypatch):
    client, tokens, store = svc
    table = pd.DataFrame({"stockpile": [100, 200, 300, 100, 200, 300], "severity": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
                          "min_share": [0.2, 0.4, 0.6, 0.1, 0.2, 0.3], "covered": [100.0, 200, 300, 100, 200, 300],
                          "cost": [100.0, 200, 300, 100, 200, 300], "status": ["optimal"] * 6, "seconds": [0.1] * 6,
                          "message": [""] * 6})
    run_id = store.start_run("sweep", {}, org="north", created_by="pat")
    store.finish_run(run_id, {"sweep": table}, {"keys": ["stockpile", "severity"]})
    import equicare.scale.sweep_report

    def refuse(*a, **k):
        raise AssertionError("a chart was drawn in the web process")

    monkeypatch.setattr(equicare.scale.sweep_report, "frontier_figure", refuse)
    r = client.get("/sweep", headers=H(tokens["vic"]))
    assert r.status_code == 200, r.text[:500]
    assert 'id="sweep-frontier"' in r.text and "severity = 2.0" in r.text and "minimum share met (%)" in r.text
    for answer in (r, client.get("/sweep", headers=H(tokens["vic"]))):  # drawn once, each with its own nonce
        nonce = re.search(r"'nonce-([^']+)'", answer.headers["content-security-policy"]).group(1)
        chart = answer.text[answer.text.index('id="sweep-frontier"'):]
        assert f'<script nonce="{nonce}"' in chart[:chart.index("</script>")], chart[:400]


def test_drawn_cache_keeps_the_most_recent_within_its_bound():
    from equicare.service.drawn import DrawnCache

    cache = DrawnCache(max_chars=10)
    cache.put("a", "aaaa", 4)
    cache.put("b", "bbbb", 4)
    assert cache.get("a") == "aaaa"  # now the most recently used
    cache.put("c", "cccc", 4)  # 12 > 10: the least recently used ("b") goes
    assert cache.get("b") is None and cache.get("a") == "aaaa" and cache.get("c") == "cccc"
    cache.put("big", "x" * 50, 50)  # over the bound alone: kept, everything else dropped
    assert len(cache) == 1 and cache.get("big") == "x" * 50


def test_fan_chart_is_drawn_in_a_worker(svc, monkeypatch):
    """The forecast page's fan chart: drawn in a worker (the drawing made to fail here), the same chart as drawn in
    this process, with this answer's CSP nonce."""
    client, tokens, store = svc
    from equicare.service.drawn import fan_chart_job
    from equicare.service.security import add_nonce

    dates = pd.date_range("2023-06-03", periods=30, freq="7D")
    truth = pd.DataFrame({"location": np.repeat(["US", "01"], 30), "location_name": np.repeat(["US", "Alabama"], 30),
                          "date": np.tile(dates.strftime("%Y-%m-%d"), 2), "value": np.arange(60, dtype=float)})
    as_of = dates[25].strftime("%Y-%m-%d")
    qs = [0.025, 0.25, 0.5, 0.75, 0.975]
    fc = pd.DataFrame([(loc, (dates[25] + pd.Timedelta(weeks=h)).strftime("%Y-%m-%d"), as_of, q, 10.0 * h + q)
                       for loc in ("US", "01") for h in range(4) for q in qs],
                      columns=["location", "target_end_date", "reference_date", "output_type_id", "value"])
    run_id = store.start_run("forecast", {"as_of": as_of}, org="north", created_by="pat")
    store.finish_run(run_id, {"truth": truth, "forecast": fc}, {})
    here = fan_chart_job(truth.copy(), fc.copy(), as_of, "fan-chart")
    import equicare.report.html

    def refuse(*a, **k):
        raise AssertionError("a chart was drawn in the web process")

    monkeypatch.setattr(equicare.report.html, "fan_chart", refuse)
    for _ in range(2):  # drawn once, then kept; each answer with its own nonce
        r = client.get("/forecast", headers=H(tokens["vic"]))
        assert r.status_code == 200, r.text[:500]
        nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)
        assert add_nonce(here, nonce) in r.text
