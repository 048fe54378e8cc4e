"""Issue 17, item 15 (variants): failed sign-ins are filed in the audit log of the organisation they aimed at.

A wrong secret for a real account (form sign-in or API token) was recorded without an organisation, so no
administrator could ever see it; a wrong API token on a GET was not recorded at all.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.store import Store


def test_failed_sign_ins_reach_the_targets_audit_log(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    pat = add_user(store, "pat", "north", "planner")
    ada = add_user(store, "ada", "north", "admin")
    sal = add_user(store, "sal", "south", "admin")
    wrong = pat[:-4] + ("abcd" if not pat.endswith("abcd") else "efgh")
    with TestClient(create_app(store=store), base_url="http://127.0.0.1:8000") as c:
        assert c.post("/login", data={"name": "pat", "token": "not-a-token"}).status_code == 401
        assert c.post("/login", data={"name": "pat", "token": wrong}).status_code == 401
        assert c.get("/api/datasets", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert c.get("/api/datasets", headers={"Authorization": "Bearer eqc_nobody_x"}).status_code == 401
        north = c.get("/api/audit?limit=100", headers={"Authorization": f"Bearer {ada}"}).json()
        south = c.get("/api/audit?limit=100", headers={"Authorization": f"Bearer {sal}"}).json()
    failed = [e for e in north if e["status"] == 401]
    assert [e["action"] for e in failed][::-1] == ["POST /login", "POST /login", "GET /api/datasets"]
    assert all('"account": "pat"' in e["detail"] and '"ok": false' in e["detail"] for e in failed)
    assert not [e for e in south if e["status"] == 401]
    store.close()


def test_numbers_in_other_scripts_are_refused():
    """float() reads Arabic-Indic digits: a stockpile of "١٠٠" was a run of 100 beds."""
    import pytest

    from equicare.errors import EquicareError
    from equicare.service.scenarios import parse_params
    from equicare.service.sweeps import parse_sweep

    for raw in ({"stockpile": "١٠٠"}, {"severity": "٣"}, {"fairness_weight": "０.５"}):
        with pytest.raises(EquicareError, match=f"parameter '{next(iter(raw))}'"):
            parse_params(raw)
    with pytest.raises(EquicareError, match="stockpile"):
        parse_sweep({"grid": {"stockpile": ["١"]}})
    assert parse_params({"stockpile": " 100 "}).stockpile == 100


def test_negative_limits_are_422(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ada = add_user(store, "ada", "north", "admin")
    with TestClient(create_app(store=store)) as c:
        for q in ("/api/audit?limit=-5", "/api/audit?limit=0", "/api/datasets/1/rows?limit=-1"):
            r = c.get(q, headers={"Authorization": f"Bearer {ada}"})
            assert r.status_code == 422 and "limit" in r.text, q
    store.close()


def test_a_suppressed_release_by_an_almost_unique_key_is_refused():
    """Five facilities, four regions: a key unique but for one repeat showed three facilities' exact values."""
    import pytest

    from equicare.data import load_table
    from equicare.errors import EquicareError
    from equicare.service.accounts import User
    from equicare.service.releases import make_release

    csv = ("id,name,region,lat,lon,cap_beds,flu_admissions\n"
           "h1,A,01,32.5,-86.6,120,40\nh2,B,01,30.7,-87.7,40,20\nh3,C,02,61.2,-149.9,220,35\n"
           "h4,D,04,33.4,-112.0,510,60\nh5,E,05,34.5,-92.1,300,44\n")
    with Store(":memory:") as st:
        t, _ = load_table(csv.encode(), "facilities")
        ds = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", org="north")
        user = User("pat", "north", "planner")
        with pytest.raises(EquicareError, match="almost unique per row.*3 of its 4 groups"):
            make_release(st, user, {"dataset_id": ds, "method": "suppress", "by": "region",
                                    "count_columns": ["flu_admissions"]})
        # a DP release of the same groups is protected by its noise
        out = make_release(st, user, {"dataset_id": ds, "method": "dp", "by": "region", "epsilon": 0.1})
        assert out["kind"] == "dp_release"
