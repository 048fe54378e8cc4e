"""Security of the service through FastAPI's TestClient (issue 17, items 10, 11, 12, 14, 15).

CSRF tokens and origin checks on cookie-authenticated writes, security headers and the Secure cookie,
formula-safe CSV downloads, bad numbers and types refused with 422 naming the parameter or column,
upload bounds, the audit of failed writes, 404s that do not tell foreign from missing, and user names
scoped per organisation.
"""

from __future__ import annotations

import io
import json
import re

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from equicare.data.load import ReadLimits
from equicare.service import accounts
from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.store import Store

FACILITIES = """id,name,region,lat,lon,cap_beds,cap_icu_beds
h1,General North,01,32.5,-86.6,120,12
h2,County Clinic,01,30.7,-87.7,40,0
h3,Valley Hospital,02,61.2,-149.9,300,30
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("sec") / "store.duckdb")
    tokens = {"ada": add_user(store, "ada", "north", "admin"), "pat": add_user(store, "pat", "north", "planner"),
              "sam": add_user(store, "sam", "south", "planner")}
    app = create_app(store=store, max_upload_bytes=4 * 1024 * 1024, workers=PoolSettings(workers=1, warm=False),
                     trusted_proxies=["testclient"], read_limits=ReadLimits(max_rows=500_000))
    with TestClient(app) as client:
        south = upload(client, tokens["sam"], FACILITIES, name="south hospitals").json()["id"]
        north = upload(client, tokens["pat"], FACILITIES, name="north hospitals").json()["id"]
        yield {"client": client, "tokens": tokens, "store": store, "south_ds": south, "north_ds": north}
    store.close()


def H(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, content, kind="facilities", name="x", filename="f.csv", **kw):
    data = content if isinstance(content, bytes) else content.encode()
    return client.post("/api/datasets", headers=H(token), data={"kind": kind, "name": name},
                       files={"file": (filename, io.BytesIO(data), "application/octet-stream")}, **kw)


def parquet(df: pd.DataFrame | pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def sign_in(client, name: str, token: str, **headers) -> TestClient:
    client.cookies.clear()
    r = client.post("/login", data={"name": name, "token": token}, headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def csrf_of(client) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/").text).group(1)


# -- item 10: CSRF --------------------------------------------------------------------------------------
def test_cookie_writes_need_the_csrf_token_and_our_origin(svc):
    client, tokens = svc["client"], svc["tokens"]
    sign_in(client, "pat", tokens["pat"])
    token = csrf_of(client)
    bad_run = {"kind": "allocate", "fairness": "nonsense"}  # passes CSRF, then refused by validation (422)
    assert client.post("/ui/runs", data=bad_run).status_code == 403  # no token
    assert client.post("/ui/runs", data={**bad_run, "csrf_token": "0" * 64}).status_code == 403  # wrong token
    assert client.post("/ui/runs", data={**bad_run, "csrf_token": token}).status_code == 422
    assert client.post("/ui/runs", data=bad_run, headers={"X-CSRF-Token": token}).status_code == 422  # htmx
    # a page on another port of the same host (same site, other origin) is refused even with the token
    other = {"Origin": "http://testserver:8001"}
    r = client.post("/ui/runs", data={**bad_run, "csrf_token": token}, headers=other)
    assert r.status_code == 403 and "cross-origin" in r.text
    assert client.post("/ui/runs", data={**bad_run, "csrf_token": token},
                       headers={"Referer": "http://evil.example/page"}).status_code == 403
    assert client.post("/ui/runs", data={**bad_run, "csrf_token": token},
                       headers={"Origin": "http://testserver"}).status_code == 422
    # the multipart upload form carries it too
    files = {"file": ("f.csv", io.BytesIO(FACILITIES.encode()), "text/csv")}
    assert client.post("/ui/upload", data={"kind": "facilities"}, files=files).status_code == 403
    files = {"file": ("f.csv", io.BytesIO(FACILITIES.encode()), "text/csv")}
    r = client.post("/ui/upload", data={"kind": "facilities", "name": "via form", "csrf_token": token}, files=files,
                    follow_redirects=False)
    assert r.status_code == 303
    # signing in from another origin is refused (login CSRF); API tokens need no CSRF token
    client.cookies.clear()
    assert client.post("/login", data={"name": "pat", "token": tokens["pat"]}, headers=other).status_code == 403
    assert client.post("/api/runs", headers=H(tokens["pat"]), json={"kind": "allocate", "params": {
        "fairness": "nonsense"}}).status_code == 422


# -- item 11: headers, Secure cookie, formula-safe CSV -----------------------------------------------
def test_security_headers_on_every_answer(svc):
    client = svc["client"]
    for path in ("/health", "/login", "/api/datasets", "/static/htmx.min.js"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "'unsafe-inline'" not in \
            csp.split("script-src")[1].split(";")[0]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def test_session_cookie_secure_behind_a_trusted_https_proxy(svc, tmp_path):
    client, tokens = svc["client"], svc["tokens"]
    plain = sign_in(client, "pat", tokens["pat"]).headers["set-cookie"]
    assert "httponly" in plain.lower() and "secure" not in plain.lower()
    https = sign_in(client, "pat", tokens["pat"], **{"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "; secure" in https.lower() and "samesite=strict" in https.lower()
    # the same header from a client that is not a trusted proxy is not believed
    store = Store(":memory:")
    tok = add_user(store, "pat", "north", "planner")
    with TestClient(create_app(store=store, workers=PoolSettings(workers=1, warm=False))) as other:
        r = other.post("/login", data={"name": "pat", "token": tok}, headers={"X-Forwarded-Proto": "https"},
                       follow_redirects=False)
        assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()
    # a request that arrived over TLS gets it too
    with TestClient(create_app(store=store, workers=PoolSettings(workers=1, warm=False)),
                    base_url="https://testserver") as tls:
        r = tls.post("/login", data={"name": "pat", "token": tok}, follow_redirects=False)
        assert "; secure" in r.headers["set-cookie"].lower()
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_csv_downloads_neutralise_formulas(svc):
    client, tokens = svc["client"], svc["tokens"]
    evil = ("id,name,region,lat,lon,cap_beds\n"
            'h1,"=HYPERLINK(""http://x.example"",""click"")",01,32.5,-86.6,120\n'
            "h2,+1+2,01,30.7,-87.7,40\nh3,-2+3,02,61.2,-149.9,300\nh4,@SUM(A1),02,61.0,-149.0,30\n"
            "h5,Plain Name,02,61.1,-149.1,31\n")
    ds = upload(client, tokens["pat"], evil, name="evil names").json()["id"]
    text = client.get(f"/api/datasets/{ds}/csv", headers=H(tokens["pat"])).text
    back = pd.read_csv(io.StringIO(text), dtype=str)
    names = dict(zip(back["id"], back["name"]))
    assert names["h1"].startswith("'=HYPERLINK") and names["h2"] == "'+1+2" and names["h3"] == "'-2+3"
    assert names["h4"] == "'@SUM(A1)" and names["h5"] == "Plain Name"
    assert back["lon"].iloc[0] == "-86.6"  # numbers are numbers, left alone
    for cell in back.to_numpy().ravel():
        assert not (isinstance(cell, str) and cell[:1] in "=+-@" and not _is_number(cell))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- item 14: bad numbers and types -> 422 naming the parameter or column ---------------------------------
REGIONS = "id,name,population,lat,lon\n01,A,{},32.5,-86.6\n02,B,700000,61.2,-149.9\n"
FAC = "id,name,region,lat,lon,cap_beds\nh1,A,01,32.5,-86.6,{}\nh2,B,02,61.2,-149.9,10\n"


@pytest.mark.parametrize(("kind", "content", "column"), [
    ("regions", REGIONS.format("inf"), "population"),
    ("regions", REGIONS.format("Infinity"), "population"),
    ("regions", REGIONS.format("1e309"), "population"),
    ("regions", REGIONS.format("1e308"), "population"),
    ("regions", REGIONS.format("-inf"), "population"),
    ("facilities", FAC.format("inf"), "cap_beds"),
    ("facilities", FAC.format("1e309"), "cap_beds"),
    ("facilities", FAC.replace("cap_beds", "CAP_BEDS").format("Infinity"), "cap_beds"),
    ("demand", "region,date,value\n01,2024-01-06,inf\n02,2024-01-06,3\n", "value"),
    ("costs", "origin,destination,cost\na,b,1e309\na,c,2\n", "cost"),
    ("costs", "origin,destination,cost\na,b,-Infinity\na,c,2\n", "cost"),
])
def test_non_finite_and_huge_numbers_refused(svc, kind, content, column):
    r = upload(svc["client"], svc["tokens"]["pat"], content, kind=kind, name=f"bad {kind}")
    assert r.status_code == 422, r.text
    assert column in {p["column"] for p in r.json()["problems"]}


def test_wrong_types_in_parquet_refused(svc):
    client, tok = svc["client"], svc["tokens"]["pat"]
    base = {"id": ["a", "b"], "name": ["A", "B"], "region": ["01", "02"], "lat": [32.5, 61.2], "lon": [-86.6, -149.9]}
    cases = {
        "id": pa.table({**base, "id": pa.array([[1, 2], [3]])}),  # a list as an id
        "cap_beds": pa.table({**base, "cap_beds": pa.array(pd.to_datetime(["2024-01-01", "2024-02-01"]))}),
        "name": pa.table({**base, "name": pa.array([b"A", b"B"], pa.binary())}),  # binary column
        "lat": pa.table({**base, "lat": pa.array([True, False])}),
    }
    for column, table in cases.items():
        r = upload(client, tok, parquet(table), name=f"pq {column}", filename="f.parquet")
        assert r.status_code == 422, (column, r.text)
        assert column in {p["column"] for p in r.json()["problems"]}, (column, r.json())


def test_upper_case_column_is_validated_and_reported(svc):
    client, tok = svc["client"], svc["tokens"]["pat"]
    r = upload(client, tok, FAC.replace("cap_beds", "CAP_BEDS").format("-5"), name="upper bad")
    assert r.status_code == 422 and {p["column"] for p in r.json()["problems"]} == {"cap_beds"}
    r = upload(client, tok, FAC.replace("cap_beds", "CAP_BEDS").format("5"), name="upper ok")
    assert r.status_code == 201
    steps = {(c["step"], c["column"]) for c in r.json()["report"]["changes"]}
    assert ("column renamed", "cap_beds") in steps


@pytest.mark.parametrize(("path", "body", "name"), [
    ("/api/runs", {"kind": "allocate", "params": {"stockpile": "inf"}}, "stockpile"),
    ("/api/runs", {"kind": "allocate", "params": {"stockpile": 1e300}}, "stockpile"),
    ("/api/runs", {"kind": "allocate", "params": {"stockpile": True}}, "stockpile"),
    ("/api/runs", {"kind": "allocate", "params": {"stockpile": [1]}}, "stockpile"),
    ("/api/runs", {"kind": "allocate", "params": {"severity": "NaN"}}, "severity"),
    ("/api/runs", {"kind": "allocate", "params": {"fairness": ["leximin"]}}, "fairness"),
    ("/api/runs", {"kind": "analyse", "params": {"facilities_dataset": "inf"}}, "facilities_dataset"),
    ("/api/runs", {"kind": "analyse", "params": {"facilities_dataset": 1e308}}, "facilities_dataset"),
    ("/api/whatif", {"stockpile": "Infinity"}, "stockpile"),
    ("/api/whatif", {"max_gini": "-inf"}, "max_gini"),
    ("/api/releases", {"dataset_id": 0, "by": "region", "epsilon": 1e-320}, "epsilon"),
    ("/api/releases", {"dataset_id": 0, "by": "region", "epsilon": "0.5"}, "epsilon"),
    ("/api/releases", {"dataset_id": [1], "by": "region", "epsilon": 0.5}, "dataset_id"),
    ("/api/releases", {"dataset_id": 0, "by": "region", "statistic": "sum", "bounds": [0, 1e300]}, "bounds"),
    ("/api/pool", {"dataset_ids": [1], "stockpile": "inf"}, "stockpile"),
    ("/api/pool", {"dataset_ids": [[1]]}, "dataset_ids"),
    ("/api/pool", {"dataset_ids": [1], "replicates": 1e9}, "replicates"),
])
def test_bad_parameters_are_422_naming_them(svc, path, body, name):
    if path == "/api/releases" and body.get("dataset_id") == 0:
        body = {**body, "dataset_id": svc["north_ds"]}
    r = svc["client"].post(path, headers=H(svc["tokens"]["pat"]), json=body)
    assert r.status_code == 422, r.text
    assert name in r.text


@pytest.mark.parametrize(("body", "name"), [
    ('{"dataset_id": %d, "by": "region", "epsilon": Infinity}', "epsilon"),
    ('{"dataset_id": %d, "by": "region", "epsilon": NaN}', "epsilon"),
    ('{"dataset_id": %d, "by": "region", "statistic": "sum", "bounds": [0, 1e309]}', "bounds"),
])
def test_json_non_finite_literals_refused(svc, body, name):
    r = svc["client"].post("/api/releases", headers={**H(svc["tokens"]["pat"]), "Content-Type": "application/json"},
                           content=body % svc["north_ds"])
    assert r.status_code == 422 and name in r.json()["message"]


def test_dashboard_forms_refuse_bad_numbers(svc):
    client, tokens = svc["client"], svc["tokens"]
    sign_in(client, "pat", tokens["pat"])
    token = csrf_of(client)
    h = {"X-CSRF-Token": token, "HX-Request": "true"}
    r = client.post("/ui/release", headers=h, data={"dataset_id": svc["north_ds"], "epsilon": "1e-320"})
    assert r.status_code == 422 and "epsilon" in r.text
    r = client.post("/ui/release", headers=h, data={"dataset_id": svc["north_ds"], "statistic": "sum",
                                                    "column": "cap_beds", "lower": "0", "upper": "inf"})
    assert r.status_code == 422 and "upper" in r.text
    r = client.post("/ui/pool", headers=h, data={"dataset_ids": [svc["north_ds"]], "stockpile": "inf"})
    assert r.status_code == 422 and "stockpile" in r.text
    r = client.post("/ui/whatif", headers=h, data={"stockpile": "inf"})
    assert r.status_code == 422 and "stockpile" in r.text


# -- item 12: upload bounds ------------------------------------------------------------------------------
def test_upload_problems_capped_with_counts_per_rule(svc):
    costs = b"origin,destination,cost\n" + b"a,b,1\n" * 350_000  # 2 MB, one key repeated
    r = upload(svc["client"], svc["tokens"]["pat"], costs, kind="costs", name="repeated")
    assert r.status_code == 422
    body = r.json()
    assert len(body["problems"]) == 100 and len(r.content) < 50_000
    assert body["n_problems"] == 349_999
    assert body["counts"] == [{"rule": "origin,destination: duplicate key", "count": 349_999}]


def test_upload_row_and_expansion_bounds(svc):
    client, tok = svc["client"], svc["tokens"]["pat"]
    n = 600_000  # limit in this app: 500,000 rows
    small = parquet(pa.table({"origin": pa.array(["a"] * n), "destination": pa.array(["b"] * n),
                              "cost": pa.array([1.0] * n)}))
    assert len(small) < 100_000  # a few kilobytes that expand to 600,000 rows
    r = upload(client, tok, small, kind="costs", name="expands", filename="c.parquet")
    assert r.status_code == 422 and "too many rows" in r.text
    csv = b"origin,destination,cost\n" + b"a,b,1\n" * n
    r = upload(client, tok, csv, kind="costs", name="many rows")
    assert r.status_code == 422 and "too many rows" in r.text


def test_declared_oversize_body_refused_before_reading(svc):
    client, tok = svc["client"], svc["tokens"]["pat"]
    body = b"--x\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ncosts\r\n--x--\r\n"
    r = client.post("/api/datasets", content=body, headers={
        **H(tok), "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10 ** 9)})
    assert r.status_code == 413
    big = b"origin,destination,cost\n" + b"a,b,1\n" * 800_000  # 4.8 MB > 4 MB limit
    assert upload(client, tok, big, kind="costs", name="too big").status_code == 413


# -- item 15: audit, 404 oracle, per-organisation user names --------------------------------------------
def test_failed_writes_are_audited_with_their_status(svc, monkeypatch):
    client, tokens, store = svc["client"], svc["tokens"], svc["store"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "save_dataset", broken)
    r = upload(client, tokens["pat"], FACILITIES, name="will fail")
    assert r.status_code == 500 and "disk on fire" not in r.text
    monkeypatch.undo()
    upload(client, tokens["pat"], "id\n", name="empty")  # 422
    client.post("/api/runs", headers=H(tokens["sam"]), json={"kind": "allocate", "params": {"stockpile": -1}})
    client.post("/api/users", headers=H(tokens["pat"]), json={"name": "x", "role": "viewer"})  # 403
    client.post("/api/runs", headers={"Authorization": "Bearer eqc_00000000_nope"}, json={"kind": "allocate"})
    log = store.query("SELECT action, user_name, org, status, detail FROM audit_log ORDER BY id")
    seen = set(zip(log["action"], log["status"], log["user_name"].fillna("")))
    assert ("POST /api/datasets", 500, "pat") in seen
    assert ("POST /api/datasets", 422, "pat") in seen
    assert ("POST /api/runs", 422, "sam") in seen
    assert ("POST /api/users", 403, "pat") in seen
    assert ("POST /api/runs", 401, "") in seen
    fault = log[(log["status"] == 500)].iloc[-1]
    assert json.loads(fault["detail"])["exception"] == "RuntimeError"


def test_foreign_and_missing_datasets_answer_alike(svc):
    client, tok = svc["client"], svc["tokens"]["pat"]
    foreign, missing = svc["south_ds"], 987_654
    for tmpl in ("/api/datasets/{}", "/api/datasets/{}/csv", "/api/datasets/{}/rows"):
        a, b = client.get(tmpl.format(foreign), headers=H(tok)), client.get(tmpl.format(missing), headers=H(tok))
        assert a.status_code == b.status_code == 404
        assert a.text.replace(str(foreign), "N") == b.text.replace(str(missing), "N")
    for ds in (foreign, missing):
        assert client.get(f"/api/datasets/{ds}", headers=H(tok)).json() == {"detail": f"no dataset with id {ds}"}
    bodies = []
    for ds in (foreign, missing):
        r = client.post("/api/releases", headers=H(tok), json={"dataset_id": ds, "by": "region", "epsilon": 0.1})
        p = client.post("/api/pool", headers=H(tok), json={"dataset_ids": [ds]})
        bodies.append((r.status_code, r.text.replace(str(ds), "N"), p.status_code, p.text.replace(str(ds), "N")))
    assert bodies[0] == bodies[1] and bodies[0][0] == 404
    # runs too
    r = client.post("/api/runs", headers=H(svc["tokens"]["sam"]), json={"kind": "allocate", "params": {
        "fairness": "nonsense"}})
    assert r.status_code == 422
    assert client.get("/api/runs/0123456789ab", headers=H(tok)).status_code == 404


def test_user_names_are_per_organisation(svc):
    client, tokens = svc["client"], svc["tokens"]
    r = client.post("/api/users", headers=H(tokens["ada"]), json={"name": "sam", "role": "viewer"})
    assert r.status_code == 201, r.text  # south has a sam too; north may have its own
    north_sam = r.json()["token"]
    assert client.get("/api/me", headers=H(north_sam)).json() == {"name": "sam", "org": "north", "role": "viewer"}
    assert client.get("/api/me", headers=H(tokens["sam"])).json()["org"] == "south"
    again = client.post("/api/users", headers=H(tokens["ada"]), json={"name": "sam", "role": "viewer"})
    assert again.status_code == 422 and "south" not in again.text
    # both sign in with their own token
    sign_in(client, "sam", north_sam)
    assert "sam · north" in client.get("/").text
    sign_in(client, "sam", tokens["sam"])
    assert "sam · south" in client.get("/").text
    client.cookies.clear()
    # disabling north's sam leaves south's sam alone
    assert client.delete("/api/users/sam", headers=H(tokens["ada"])).status_code == 200
    assert client.get("/api/me", headers=H(north_sam)).status_code == 401
    assert client.get("/api/me", headers=H(tokens["sam"])).status_code == 200


def test_old_store_with_global_user_names_is_upgraded(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE users (name TEXT PRIMARY KEY, org TEXT NOT NULL, role TEXT NOT NULL, token_key TEXT "
                "NOT NULL UNIQUE, token_salt TEXT NOT NULL, token_hash TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT "
                "TRUE, created_at TIMESTAMP, created_by TEXT)")
    con.execute("CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, expires_at TIMESTAMP)")
    con.close()
    with Store(path) as st:
        # an account made the old way (the table as it was), then the upgrade
        st.con.execute("INSERT INTO users VALUES ('pat', 'north', 'planner', 'abcd1234', '00', 'x', TRUE, NULL, NULL)")
        accounts.ensure_schema(st)
        pk = st.con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 'users' "
                            "AND constraint_type = 'PRIMARY KEY'").fetchall()[0][0]
        assert sorted(pk) == ["name", "org"]
        assert st.query("SELECT name, org FROM users").to_dict(orient="records") == [{"name": "pat", "org": "north"}]
        add_user(st, "pat", "south", "viewer")  # now allowed
        assert len(accounts.list_users(st)) == 2


def test_other_routes_bound_their_bodies_too(svc):
    """Only the upload routes take large bodies: a 2 MB form or JSON body elsewhere is 413, never spooled."""
    client, tokens = svc["client"], svc["tokens"]
    big = io.BytesIO(b"x" * (2 * 1024 * 1024))
    r = client.post("/api/runs", headers=H(tokens["pat"]), files={"file": ("big.bin", big, "application/octet-stream")})
    assert r.status_code == 413
    r = client.post("/api/whatif", headers={**H(tokens["pat"]), "Content-Type": "application/json"},
                    content=b'{"stockpile": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert r.status_code == 413
    log = svc["store"].query("SELECT action, status FROM audit_log WHERE status = 413")
    assert "POST /api/runs" in set(log["action"])


def test_concurrent_uploads_are_bounded_before_their_bodies_are_read():
    """With the upload slots taken, another upload is answered 503 with Retry-After before it is read."""
    import asyncio

    import httpx

    from equicare.service.uploads import BodyLimit

    release, entered, read = asyncio.Event(), asyncio.Event(), []

    async def slow_app(scope, receive, send):
        read.append(scope["path"])
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = BodyLimit(slow_app, upload_paths=("/api/datasets",), upload_limit=lambda: 1000, max_uploads=1)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            first = asyncio.create_task(c.post("/api/datasets", content=b"a"))
            await entered.wait()
            busy = await c.post("/api/datasets", content=b"b")
            other = asyncio.create_task(c.post("/api/runs", content=b"{}"))  # not an upload: not limited
            await asyncio.sleep(0.05)
            release.set()
            return busy, await first, await other

    busy, first, other = asyncio.run(scenario())
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
    assert first.status_code == 201 and other.status_code == 201
    assert read == ["/api/datasets", "/api/runs"] and app.uploads == 0
