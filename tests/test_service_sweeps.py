"""Sweeps from the service: validated grids, points equal to allocate runs, handed to a Dask scheduler."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from equicare.service.accounts import add_user
from equicare.service.app import create_app
from equicare.service.jobs import PoolSettings
from equicare.service.scenarios import allocation_tables, parse_params
from equicare.store import Store
from service_runs import wait_for_run

BASE = {"forecast_model": "flat_baseline"}  # the cheapest forecast: these tests are about the sweep


def _service(tmp_path, scheduler=None):
    store = Store(tmp_path / "s.duckdb")
    token = add_user(store, "pat", "north", "planner")
    viewer = add_user(store, "vic", "north", "viewer")
    # with a scheduler the pool worker only hands the points to Dask: it need not load the bundled data first
    app = create_app(store=store, workers=PoolSettings(workers=1, warm=scheduler is None), dask_scheduler=scheduler)
    return app, store, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {viewer}"}


def _check_points(rows, grid_key="stockpile"):
    for r in rows:
        _, summary = allocation_tables(parse_params({**BASE, grid_key: r[grid_key], "severity": r["severity"]}))
        assert r["status"] == "optimal"
        assert r["min_share"] == pytest.approx(summary["min_share"], abs=1e-9)
        assert r["cost"] == pytest.approx(summary["total_allocated"], abs=1e-9)


def test_sweep_in_the_pool_equals_allocations_and_page_draws_it(tmp_path):
    app, store, h, viewer = _service(tmp_path)
    with TestClient(app) as client:
        grid = {"stockpile": [500, 2500], "severity": [2.0, 3.0]}
        r = client.post("/api/sweeps", headers=h, json={"grid": grid, "base": BASE})
        assert r.status_code == 202, r.text
        info = wait_for_run(client, h, r.json()["id"])
        assert info["status"] == "succeeded", info
        assert info["summary"]["points"] == 4 and "no Dask scheduler" in info["summary"]["cluster"]
        rows = client.get(f"/api/runs/{info['id']}/results/sweep", headers=h).json()
        assert [(x["stockpile"], x["severity"]) for x in rows] == [(500, 2.0), (500, 3.0), (2500, 2.0), (2500, 3.0)]
        _check_points(rows)
        page = client.get("/sweep", headers=h)
        assert page.status_code == 200 and 'id="sweep-frontier"' in page.text and "severity = 3.0" in page.text
        # viewers see the page but may not start sweeps
        assert client.get("/sweep", headers=viewer).status_code == 200
        assert client.post("/api/sweeps", headers=viewer, json={"grid": {"stockpile": [1]}}).status_code == 403
    store.close()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One service for all the refused sweeps (each refusal must leave it without a run)."""
    app, store, h, _ = _service(tmp_path_factory.mktemp("refusing"))
    with TestClient(app) as client:
        yield client, h
    store.close()


@pytest.mark.parametrize("body, word", [
    ({"grid": {"as_of": ["2023-12-30"]}}, "cannot be swept"),
    ({"grid": {"stockpile": []}}, "1 to 400 values"),
    ({"grid": {"stockpile": list(range(30)), "severity": list(range(1, 20))}}, "at most 400"),
    ({"grid": {"stockpile": [100, -5]}}, "stockpile"),
    ({"grid": {"fairness": ["leximin", "fairest"]}}, "fairness"),
    ({"grid": {"stockpile": [100]}, "base": {"colour": "red"}}, "colour"),
    ({"grid": {}}, "grid"),
])
def test_bad_sweeps_are_refused_naming_the_parameter(refusing, body, word):
    client, h = refusing
    r = client.post("/api/sweeps", headers=h, json=body)
    assert r.status_code == 422 and word in r.text, r.text
    assert client.get("/api/runs", headers=h).json() == []  # nothing recorded, by this or any earlier refusal


def test_sweep_is_handed_to_the_configured_dask_scheduler(tmp_path, dask_client):
    address = dask_client.scheduler.address  # the session's cluster (tests/conftest.py)
    app, store, h, _ = _service(tmp_path, scheduler=address)
    with TestClient(app) as client:
        r = client.post("/api/sweeps", headers=h, json={"grid": {"stockpile": [800, 1600]}, "base": {
            **BASE, "severity": 3.0}})
        info = wait_for_run(client, h, r.json()["id"])
        assert info["status"] == "succeeded", info
        assert info["summary"]["cluster"] == f"Dask cluster at {address}"
        rows = client.get(f"/api/runs/{info['id']}/results/sweep", headers=h).json()
        for row in rows:
            row["severity"] = 3.0
        _check_points(rows)
    store.close()
