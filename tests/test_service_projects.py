"""Project runs of the dashboard (FastAPI TestClient, a real DuckDB store, a real worker pool): the run is
computed in a worker process while the web process answers, a failed run shows its error, uploads are bounded
while they stream and never spooled to disk, file names are never paths, and an admin declares the project's
regions as the organisation's public region list for sharing."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.store import Store
from service_runs import wait_for_run

REGIONS = """code,name,population,lat,lon,need
001,North,10000,1.0,36.0,30
002,South,20000,1.2,36.2,10
010,East,30000,1.1,36.5,50
"""
FACILITIES = """id,lat,lon,district,beds,icu_beds
h1,1.0,36.0,001,10,2
h2,1.2,36.2,002,20,4
h3,1.1,36.5,010,30,5
h4,1.05,36.1,001,15,3
"""
PROJECT = """name: Tiny districts
regions: {file: regions.csv, id: code, name: name, population: population, lat: lat, lon: lon}
facilities: {file: fac.csv, id: id, lat: lat, lon: lon, region: district, capacity: [beds, icu_beds]}
access: {method: 2sfca, supply: SUPPLY, max_km: 100}
allocate: {resource: icu_beds, stock: 40, need: need}
"""
LIMIT = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    root = tmp_path_factory.mktemp("svcproj")
    store = Store(root / "store" / "store.duckdb")
    tokens = {"admin": add_user(store, "ada", "east-moh", "admin"), "planner": add_user(store, "pat", "east-moh", "planner"),
              "other": add_user(store, "oli", "west-moh", "admin")}
    app = create_app(store=store, max_upload_bytes=LIMIT, workers=PoolSettings(workers=1, warm=False))
    with TestClient(app) as client:
        yield client, tokens, store, root
    store.close()


def H(tokens, who):
    return {"Authorization": f"Bearer {tokens[who]}"}


def project_files(supply: str = "beds", names=("project.yaml", "regions.csv", "fac.csv")) -> list:
    texts = (PROJECT.replace("SUPPLY", supply), REGIONS, FACILITIES)
    return [("files", (n, t.encode(), "text/plain")) for n, t in zip(names, texts)]


def wait_for(client, tokens, run_id: str, who: str = "planner", seconds: float = 240) -> dict:
    return wait_for_run(client, H(tokens, who), run_id, seconds)


def upload_project(client, tokens, files, who="planner", **fields):
    r = client.post("/ui/projects", headers=H(tokens, who), files=files, data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    return r.headers["location"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def done_run(svc):
    """One project run through the dashboard, with file names that try to leave the upload folder."""
    client, tokens, store, root = svc
    files = project_files(names=("../../project.yaml", "..\\..\\regions.csv", "/etc/fac.csv"))
    run_id = upload_project(client, tokens, files, stock="30")
    t0 = time.monotonic()
    health = client.get("/health")  # the web process answers while the run is computed elsewhere
    answered = time.monotonic() - t0
    running = client.get(f"/api/runs/{run_id}", headers=H(tokens, "planner")).json()
    info = wait_for(client, tokens, run_id)
    return run_id, info, running, answered, health


def test_project_run_is_computed_in_a_worker_process(svc, done_run):
    client, tokens, store, root = svc
    run_id, info, running, answered, health = done_run
    assert health.status_code == 200 and answered < 2.0
    assert running["status"] in ("running", "succeeded")
    if running["status"] == "running":  # polled as any run, with the worker's own progress (None until it starts)
        assert "worker_progress" in running and running["message"] == "queued for a worker"
    assert info["status"] == "succeeded", info.get("error")
    pid = info["summary"]["worker_pid"]
    assert pid and pid != os.getpid()  # not the web process (nor a thread of it)
    assert info["params"]["allocate"]["stock"] == 30.0 and info["params"]["project"] == "Tiny districts"
    assert {"access", "allocation", "region_shapes"} <= set(info["results"])
    alloc = client.get(f"/api/runs/{run_id}/results/allocation", headers=H(tokens, "planner")).json()
    assert sorted(r["region"] for r in alloc) == ["001", "002", "010"]  # the planner's ids, as text
    # the same as the command line's path (equicare run) on the same files and scenario, in this process
    from equicare.project import run_project

    folder = Path(info["params"]["file"]).parent
    with Store(":memory:") as mem:
        ref = run_project(folder / "project.yaml", root / "ref-out", store=mem, overrides={"allocate.stock": 30.0},
                          write_report=False).tables["allocation"].set_index("region")
    for r in alloc:
        assert r["allocated"] == pytest.approx(float(ref.loc[r["region"], "allocated"]))
        assert r["need"] == pytest.approx(float(ref.loc[r["region"], "need"]))
    names = set(store.list_datasets(org="east-moh")["name"])
    assert {"Tiny districts: regions", "Tiny districts: facilities"} <= names
    page = client.get(f"/projects/runs/{run_id}", headers=H(tokens, "planner"))
    assert page.status_code == 200 and 'id="run-status">succeeded' in page.text and "project-map" in page.text
    assert client.get(f"/projects/runs/{run_id}/report", headers=H(tokens, "planner")).status_code == 200


def test_uploaded_file_names_are_never_paths(svc, done_run):
    client, tokens, store, root = svc
    folder = Path(store.get_run(done_run[0])["params"]["file"]).parent
    assert folder.is_relative_to(root / "store" / "projects")
    assert sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) == [
        "fac.csv", "project.yaml", "regions.csv"]
    assert not (root / "project.yaml").exists() and not (root / "regions.csv").exists()


def test_failed_project_run_shows_its_error(svc):
    client, tokens, store, root = svc
    run_id = upload_project(client, tokens, project_files(supply="theatres"))  # valid inputs; fails at access
    info = wait_for(client, tokens, run_id)
    assert info["status"] == "failed" and "access.supply 'theatres'" in info["error"]
    assert info["results"] == []
    page = client.get(f"/projects/runs/{run_id}", headers=H(tokens, "planner"))
    assert 'role="alert"' in page.text and "access.supply" in page.text and "Traceback" not in page.text


def test_bad_project_is_refused_with_its_problems_and_leaves_nothing(svc):
    client, tokens, store, root = svc
    bad = REGIONS.replace("20000", "lots")
    files = project_files()
    files[1] = ("files", ("regions.csv", bad.encode(), "text/plain"))
    before = {p for p in (root / "store" / "projects").rglob("*")} if (root / "store" / "projects").exists() else set()
    r = client.post("/ui/projects", headers=H(tokens, "planner"), files=files, follow_redirects=False)
    assert r.status_code == 422 and "regions.csv" in r.text
    after = {p for p in (root / "store" / "projects").rglob("*")} if (root / "store" / "projects").exists() else set()
    assert after == before


def test_over_limit_project_upload_refused_while_streaming(svc):
    client, tokens, store, root = svc
    boundary = "xyzBOUNDARY"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    sent = {"bytes": 0}

    def body():  # no Content-Length: the limit must hold while the body streams
        yield head
        chunk = b"x" * (256 * 1024)
        for _ in range(4 * LIMIT // len(chunk)):
            sent["bytes"] += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    before = len(store.list_runs())
    r = client.post("/ui/projects", headers={**H(tokens, "planner"),
                                             "Content-Type": f"multipart/form-data; boundary={boundary}"},
                    content=body())
    assert r.status_code == 413 and "limit" in r.text and "nothing was stored" in r.text
    assert len(store.list_runs()) == before
    # declared too large: refused before any byte is read
    r = client.post("/ui/projects", headers={**H(tokens, "planner"), "Content-Length": str(2 * LIMIT),
                                             "Content-Type": f"multipart/form-data; boundary={boundary}"},
                    content=b"")
    assert r.status_code == 413


def test_project_upload_is_never_spooled_to_disk(svc, monkeypatch):
    client, tokens, store, root = svc
    rolled = []
    real = tempfile.SpooledTemporaryFile.rollover

    def rollover(self):
        rolled.append(self)
        return real(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", rollover)
    files = project_files()[1:] + [("files", ("notes.txt", b"n" * (2 * 1024 * 1024), "text/plain"))]  # no YAML
    r = client.post("/ui/projects", headers=H(tokens, "planner"), files=files, follow_redirects=False)
    assert r.status_code == 422 and "project file" in r.text
    assert rolled == []  # a 2 MB part stayed in memory (Starlette's own parser spools parts over 1 MB)


def test_admin_declares_the_projects_regions_for_sharing(svc, done_run):
    client, tokens, store, root = svc
    run_id = done_run[0]
    url = f"/ui/projects/runs/{run_id}/region-list"
    page = client.get(f"/projects/runs/{run_id}", headers=H(tokens, "planner")).text
    assert "region-list-form" not in page and "An admin of east-moh can declare" in page
    assert client.post(url, headers=H(tokens, "planner"), data={"name": "tiny-districts"}).status_code == 403
    assert client.post(url, headers=H(tokens, "other"), data={"name": "tiny-districts"}).status_code == 404
    # a signed-in admin needs the page's CSRF token
    assert client.post("/login", data={"name": "ada", "token": tokens["admin"]}, follow_redirects=False).status_code == 303
    try:
        assert client.post(url, data={"name": "tiny-districts"}, follow_redirects=False).status_code == 403
        page = client.get(f"/projects/runs/{run_id}").text
        assert 'id="region-list-form"' in page and 'value="tiny-districts-regions"' in page
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = client.post(url, data={"name": "tiny-districts", "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text[:500]
        page = client.get(f"/projects/runs/{run_id}").text
        assert 'id="declared-list"' in page and "<b>tiny-districts</b>" in page
        assert "tiny-districts" in client.get("/projects").text
    finally:
        client.cookies.clear()
    lists = {x["name"]: x for x in client.get("/api/region-lists", headers=H(tokens, "other")).json()}
    assert lists["tiny-districts"]["org"] == "east-moh" and lists["tiny-districts"]["n_regions"] == 3
    from equicare.service.region_lists import public_regions

    pub = public_regions("tiny-districts", store)
    assert pub["id"].tolist() == ["001", "002", "010"] and pub["population"].tolist() == [10000, 20000, 30000]
    # another organisation cannot take the name; the API declares from a run as well
    r = client.post("/api/region-lists", headers=H(tokens, "other"), json={"name": "tiny-districts", "run_id": run_id})
    assert r.status_code == 404
    r = client.post("/api/region-lists", headers=H(tokens, "admin"), json={"name": "tiny-2", "run_id": run_id})
    assert r.status_code == 201 and r.json()["n_regions"] == 3
    # the organisation's data coded with its own district ids can now be released over the list
    fac = store.find_dataset("Tiny districts: facilities", org="east-moh")
    r = client.post("/api/releases", headers=H(tokens, "planner"),
                    json={"dataset_id": fac, "method": "dp", "by": "region", "level": "tiny-districts", "epsilon": 0.5})
    assert r.status_code == 201, r.text
    rows = client.get(f"/api/datasets/{r.json()['id']}/rows", headers=H(tokens, "planner")).json()
    assert sorted(x["region"] for x in rows) == ["001", "002", "010"]


def test_service_defaults_are_the_demos(svc):
    """One definition (equicare.params) behind the demo, the API, the run form and the project form."""
    import re

    from equicare import params
    from equicare.project.spec import AllocateSpec
    from equicare.service.scenarios import parse_params

    client, tokens, store, root = svc
    api = parse_params({})  # what POST /api/runs and /api/whatif use for absent parameters
    form = parse_params({"severity": "", "stockpile": "", "scenario_quantile": "", "as_of": ""})  # blank form fields
    spec = AllocateSpec()  # the project path's defaults, which `equicare demo` runs
    for p in (api, form):
        assert p.severity == spec.severity == params.SEVERITY.default
        assert p.stockpile == spec.stock == params.STOCKPILE.default
        assert p.scenario_quantile == spec.scenario_quantile == params.SCENARIO_QUANTILE.default
        assert (p.as_of, p.forecast_model) == (params.AS_OF, params.FORECAST_MODEL)
    try:
        from equicare.pipeline import DemoParams
    except ImportError:  # the demo's parameters moved with the demo onto the project path
        DemoParams = None
    if DemoParams is not None:
        demo = DemoParams()
        assert (demo.severity, demo.stockpile, demo.scenario_quantile, demo.as_of) == (
            api.severity, api.stockpile, api.scenario_quantile, api.as_of)

    def attr(page: str, element_id: str, name: str) -> str:
        tag = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', page).group(0)
        return re.search(rf'{name}="([^"]*)"', tag).group(1)

    home = client.get("/", headers=H(tokens, "planner")).text  # the scenario run form shows the defaults it uses
    assert float(attr(home, "run-severity", "placeholder")) == params.SEVERITY.default
    assert float(attr(home, "run-stockpile", "placeholder")) == params.STOCKPILE.default
    assert float(attr(home, "run-quantile", "placeholder")) == params.SCENARIO_QUANTILE.default
    assert float(attr(home, "run-hospital-share", "value")) == params.HOSPITAL_SHARE.default
    proj = client.get("/projects", headers=H(tokens, "planner")).text
    assert float(attr(proj, "p-severity", "placeholder")) == params.SEVERITY.default
    assert float(attr(proj, "p-share", "value")) == params.HOSPITAL_SHARE.default
