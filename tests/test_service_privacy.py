"""Issue 17, items 1, 3, 5, 6 and 7 through the web API (FastAPI TestClient, a real DuckDB store)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.store import Store

FAC = """id,name,region,lat,lon,cap_beds,flu_admissions
h1,General North,01,32.5,-86.6,120,4
h2,County Clinic,01,30.7,-87.7,40,2
h3,Valley Hospital,02,61.2,-149.9,220,35
h4,River Hospital,04,33.4,-112.0,510,60
h5,Lake Hospital,04,33.5,-112.1,300,44
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("svcp") / "store.duckdb")
    tokens = {"admin": add_user(store, "ada", "north", "admin"), "pat": add_user(store, "pat", "north", "planner"),
              "sam": add_user(store, "sam", "south", "planner"), "sal": add_user(store, "sal", "south", "admin")}
    # the jobs here are releases of uploaded data: the workers need not load the bundled US data first
    app = create_app(store=store, max_upload_bytes=256 * 1024, workers=PoolSettings(warm=False))
    with TestClient(app) as client:
        yield client, tokens, store
    store.close()


def fresh(tag: int) -> str:
    """Facilities sharing no row with FAC or each other (a near copy would share FAC's budget)."""
    return "id,name,region,lat,lon,cap_beds,flu_admissions\n" + "".join(
        f"t{tag}_{i},Site {tag}-{i},{['01', '02', '04'][i % 3]},33.{i},-86.{tag},{100 + 7 * tag + i},{20 + i}\n"
        for i in range(6))


def H(tokens, who):
    return {"Authorization": f"Bearer {tokens[who]}"}


def upload(client, tokens, who, data: bytes, kind="facilities", name="fac", filename="f.csv", **form):
    return client.post("/api/datasets", headers=H(tokens, who), data={"kind": kind, "name": name, **form},
                       files={"file": (filename, io.BytesIO(data), "application/octet-stream")})


def release(client, tokens, who, **req):
    return client.post("/api/releases", headers=H(tokens, who), json={"method": "dp", "by": "region", **req})


def test_resaved_uploads_share_the_spent_budget(svc):
    client, tokens, _ = svc
    ds = upload(client, tokens, "pat", FAC.encode(), name="budget original").json()["id"]
    assert release(client, tokens, "pat", dataset_id=ds, epsilon=1.0).status_code == 201
    df = pd.read_csv(io.StringIO(FAC), dtype=str)
    pq = io.BytesIO()
    df.assign(cap_beds=df.cap_beds.astype(int), flu_admissions=df.flu_admissions.astype(int),
              lat=df.lat.astype(float), lon=df.lon.astype(float)).to_parquet(pq, index=False)
    lines = FAC.strip().split("\n")
    for i, data in enumerate([FAC.replace("\n", "\r\n").encode(), (FAC + "\n").encode(),
                              ("\n".join([lines[0]] + lines[:0:-1]) + "\n").encode(),
                              FAC.replace("id,name", '"id","name"').encode(), FAC.replace(",", ", ").encode(),
                              pq.getvalue()]):
        r = upload(client, tokens, "pat", data, name=f"resave {i}", filename="f.parquet" if i == 5 else "f.csv")
        assert r.status_code == 201, r.text
        again = release(client, tokens, "pat", dataset_id=r.json()["id"], epsilon=1.0)
        assert again.status_code == 422 and "privacy budget exceeded" in again.json()["message"], i
    budget = client.get("/api/privacy/budget", headers=H(tokens, "pat")).json()
    assert budget["epsilon_spent"] == pytest.approx(1.0) and budget["epsilon_budget"] == 10.0


@pytest.mark.parametrize("body, msg", [
    ('{"statistic": "sum", "column": "cap_beds", "bounds": [0, 1e308], "epsilon": 0.5}', "bounds.1"),
    ('{"statistic": "sum", "column": "cap_beds", "bounds": [0, Infinity], "epsilon": 0.5}', "finite"),
    ('{"statistic": "mean", "column": "cap_beds", "bounds": [-1e308, 1e308], "epsilon": 0.5}', "bounds.0"),
    ('{"statistic": "count", "epsilon": "0.5"}', "epsilon"),
    ('{"statistic": "sum", "column": "cap_beds", "bounds": ["0", "100"], "epsilon": 0.5}', "bounds"),
    ('{"statistic": "count", "epsilon": 1e-320}', "epsilon"),
])
def test_bad_bounds_and_epsilons_are_422_and_cost_nothing(svc, body, msg):
    client, tokens, _ = svc
    ds = upload(client, tokens, "pat", fresh(len(body)).encode(), name=f"bounds {len(body)}").json()["id"]
    before = client.get("/api/privacy/budget", headers=H(tokens, "pat")).json()["epsilon_spent"]
    payload = body[:-1] + f', "dataset_id": {ds}, "method": "dp", "by": "region"}}'
    r = client.post("/api/releases", headers={**H(tokens, "pat"), "content-type": "application/json"},
                    content=payload)
    assert r.status_code == 422, r.text
    assert msg in r.text
    assert client.get("/api/privacy/budget", headers=H(tokens, "pat")).json()["epsilon_spent"] == before


def test_release_grouped_by_a_row_key_is_refused(svc):
    client, tokens, _ = svc
    ds = upload(client, tokens, "pat", FAC.replace("h1,", "k1,").encode(), name="by id").json()["id"]
    for method in ("suppress", "dp"):
        r = release(client, tokens, "pat", dataset_id=ds, method=method, by="id", epsilon=0.1,
                    count_columns=["flu_admissions"], share_with=["south"])
        assert r.status_code == 422 and "unique per row" in r.json()["message"], r.text
    shared = [d for d in client.get("/api/datasets", headers=H(tokens, "sam")).json() if d["org"] == "north"]
    assert not shared
    ok = release(client, tokens, "pat", dataset_id=ds, method="suppress", by="region",
                 count_columns=["flu_admissions"], share_with=["south"])
    assert ok.status_code == 201, ok.text


def test_extra_person_counts_are_typed_and_suppressed_in_downloads(svc):
    """flu_admissions 4 and 2 were stored as text and downloaded as they were."""
    client, tokens, store = svc
    r = upload(client, tokens, "pat", FAC.replace("h1,", "x1,").encode(), name="extra counts")
    assert r.status_code == 201, r.text
    ds = r.json()["id"]
    assert r.json()["report"]["count_columns"] == ["flu_admissions"]
    assert pd.api.types.is_float_dtype(store.get_dataset(ds)["flu_admissions"])
    text = client.get(f"/api/datasets/{ds}/csv", headers=H(tokens, "pat")).text
    df = pd.read_csv(io.StringIO(text)).set_index("name")
    assert df["flu_admissions"].isna().sum() == 2  # 4 and 2: their sum 6 leaves each of them 1..5
    assert pd.isna(df.loc["General North", "flu_admissions"]) and pd.isna(df.loc["County Clinic", "flu_admissions"])
    rows = client.get(f"/api/datasets/{ds}/rows", headers=H(tokens, "pat")).json()
    assert all(x["flu_admissions"] is None for x in rows if x["name"] in ("General North", "County Clinic"))
    # the uploader declares which columns count people: a column with an unusual name
    odd = FAC.replace("flu_admissions", "flu_n").replace("h1,", "y1,")
    r = upload(client, tokens, "pat", odd.encode(), name="declared", count_columns="flu_n")
    assert r.status_code == 201 and r.json()["report"]["count_columns"] == ["flu_n"]
    df = pd.read_csv(io.StringIO(client.get(f"/api/datasets/{r.json()['id']}/csv", headers=H(tokens, "pat")).text))
    assert df["flu_n"].isna().sum() == 2
    bad = upload(client, tokens, "pat", odd.replace(",4\n", ",4.5\n").encode(), name="bad", count_columns="flu_n")
    assert bad.status_code == 422 and "whole number" in bad.text


def test_release_against_a_region_list_the_data_do_not_use(svc):
    """Data coded with another country's districts: a state or county release was 200 with noise only."""
    client, tokens, _ = svc
    districts = "id,name,population,lat,lon\n" + "".join(
        f"KE{i:02d},District {i},{100000 + 1000 * i},{-1 - i / 10},{36 + i / 10}\n" for i in range(1, 9))
    fac = "id,name,region,lat,lon,cap_beds\n" + "".join(
        f"k{i},Facility {i},KE{1 + i % 8:02d},{-1 - i / 50},{36 + i / 50},{20 + i}\n" for i in range(40))
    ds = upload(client, tokens, "sam", fac.encode(), name="kenya facilities").json()["id"]
    for level in ("state", "county"):
        r = release(client, tokens, "sam", dataset_id=ds, epsilon=0.5, level=level)
        assert r.status_code == 422 and "do not match the public region list" in r.json()["message"]
        assert "no epsilon was spent" in r.json()["message"]
    assert client.get("/api/privacy/budget", headers=H(tokens, "sam")).json()["epsilon_spent"] == 0.0
    # south declares its districts a public list and releases against it; north can pool the release
    reg = upload(client, tokens, "sam", districts.encode(), kind="regions", name="districts").json()["id"]
    assert client.post("/api/region-lists", headers=H(tokens, "sam"),
                       json={"name": "ke-districts", "dataset_id": reg}).status_code == 403  # admins declare
    r = client.post("/api/region-lists", headers=H(tokens, "sal"), json={"name": "ke-districts", "dataset_id": reg})
    assert r.status_code == 201, r.text
    assert "ke-districts" in {x["name"] for x in client.get("/api/region-lists", headers=H(tokens, "pat")).json()}
    rel = release(client, tokens, "sam", dataset_id=ds, epsilon=0.5, level="ke-districts", share_with=["north"])
    assert rel.status_code == 201, rel.text
    pool = client.post("/api/pool", headers=H(tokens, "pat"), json={"dataset_ids": [rel.json()["id"]],
                                                                    "stockpile": 10, "replicates": 20})
    assert pool.status_code == 200, pool.text
    assert len(pool.json()["regions"]) == 8
    taken = client.post("/api/region-lists", headers=H(tokens, "admin"), json={"name": "state", "dataset_id": reg})
    assert taken.status_code in (403, 404, 422)  # a foreign dataset answers like a missing one (404)


def test_datasets_stored_with_text_counts_are_suppressed_too(svc):
    """A dataset stored before extra columns were typed (flu_admissions as text) is suppressed on download."""
    client, tokens, store = svc
    df = pd.read_csv(io.StringIO(FAC.replace("h1,", "o1,")), dtype=str)
    ds = store.save_dataset("old text counts", "facilities", df, source="old.csv", fingerprint="old", org="north")
    text = client.get(f"/api/datasets/{ds}/csv", headers=H(tokens, "pat")).text
    back = pd.read_csv(io.StringIO(text)).set_index("name")
    assert pd.isna(back.loc["General North", "flu_admissions"]) and back.loc["River Hospital", "flu_admissions"] == 60
