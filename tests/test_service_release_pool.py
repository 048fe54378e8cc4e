"""DP releases through the service are computed in worker processes, and the privacy ledger still charges
each release exactly once: two releases racing for one budget cannot both spend it, and a computation that
fails charges nothing (FastAPI TestClient, a real DuckDB store, a real worker pool, OpenDP)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.store import Store


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("svcrel") / "store.duckdb")
    tokens = {"pat": add_user(store, "pat", "north", "planner")}
    app = create_app(store=store, max_upload_bytes=256 * 1024, workers=PoolSettings(workers=2, warm=False))
    with TestClient(app) as client:
        yield client, tokens, store
    store.close()


def H(tokens):
    return {"Authorization": f"Bearer {tokens['pat']}"}


def fresh(client, tokens, tag: int) -> int:
    """A facilities dataset sharing no row with the others (its own budget family)."""
    text = "id,name,region,lat,lon,cap_beds\n" + "".join(
        f"s{tag}_{i},Site {tag}-{i},{['01', '02', '04'][i % 3]},3{tag}.{i},-8{tag}.{i},{100 + 13 * tag + 7 * i}\n"
        for i in range(9))
    r = client.post("/api/datasets", headers=H(tokens), data={"kind": "facilities", "name": f"sites {tag}"},
                    files={"file": ("f.csv", io.BytesIO(text.encode()), "text/csv")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def release(client, tokens, ds: int, **req):
    return client.post("/api/releases", headers=H(tokens),
                       json={"dataset_id": ds, "method": "dp", "by": "region", **req})


def spent_on(store, ds: int) -> list[float]:
    return store.query("SELECT epsilon FROM privacy_ledger WHERE dataset_id = ?", [ds])["epsilon"].tolist()


def test_dp_release_is_computed_in_a_worker_process(svc, monkeypatch):
    client, tokens, store = svc
    ds = fresh(client, tokens, 1)

    def refuse(*a, **k):
        raise AssertionError("a DP release was computed in the web process")

    import equicare.privacy.dp
    import equicare.privacy.ledger
    import equicare.service.releases

    for mod in (equicare.privacy.dp, equicare.privacy.ledger, equicare.service.releases):
        monkeypatch.setattr(mod, "dp_release", refuse, raising=False)
    for mod in (equicare.privacy.ledger, equicare.service.releases):  # the first fingerprint reads every row
        monkeypatch.setattr(mod, "key_material", refuse, raising=False)
    r = release(client, tokens, ds, statistic="sum", column="cap_beds", bounds=[0, 500], epsilon=0.25)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["kind"] == "dp_release" and out["release"]["epsilon"] == 0.25
    rows = client.get(f"/api/datasets/{out['id']}/rows", headers=H(tokens)).json()
    assert {"01", "02", "04"} <= {x["region"] for x in rows}
    assert spent_on(store, ds) == [0.25]
    # a second release of the same data uses the recorded key; the budget left is 0.75
    assert release(client, tokens, ds, epsilon=0.5).status_code == 201
    r = release(client, tokens, ds, epsilon=0.5)
    assert r.status_code == 422 and "0.25 remains" in r.json()["message"]
    assert sorted(spent_on(store, ds)) == [0.25, 0.5]


@pytest.mark.parametrize("known_key", [False, True])
def test_racing_releases_spend_the_budget_once(svc, known_key):
    client, tokens, store = svc
    ds = fresh(client, tokens, 2 + known_key)
    if known_key:  # the dataset's key is recorded by an earlier small release
        assert release(client, tokens, ds, epsilon=0.1).status_code == 201
    eps = 0.6
    before = len(store.list_datasets())
    with ThreadPoolExecutor(4) as ex:  # four requests at once, each asking for 0.6 of the budget of 1
        answers = list(ex.map(lambda _: release(client, tokens, ds, epsilon=eps), range(4)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 422, 422, 422], [a.text for a in answers]
    for a in answers:
        if a.status_code == 422:
            assert "privacy budget exceeded" in a.json()["message"]
    assert sorted(spent_on(store, ds)) == sorted([eps] + ([0.1] if known_key else []))
    assert len(store.list_datasets()) == before + 1  # one stored release; refused ones leave nothing
    budget = client.get("/api/privacy/budget", headers=H(tokens)).json()
    assert budget["epsilon_spent"] == pytest.approx(store.query(
        "SELECT SUM(epsilon) AS s FROM privacy_ledger WHERE org = 'north'")["s"].iloc[0])


def test_a_failed_computation_charges_nothing(svc):
    client, tokens, store = svc
    ds = fresh(client, tokens, 5)
    total = client.get("/api/privacy/budget", headers=H(tokens)).json()["epsilon_spent"]
    r = release(client, tokens, ds, statistic="sum", column="name", bounds=[0, 10], epsilon=0.5)  # text column
    assert r.status_code == 422 and "name" in r.json()["message"]
    assert spent_on(store, ds) == []
    assert client.get("/api/privacy/budget", headers=H(tokens)).json()["epsilon_spent"] == total
    assert release(client, tokens, ds, epsilon=1.0).status_code == 201  # the whole budget is still there
